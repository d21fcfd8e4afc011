package dev.spillway.uptime.monitor;

import java.util.ArrayList;
import java.util.List;

/**
 * Expected HTTP status codes as ranges and single codes, e.g. {@code 200-299,301}. Immutable.
 */
public final class StatusRanges {

    /** The default: any 2xx. */
    public static final StatusRanges DEFAULT = parse("200-299");

    private final int[] from;
    private final int[] to;
    private final String text;

    private StatusRanges(int[] from, int[] to, String text) {
        this.from = from;
        this.to = to;
        this.text = text;
    }

    /**
     * Parses {@code 200-299,301}: comma-separated codes or inclusive ranges of codes in 100..599.
     *
     * @throws IllegalArgumentException naming the bad part
     */
    public static StatusRanges parse(String spec) {
        if (spec == null || spec.isBlank()) {
            throw new IllegalArgumentException("must list codes or ranges such as 200-299,301");
        }
        final String[] parts = spec.split(",");
        if (parts.length > 32) {
            throw new IllegalArgumentException("at most 32 codes or ranges");
        }
        final List<int[]> ranges = new ArrayList<>();
        final StringBuilder canonical = new StringBuilder();
        for (String raw : parts) {
            final String p = raw.trim();
            final int dash = p.indexOf('-', 1);
            final int lo = code(dash < 0 ? p : p.substring(0, dash), p);
            final int hi = dash < 0 ? lo : code(p.substring(dash + 1), p);
            if (hi < lo) {
                throw new IllegalArgumentException("range '" + p + "' ends before it starts");
            }
            ranges.add(new int[] {lo, hi});
            if (canonical.length() > 0) {
                canonical.append(',');
            }
            canonical.append(lo);
            if (hi != lo) {
                canonical.append('-').append(hi);
            }
        }
        final int[] f = new int[ranges.size()];
        final int[] t = new int[ranges.size()];
        for (int i = 0; i < f.length; i++) {
            f[i] = ranges.get(i)[0];
            t[i] = ranges.get(i)[1];
        }
        return new StatusRanges(f, t, canonical.toString());
    }

    private static int code(String s, String part) {
        final int c;
        try {
            c = Integer.parseInt(s.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + part + "' is not a status code or range such as 200-299");
        }
        if (c < 100 || c > 599) {
            throw new IllegalArgumentException("status code " + c + " is outside 100..599");
        }
        return c;
    }

    /** Whether {@code status} is expected. */
    public boolean matches(int status) {
        for (int i = 0; i < from.length; i++) {
            if (status >= from[i] && status <= to[i]) {
                return true;
            }
        }
        return false;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof StatusRanges s && s.text.equals(text);
    }

    @Override
    public int hashCode() {
        return text.hashCode();
    }

    /** The canonical text, e.g. {@code 200-299,301}. */
    @Override
    public String toString() {
        return text;
    }
}
