package dev.spillway.telemetry.internal;

import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.PartialWriteException;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A pooled, fixed-capacity struct-of-arrays batch. The pump fills it, one worker reads it, the pool gets it
 * back: it is never touched by two threads at once, and the hand-offs go through blocking queues, which give
 * the happens-before edges.
 *
 * <p>Exactly one party resolves a batch (counts it written or failed): the worker that wrote it, or the closer
 * that abandons it at the close deadline while a write ignores interrupts. {@link #claimResolution()} decides who.
 */
final class MutableEventBatch implements EventBatch, EventRing.EventSink {

    private final long[] timestampNanos;
    private final int[] sourceId;
    private final short[] kind;
    private final double[] value;
    private final long[] sequence;
    private int size;
    private long batchId;
    private long minTimestamp;
    private long maxTimestamp;
    private final AtomicBoolean resolved = new AtomicBoolean();
    /** The latest partial-success report of a failed attempt (committed parts only grow), null when none. */
    private volatile PartialWriteException progress;
    private long ringFrom;
    private long ringTo = -1;
    private boolean lossInRange;
    private int rangeParts = 1;

    // A batch the closer gave up while its write was still running: how it was given up, and what the write
    // reported when it came back. Two parties, either order; whichever records second settles the account. A lock,
    // not a CAS protocol: this happens at most once per batch, at the close deadline.
    private final Object lateLock = new Object();
    private int givenUpAs;
    private PartialWriteException progressAtGiveUp;
    private boolean returnedLate;
    private int lateWritten;
    private Throwable lateFailure;

    /** @param capacity the most events the batch holds */
    MutableEventBatch(int capacity) {
        timestampNanos = new long[capacity];
        sourceId = new int[capacity];
        kind = new short[capacity];
        value = new double[capacity];
        sequence = new long[capacity];
    }

    @Override
    public void append(long timestampNanos, int sourceId, short kind, double value, long sequence) {
        final int i = size;
        this.timestampNanos[i] = timestampNanos;
        this.sourceId[i] = sourceId;
        this.kind[i] = kind;
        this.value[i] = value;
        this.sequence[i] = sequence;
        size = i + 1;
        if (i == 0) {
            minTimestamp = timestampNanos;
            maxTimestamp = timestampNanos;
        } else if (timestampNanos < minTimestamp) {
            minTimestamp = timestampNanos;
        } else if (timestampNanos > maxTimestamp) {
            maxTimestamp = timestampNanos;
        }
    }

    /** Empties the batch for reuse under a new id. */
    void reset(long batchId) {
        this.batchId = batchId;
        size = 0;
        rangeParts = 1;
        progress = null;
        resolved.set(false);
        lossInRange = false;
        synchronized (lateLock) {
            givenUpAs = 0;
            progressAtGiveUp = null;
            returnedLate = false;
            lateWritten = 0;
            lateFailure = null;
        }
    }

    /**
     * The closer gave the batch up while its write was running, as {@code as} (non-zero), with the partial-success
     * report it went by.
     *
     * @return whether the write had already returned (then the caller settles the late outcome)
     */
    boolean givenUpWhileWriting(int as, PartialWriteException progressSeen) {
        synchronized (lateLock) {
            givenUpAs = as;
            progressAtGiveUp = progressSeen;
            return returnedLate;
        }
    }

    /**
     * The worker's write returned after the closer had claimed the batch: {@code written} events (when
     * {@code failure} is null) or a failure.
     *
     * @return how the closer gave the batch up, or 0 when it has not recorded that yet (then the closer settles)
     */
    int returnedAfterGiveUp(int written, Throwable failure) {
        synchronized (lateLock) {
            returnedLate = true;
            lateWritten = written;
            lateFailure = failure;
            return givenUpAs;
        }
    }

    int givenUpAs() {
        synchronized (lateLock) {
            return givenUpAs;
        }
    }

    PartialWriteException progressAtGiveUp() {
        synchronized (lateLock) {
            return progressAtGiveUp;
        }
    }

    int lateWritten() {
        synchronized (lateLock) {
            return lateWritten;
        }
    }

    Throwable lateFailure() {
        synchronized (lateLock) {
            return lateFailure;
        }
    }

    /**
     * Set by the pump: the batch covers ring sequences from {@code from} (inclusive), including any the pump
     * resolved as lost while filling it. Acknowledgements ({@link CommitTracker}) work on these ranges.
     */
    void ringFrom(long from) {
        ringFrom = from;
        lossInRange = false; // losses before `from` were resolved with the earlier range
    }

    /** Set by the pump when the batch ships: the last ring sequence it covers. */
    void ringTo(long to) {
        ringTo = to;
    }

    void markLoss() {
        lossInRange = true;
    }

    long ringFrom() {
        return ringFrom;
    }

    long ringTo() {
        return ringTo;
    }

    /** Whether the pump resolved a sequence of this batch's range as lost. */
    boolean lossInRange() {
        return lossInRange;
    }

    /** Whether no more events fit. */
    boolean isFull() {
        return size == timestampNanos.length;
    }

    /** The most events the batch holds. */
    int capacity() {
        return timestampNanos.length;
    }

    /** True for exactly one caller per {@link #reset}: the one that accounts for the batch. */
    boolean claimResolution() {
        return resolved.compareAndSet(false, true);
    }

    /** Remembers what a failed attempt reported as already durable (or invalid). */
    void progress(PartialWriteException partial) {
        progress = partial;
    }

    /** The last partial-success report, or null. */
    PartialWriteException progress() {
        return progress;
    }

    /**
     * Set by the pump when the batch ships: how many batches share its ring range (the pump's round, cut into one
     * batch per lane). The range is resolved when all of them are.
     */
    void rangeParts(int parts) {
        rangeParts = parts;
    }

    int rangeParts() {
        return rangeParts;
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
        if (index >= size) { // the arrays' own check catches negatives and the capacity
            throw new IndexOutOfBoundsException("index " + index + " >= batch size " + size);
        }
        return index;
    }

    @Override
    public String toString() {
        return "EventBatch{id=" + batchId + ", size=" + size + '}';
    }
}
