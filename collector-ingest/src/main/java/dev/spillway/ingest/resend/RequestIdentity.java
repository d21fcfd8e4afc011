package dev.spillway.ingest.resend;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * Who a write request is, so that a resend of it is recognised: the client's {@code Idempotency-Key} header when it
 * sends one (scoped by its credentials and the request URI), otherwise a digest of credentials, URI and body.
 *
 * <p>A keyed identity is the first 128 bits of a SHA-256 of the few bytes of key and scope; the request also keeps a
 * fast 128-bit checksum of its body (not cryptographic: it only has to catch a client that reuses a key by mistake,
 * and only the key's owner can be harmed by a collision), so that a key reused for a different body is refused
 * instead of matched line by line against the wrong lines.
 *
 * <p>A digest identity is {@link BodyDigest}, a fast non-cryptographic 128-bit digest of the body seeded with the
 * first 128 bits of a SHA-256 of credentials and URI (a few bytes): about 0.1 ns per body byte, where a SHA-256 of
 * the whole body cost about 1 ns per byte (13 % of the collector's CPU in the issue #25 profile). Its collision odds
 * for bodies not built to collide are stated there (about 2^-128 per pair); it is not meant to resist a client that
 * builds colliding bodies on purpose, which could only confuse its own resends. The constants are fixed: identities
 * are persisted in the {@link ResendJournal} and compared after a restart. A journal written by a version that used
 * SHA-256 for bodies matches no new identity: a resend of such a body after the upgrade is stored as a new request.
 *
 * @param hi first half of the identity
 * @param lo second half
 * @param bodyHi first half of the body's digest (the identity itself for a digest identity)
 * @param bodyLo second half
 * @param keyed whether the client named the request with an {@code Idempotency-Key}
 */
public record RequestIdentity(long hi, long lo, long bodyHi, long bodyLo, boolean keyed) {

    private static final ThreadLocal<MessageDigest> SHA256 = ThreadLocal.withInitial(() -> {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every Java platform", e);
        }
    });

    /** Longest {@code Idempotency-Key} taken; a longer one is still used, by its digest. */
    public static final int MAX_KEY_LENGTH = 255;

    /**
     * The identity of one request.
     *
     * @param key the {@code Idempotency-Key} header, or null (or blank) for a digest identity
     * @param credentials the {@code Authorization} header, or null
     * @param uri path and query as sent
     * @param body the body as parsed (after gunzip)
     */
    public static RequestIdentity of(String key, String credentials, String uri, byte[] body, int off, int len) {
        final MessageDigest md = SHA256.get();
        md.reset();
        final boolean keyed = key != null && !key.isBlank();
        md.update((byte) (keyed ? 'K' : 'D'));
        field(md, credentials == null ? "" : credentials);
        field(md, uri == null ? "" : uri);
        if (keyed) {
            field(md, key.trim());
            final byte[] id = md.digest();
            final long[] sum = checksum(body, off, len);
            return new RequestIdentity(word(id, 0), word(id, 8), sum[0], sum[1], true);
        }
        final byte[] scope = md.digest();
        final long[] id = BodyDigest.of(word(scope, 0), word(scope, 8), body, off, len);
        return new RequestIdentity(id[0], id[1], id[0], id[1], false);
    }

    private static final java.lang.invoke.VarHandle WORD = java.lang.invoke.MethodHandles.byteArrayViewVarHandle(
        long[].class, java.nio.ByteOrder.LITTLE_ENDIAN);

    /**
     * A multiply-xorshift checksum of 128 bits in one pass: two independent lanes over alternate words (so the
     * multiplications overlap), mixed together at the end. Catches accidents, not adversaries.
     */
    static long[] checksum(byte[] b, int off, int len) {
        long h1 = 0x9E3779B97F4A7C15L ^ len;
        long h2 = 0xC2B2AE3D27D4EB4FL ^ ((long) len << 32);
        int i = off;
        final int end = off + len;
        for (; i + 16 <= end; i += 16) {
            h1 = (h1 ^ (long) WORD.get(b, i)) * 0x9FB21C651E98DF25L;
            h2 = (h2 ^ (long) WORD.get(b, i + 8)) * 0xD6E8FEB86659FD93L;
            h1 ^= h1 >>> 32;
            h2 ^= h2 >>> 29;
        }
        long tail1 = 0;
        long tail2 = 0;
        for (int k = 0; i < end; i++, k++) {
            if (k < 8) {
                tail1 |= (b[i] & 0xFFL) << (8 * k);
            } else {
                tail2 |= (b[i] & 0xFFL) << (8 * (k - 8));
            }
        }
        h1 = (h1 ^ tail1) * 0x9FB21C651E98DF25L;
        h2 = (h2 ^ tail2) * 0xD6E8FEB86659FD93L;
        final long a = mix(h1 ^ Long.rotateLeft(h2, 23));
        final long c = mix(h2 ^ Long.rotateLeft(h1, 41) ^ a);
        return new long[] {a, c};
    }

    private static long mix(long h) {
        h ^= h >>> 33;
        h *= 0xFF51AFD7ED558CCDL;
        h ^= h >>> 33;
        h *= 0xC4CEB9FE1A85EC53L;
        return h ^ (h >>> 33);
    }

    private static void field(MessageDigest md, String s) {
        final byte[] b = s.getBytes(StandardCharsets.UTF_8);
        md.update((byte) (b.length >>> 24));
        md.update((byte) (b.length >>> 16));
        md.update((byte) (b.length >>> 8));
        md.update((byte) b.length);
        md.update(b);
    }

    private static long word(byte[] b, int at) {
        long v = 0;
        for (int i = 0; i < 8; i++) {
            v = (v << 8) | (b[at + i] & 0xFF);
        }
        return v;
    }

    /** Whether {@code other} names the same request with the same body. */
    boolean sameBody(RequestIdentity other) {
        return bodyHi == other.bodyHi && bodyLo == other.bodyLo;
    }

    @Override
    public String toString() {
        return (keyed ? "key:" : "digest:") + Long.toHexString(hi) + Long.toHexString(lo);
    }
}
