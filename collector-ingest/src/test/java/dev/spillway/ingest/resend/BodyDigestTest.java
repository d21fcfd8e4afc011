package dev.spillway.ingest.resend;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * {@link BodyDigest}, the identity of unkeyed bodies: the same bytes give the same digest (also in another process:
 * the value is pinned), and bodies that differ in any one bit, any length, only in trailing zeros, or by swapped
 * halves of a block give different ones.
 */
class BodyDigestTest {

    private static long[] digest(byte[] b) {
        return BodyDigest.of(1, 2, b, 0, b.length);
    }

    private static String key(long[] d) {
        return d[0] + ":" + d[1];
    }

    private static byte[] body(int lines, long seed) {
        final SplittableRandom r = new SplittableRandom(seed);
        final StringBuilder sb = new StringBuilder();
        for (int i = 0; i < lines; i++) {
            sb.append("sensor,host=h").append(r.nextInt(1000)).append(",site=s").append(r.nextInt(100))
                .append(" value=").append(r.nextDouble()).append(' ').append(1_700_000_000_000_000_000L + i)
                .append('\n');
        }
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** Identities are written to the resend journal and compared after a restart: the function must not change. */
    @Test
    void theDigestIsFixedAcrossProcesses() {
        final byte[] b = "sensor,host=h1 value=1.5 1700000000000000000\n".getBytes(StandardCharsets.US_ASCII);
        final long[] d = digest(b);
        assertEquals("751add167bcb1a3b 856af1addf32e24e", Long.toHexString(d[0]) + " " + Long.toHexString(d[1]));
    }

    @Test
    void identicalBodiesMatchAndOffsetsDoNotMatter() {
        final byte[] a = body(5_000, 7);
        final byte[] copy = Arrays.copyOf(a, a.length);
        assertArrayEquals(digest(a), digest(copy));
        final byte[] framed = new byte[a.length + 11];
        System.arraycopy(a, 0, framed, 5, a.length);
        assertArrayEquals(digest(a), BodyDigest.of(1, 2, framed, 5, a.length));
        assertFalse(Arrays.equals(digest(a), BodyDigest.of(1, 3, a, 0, a.length)), "the seed (the scope) counts");
    }

    @Test
    void everySingleBitFlipOfABodyGivesADifferentDigest() {
        final byte[] a = body(3, 11);
        final Set<String> seen = new HashSet<>();
        seen.add(key(digest(a)));
        for (int i = 0; i < a.length; i++) {
            for (int bit = 0; bit < 8; bit++) {
                a[i] ^= (byte) (1 << bit);
                assertEquals(true, seen.add(key(digest(a))), "flip of byte " + i + " bit " + bit);
                a[i] ^= (byte) (1 << bit);
            }
        }
        assertEquals(1 + a.length * 8, seen.size());
    }

    @Test
    void lengthsTrailingZerosAndSwappedWordsAreTold() {
        final Set<String> seen = new HashSet<>();
        final byte[] zeros = new byte[100];
        for (int n = 0; n <= 100; n++) {
            assertEquals(true, seen.add(key(BodyDigest.of(1, 2, zeros, 0, n))), n + " zero bytes");
        }
        final byte[] ab = "0123456789abcdefABCDEFGHIJKLMNOP".getBytes(StandardCharsets.US_ASCII);
        final byte[] swapped = "89abcdef01234567IJKLMNOPABCDEFGH".getBytes(StandardCharsets.US_ASCII);
        assertNotEquals(key(digest(ab)), key(digest(swapped)));
        final byte[] blocks = "ABCDEFGHIJKLMNOP0123456789abcdef".getBytes(StandardCharsets.US_ASCII);
        assertNotEquals(key(digest(ab)), key(digest(blocks)), "blocks in another order");
    }

    /** Many different bodies of one shape (the resend window's case): no two digests equal, in either half. */
    @Test
    void manySimilarBodiesHaveDistinctDigests() {
        final Set<Long> hi = new HashSet<>();
        final Set<Long> lo = new HashSet<>();
        for (int i = 0; i < 200_000; i++) {
            final byte[] b = ("sensor,host=h" + i + " value=1 1700000000000000000\n").getBytes(StandardCharsets.UTF_8);
            final long[] d = digest(b);
            assertEquals(true, hi.add(d[0]), "hi of body " + i);
            assertEquals(true, lo.add(d[1]), "lo of body " + i);
        }
    }
}
