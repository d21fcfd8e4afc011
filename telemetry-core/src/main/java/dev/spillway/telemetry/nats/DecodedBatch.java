package dev.spillway.telemetry.nats;

import dev.spillway.telemetry.sink.EventBatch;

/**
 * A batch decoded from a JetStream message, carrying the ledger key of the edge that cut it
 * ({@link #runId()}, {@link #batchId()}). Reused by one consumer thread: its arrays grow to the largest
 * batch seen and are overwritten by the next message.
 */
public final class DecodedBatch implements EventBatch {

    long[] timestampNanos = new long[0];
    int[] sourceId = new int[0];
    short[] kind = new short[0];
    double[] value = new double[0];
    long[] sequence = new long[0];
    private int size;
    private String originRunId;
    private long batchId;
    private long minTimestamp;
    private long maxTimestamp;

    void reset(String originRunId, long batchId, int size) {
        if (timestampNanos.length < size) {
            timestampNanos = new long[size];
            sourceId = new int[size];
            kind = new short[size];
            value = new double[size];
            sequence = new long[size];
        }
        this.originRunId = originRunId;
        this.batchId = batchId;
        this.size = size;
    }

    void computeTimeRange() {
        long min = timestampNanos[0];
        long max = min;
        for (int i = 1; i < size; i++) {
            final long t = timestampNanos[i];
            if (t < min) {
                min = t;
            } else if (t > max) {
                max = t;
            }
        }
        minTimestamp = min;
        maxTimestamp = max;
    }

    @Override
    public String runId() {
        return originRunId;
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
        return timestampNanos[check(index)];
    }

    @Override
    public int sourceId(int index) {
        return sourceId[check(index)];
    }

    @Override
    public short kind(int index) {
        return kind[check(index)];
    }

    @Override
    public double value(int index) {
        return value[check(index)];
    }

    @Override
    public long sequence(int index) {
        return sequence[check(index)];
    }

    @Override
    public long minTimestampNanos() {
        return minTimestamp;
    }

    @Override
    public long maxTimestampNanos() {
        return maxTimestamp;
    }

    private int check(int index) {
        if (index >= size) {
            throw new IndexOutOfBoundsException("index " + index + " >= batch size " + size);
        }
        return index;
    }

    @Override
    public String toString() {
        return "DecodedBatch{origin=" + originRunId + ", id=" + batchId + ", size=" + size + '}';
    }
}
