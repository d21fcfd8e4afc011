package dev.spillway.ingest.lineprotocol;

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
    private static final int INITIAL_NAMES = 512;
    // A line with a huge name grows the arena; give that memory back at the end of the parse() call.
    private static final int MAX_RETAINED_NAMES = 64 * 1024;

    private final NameCache cache;
    private int lineNumber;
    private long timestampNanos;
    private boolean timestamped;

    // Every name of the line (measurement, tag keys and values, field keys), unescaped, back to back. Lookups by
    // bytes (series keys) read them here; Strings are made only when asked for, through the name cache.
    private byte[] names = new byte[INITIAL_NAMES];
    private int namesLength;
    private int measurementStart;
    private int measurementEnd;

    private int tagCount;
    private int[] tagKeyStart = new int[INITIAL_CAPACITY];
    private int[] tagKeyEnd = new int[INITIAL_CAPACITY];
    private int[] tagValueStart = new int[INITIAL_CAPACITY];
    private int[] tagValueEnd = new int[INITIAL_CAPACITY];

    private int fieldCount;
    private int[] fieldKeyStart = new int[INITIAL_CAPACITY];
    private int[] fieldKeyEnd = new int[INITIAL_CAPACITY];
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

    ParsedPoint(NameCache cache) {
        this.cache = cache;
    }

    /** @return the measurement name, unescaped (served from the parser's name cache: no allocation on a hit) */
    public String measurement() {
        return name(measurementStart, measurementEnd);
    }

    /** @return how many tags the line had */
    public int tagCount() {
        return tagCount;
    }

    /** @return the key of the i-th tag in key order, unescaped */
    public String tagKey(int i) {
        Objects.checkIndex(i, tagCount);
        return name(tagKeyStart[i], tagKeyEnd[i]);
    }

    /** @return the value of the i-th tag in key order, unescaped */
    public String tagValue(int i) {
        Objects.checkIndex(i, tagCount);
        return name(tagValueStart[i], tagValueEnd[i]);
    }

    // ---- the names as bytes, for lookups that must not allocate ----

    /**
     * The line's names, unescaped and UTF-8 encoded, back to back; the {@code *Start}/{@code *End} methods give
     * each one's range. Valid only during {@link LineHandler#onPoint}; do not modify.
     *
     * @return the shared array (not a copy)
     */
    public byte[] nameBytes() {
        return names;
    }

    /** @return start of the measurement name in {@link #nameBytes()} */
    public int measurementStart() {
        return measurementStart;
    }

    /** @return end (exclusive) of the measurement name in {@link #nameBytes()} */
    public int measurementEnd() {
        return measurementEnd;
    }

    /** @return start of the i-th tag key (in key order) in {@link #nameBytes()} */
    public int tagKeyStart(int i) {
        return tagKeyStart[Objects.checkIndex(i, tagCount)];
    }

    /** @return end (exclusive) of the i-th tag key in {@link #nameBytes()} */
    public int tagKeyEnd(int i) {
        return tagKeyEnd[Objects.checkIndex(i, tagCount)];
    }

    /** @return start of the i-th tag value (in key order) in {@link #nameBytes()} */
    public int tagValueStart(int i) {
        return tagValueStart[Objects.checkIndex(i, tagCount)];
    }

    /** @return end (exclusive) of the i-th tag value in {@link #nameBytes()} */
    public int tagValueEnd(int i) {
        return tagValueEnd[Objects.checkIndex(i, tagCount)];
    }

    /** @return start of the i-th field key in {@link #nameBytes()} */
    public int fieldKeyStart(int i) {
        return fieldKeyStart[Objects.checkIndex(i, fieldCount)];
    }

    /** @return end (exclusive) of the i-th field key in {@link #nameBytes()} */
    public int fieldKeyEnd(int i) {
        return fieldKeyEnd[Objects.checkIndex(i, fieldCount)];
    }

    /** @return how many fields the line had (at least one) */
    public int fieldCount() {
        return fieldCount;
    }

    /** @return the key of the i-th field, unescaped */
    public String fieldKey(int i) {
        Objects.checkIndex(i, fieldCount);
        return name(fieldKeyStart[i], fieldKeyEnd[i]);
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

    /** @return whether the line carried its own timestamp (false: {@link #timestampNanos()} is the default time) */
    public boolean hasTimestamp() {
        return timestamped;
    }

    /** @return 1-based number of the line this point started on, within the parsed buffer */
    public int lineNumber() {
        return lineNumber;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(measurement());
        for (int i = 0; i < tagCount; i++) {
            sb.append(',').append(tagKey(i)).append('=').append(tagValue(i));
        }
        for (int i = 0; i < fieldCount; i++) {
            sb.append(i == 0 ? ' ' : ',').append(fieldKey(i)).append('=');
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
        this.namesLength = 0;
        this.tagCount = 0;
        // Clear lazily decoded strings of the previous line so they are not served for this one.
        Arrays.fill(stringCache, 0, fieldCount, null);
        this.fieldCount = 0;
    }

    void release() {
        // Do not pin the caller's (possibly large) buffer between parse() calls.
        Arrays.fill(stringCache, 0, fieldCount, null);
        this.buf = null;
        if (names.length > MAX_RETAINED_NAMES) {
            names = new byte[INITIAL_NAMES];
        }
    }

    /**
     * Makes room for {@code len} more name bytes.
     *
     * @return the arena, to be written from {@link #namesLength()} on, then committed with {@link #commitName}
     */
    byte[] reserveName(int len) {
        final int need = namesLength + len;
        if (need > names.length) {
            names = Arrays.copyOf(names, Math.max(need, names.length * 2));
        }
        return names;
    }

    int namesLength() {
        return namesLength;
    }

    /** @return the start of the name just written ({@code len} bytes at {@link #namesLength()}) */
    int commitName(int len) {
        final int start = namesLength;
        namesLength = start + len;
        return start;
    }

    void setMeasurement(int start, int end) {
        this.measurementStart = start;
        this.measurementEnd = end;
    }

    void setTimestamp(long nanos) {
        setTimestamp(nanos, false);
    }

    void setTimestamp(long nanos, boolean given) {
        this.timestampNanos = nanos;
        this.timestamped = given;
    }

    void addTag(int keyStart, int keyEnd, int valueStart, int valueEnd) {
        if (tagCount == tagKeyStart.length) {
            final int n = tagCount * 2;
            tagKeyStart = Arrays.copyOf(tagKeyStart, n);
            tagKeyEnd = Arrays.copyOf(tagKeyEnd, n);
            tagValueStart = Arrays.copyOf(tagValueStart, n);
            tagValueEnd = Arrays.copyOf(tagValueEnd, n);
        }
        tagKeyStart[tagCount] = keyStart;
        tagKeyEnd[tagCount] = keyEnd;
        tagValueStart[tagCount] = valueStart;
        tagValueEnd[tagCount] = valueEnd;
        tagCount++;
    }

    /**
     * Sorts tags by key in UTF-8 byte order (code point order, as InfluxDB sorts them); insertion sort because
     * real lines carry a handful of tags, usually already sorted (Telegraf and the client libraries sort them).
     *
     * @return the key that occurs twice, or {@code null} if keys are unique
     */
    String sortTagsAndFindDuplicate() {
        for (int i = 1; i < tagCount; i++) {
            final int ks = tagKeyStart[i];
            final int ke = tagKeyEnd[i];
            final int vs = tagValueStart[i];
            final int ve = tagValueEnd[i];
            int j = i - 1;
            int cmp = 0;
            while (j >= 0 && (cmp = Arrays.compareUnsigned(names, tagKeyStart[j], tagKeyEnd[j], names, ks, ke)) > 0) {
                tagKeyStart[j + 1] = tagKeyStart[j];
                tagKeyEnd[j + 1] = tagKeyEnd[j];
                tagValueStart[j + 1] = tagValueStart[j];
                tagValueEnd[j + 1] = tagValueEnd[j];
                j--;
            }
            if (j >= 0 && cmp == 0) {
                return name(ks, ke);
            }
            tagKeyStart[j + 1] = ks;
            tagKeyEnd[j + 1] = ke;
            tagValueStart[j + 1] = vs;
            tagValueEnd[j + 1] = ve;
        }
        return null;
    }

    private int nextFieldSlot(int keyStart, int keyEnd, FieldType type) {
        if (fieldCount == fieldKeyStart.length) {
            growFields();
        }
        int i = fieldCount++;
        fieldKeyStart[i] = keyStart;
        fieldKeyEnd[i] = keyEnd;
        fieldTypes[i] = (byte) type.ordinal();
        return i;
    }

    void addDouble(int keyStart, int keyEnd, double value) {
        int i = nextFieldSlot(keyStart, keyEnd, FieldType.FLOAT);
        fieldDoubles[i] = value;
    }

    void addLong(int keyStart, int keyEnd, FieldType type, long value) {
        int i = nextFieldSlot(keyStart, keyEnd, type);
        fieldLongs[i] = value;
    }

    void addString(int keyStart, int keyEnd, int start, int end, boolean escaped) {
        int i = nextFieldSlot(keyStart, keyEnd, FieldType.STRING);
        stringStart[i] = start;
        stringEnd[i] = end;
        stringEscaped[i] = escaped;
        stringCache[i] = null;
    }

    private String name(int start, int end) {
        return cache.get(names, start, end);
    }

    private void growFields() {
        int n = fieldKeyStart.length * 2;
        fieldKeyStart = Arrays.copyOf(fieldKeyStart, n);
        fieldKeyEnd = Arrays.copyOf(fieldKeyEnd, n);
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
