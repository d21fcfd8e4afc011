package dev.spillway.runtime.log;

import java.util.Locale;

/**
 * User text made safe for a log line or a message: a status name, an id, a URI or an answer from a remote server
 * may hold a line feed or an escape sequence, which in a log would end the line and start what looks like another
 * entry (a forged {@code ERROR} line) or recolour a terminal. {@link #escape} writes every such character as an
 * escape, so one log call stays one line.
 */
public final class LogText {

    private LogText() {
    }

    /**
     * {@code s} with every control character (C0, DEL, C1, U+2028, U+2029) written as an escape ({@code \n},
     * {@code \r}, {@code \t}, {@code \u001b}) and a backslash doubled, so the escapes cannot be confused with text
     * that looks like them; null as {@code null}.
     */
    public static String escape(String s) {
        if (s == null) {
            return "null";
        }
        if (clean(s)) {
            return s;
        }
        final StringBuilder sb = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            final char c = s.charAt(i);
            switch (c) {
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (control(c)) {
                        sb.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.toString();
    }

    /** {@link #escape} of {@code String.valueOf(o)}. */
    public static String escape(Object o) {
        return escape(String.valueOf(o));
    }

    private static boolean clean(String s) {
        for (int i = 0; i < s.length(); i++) {
            final char c = s.charAt(i);
            if (c == '\\' || control(c)) {
                return false;
            }
        }
        return true;
    }

    private static boolean control(char c) {
        return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == '\u2028' || c == '\u2029';
    }
}
