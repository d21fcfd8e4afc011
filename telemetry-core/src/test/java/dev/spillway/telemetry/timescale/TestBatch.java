package dev.spillway.telemetry.timescale;

import dev.spillway.telemetry.sink.EventBatch;

import java.util.ArrayList;
import java.util.List;

/** A hand-built {@link EventBatch} for calling a sink directly. */
final class TestBatch implements EventBatch {

    private final long batchId;
    private final List<long[]> times = new ArrayList<>();
    private final List<Object[]> rows = new ArrayList<>();

    TestBatch(long batchId) {
        this.batchId = batchId;
    }

    TestBatch add(long timestampNanos, int sourceId, short kind, double value, long seq) {
        times.add(new long[] {timestampNanos, seq});
        rows.add(new Object[] {sourceId, kind, value});
        return this;
    }

    @Override
    public long batchId() {
        return batchId;
    }

    @Override
    public int size() {
        return rows.size();
    }

    @Override
    public long timestampNanos(int index) {
        return times.get(index)[0];
    }

    @Override
    public int sourceId(int index) {
        return (Integer) rows.get(index)[0];
    }

    @Override
    public short kind(int index) {
        return (Short) rows.get(index)[1];
    }

    @Override
    public double value(int index) {
        return (Double) rows.get(index)[2];
    }

    @Override
    public long sequence(int index) {
        return times.get(index)[1];
    }

    @Override
    public long minTimestampNanos() {
        return times.stream().mapToLong(t -> t[0]).min().orElseThrow();
    }

    @Override
    public long maxTimestampNanos() {
        return times.stream().mapToLong(t -> t[0]).max().orElseThrow();
    }
}
