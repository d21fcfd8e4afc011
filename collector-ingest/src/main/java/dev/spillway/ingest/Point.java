package dev.spillway.ingest;

import dev.spillway.ingest.series.SeriesKey;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * One point for {@link PointWriter#write}: a measurement, a tag set, a timestamp and numeric or boolean fields.
 * Each field becomes one event on its own series {@code (measurement, tags, field)}, exactly as a line-protocol
 * line does, so a probe result and a written line with the same measurement, tags and field land on the same
 * series.
 *
 * <p>Immutable; build with {@link #builder(String)}:
 * <pre>{@code
 * Point p = Point.builder("monitor").tag("monitor", "example").time(nowNanos)
 *     .field("up", FieldKinds.BOOLEAN, 1).field("duration_ms", FieldKinds.FLOAT, 12.5).build();
 * }</pre>
 */
public final class Point {

    private final String measurement;
    private final List<String> tags;
    private final SeriesKey[] keys;
    private final long timestampNanos;
    private final String[] fields;
    private final short[] kinds;
    private final double[] values;

    private Point(Builder b) {
        this.measurement = b.measurement;
        final List<String> flat = new ArrayList<>(b.tags.size() * 2);
        b.tags.forEach((k, v) -> {
            flat.add(k);
            flat.add(v);
        });
        this.tags = List.copyOf(flat);
        this.timestampNanos = b.timestampNanos;
        this.fields = b.fields.toArray(String[]::new);
        this.keys = new SeriesKey[fields.length];
        this.kinds = new short[fields.length];
        this.values = new double[fields.length];
        for (int i = 0; i < fields.length; i++) {
            kinds[i] = b.kinds.get(i);
            values[i] = b.values.get(i);
            keys[i] = SeriesKey.of(measurement, tags, fields[i]);
        }
    }

    /** Starts a point of {@code measurement}. */
    public static Builder builder(String measurement) {
        return new Builder(measurement);
    }

    /** The measurement. */
    public String measurement() {
        return measurement;
    }

    /** Tags as alternating key, value, sorted by key in UTF-8 byte order (the catalogue's canonical order). */
    public List<String> tags() {
        return tags;
    }

    /** Event time, nanoseconds since the epoch. */
    public long timestampNanos() {
        return timestampNanos;
    }

    /** Number of fields. */
    public int fieldCount() {
        return fields.length;
    }

    /** Name of field {@code i}. */
    public String field(int i) {
        return fields[i];
    }

    /** {@code kind} of field {@code i} (see {@code FieldKinds}). */
    public short kind(int i) {
        return kinds[i];
    }

    /** Value of field {@code i}. */
    public double value(int i) {
        return values[i];
    }

    /** The series key of field {@code i}. */
    public SeriesKey seriesKey(int i) {
        return keys[i];
    }

    @Override
    public String toString() {
        return measurement + tags + Arrays.toString(fields) + "@" + timestampNanos;
    }

    /** Collects a point's parts. Tag keys are sorted for you; a repeated tag or field key replaces the first. */
    public static final class Builder {
        private final String measurement;
        // UTF-8 byte order equals UTF-16 code unit order except for surrogates; tag keys from the API are ASCII.
        private final Map<String, String> tags = new TreeMap<>();
        private final List<String> fields = new ArrayList<>();
        private final List<Short> kinds = new ArrayList<>();
        private final List<Double> values = new ArrayList<>();
        private long timestampNanos = Long.MIN_VALUE;

        private Builder(String measurement) {
            if (measurement == null || measurement.isEmpty()) {
                throw new IllegalArgumentException("measurement must not be empty");
            }
            this.measurement = measurement;
        }

        /** Adds a tag. */
        public Builder tag(String key, String value) {
            if (key == null || key.isEmpty() || value == null || value.isEmpty()) {
                throw new IllegalArgumentException("tag key and value must not be empty");
            }
            tags.put(key, value);
            return this;
        }

        /** Adds every tag of the map. */
        public Builder tags(Map<String, String> more) {
            more.forEach(this::tag);
            return this;
        }

        /** Sets the event time in nanoseconds since the epoch. */
        public Builder time(long nanos) {
            this.timestampNanos = nanos;
            return this;
        }

        /** Adds a field with its {@code FieldKinds} kind. */
        public Builder field(String name, short kind, double value) {
            if (name == null || name.isEmpty()) {
                throw new IllegalArgumentException("field name must not be empty");
            }
            final int at = fields.indexOf(name);
            if (at >= 0) {
                kinds.set(at, kind);
                values.set(at, value);
            } else {
                fields.add(name);
                kinds.add(kind);
                values.add(value);
            }
            return this;
        }

        /** The point; needs a time and at least one field. */
        public Point build() {
            if (timestampNanos == Long.MIN_VALUE) {
                throw new IllegalArgumentException("point needs a time");
            }
            if (fields.isEmpty()) {
                throw new IllegalArgumentException("point needs at least one field");
            }
            return new Point(this);
        }
    }
}
