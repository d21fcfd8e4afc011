package dev.spillway.telemetry.internal;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * Every count the accounting invariant is made of, and who writes it.
 *
 * <p>Producer-side refusals can be hot (a {@code DROP_NEWEST} ring under overload refuses at producer speed),
 * so they are {@link LongAdder}s, striped per thread. Pump-side counts have a single writer at a time (the pump,
 * or after its death the closer, which starts after the pump's thread has ended), so they are plain
 * {@link AtomicLong}s written with {@code lazySet} (no fence on the pump's loop). Worker-side counts move once
 * per batch, not per event. Accepted events are not counted here at all: the ring's claim cursor already is
 * that count, for free; and claims refused after the close limit are derived from the cursor, not counted.
 */
final class PipelineCounters {

    private final LongAdder rejectedFull = new LongAdder();
    private final LongAdder rejectedClosedBeforeClaim = new LongAdder();
    private final LongAdder rejectedInterrupted = new LongAdder();

    private final AtomicLong overwritten = new AtomicLong();
    private final AtomicLong failedUnread = new AtomicLong();

    private final LongAdder written = new LongAdder();
    private final LongAdder rejectedInvalid = new LongAdder();
    private final LongAdder failed = new LongAdder();
    private final LongAdder batchesWritten = new LongAdder();
    private final LongAdder batchesFailed = new LongAdder();
    private final LongAdder retries = new LongAdder();
    private final LongAdder callbackFailures = new LongAdder();
    private final AtomicLong batchesInFlight = new AtomicLong();

    // Batches the close deadline gave up while their write was still running (rare: once per such batch).
    private final LongAdder abandoned = new LongAdder();
    private final LongAdder writtenLate = new LongAdder();
    private final LongAdder spooledThenWritten = new LongAdder();

    /** A producer was refused because the ring was full (DROP_NEWEST). */
    void countRejectedFull() {
        rejectedFull.increment();
    }

    /** A producer was refused because the pipeline is closing (or its pump died), before it claimed a slot. */
    void countRejectedClosedBeforeClaim() {
        rejectedClosedBeforeClaim.increment();
    }

    /** A BLOCK producer was interrupted while it waited for a slot. */
    void countRejectedInterrupted() {
        rejectedInterrupted.increment();
    }

    /** Pump only: {@code n} sequences were lapped or abandoned. */
    void overwritten(long n) {
        overwritten.lazySet(overwritten.get() + n);
    }

    /**
     * Closer only, after the pump died and even the closer's drain of the ring failed: {@code n} accepted events
     * that could not be read, so they could not be handed to the failed-batch handler either.
     */
    void failedUnread(long n) {
        failedUnread.addAndGet(n);
    }

    /** Part of a batch was resolved: {@code written} events stored, {@code invalid} refused by the sink as bad data. */
    void eventsWritten(int written, int invalid) {
        this.written.add(written);
        if (invalid > 0) {
            rejectedInvalid.add(invalid);
        }
    }

    /** A batch was written (all of its events are written or invalid). */
    void batchWritten() {
        batchesWritten.increment();
    }

    /** A batch was given up on: {@code events} of its events were failed. */
    void batchFailed(int events) {
        failed.add(events);
        batchesFailed.increment();
    }

    /**
     * The close deadline gave up {@code events} of a batch whose write was still running and could not be spooled:
     * their outcome is unknown until the write returns.
     */
    void abandoned(int events) {
        abandoned.add(events);
    }

    /** A write given up at the close deadline returned: {@code events} of it are no longer in doubt. */
    void abandonedSettled(int events) {
        abandoned.add(-events);
    }

    /**
     * A write given up at the close deadline returned after all: {@code written} events were stored late,
     * {@code invalid} refused as bad data. Call after the events left their earlier category.
     */
    void writtenLate(int written, int invalid) {
        writtenLate.add(written);
        if (invalid > 0) {
            rejectedInvalid.add(invalid);
        }
    }

    /**
     * A batch spooled at the close deadline while its write was still running was written by that write after
     * all: its {@code events} leave {@code spooled} (the record stays on disk; the next run replays it, and a sink
     * with a ledger finds it committed).
     */
    void spooledThenWritten(int events) {
        spooledThenWritten.add(events);
    }

    /** One retry was made. */
    void retried() {
        retries.increment();
    }

    /** A user callback (classifier, failed-batch handler, sink) threw something other than a write failure. */
    void callbackFailed() {
        callbackFailures.increment();
    }

    /** A batch was handed to the workers. */
    void batchDispatched() {
        batchesInFlight.incrementAndGet();
    }

    /** A dispatched batch was resolved (written, failed or abandoned). */
    void batchFinished() {
        batchesInFlight.decrementAndGet();
    }

    long rejectedFull() {
        return rejectedFull.sum();
    }

    long rejectedClosedBeforeClaim() {
        return rejectedClosedBeforeClaim.sum();
    }

    long rejectedInterrupted() {
        return rejectedInterrupted.sum();
    }

    long overwritten() {
        return overwritten.get();
    }

    long written() {
        return written.sum();
    }

    long rejectedInvalid() {
        return rejectedInvalid.sum();
    }

    long failed() {
        return failed.sum() + failedUnread.get();
    }

    long batchesWritten() {
        return batchesWritten.sum();
    }

    long batchesFailed() {
        return batchesFailed.sum();
    }

    long retries() {
        return retries.sum();
    }

    long callbackFailures() {
        return callbackFailures.sum();
    }

    long batchesInFlight() {
        return batchesInFlight.get();
    }

    long abandoned() {
        return abandoned.sum();
    }

    long writtenLate() {
        return writtenLate.sum();
    }

    long spooledThenWritten() {
        return spooledThenWritten.sum();
    }
}
