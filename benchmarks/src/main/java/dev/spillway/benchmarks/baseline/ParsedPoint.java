package dev.spillway.benchmarks.baseline;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;

/**
 * One decoded line. A flyweight owned and reused by {@link LineProtocolParser}: it is only valid during
 * {@link LineHandler#onPoint}; copy anything that must outlive the call.
 *
 * <p>Tags are sorted by key in byte order of their UTF-8 encoding (the order InfluxDB uses for series
 * keys); fields keep the order of the line.
 */
public final class ParsedPoint {

    private static final FieldType[] TYPES = FieldType.values();
    private static final int INITIAL_CAPACITY = 8;

    private String measurement;
    private int lineNumber;
    private long timestampNanos;

    private int tagCount;
    private String[] tagKeys = new String[INITIAL_CAPACITY];
    private String[] tagValues = new String[INITIAL_CAPACITY];

    private int fieldCount;
    private String[] fieldKeys = new String[INITIAL_CAPACITY];
    private byte[] fieldTypes = new byte[INITIAL_CAPACITY];
    private long[] fieldLongs = new long[INITIAL_CAPACITY];
    private double[] fieldDoubles = new double[INITIAL_CAPACITY];
    // String values stay as byte ranges of the input until asked for: most consumers of a point never
    // look at every string, and the input buffer is guaranteed alive for the duration of the callback.
    private int[] stringStart = new int[INITIAL_CAPACITY];
    private int[] stringEnd = new int[INITIAL_CAPACITY];
    private boolean[] stringEscaped = new boolean[INITIAL_CAPACITY];
    private String[] stringCache = new String[INITIAL_CAPACITY];
    private byte[] buf;

    ParsedPoint() {
    }

    /** @return the measurement name, unescaped */
    public String measurement() {
        return measurement;
    }

    /** @return how many tags the line had */
    public int tagCount() {
        return tagCount;
    }

    /** @return the key of the i-th tag in key order, unescaped */
    public String tagKey(int i) {
        return tagKeys[Objects.checkIndex(i, tagCount)];
    }

    /** @return the value of the i-th tag in key order, unescaped */
    public String tagValue(int i) {
        return tagValues[Objects.checkIndex(i, tagCount)];
    }

    /** @return how many fields the line had (at least one) */
    public int fieldCount() {
        return fieldCount;
    }

    /** @return the key of the i-th field, unescaped */
    public String fieldKey(int i) {
        return fieldKeys[Objects.checkIndex(i, fieldCount)];
    }

    /** @return the type of the i-th field */
    public FieldType fieldType(int i) {
        return TYPES[fieldTypes[Objects.checkIndex(i, fieldCount)]];
    }

    /**
     * @return the i-th field as a double: FLOAT as is, INTEGER and UNSIGNED converted (possibly rounded),
     *     BOOLEAN as 1.0 or 0.0, STRING as NaN
     */
    public double fieldValue(int i) {
        Objects.checkIndex(i, fieldCount);
        switch (TYPES[fieldTypes[i]]) {
            case FLOAT:
                return fieldDoubles[i];
            case INTEGER:
            case BOOLEAN:
                return fieldLongs[i];
            case UNSIGNED:
                return unsignedToDouble(fieldLongs[i]);
            default:
                return Double.NaN;
        }
    }

    /**
     * @return the exact INTEGER value; for UNSIGNED the raw 64 bits (print with
     *     {@link Long#toUnsignedString(long)}); for BOOLEAN 1 or 0; for FLOAT the value cast to long;
     *     for STRING 0
     */
    public long fieldLong(int i) {
        Objects.checkIndex(i, fieldCount);
        return TYPES[fieldTypes[i]] == FieldType.FLOAT ? (long) fieldDoubles[i] : fieldLongs[i];
    }

    /**
     * @return the STRING value with {@code \\} and {@code \"} unescaped (other backslashes are kept, as
     *     InfluxDB does); {@code null} if the field is not a string
     */
    public String fieldString(int i) {
        Objects.checkIndex(i, fieldCount);
        if (fieldTypes[i] != FieldType.STRING.ordinal()) {
            return null;
        }
        String s = stringCache[i];
        if (s == null) {
            s = decodeString(i);
            stringCache[i] = s;
        }
        return s;
    }

    /** @return the BOOLEAN value; for other types whether {@link #fieldLong(int)} is non-zero */
    public boolean fieldBoolean(int i) {
        return fieldLong(i) != 0;
    }

    /**
     * @return the line's timestamp in nanoseconds since the epoch, or, when the line has none, the
     *     default time given to {@code parse()} rounded down to the precision (as InfluxDB does)
     */
    public long timestampNanos() {
        return timestampNanos;
    }

    /** @return 1-based number of the line this point started on, within the parsed buffer */
    public int lineNumber() {
        return lineNumber;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(measurement);
        for (int i = 0; i < tagCount; i++) {
            sb.append(',').append(tagKeys[i]).append('=').append(tagValues[i]);
        }
        for (int i = 0; i < fieldCount; i++) {
            sb.append(i == 0 ? ' ' : ',').append(fieldKeys[i]).append('=');
            switch (fieldType(i)) {
                case STRING:
                    sb.append('"').append(fieldString(i)).append('"');
                    break;
                case INTEGER:
                    sb.append(fieldLongs[i]).append('i');
                    break;
                case UNSIGNED:
                    sb.append(Long.toUnsignedString(fieldLongs[i])).append('u');
                    break;
                case BOOLEAN:
                    sb.append(fieldLongs[i] != 0);
                    break;
                default:
                    sb.append(fieldDoubles[i]);
            }
        }
        return sb.append(' ').append(timestampNanos).toString();
    }

    // ---- mutation, for the parser only ----

    void reset(byte[] input, int line) {
        this.buf = input;
        this.lineNumber = line;
        this.measurement = null;
        this.tagCount = 0;
        // Clear lazily decoded strings of the previous line so they are not served for this one.
        Arrays.fill(stringCache, 0, fieldCount, null);
        this.fieldCount = 0;
    }

    void release() {
        // Do not pin the caller's (possibly large) buffer between parse() calls.
        Arrays.fill(stringCache, 0, fieldCount, null);
        this.buf = null;
    }

    void setMeasurement(String name) {
        this.measurement = name;
    }

    void setTimestamp(long nanos) {
        this.timestampNanos = nanos;
    }

    void addTag(String key, String value) {
        if (tagCount == tagKeys.length) {
            tagKeys = Arrays.copyOf(tagKeys, tagCount * 2);
            tagValues = Arrays.copyOf(tagValues, tagCount * 2);
        }
        tagKeys[tagCount] = key;
        tagValues[tagCount] = value;
        tagCount++;
    }

    /**
     * Sorts tags by key; insertion sort because real lines carry a handful of tags, usually already sorted
     * (Telegraf and the client libraries sort them).
     *
     * @return the key that occurs twice, or {@code null} if keys are unique
     */
    String sortTagsAndFindDuplicate() {
        for (int i = 1; i < tagCount; i++) {
            String k = tagKeys[i];
            String v = tagValues[i];
            int j = i - 1;
            int cmp = 0;
            while (j >= 0 && (cmp = Utf8.compareAsUtf8(tagKeys[j], k)) > 0) {
                tagKeys[j + 1] = tagKeys[j];
                tagValues[j + 1] = tagValues[j];
                j--;
            }
            if (j >= 0 && cmp == 0) {
                return k;
            }
            tagKeys[j + 1] = k;
            tagValues[j + 1] = v;
        }
        return null;
    }

    private int nextFieldSlot(String key, FieldType type) {
        if (fieldCount == fieldKeys.length) {
            growFields();
        }
        int i = fieldCount++;
        fieldKeys[i] = key;
        fieldTypes[i] = (byte) type.ordinal();
        return i;
    }

    void addDouble(String key, double value) {
        int i = nextFieldSlot(key, FieldType.FLOAT);
        fieldDoubles[i] = value;
    }

    void addLong(String key, FieldType type, long value) {
        int i = nextFieldSlot(key, type);
        fieldLongs[i] = value;
    }

    void addString(String key, int start, int end, boolean escaped) {
        int i = nextFieldSlot(key, FieldType.STRING);
        stringStart[i] = start;
        stringEnd[i] = end;
        stringEscaped[i] = escaped;
        stringCache[i] = null;
    }

    private void growFields() {
        int n = fieldKeys.length * 2;
        fieldKeys = Arrays.copyOf(fieldKeys, n);
        fieldTypes = Arrays.copyOf(fieldTypes, n);
        fieldLongs = Arrays.copyOf(fieldLongs, n);
        fieldDoubles = Arrays.copyOf(fieldDoubles, n);
        stringStart = Arrays.copyOf(stringStart, n);
        stringEnd = Arrays.copyOf(stringEnd, n);
        stringEscaped = Arrays.copyOf(stringEscaped, n);
        stringCache = Arrays.copyOf(stringCache, n);
    }

    private String decodeString(int i) {
        int s = stringStart[i];
        int e = stringEnd[i];
        if (!stringEscaped[i]) {
            return new String(buf, s, e - s, StandardCharsets.UTF_8);
        }
        byte[] out = new byte[e - s];
        int n = 0;
        for (int p = s; p < e; p++) {
            byte c = buf[p];
            if (c == '\\' && p + 1 < e && (buf[p + 1] == '\\' || buf[p + 1] == '"')) {
                c = buf[++p];
            }
            out[n++] = c;
        }
        return new String(out, 0, n, StandardCharsets.UTF_8);
    }

    private static double unsignedToDouble(long bits) {
        if (bits >= 0) {
            return bits;
        }
        // Halve (keeping the lowest bit so rounding stays correct), convert, double back.
        return ((bits >>> 1) | (bits & 1)) * 2.0;
    }
}
