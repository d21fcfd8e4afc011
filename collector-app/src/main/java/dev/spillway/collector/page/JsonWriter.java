package dev.spillway.collector.page;

import java.util.Locale;

/**
 * Writes JSON text for the page's data endpoints, straight into one buffer (a 1,000-monitor document is built
 * without an intermediate tree). Only writing; the page reads no JSON. Non-finite doubles become {@code null}.
 */
final class JsonWriter {

    private final StringBuilder out;
    /** Whether the next value in the current container needs a comma before it. */
    private boolean comma;

    JsonWriter() {
        this(256);
    }

    JsonWriter(int capacity) {
        this.out = new StringBuilder(capacity);
    }

    JsonWriter beginObject() {
        separate();
        out.append('{');
        comma = false;
        return this;
    }

    JsonWriter endObject() {
        out.append('}');
        comma = true;
        return this;
    }

    JsonWriter beginArray() {
        separate();
        out.append('[');
        comma = false;
        return this;
    }

    JsonWriter endArray() {
        out.append(']');
        comma = true;
        return this;
    }

    /** Starts a member; the next call writes its value. */
    JsonWriter name(String name) {
        separate();
        quote(out, name);
        out.append(':');
        comma = false;
        return this;
    }

    JsonWriter value(String s) {
        separate();
        if (s == null) {
            out.append("null");
        } else {
            quote(out, s);
        }
        comma = true;
        return this;
    }

    JsonWriter value(long v) {
        separate();
        out.append(v);
        comma = true;
        return this;
    }

    JsonWriter value(double v) {
        separate();
        if (Double.isFinite(v)) {
            if (v == Math.rint(v) && Math.abs(v) < 1e15) {
                out.append((long) v);
            } else {
                out.append(v);
            }
        } else {
            out.append("null");
        }
        comma = true;
        return this;
    }

    JsonWriter value(boolean v) {
        separate();
        out.append(v);
        comma = true;
        return this;
    }

    JsonWriter nullValue() {
        separate();
        out.append("null");
        comma = true;
        return this;
    }

    JsonWriter field(String name, String v) {
        return name(name).value(v);
    }

    JsonWriter field(String name, long v) {
        return name(name).value(v);
    }

    JsonWriter field(String name, double v) {
        return name(name).value(v);
    }

    JsonWriter field(String name, boolean v) {
        return name(name).value(v);
    }

    private void separate() {
        if (comma) {
            out.append(',');
        }
    }

    @Override
    public String toString() {
        return out.toString();
    }

    /**
     * Appends {@code s} as a JSON string. {@code <}, {@code >} and {@code &} are escaped too, so the text can sit
     * inside an HTML {@code <script type="application/json">} block without ending it.
     */
    static void quote(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            final char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '<', '>', '&', '\u2028', '\u2029' -> sb.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }
}
