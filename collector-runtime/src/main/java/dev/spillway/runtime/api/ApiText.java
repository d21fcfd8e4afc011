package dev.spillway.runtime.api;

import java.util.Locale;

/**
 * Text from a request, checked before it goes anywhere: a control character (NUL, a line break, an escape...) in
 * a name, an id, a tag or a status cannot be stored in PostgreSQL ({@code text} refuses NUL) or could forge a line
 * in a log or a message, so it is refused with 400 naming the field. Free text such as a request body may keep tab
 * and line breaks ({@link #requireNoControlExceptLineBreaks}), never NUL.
 */
public final class ApiText {

    private ApiText() {
    }

    /**
     * The index of the first control character of {@code s} (C0, DEL, C1, and the Unicode line and paragraph
     * separators), or -1.
     */
    public static int firstControl(String s) {
        if (s == null) {
            return -1;
        }
        for (int i = 0; i < s.length(); i++) {
            if (isControl(s.charAt(i))) {
                return i;
            }
        }
        return -1;
    }

    /** Whether {@code c} is a control character as {@link #firstControl} counts them. */
    public static boolean isControl(char c) {
        return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == '\u2028' || c == '\u2029';
    }

    /** 400 naming {@code field} when {@code value} holds a control character. */
    public static void requireNoControl(String field, String value) throws ApiException {
        final int i = firstControl(value);
        if (i >= 0) {
            throw ApiException.invalid(field, "must not contain control characters (found "
                + describe(value.charAt(i)) + " at position " + i + ")");
        }
    }

    /** 400 naming {@code field} when {@code value} holds NUL or a control character other than tab, CR and LF. */
    public static void requireNoControlExceptLineBreaks(String field, String value) throws ApiException {
        if (value == null) {
            return;
        }
        for (int i = 0; i < value.length(); i++) {
            final char c = value.charAt(i);
            if (isControl(c) && c != '\t' && c != '\n' && c != '\r') {
                throw ApiException.invalid(field, "must not contain " + describe(c) + " (found at position " + i
                    + "); only tab and line breaks are allowed among control characters");
            }
        }
    }

    /** {@code NUL}, {@code U+001B}: how a message names a control character. */
    public static String describe(char c) {
        return switch (c) {
            case 0 -> "NUL";
            case '\n' -> "a line feed (\\n)";
            case '\r' -> "a carriage return (\\r)";
            case '\t' -> "a tab";
            default -> String.format(Locale.ROOT, "U+%04X", (int) c);
        };
    }
}
