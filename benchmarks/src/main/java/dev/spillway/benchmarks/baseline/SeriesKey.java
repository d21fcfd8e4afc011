package dev.spillway.benchmarks.baseline;

import java.util.List;

/**
 * Canonical identity of a series as one string, used as the cache key. Components are length-prefixed so no
 * tag value, whatever characters it holds, can make two different series collide.
 */
public final class SeriesKey {

    private SeriesKey() {
    }

    /**
     * The measurement-and-tags part, shared by all fields of a line.
     *
     * @param tags alternating key, value; keys sorted in UTF-8 byte order
     */
    public static String prefix(String measurement, List<String> tags) {
        final StringBuilder sb = new StringBuilder(64);
        append(sb, measurement);
        sb.append(tags.size() / 2).append('|');
        for (String t : tags) {
            append(sb, t);
        }
        return sb.toString();
    }

    /** The full key of one field of a line. */
    public static String of(String prefix, String field) {
        final StringBuilder sb = new StringBuilder(prefix.length() + field.length() + 6).append(prefix);
        append(sb, field);
        return sb.toString();
    }

    private static void append(StringBuilder sb, String s) {
        sb.append(s.length()).append(':').append(s);
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
