package dev.spillway.ingest.series;

import java.util.List;

/**
 * Limits a series must meet before the collector tries to create it, so that a line the database would refuse
 * is answered 400 naming the line instead of failing in the database (and being retried forever as a 503).
 *
 * <p>The total bound keeps a row of the unique index on {@code (measurement, tags, field)} below PostgreSQL's
 * btree limit (about 2700 bytes per index row on 8 KiB pages, whatever the values compress to): 2000 bytes of
 * names and values plus jsonb's 8 bytes per tag stay under it with room to spare. NUL cannot be stored in a
 * PostgreSQL {@code text} or {@code jsonb} value at all.
 */
public final class SeriesValidator {

    /** Most tags on one line. */
    public static final int MAX_TAGS = 64;
    /** Longest measurement, tag key or field key, in UTF-8 bytes. */
    public static final int MAX_NAME_BYTES = 256;
    /** Longest tag value, in UTF-8 bytes. */
    public static final int MAX_TAG_VALUE_BYTES = 1024;
    /** Most bytes of measurement, field key and every tag key and value together. */
    public static final int MAX_SERIES_KEY_BYTES = 2000;

    private SeriesValidator() {
    }

    /**
     * Why this series cannot be stored, or null when it can.
     *
     * @param tags alternating key, value
     */
    public static String problem(String measurement, List<String> tags, String field) {
        final int tagCount = tags.size() / 2;
        if (tagCount > MAX_TAGS) {
            return "too many tags: " + tagCount + " (at most " + MAX_TAGS + ")";
        }
        long total = 0;
        String p = check("measurement", measurement, MAX_NAME_BYTES);
        if (p != null) {
            return p;
        }
        total += utf8Length(measurement);
        p = check("field key", field, MAX_NAME_BYTES);
        if (p != null) {
            return p;
        }
        total += utf8Length(field);
        for (int i = 0; i < tags.size(); i += 2) {
            p = check("tag key", tags.get(i), MAX_NAME_BYTES);
            if (p == null) {
                p = check("value of tag '" + abbreviate(tags.get(i)) + "'", tags.get(i + 1), MAX_TAG_VALUE_BYTES);
            }
            if (p != null) {
                return p;
            }
            total += utf8Length(tags.get(i)) + utf8Length(tags.get(i + 1));
        }
        if (total > MAX_SERIES_KEY_BYTES) {
            return "series key too long: measurement, tags and field key take " + total + " bytes (at most "
                + MAX_SERIES_KEY_BYTES + ")";
        }
        return null;
    }

    private static String check(String what, String s, int maxBytes) {
        if (s.indexOf('\0') >= 0) {
            return what + " contains a NUL character, which PostgreSQL cannot store";
        }
        final int n = utf8Length(s);
        if (n > maxBytes) {
            return what + " too long: " + n + " bytes (at most " + maxBytes + ")";
        }
        return null;
    }

    private static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 40) + "...";
    }

    /** UTF-8 length without encoding (surrogate pairs count 4, as they encode). */
    static int utf8Length(String s) {
        int n = 0;
        for (int i = 0; i < s.length(); i++) {
            final char c = s.charAt(i);
            if (c < 0x80) {
                n++;
            } else if (c < 0x800) {
                n += 2;
            } else if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                n += 4;
                i++;
            } else {
                n += 3;
            }
        }
        return n;
    }
}
