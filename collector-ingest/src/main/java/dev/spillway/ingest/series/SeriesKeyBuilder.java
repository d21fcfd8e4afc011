package dev.spillway.ingest.series;

import dev.spillway.ingest.lineprotocol.ParsedPoint;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes series keys into a reused buffer, straight from a parsed line's name bytes, so looking up a known series
 * allocates nothing. One per thread; not thread-safe.
 *
 * <p>Format: {@code varint(len) measurement, varint(tag count), (varint(len) key, varint(len) value)*}, zero bytes
 * up to a multiple of 8, then {@code varint(len) field}, zero bytes up to a multiple of 8. Names are unescaped
 * UTF-8 and tags are sorted by key (the parser does both), so a series has exactly one key whatever escaping or
 * tag order a client used. The padding lets the hash read whole 64-bit words and lets all fields of a line reuse
 * the prefix and its hash state: {@link #prefix} once per line, {@link #field} once per field.
 */
public final class SeriesKeyBuilder {

    private static final VarHandle WORD = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final long M1 = 0x9E3779B97F4A7C15L;
    private static final long M2 = 0xC2B2AE3D27D4EB4FL;
    // Per process, so a client cannot precompute a flood of colliding series names.
    private static final long SEED = ThreadLocalRandom.current().nextLong();

    private byte[] buf = new byte[256];
    private int prefixEnd;
    private long prefixState;
    private int length;
    private int hash;

    /** Starts a key with the measurement and tags of a line (valid until the next line is parsed). */
    public void prefix(ParsedPoint p) {
        final byte[] names = p.nameBytes();
        int pos = put(names, p.measurementStart(), p.measurementEnd(), 0);
        final int tags = p.tagCount();
        pos = putVarint(tags, pos);
        for (int t = 0; t < tags; t++) {
            pos = put(names, p.tagKeyStart(t), p.tagKeyEnd(t), pos);
            pos = put(names, p.tagValueStart(t), p.tagValueEnd(t), pos);
        }
        endPrefix(pos);
    }

    /** Completes the key with the i-th field key of the line given to {@link #prefix(ParsedPoint)}. */
    public void field(ParsedPoint p, int i) {
        endField(put(p.nameBytes(), p.fieldKeyStart(i), p.fieldKeyEnd(i), prefixEnd));
    }

    /**
     * Starts a key from Strings.
     *
     * @param tags alternating key, value; keys sorted in UTF-8 byte order
     */
    public void prefix(String measurement, List<String> tags) {
        int pos = put(utf8(measurement), 0);
        pos = putVarint(tags.size() / 2, pos);
        for (String t : tags) {
            pos = put(utf8(t), pos);
        }
        endPrefix(pos);
    }

    /** Completes the key started by {@link #prefix(String, List)} with a field key. */
    public void field(String field) {
        endField(put(utf8(field), prefixEnd));
    }

    /** The key written so far: {@code bytes()[0, length())}. */
    byte[] bytes() {
        return buf;
    }

    int length() {
        return length;
    }

    int hash() {
        return hash;
    }

    /** An immutable copy of the current key. */
    public SeriesKey toKey() {
        return new SeriesKey(Arrays.copyOf(buf, length), hash);
    }

    private void endPrefix(int pos) {
        prefixEnd = pad(pos);
        prefixState = mix(SEED, 0, prefixEnd);
    }

    private void endField(int pos) {
        length = pad(pos);
        long h = mix(prefixState, prefixEnd, length);
        // Final avalanche (the 64-bit finalizer of MurmurHash3), folded to an int.
        h ^= h >>> 33;
        h *= 0xFF51AFD7ED558CCDL;
        h ^= h >>> 33;
        h *= 0xC4CEB9FE1A85EC53L;
        h ^= h >>> 33;
        hash = (int) h;
    }

    private long mix(long state, int from, int to) {
        long h = state;
        final byte[] b = buf;
        for (int i = from; i < to; i += 8) {
            h = Long.rotateLeft(h ^ ((long) WORD.get(b, i) * M1), 31) * M2;
        }
        return h;
    }

    private int pad(int pos) {
        final int padded = (pos + 7) & ~7;
        ensure(padded);
        Arrays.fill(buf, pos, padded, (byte) 0);
        return padded;
    }

    private int put(byte[] src, int from, int to, int pos) {
        final int len = to - from;
        pos = putVarint(len, pos);
        ensure(pos + len);
        System.arraycopy(src, from, buf, pos, len);
        return pos + len;
    }

    private int put(byte[] src, int pos) {
        return put(src, 0, src.length, pos);
    }

    private int putVarint(int v, int pos) {
        ensure(pos + 5);
        while ((v & ~0x7F) != 0) {
            buf[pos++] = (byte) ((v & 0x7F) | 0x80);
            v >>>= 7;
        }
        buf[pos++] = (byte) v;
        return pos;
    }

    private void ensure(int capacity) {
        if (capacity > buf.length) {
            buf = Arrays.copyOf(buf, Math.max(capacity + 8, buf.length * 2));
        }
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
