package dev.spillway.ingest.lineprotocol;

import java.util.Objects;

/**
 * Parses InfluxDB line protocol straight from bytes into a reused {@link ParsedPoint} flyweight.
 *
 * <p>Semantics follow InfluxDB and its reference decoder (github.com/influxdata/line-protocol, whose
 * conformance corpus is the test oracle): escapes, field types, comments, {@code \r\n}, multi-line string
 * fields, strict UTF-8. A bad line is reported through {@link LineHandler#onError} and parsing resumes at
 * the next line; what to do with the good lines of a partly bad batch is the caller's decision.
 *
 * <p>Reusable and allocation-free on valid lines: names are unescaped into the point's byte arena (consumers that
 * look things up by bytes never need a String; Strings, when asked for, come from a small cache), and floats are
 * parsed from the bytes. NOT thread-safe: use one instance per connection or thread.
 */
public final class LineProtocolParser {

    /** Longest accepted string field value, in bytes after unescaping (InfluxDB's documented 64 KB). */
    public static final int MAX_STRING_FIELD_BYTES = 64 * 1024;

    private static final int NAME_CACHE_SIZE = 4096;
    private static final int MAX_QUOTED_TOKEN = 64;

    // Character classes, one bit each, indexed by unsigned byte.
    private static final int MEASUREMENT = 1;
    private static final int KEY = 2; // tag keys and field keys
    private static final int TAG_VALUE = 4;
    private static final int ESCAPABLE_IN_MEASUREMENT = 8;
    private static final int ESCAPABLE_IN_KEY_OR_TAG_VALUE = 16;
    private static final byte[] CLASS = new byte[256];

    static {
        for (int c = 0; c < 256; c++) {
            boolean nonPrintable = c < 0x20 || c == 0x7f;
            boolean whitespace = c == ' ' || c == '\r' || c == '\n';
            int bits = 0;
            if (!nonPrintable && c != ',' && c != ' ') {
                bits |= MEASUREMENT;
            }
            if (!nonPrintable && !whitespace && c != ',' && c != '=') {
                bits |= KEY;
            }
            // The reference decoder (and so the corpus) lets control characters through in tag values.
            if (!whitespace && c != ',' && c != '=') {
                bits |= TAG_VALUE;
            }
            if (c == ' ' || c == ',') {
                bits |= ESCAPABLE_IN_MEASUREMENT;
            }
            if (c == ' ' || c == ',' || c == '=') {
                bits |= ESCAPABLE_IN_KEY_OR_TAG_VALUE;
            }
            CLASS[c] = (byte) bits;
        }
    }

    private final ParsedPoint point = new ParsedPoint(new NameCache(NAME_CACHE_SIZE));

    // State of the parse() call in progress.
    private byte[] buf;
    private int pos;
    private int end;
    private int line;

    // Facts about the last token scanned, consumed by token().
    private int tokenEscapes;
    private boolean tokenHighBit;
    private int tokenEscapeClass;

    /** Creates a parser; keep it and reuse it for the lifetime of a connection or thread. */
    public LineProtocolParser() {
    }

    /**
     * Parses every line in {@code buf[off, off+len)}. Lines are separated by {@code \n} ({@code \r\n}
     * accepted; a string field value may span lines). Blank lines and comment lines (first non-space
     * character {@code #}) are skipped.
     *
     * @param buf              input bytes, UTF-8
     * @param off              first byte to parse
     * @param len              number of bytes to parse
     * @param precision        unit of the timestamps in the input
     * @param defaultTimeNanos time for lines without a timestamp (rounded down to {@code precision}, as
     *                         InfluxDB does)
     * @param handler          receives each accepted point and each rejected line, in input order
     * @return the number of points accepted
     */
    public int parse(byte[] buf, int off, int len, Precision precision, long defaultTimeNanos, LineHandler handler) {
        Objects.checkFromIndexSize(off, len, buf.length);
        Objects.requireNonNull(precision, "precision");
        Objects.requireNonNull(handler, "handler");
        this.buf = buf;
        this.pos = off;
        this.end = off + len;
        this.line = 1;
        long defaultTime = precision.truncate(defaultTimeNanos);
        int accepted = 0;
        try {
            while (true) {
                skipSpaces();
                if (pos >= end) {
                    break;
                }
                byte c = buf[pos];
                if (c == '\n' || (c == '\r' && (pos + 1 == end || buf[pos + 1] == '\n'))) {
                    consumeEndOfLine();
                    continue;
                }
                int entryStart = pos;
                int entryLine = line;
                try {
                    if (c == '#') {
                        skipComment();
                        continue;
                    }
                    parseEntry(precision, defaultTime, entryLine);
                } catch (LineSyntaxException e) {
                    reportAndRecover(e, entryStart, entryLine, off, handler);
                    continue;
                }
                handler.onPoint(point);
                accepted++;
            }
        } finally {
            point.release();
            this.buf = null;
        }
        return accepted;
    }

    private void reportAndRecover(LineSyntaxException e, int entryStart, int entryLine, int off, LineHandler handler) {
        int errorLine = entryLine;
        int lineStart = entryStart;
        for (int i = entryStart; i < e.offset; i++) {
            if (buf[i] == '\n') {
                errorLine++;
                lineStart = i + 1;
            }
        }
        // The entry may have started after leading spaces: columns count from the physical line start.
        if (lineStart == entryStart) {
            while (lineStart > off && buf[lineStart - 1] != '\n') {
                lineStart--;
            }
        }
        int column = e.offset - lineStart + 1;
        skipRestOfLine();
        handler.onError(errorLine, e.getMessage() + " (line " + errorLine + ", column " + column + ")");
    }

    private void parseEntry(Precision precision, long defaultTime, int entryLine) {
        point.reset(buf, entryLine);
        int start = pos;
        int stop = scan(MEASUREMENT, ESCAPABLE_IN_MEASUREMENT);
        if (stop == start) {
            throw atEndOfLine(pos)
                    ? error(pos, "missing measurement name")
                    : error(pos, "invalid character " + describe(pos) + " at start of measurement name");
        }
        final int measurementStart = token(start, stop, "measurement name");
        point.setMeasurement(measurementStart, point.namesLength());
        if (pos < end && buf[pos] == ',') {
            parseTags();
        }
        if (pos >= end || buf[pos] != ' ') {
            throw atEndOfLine(pos)
                    ? error(pos, "missing fields: a line needs at least one field after a space")
                    : error(pos, "unexpected character " + describe(pos) + " after tag value or measurement");
        }
        skipSpaces();
        if (parseFields()) {
            parseTimestamp(precision, defaultTime);
        } else {
            point.setTimestamp(defaultTime);
        }
    }

    private void parseTags() {
        do {
            pos++; // the comma
            if (pos >= end || isWhitespace(buf[pos])) {
                throw error(pos, "expected tag key after comma, found " + describe(pos));
            }
            int keyStart = pos;
            int keyEnd = scan(KEY, ESCAPABLE_IN_KEY_OR_TAG_VALUE);
            if (keyEnd == keyStart) {
                throw error(pos, pos < end && buf[pos] == '='
                        ? "empty tag key"
                        : "invalid character " + describe(pos) + " at start of tag key");
            }
            final int keyNameStart = token(keyStart, keyEnd, "tag key");
            final int keyNameEnd = point.namesLength();
            if (pos >= end || buf[pos] != '=') {
                throw error(pos, "expected '=' after tag key " + quote(keyStart, keyEnd) + ", found " + describe(pos));
            }
            pos++;
            int valueStart = pos;
            int valueEnd = scan(TAG_VALUE, ESCAPABLE_IN_KEY_OR_TAG_VALUE);
            if (valueEnd == valueStart) {
                throw error(pos, "empty value for tag key " + quote(keyStart, keyEnd) + " (tag values cannot be empty)");
            }
            final int valueNameStart = token(valueStart, valueEnd, "tag value");
            point.addTag(keyNameStart, keyNameEnd, valueNameStart, point.namesLength());
        } while (pos < end && buf[pos] == ',');
        String duplicate = point.sortTagsAndFindDuplicate();
        if (duplicate != null) {
            throw error(pos, "duplicate tag key \"" + duplicate + "\"");
        }
    }

    /** @return whether a timestamp section may follow (false when the line ended right after the fields) */
    private boolean parseFields() {
        while (true) {
            int keyStart = pos;
            int keyEnd = scan(KEY, ESCAPABLE_IN_KEY_OR_TAG_VALUE);
            if (keyEnd == keyStart) {
                throw atEndOfLine(pos)
                        ? error(pos, "missing field key")
                        : error(pos, "invalid character " + describe(pos) + " at start of field key");
            }
            final int key = token(keyStart, keyEnd, "field key");
            final int keyEndInNames = point.namesLength();
            if (pos >= end || buf[pos] != '=') {
                throw error(pos, "expected '=' after field key " + quote(keyStart, keyEnd) + ", found " + describe(pos));
            }
            pos++;
            if (pos >= end) {
                throw error(pos, "missing value for field " + quote(keyStart, keyEnd));
            }
            byte c = buf[pos];
            if (c == '"') {
                parseStringValue(key, keyEndInNames, keyStart, keyEnd);
            } else if (c == 't' || c == 'T' || c == 'f' || c == 'F') {
                parseBooleanValue(key, keyEndInNames, keyStart, keyEnd);
            } else if (c == '-' || c == '.' || (c >= '0' && c <= '9')) {
                parseNumericValue(key, keyEndInNames, keyStart, keyEnd);
            } else if (c == ' ' || c == ',' || c == '\n' || c == '\r') {
                throw error(pos, "missing value for field " + quote(keyStart, keyEnd));
            } else {
                int valueStart = pos;
                throw error(valueStart, "value " + quote(valueStart, scanFieldValue())
                        + " of field " + quote(keyStart, keyEnd) + " has no recognizable type");
            }
            if (pos >= end) {
                return false;
            }
            c = buf[pos];
            if (c == ',') {
                pos++;
            } else if (isWhitespace(c)) {
                return true;
            } else {
                throw error(pos, "unexpected character " + describe(pos) + " after value of field " + quote(keyStart, keyEnd));
            }
        }
    }

    private void parseStringValue(int key, int keyEndInNames, int keyStart, int keyEnd) {
        int quote = pos;
        int i = pos + 1;
        int escapes = 0;
        int bits = 0;
        int newlines = 0;
        final byte[] b = buf;
        final int n = end;
        while (i < n) {
            byte c = b[i];
            if (c == '"') {
                break;
            }
            if (c == '\\' && i + 1 < n && (b[i + 1] == '"' || b[i + 1] == '\\')) {
                escapes++;
                i += 2;
                continue;
            }
            if (c == '\n') {
                newlines++;
            }
            bits |= c;
            i++;
        }
        // Lines inside the string are real lines: keep the count right even if we reject the value.
        line += newlines;
        if (i >= n) {
            pos = n;
            throw error(quote, "unterminated string value for field " + quote(keyStart, keyEnd));
        }
        pos = i + 1;
        int start = quote + 1;
        if (i - start - escapes > MAX_STRING_FIELD_BYTES) {
            throw error(quote, "string value of field " + quote(keyStart, keyEnd) + " is longer than "
                    + MAX_STRING_FIELD_BYTES + " bytes");
        }
        if ((bits & 0x80) != 0 && Utf8.firstInvalid(b, start, i) >= 0) {
            throw error(quote, "invalid UTF-8 in string value of field " + quote(keyStart, keyEnd));
        }
        point.addString(key, keyEndInNames, start, i, escapes > 0);
    }

    private void parseBooleanValue(int key, int keyEndInNames, int keyStart, int keyEnd) {
        int start = pos;
        int stop = scanFieldValue();
        int len = stop - start;
        final byte[] b = buf;
        boolean value;
        if (len == 1) {
            value = b[start] == 't' || b[start] == 'T';
        } else if (len == 4 && isWord(start, "true", "True", "TRUE")) {
            value = true;
        } else if (len == 5 && isWord(start, "false", "False", "FALSE")) {
            value = false;
        } else {
            throw error(start, "invalid boolean " + quote(start, stop) + " for field " + quote(keyStart, keyEnd)
                    + " (expected t, T, true, True, TRUE, f, F, false, False or FALSE)");
        }
        point.addLong(key, keyEndInNames, FieldType.BOOLEAN, value ? 1L : 0L);
    }

    private boolean isWord(int start, String a, String b, String c) {
        return matches(start, a) || matches(start, b) || matches(start, c);
    }

    private boolean matches(int start, String word) {
        for (int i = 0; i < word.length(); i++) {
            if (buf[start + i] != word.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private void parseNumericValue(int key, int keyEndInNames, int keyStart, int keyEnd) {
        int start = pos;
        int stop = scanFieldValue();
        byte last = buf[stop - 1];
        if (last == 'i') {
            point.addLong(key, keyEndInNames, FieldType.INTEGER, parseSigned(start, stop - 1, stop, "integer value", keyStart, keyEnd));
        } else if (last == 'u') {
            point.addLong(key, keyEndInNames, FieldType.UNSIGNED, parseUnsigned(start, stop - 1, keyStart, keyEnd));
        } else {
            double v = FloatParser.parse(buf, start, stop);
            if (Double.isNaN(v)) {
                throw error(start, "invalid number " + quote(start, stop) + " for field " + quote(keyStart, keyEnd));
            }
            if (Double.isInfinite(v)) {
                throw error(start, "float " + quote(start, stop) + " of field " + quote(keyStart, keyEnd)
                        + " is out of range");
            }
            point.addDouble(key, keyEndInNames, v);
        }
    }

    private long parseSigned(int start, int stop, int textEnd, String what, int keyStart, int keyEnd) {
        int i = start;
        boolean negative = i < stop && buf[i] == '-';
        if (negative) {
            i++;
        }
        if (i == stop) {
            throw error(start, "invalid " + what + " " + quote(start, textEnd) + describeField(keyStart, keyEnd));
        }
        // Accumulate negatively so Long.MIN_VALUE is reachable.
        long v = 0;
        for (; i < stop; i++) {
            int d = buf[i] - '0';
            if (d < 0 || d > 9) {
                throw error(start, "invalid " + what + " " + quote(start, textEnd) + describeField(keyStart, keyEnd));
            }
            if (v < Long.MIN_VALUE / 10 || v * 10 < Long.MIN_VALUE + d) {
                throw error(start, what + " " + quote(start, textEnd) + describeField(keyStart, keyEnd)
                        + " is out of the signed 64-bit range");
            }
            v = v * 10 - d;
        }
        if (!negative) {
            if (v == Long.MIN_VALUE) {
                throw error(start, what + " " + quote(start, textEnd) + describeField(keyStart, keyEnd)
                        + " is out of the signed 64-bit range");
            }
            v = -v;
        }
        return v;
    }

    private long parseUnsigned(int start, int stop, int keyStart, int keyEnd) {
        if (start == stop) {
            throw error(start, "invalid unsigned integer " + quote(start, stop + 1) + describeField(keyStart, keyEnd));
        }
        long v = 0;
        for (int i = start; i < stop; i++) {
            int d = buf[i] - '0';
            if (d < 0 || d > 9) {
                throw error(start, "invalid unsigned integer " + quote(start, stop + 1) + describeField(keyStart, keyEnd));
            }
            // 2^64 - 1 = 1844674407370955161 * 10 + 5
            if (Long.compareUnsigned(v, 1844674407370955161L) > 0 || (v == 1844674407370955161L && d > 5)) {
                throw error(start, "unsigned integer " + quote(start, stop + 1) + describeField(keyStart, keyEnd)
                        + " is out of the range 0..18446744073709551615");
            }
            v = v * 10 + d;
        }
        return v;
    }

    private void parseTimestamp(Precision precision, long defaultTime) {
        skipSpaces();
        if (atEndOfLine(pos)) {
            point.setTimestamp(defaultTime);
            consumeEndOfLine();
            return;
        }
        int start = pos;
        // The usual case in one pass: 1-19 digits, no sign, within range, then the end of the line. Anything else
        // (a sign, an overflow, "\r\n", text after it) is read again by the general path below, unchanged.
        final byte[] b = buf;
        final int n = end;
        int i = start;
        long fast = 0;
        final int unchecked = Math.min(n, start + 18); // 18 digits never overflow a long
        int d;
        for (int k = 0; k < 2 && i + 8 <= n; k++) {
            final long eight = FloatParser.eightDigits(b, i);
            if (eight < 0) {
                break;
            }
            fast = fast * 100_000_000L + eight;
            i += 8;
        }
        while (i < unchecked && (d = b[i] - '0') >= 0 && d <= 9) {
            fast = fast * 10 + d;
            i++;
        }
        if (i > start && i < n && i == start + 18 && (d = b[i] - '0') >= 0 && d <= 9
                && fast <= (Long.MAX_VALUE - d) / 10) {
            fast = fast * 10 + d;
            i++;
        }
        if (i > start && (i == n || b[i] == '\n') && precision.fitsInNanos(fast)) {
            point.setTimestamp(fast * precision.nanosPerUnit(), true);
            pos = i;
            consumeEndOfLine();
            return;
        }
        while (pos < end && (buf[pos] == '-' || (buf[pos] >= '0' && buf[pos] <= '9'))) {
            pos++;
        }
        int stop = pos;
        if (pos < end && !isWhitespace(buf[pos])) {
            int badEnd = pos;
            while (badEnd < end && buf[badEnd] != '\n' && buf[badEnd] != '\r') {
                badEnd++;
            }
            throw error(start, "invalid timestamp " + quote(start, badEnd));
        }
        skipSpaces();
        if (!atEndOfLine(pos)) {
            throw error(pos, "unexpected text after timestamp: " + describe(pos));
        }
        if (stop == start) {
            point.setTimestamp(defaultTime);
        } else {
            long value = parseSigned(start, stop, stop, "timestamp", -1, -1);
            if (!precision.fitsInNanos(value)) {
                throw error(start, "timestamp " + quote(start, stop) + " is out of range for precision "
                        + precision.name().toLowerCase(java.util.Locale.ROOT));
            }
            point.setTimestamp(value * precision.nanosPerUnit(), true);
        }
        // Consume the line end only once nothing can fail, so error recovery never skips the next line.
        consumeEndOfLine();
    }

    private void skipComment() {
        int i = pos;
        while (i < end) {
            byte c = buf[i];
            if (c == '\n') {
                break;
            }
            if ((c >= 0 && c < 0x20) || c == 0x7f) {
                if (c == '\r' && (i + 1 == end || buf[i + 1] == '\n')) {
                    break;
                }
                pos = i;
                throw error(i, "invalid character " + describe(i) + " in comment line");
            }
            i++;
        }
        pos = i;
        consumeEndOfLine();
    }

    // ---- scanning primitives ----

    /** Advances over a token of the given class, honouring backslash escapes; returns its end. */
    private int scan(int charClass, int escapeClass) {
        final byte[] b = buf;
        final int n = end;
        int i = pos;
        int escapes = 0;
        int bits = 0;
        while (i < n) {
            int c = b[i] & 0xff;
            if (c == '\\') {
                if (i + 1 < n && (CLASS[b[i + 1] & 0xff] & escapeClass) != 0) {
                    escapes++;
                    i += 2;
                } else {
                    i++; // a backslash before anything else is literal
                }
                continue;
            }
            if ((CLASS[c] & charClass) == 0) {
                break;
            }
            bits |= c;
            i++;
        }
        tokenEscapes = escapes;
        tokenHighBit = (bits & 0x80) != 0;
        tokenEscapeClass = escapeClass;
        pos = i;
        return i;
    }

    /**
     * Copies the token just scanned into the point's name arena, validating UTF-8 and removing escapes.
     *
     * @return where it starts in the arena; it ends at {@code point.namesLength()}
     */
    private int token(int start, int stop, String what) {
        if (tokenHighBit && Utf8.firstInvalid(buf, start, stop) >= 0) {
            throw error(start, "invalid UTF-8 in " + what + " " + quote(start, stop));
        }
        final int len = stop - start - tokenEscapes;
        final byte[] out = point.reserveName(len);
        final byte[] b = buf;
        int n = point.namesLength();
        if (tokenEscapes == 0) {
            for (int i = start; i < stop; i++) {
                out[n++] = b[i];
            }
        } else {
            for (int i = start; i < stop; i++) {
                byte c = b[i];
                if (c == '\\' && i + 1 < stop && (CLASS[b[i + 1] & 0xff] & tokenEscapeClass) != 0) {
                    c = b[++i];
                }
                out[n++] = c;
            }
        }
        return point.commitName(len);
    }

    private int scanFieldValue() {
        final byte[] b = buf;
        int i = pos;
        while (i < end) {
            byte c = b[i];
            if (c == ',' || c == ' ' || c == '\n' || c == '\r') {
                break;
            }
            i++;
        }
        pos = i;
        return i;
    }

    private void skipSpaces() {
        while (pos < end && buf[pos] == ' ') {
            pos++;
        }
    }

    private boolean atEndOfLine(int i) {
        return i >= end || buf[i] == '\n' || (buf[i] == '\r' && (i + 1 == end || buf[i + 1] == '\n'));
    }

    private void consumeEndOfLine() {
        if (pos >= end) {
            return;
        }
        if (buf[pos] == '\r') {
            pos++;
        }
        if (pos < end && buf[pos] == '\n') {
            pos++;
            line++;
        }
    }

    private void skipRestOfLine() {
        while (pos < end && buf[pos] != '\n') {
            pos++;
        }
        if (pos < end) {
            pos++;
            line++;
        }
    }

    private static boolean isWhitespace(byte c) {
        return c == ' ' || c == '\n' || c == '\r';
    }

    // ---- error reporting (cold path) ----

    private static LineSyntaxException error(int offset, String message) {
        return new LineSyntaxException(offset, message);
    }

    private String describe(int i) {
        if (i >= end) {
            return "end of input";
        }
        int c = buf[i] & 0xff;
        if (c == '\n' || (c == '\r' && atEndOfLine(i))) {
            return "end of line";
        }
        return "'" + printable(c) + "'";
    }

    private String describeField(int keyStart, int keyEnd) {
        return keyStart < 0 ? "" : " for field " + quote(keyStart, keyEnd);
    }

    private String quote(int start, int stop) {
        StringBuilder sb = new StringBuilder("\"");
        int limit = Math.min(stop, start + MAX_QUOTED_TOKEN);
        for (int i = start; i < limit; i++) {
            int c = buf[i] & 0xff;
            if (c == '"' || c == '\\') {
                sb.append('\\').append((char) c);
            } else {
                sb.append(printable(c));
            }
        }
        if (limit < stop) {
            sb.append("...");
        }
        return sb.append('"').toString();
    }

    private static String printable(int c) {
        if (c >= 0x20 && c < 0x7f) {
            return String.valueOf((char) c);
        }
        switch (c) {
            case '\t':
                return "\\t";
            case '\n':
                return "\\n";
            case '\r':
                return "\\r";
            default:
                return String.format("\\x%02x", c);
        }
    }

    /** Control flow for a rejected line; no stack trace because bad lines are data, not bugs. */
    private static final class LineSyntaxException extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final int offset;

        LineSyntaxException(int offset, String message) {
            super(message, null, false, false);
            this.offset = offset;
        }
    }
}
