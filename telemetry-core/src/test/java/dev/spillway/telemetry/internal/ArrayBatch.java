package dev.spillway.telemetry.internal;

import dev.spillway.telemetry.sink.EventBatch;

/** A self-checking batch: every field derives from (batch id, index), so a read-back can be verified exactly. */
final class ArrayBatch implements EventBatch {

    private final long batchId;
    private final int size;

    ArrayBatch(long batchId, int size) {
        this.batchId = batchId;
        this.size = size;
    }

    static long time(long batchId, int i) {
        return 1_700_000_000_000_000_000L + batchId * 1_000_000L + i;
    }

    static int source(long batchId, int i) {
        return (int) (batchId % 7) + i % 3;
    }

    static short kind(long batchId, int i) {
        return (short) (i % 4);
    }

    static double value(long batchId, int i) {
        return batchId * 0.5 + i / 8.0;
    }

    static long seq(long batchId, int i) {
        return batchId * 100_000 + i;
    }

    /** Asserts that {@code b} holds exactly the events of batch {@code batchId} of {@code size}. */
    static void check(EventBatch b, long batchId, int size) {
        if (b.batchId() != batchId || b.size() != size) {
            throw new AssertionError("expected batch " + batchId + " of " + size + ", got " + b.batchId() + " of "
                + b.size());
        }
        for (int i = 0; i < size; i++) {
            if (b.timestampNanos(i) != time(batchId, i) || b.sourceId(i) != source(batchId, i)
                || b.kind(i) != kind(batchId, i) || b.value(i) != value(batchId, i) || b.sequence(i) != seq(batchId, i)) {
                throw new AssertionError("batch " + batchId + " event " + i + " differs");
            }
        }
    }

    @Override
    public long batchId() {
        return batchId;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public long timestampNanos(int index) {
        return time(batchId, index);
    }

    @Override
    public int sourceId(int index) {
        return source(batchId, index);
    }

    @Override
    public short kind(int index) {
        return kind(batchId, index);
    }

    @Override
    public double value(int index) {
        return value(batchId, index);
    }

    @Override
    public long sequence(int index) {
        return seq(batchId, index);
    }

    @Override
    public long minTimestampNanos() {
        return time(batchId, 0);
    }

    @Override
    public long maxTimestampNanos() {
        return time(batchId, size - 1);
    }
}
