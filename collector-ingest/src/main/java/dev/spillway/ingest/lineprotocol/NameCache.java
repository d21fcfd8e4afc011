package dev.spillway.ingest.lineprotocol;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Direct-mapped cache from byte sequences to Strings for measurement names, tag keys/values and field
 * keys. Those repeat on nearly every line of a batch, so a hit saves a String allocation and the UTF-8
 * decode; a miss simply overwrites the slot, which bounds memory regardless of cardinality.
 */
final class NameCache {

    static final int MAX_CACHED_LENGTH = 64;

    private final byte[][] keys;
    private final String[] values;
    private final int mask;

    NameCache(int sizePowerOfTwo) {
        if (Integer.bitCount(sizePowerOfTwo) != 1) {
            throw new IllegalArgumentException("size must be a power of two: " + sizePowerOfTwo);
        }
        this.keys = new byte[sizePowerOfTwo][];
        this.values = new String[sizePowerOfTwo];
        this.mask = sizePowerOfTwo - 1;
    }

    /** @return the String for {@code b[start, end)}, decoded as UTF-8 (the caller has validated it) */
    String get(byte[] b, int start, int end) {
        int len = end - start;
        if (len > MAX_CACHED_LENGTH) {
            return decode(b, start, end);
        }
        int h = len;
        for (int i = start; i < end; i++) {
            h = 31 * h + b[i];
        }
        h ^= h >>> 16;
        int slot = h & mask;
        byte[] k = keys[slot];
        if (k != null && Arrays.equals(k, 0, k.length, b, start, end)) {
            return values[slot];
        }
        String s = decode(b, start, end);
        keys[slot] = Arrays.copyOfRange(b, start, end);
        values[slot] = s;
        return s;
    }

    private static String decode(byte[] b, int start, int end) {
        return new String(b, start, end - start, StandardCharsets.UTF_8);
    }
}
