package dev.spillway.benchmarks.e2e;

import dev.spillway.telemetry.sink.EventBatch;

/**
 * The fixed rows every writer in one harness run writes: time-ordered (1 us apart, starting 2026-01-01T00:00Z),
 * round-robin over {@code sources} sources, per-source sequence numbers, kind 1, value derived from the index.
 * Held as arrays (about 30 bytes a row) and viewable as one {@link EventBatch} for the binary COPY encoder.
 */
public final class RowSet implements EventBatch {

    /** 2026-01-01T00:00:00Z in nanoseconds since the Unix epoch. */
    public static final long BASE_NANOS = 1_767_225_600_000_000_000L;

    private final long[] timestampNanos;
    private final int[] sourceId;
    private final double[] value;
    private final int sources;

    public RowSet(int rows, int sources) {
        this.sources = sources;
        timestampNanos = new long[rows];
        sourceId = new int[rows];
        value = new double[rows];
        for (int i = 0; i < rows; i++) {
            timestampNanos[i] = timestampOf(i);
            sourceId[i] = i % sources;
            value[i] = i * 0.5;
        }
    }

    /** Timestamp of row {@code i} (also used for synthetic rows beyond the set). */
    public static long timestampOf(long i) {
        return BASE_NANOS + i * 1_000L;
    }

    @Override
    public long batchId() {
        return 0;
    }

    @Override
    public int size() {
        return timestampNanos.length;
    }

    @Override
    public long timestampNanos(int index) {
        return timestampNanos[index];
    }

    @Override
    public int sourceId(int index) {
        return sourceId[index];
    }

    @Override
    public short kind(int index) {
        return 1;
    }

    @Override
    public double value(int index) {
        return value[index];
    }

    @Override
    public long sequence(int index) {
        return index / sources;
    }

    @Override
    public long minTimestampNanos() {
        return timestampNanos[0];
    }

    @Override
    public long maxTimestampNanos() {
        return timestampNanos[timestampNanos.length - 1];
    }
}
