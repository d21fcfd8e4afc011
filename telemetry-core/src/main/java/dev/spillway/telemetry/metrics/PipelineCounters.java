package dev.spillway.telemetry.metrics;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * Every count the accounting invariant is made of, and who writes it.
 *
 * <p>Producer-side refusals can be hot (a {@code DROP_NEWEST} ring under overload refuses at producer speed),
 * so they are {@link LongAdder}s, striped per thread. Pump-side counts have a single writer, so they are
 * plain {@link AtomicLong}s written with {@code lazySet} (no fence on the pump's loop). Worker-side counts move
 * once per batch, not per event. Accepted events are not counted here at all: the ring's claim cursor already
 * is that count, for free.
 */
public final class PipelineCounters {

    private final LongAdder rejectedFull = new LongAdder();
    private final LongAdder rejectedClosedBeforeClaim = new LongAdder();
    private final LongAdder rejectedClosedAfterClaim = new LongAdder();

    private final AtomicLong overwritten = new AtomicLong();
    private final AtomicLong failedAtClose = new AtomicLong();

    private final LongAdder written = new LongAdder();
    private final LongAdder rejectedInvalid = new LongAdder();
    private final LongAdder failed = new LongAdder();
    private final LongAdder batchesWritten = new LongAdder();
    private final LongAdder batchesFailed = new LongAdder();
    private final LongAdder retries = new LongAdder();
    private final AtomicLong batchesInFlight = new AtomicLong();

    /** A producer was refused because the ring was full (DROP_NEWEST). */
    public void countRejectedFull() {
        rejectedFull.increment();
    }

    /** A producer was refused because the pipeline is closing, before it claimed a slot. */
    public void countRejectedClosedBeforeClaim() {
        rejectedClosedBeforeClaim.increment();
    }

    /** A producer claimed a slot after the pump's final read and refused its own event. */
    public void countRejectedClosedAfterClaim() {
        rejectedClosedAfterClaim.increment();
    }

    /** Pump only: {@code n} sequences were lapped or abandoned. */
    public void overwritten(long n) {
        overwritten.lazySet(overwritten.get() + n);
    }

    /** Pump only: {@code n} claimed sequences were not resolved by the close deadline (never published, or still in the ring). */
    public void failedAtClose(long n) {
        failedAtClose.lazySet(failedAtClose.get() + n);
    }

    /** A batch was written: {@code written} events stored, {@code invalid} refused by the sink as bad data. */
    public void batchWritten(int written, int invalid) {
        this.written.add(written);
        if (invalid > 0) {
            rejectedInvalid.add(invalid);
        }
        batchesWritten.increment();
    }

    /** A batch of {@code events} events was given up on. */
    public void batchFailed(int events) {
        failed.add(events);
        batchesFailed.increment();
    }

    /** One retry was made. */
    public void retried() {
        retries.increment();
    }

    /** A batch was handed to the workers. */
    public void batchDispatched() {
        batchesInFlight.incrementAndGet();
    }

    /** A batch was finished (written or failed). */
    public void batchFinished() {
        batchesInFlight.decrementAndGet();
    }

    public long rejectedFull() {
        return rejectedFull.sum();
    }

    public long rejectedClosed() {
        return rejectedClosedBeforeClaim.sum() + rejectedClosedAfterClaim.sum();
    }

    /** Refusals that never claimed a slot: they add to {@code ingested} on top of the claim count. */
    public long refusedWithoutClaim() {
        return rejectedFull.sum() + rejectedClosedBeforeClaim.sum();
    }

    public long overwritten() {
        return overwritten.get();
    }

    public long written() {
        return written.sum();
    }

    public long rejectedInvalid() {
        return rejectedInvalid.sum();
    }

    public long failed() {
        return failed.sum() + failedAtClose.get();
    }

    public long batchesWritten() {
        return batchesWritten.sum();
    }

    public long batchesFailed() {
        return batchesFailed.sum();
    }

    public long retries() {
        return retries.sum();
    }

    public long batchesInFlight() {
        return batchesInFlight.get();
    }
}
