package dev.spillway.telemetry.internal;

import dev.spillway.telemetry.sink.EventBatch;

/**
 * A batch read back from the spool, carrying the ledger key it was first written under ({@link #runId()},
 * {@link #batchId()}), so that a sink with a dedup ledger recognises a batch whose first commit was ambiguous.
 * Reused by the replayer for every record (grows to the largest record seen); confined to one thread at a time.
 */
final class SpooledBatch implements EventBatch {

    private long[] timestampNanos = new long[0];
    private int[] sourceId = new int[0];
    private short[] kind = new short[0];
    private double[] value = new double[0];
    private long[] sequence = new long[0];
    private int size;
    private long batchId;
    private String runId;
    private long spooledAtMillis;
    private long minTimestamp;
    private long maxTimestamp;

    void reset(String runId, long batchId, long spooledAtMillis, int count) {
        if (timestampNanos.length < count) {
            timestampNanos = new long[count];
            sourceId = new int[count];
            kind = new short[count];
            value = new double[count];
            sequence = new long[count];
        }
        this.runId = runId;
        this.batchId = batchId;
        this.spooledAtMillis = spooledAtMillis;
        this.size = count;
    }

    /** Makes room for {@code more} events after the current ones (a replay group's next record), keeping them. */
    void grow(int more) {
        final int need = size + more;
        if (timestampNanos.length < need) {
            final int cap = Math.max(need, timestampNanos.length * 2);
            timestampNanos = java.util.Arrays.copyOf(timestampNanos, cap);
            sourceId = java.util.Arrays.copyOf(sourceId, cap);
            kind = java.util.Arrays.copyOf(kind, cap);
            value = java.util.Arrays.copyOf(value, cap);
            sequence = java.util.Arrays.copyOf(sequence, cap);
        }
        size = need;
    }

    void set(int i, long time, int source, short k, double v, long seq) {
        timestampNanos[i] = time;
        sourceId[i] = source;
        kind[i] = k;
        value[i] = v;
        sequence[i] = seq;
    }

    long[] times() {
        return timestampNanos;
    }

    int[] sources() {
        return sourceId;
    }

    short[] kinds() {
        return kind;
    }

    double[] values() {
        return value;
    }

    long[] sequences() {
        return sequence;
    }

    void computeRange() {
        long min = Long.MAX_VALUE;
        long max = Long.MIN_VALUE;
        for (int i = 0; i < size; i++) {
            min = Math.min(min, timestampNanos[i]);
            max = Math.max(max, timestampNanos[i]);
        }
        minTimestamp = min;
        maxTimestamp = max;
    }

    /** The run id of the ledger key this batch was first tried under, or null when the sink had none. */
    @Override
    public String runId() {
        return runId;
    }

    /** Wall-clock time (ms since the epoch) at which the batch was appended to the spool. */
    public long spooledAtMillis() {
        return spooledAtMillis;
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
        return timestampNanos[checkIndex(index)];
    }

    @Override
    public int sourceId(int index) {
        return sourceId[checkIndex(index)];
    }

    @Override
    public short kind(int index) {
        return kind[checkIndex(index)];
    }

    @Override
    public double value(int index) {
        return value[checkIndex(index)];
    }

    @Override
    public long sequence(int index) {
        return sequence[checkIndex(index)];
    }

    @Override
    public long minTimestampNanos() {
        return minTimestamp;
    }

    @Override
    public long maxTimestampNanos() {
        return maxTimestamp;
    }

    private int checkIndex(int index) {
        if (index >= size) {
            throw new IndexOutOfBoundsException("index " + index + " >= batch size " + size);
        }
        return index;
    }

    @Override
    public String toString() {
        return "SpooledBatch{run=" + runId + ", id=" + batchId + ", size=" + size + '}';
    }
}
