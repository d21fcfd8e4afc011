package dev.spillway.statuspage;

import java.util.Locale;

/** Escaping and number formatting for the server-rendered markup. */
final class Html {

    private Html() {
    }

    /** Text for element content and quoted attribute values. */
    static String esc(String s) {
        if (s == null) {
            return "";
        }
        final StringBuilder sb = new StringBuilder(s.length() + 8);
        for (int i = 0; i < s.length(); i++) {
            final char c = s.charAt(i);
            switch (c) {
                case '&' -> sb.append("&amp;");
                case '<' -> sb.append("&lt;");
                case '>' -> sb.append("&gt;");
                case '"' -> sb.append("&quot;");
                case '\'' -> sb.append("&#39;");
                default -> sb.append(c);
            }
        }
        return sb.toString();
    }

    /** 1234567 as "1,234,567". */
    static String count(long n) {
        return String.format(Locale.ROOT, "%,d", n);
    }

    /** A percentage with up to three decimals, or an en dash when unknown. */
    static String percent(double fraction) {
        if (!Double.isFinite(fraction)) {
            return "\u2013";
        }
        final double p = fraction * 100;
        return (p == 100 ? "100" : String.format(Locale.ROOT, p >= 99 ? "%.3f" : "%.2f", p)) + "%";
    }

    /** A duration in seconds as "3d 4h", "2h 5m", "4m 10s" or "12s". */
    static String duration(long seconds) {
        if (seconds < 0) {
            return "\u2013";
        }
        final long d = seconds / 86_400;
        final long h = seconds % 86_400 / 3_600;
        final long m = seconds % 3_600 / 60;
        final long s = seconds % 60;
        if (d > 0) {
            return d + "d " + h + "h";
        }
        if (h > 0) {
            return h + "h " + m + "m";
        }
        if (m > 0) {
            return m + "m " + s + "s";
        }
        return s + "s";
    }
}
