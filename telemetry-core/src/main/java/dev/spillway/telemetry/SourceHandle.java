package dev.spillway.telemetry;

import org.agrona.concurrent.EpochNanoClock;

/**
 * A producer's handle on one source: stamps each event with the current time and the source's next sequence
 * number, so that a gap in a source's sequences downstream shows exactly where events were lost.
 *
 * <p>Not thread-safe: one handle belongs to one producer thread (the sequence is a plain field). Allocation-free.
 * The sequence advances for every call, accepted or not, because a refused event is a gap too. Sequences run up
 * to {@code Long.MAX_VALUE - 1}; they never wrap: once exhausted, {@code record} throws.
 */
public final class SourceHandle {

    private final Pipeline pipeline;
    private final int sourceId;
    private final EpochNanoClock clock;
    private long nextSequence;

    SourceHandle(Pipeline pipeline, int sourceId, long firstSequence, EpochNanoClock clock) {
        this.pipeline = pipeline;
        this.sourceId = sourceId;
        this.nextSequence = firstSequence;
        this.clock = clock;
    }

    /** Records a value now. @return whether the pipeline accepted it */
    public boolean record(short kind, double value) {
        return pipeline.ingest(clock.nanoTime(), sourceId, kind, value, takeSequence());
    }

    /**
     * Records a value with the caller's timestamp (nanoseconds since the Unix epoch).
     *
     * @throws IllegalStateException when the source's sequences are exhausted (they never wrap silently)
     */
    public boolean record(long timestampNanos, short kind, double value) {
        return pipeline.ingest(timestampNanos, sourceId, kind, value, takeSequence());
    }

    private long takeSequence() {
        final long seq = nextSequence;
        if (seq == Long.MAX_VALUE) {
            throw new IllegalStateException("source " + sourceId + ": sequence numbers exhausted; a wrap would read "
                + "as a huge gap downstream, so start a new source id");
        }
        nextSequence = seq + 1;
        return seq;
    }

    /** The source this handle stamps. */
    public int sourceId() {
        return sourceId;
    }

    /** The sequence the next event will carry. */
    public long nextSequence() {
        return nextSequence;
    }
}
