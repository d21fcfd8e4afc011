package dev.spillway.telemetry.nats;

import dev.spillway.telemetry.sink.EventBatch;

/** A reusable, fixed-capacity batch for calling a sink or the codec directly in tests. */
final class ArrayBatch implements EventBatch {

    private final long[] time;
    private final int[] source;
    private final short[] kind;
    private final double[] value;
    private final long[] seq;
    private long batchId;
    private int size;

    ArrayBatch(int capacity) {
        time = new long[capacity];
        source = new int[capacity];
        kind = new short[capacity];
        value = new double[capacity];
        seq = new long[capacity];
    }

    void reset(long id) {
        batchId = id;
        size = 0;
    }

    void append(long t, int s, short k, double v, long q) {
        time[size] = t;
        source[size] = s;
        kind[size] = k;
        value[size] = v;
        seq[size] = q;
        size++;
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
    public long timestampNanos(int i) {
        return time[i];
    }

    @Override
    public int sourceId(int i) {
        return source[i];
    }

    @Override
    public short kind(int i) {
        return kind[i];
    }

    @Override
    public double value(int i) {
        return value[i];
    }

    @Override
    public long sequence(int i) {
        return seq[i];
    }

    @Override
    public long minTimestampNanos() {
        long m = Long.MAX_VALUE;
        for (int i = 0; i < size; i++) {
            m = Math.min(m, time[i]);
        }
        return m;
    }

    @Override
    public long maxTimestampNanos() {
        long m = Long.MIN_VALUE;
        for (int i = 0; i < size; i++) {
            m = Math.max(m, time[i]);
        }
        return m;
    }
}
