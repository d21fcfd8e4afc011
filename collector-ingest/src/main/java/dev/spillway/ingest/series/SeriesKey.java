package dev.spillway.ingest.series;

import java.util.Arrays;
import java.util.List;

/**
 * Canonical identity of a series, {@code (measurement, tag set, field key)}, as an immutable byte string: the
 * format {@link SeriesKeyBuilder} writes (length-prefixed UTF-8 names, tags sorted by key, zero-padded to 8
 * bytes), so no tag value, whatever bytes it holds, can make two different series collide. Used where a key must
 * outlive one line: the catalogue's entries and new series being created.
 */
public final class SeriesKey {

    private final byte[] bytes;
    private final int hash;

    SeriesKey(byte[] bytes, int hash) {
        this.bytes = bytes;
        this.hash = hash;
    }

    /**
     * The key of a series given as Strings (catalogue loading, tests).
     *
     * @param tags alternating key, value; keys sorted in UTF-8 byte order
     */
    public static SeriesKey of(String measurement, List<String> tags, String field) {
        final SeriesKeyBuilder b = new SeriesKeyBuilder();
        b.prefix(measurement, tags);
        b.field(field);
        return b.toKey();
    }

    /** Whether this key is the one in {@code b[0, length)} with that hash. */
    boolean matches(byte[] b, int length, int hash) {
        return this.hash == hash && Arrays.equals(bytes, 0, bytes.length, b, 0, length);
    }

    int hash() {
        return hash;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SeriesKey k && k.hash == hash && Arrays.equals(k.bytes, bytes);
    }

    @Override
    public int hashCode() {
        return hash;
    }

    @Override
    public String toString() {
        return "SeriesKey[" + bytes.length + " bytes, hash " + Integer.toHexString(hash) + "]";
    }

    /** The tag set as a JSON object, keys in the given (sorted) order. */
    public static String tagsJson(List<String> tags) {
        final StringBuilder sb = new StringBuilder(16 + 16 * tags.size()).append('{');
        for (int i = 0; i < tags.size(); i += 2) {
            if (i > 0) {
                sb.append(',');
            }
            quote(sb, tags.get(i));
            sb.append(':');
            quote(sb, tags.get(i + 1));
        }
        return sb.append('}').toString();
    }

    private static void quote(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            final char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }
}
