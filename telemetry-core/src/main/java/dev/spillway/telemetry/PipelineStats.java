package dev.spillway.telemetry;

/**
 * A snapshot of a pipeline's event accounting.
 *
 * <p>At any quiescent point (no ingest in progress and every accepted event resolved, for example after
 * {@link Pipeline#close(java.time.Duration)} returned): {@code ingested == written + overwritten + rejected + failed},
 * see {@link #isBalanced()}. While events are in flight, {@link #pending()} says how many are unresolved; it is
 * never negative.
 *
 * @param ingested every call to {@code ingest}, accepted or not
 * @param written events the sink reported as durably written
 * @param overwritten events lost because newer events overwrote them in a full ring, or abandoned because their
 *     producer stalled between claiming a slot and publishing it (until the ring lapped it, or until the close
 *     deadline)
 * @param rejectedFull events refused because the ring was full under {@link OverflowPolicy#DROP_NEWEST}
 * @param rejectedClosed events refused because the pipeline was closing or closed, or its pump had died
 * @param rejectedInterrupted events refused because their producer was interrupted while it waited for room under
 *     {@link OverflowPolicy#BLOCK}
 * @param rejectedInvalid events the sink refused as invalid data (the rest of their batch was written)
 * @param failed events given up on (retries exhausted, a permanent failure, or not written by the close deadline);
 *     each of them was handed to the failed-batch handler exactly once
 * @param batchesWritten batches the sink wrote
 * @param batchesFailed batches given up on (wholly or in part)
 * @param retries write attempts after a first failure
 * @param ringOccupancy events in the ring not yet read by the pump
 * @param batchesInFlight batches handed to workers and not yet finished
 * @param pumpFailed whether the pump thread died (the pipeline then stops accepting; see the log)
 */
public record PipelineStats(
    long ingested,
    long written,
    long overwritten,
    long rejectedFull,
    long rejectedClosed,
    long rejectedInterrupted,
    long rejectedInvalid,
    long failed,
    long batchesWritten,
    long batchesFailed,
    long retries,
    long ringOccupancy,
    long batchesInFlight,
    boolean pumpFailed) {

    /** All rejections: ring full, closed, interrupted, and invalid data. */
    public long rejected() {
        return rejectedFull + rejectedClosed + rejectedInterrupted + rejectedInvalid;
    }

    /** Events lost for any reason: overwritten, rejected, or failed. */
    public long lost() {
        return overwritten + rejected() + failed;
    }

    /** Events accepted but not yet resolved as written, dropped or failed. */
    public long pending() {
        return ingested - written - overwritten - rejected() - failed;
    }

    /** Whether the accounting invariant holds, i.e. nothing is pending. */
    public boolean isBalanced() {
        return pending() == 0;
    }

    /** One line for logs: the account and whether it balances. */
    @Override
    public String toString() {
        return "ingested=" + ingested + " written=" + written + " overwritten=" + overwritten
            + " rejected=" + rejected() + " (full=" + rejectedFull + " closed=" + rejectedClosed
            + " interrupted=" + rejectedInterrupted + " invalid=" + rejectedInvalid + ") failed=" + failed
            + " pending=" + pending() + " batchesWritten=" + batchesWritten + " batchesFailed=" + batchesFailed
            + " retries=" + retries + (pumpFailed ? " PUMP FAILED" : "");
    }
}
