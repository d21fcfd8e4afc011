package dev.spillway.telemetry.internal;

import dev.spillway.telemetry.sink.EventBatch;

/**
 * A read-only view of some events of a batch, in their batch order: what the failed-batch handler gets when part
 * of a batch was written before the pipeline gave it up. Cold path only (allocated per partial give-up).
 */
final class EventSubset implements EventBatch {

    private final EventBatch batch;
    private final int[] indices;
    private final long minTimestamp;
    private final long maxTimestamp;

    EventSubset(EventBatch batch, int[] indices) {
        this.batch = batch;
        this.indices = indices;
        long min = Long.MAX_VALUE;
        long max = Long.MIN_VALUE;
        for (int i : indices) {
            min = Math.min(min, batch.timestampNanos(i));
            max = Math.max(max, batch.timestampNanos(i));
        }
        this.minTimestamp = min;
        this.maxTimestamp = max;
    }

    @Override
    public long batchId() {
        return batch.batchId();
    }

    @Override
    public int size() {
        return indices.length;
    }

    @Override
    public long timestampNanos(int index) {
        return batch.timestampNanos(indices[index]);
    }

    @Override
    public int sourceId(int index) {
        return batch.sourceId(indices[index]);
    }

    @Override
    public short kind(int index) {
        return batch.kind(indices[index]);
    }

    @Override
    public double value(int index) {
        return batch.value(indices[index]);
    }

    @Override
    public long sequence(int index) {
        return batch.sequence(indices[index]);
    }

    @Override
    public long minTimestampNanos() {
        return minTimestamp;
    }

    @Override
    public long maxTimestampNanos() {
        return maxTimestamp;
    }

    @Override
    public String toString() {
        return "EventBatch{id=" + batch.batchId() + ", " + indices.length + " of " + batch.size() + " events}";
    }
}
