package dev.spillway.telemetry;

/**
 * A snapshot of a pipeline's event accounting.
 *
 * <p>At any quiescent point (no ingest in progress and every accepted event resolved, for example after
 * {@link Pipeline#close(java.time.Duration)} returned):
 * {@code ingested == written + overwritten + rejected + failed + spooled},
 * see {@link #isBalanced()}. While events are in flight, {@link #pending()} says how many are unresolved; it is
 * never negative.
 *
 * @param ingested every call to {@code ingest}, accepted or not, plus the events found in the spool at start
 *     ({@code spoolRecovered}: they enter this run's account from disk)
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
 *     each of them was handed to the failed-batch handler exactly once; plus spooled events dropped by a full
 *     spool or lost to a corrupt spool record
 * @param batchesWritten batches the sink wrote
 * @param batchesFailed batches given up on (wholly or in part)
 * @param retries write attempts after a first failure
 * @param ringOccupancy events in the ring not yet read by the pump
 * @param batchesInFlight batches handed to workers and not yet finished
 * @param pumpFailed whether the pump thread died (the pipeline then stops accepting; see the log)
 * @param spooled events now in the spool: given up by the sink, on disk, waiting to be replayed (0 without a spool)
 * @param batchesSpooled batches appended to the spool by this run
 * @param batchesReplayed spooled batches written back (or given up) by this run
 * @param spoolRecovered events found in the spool at start, left by an earlier run (included in {@code ingested})
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
    boolean pumpFailed,
    long spooled,
    long batchesSpooled,
    long batchesReplayed,
    long spoolRecovered) {

    /** All rejections: ring full, closed, interrupted, and invalid data. */
    public long rejected() {
        return rejectedFull + rejectedClosed + rejectedInterrupted + rejectedInvalid;
    }

    /** Events lost for any reason: overwritten, rejected, or failed. */
    public long lost() {
        return overwritten + rejected() + failed;
    }

    /** Events accepted but not yet resolved as written, dropped, failed or spooled. */
    public long pending() {
        return ingested - written - overwritten - rejected() - failed - spooled;
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
            + " spooled=" + spooled + " pending=" + pending() + " batchesWritten=" + batchesWritten
            + " batchesFailed=" + batchesFailed + " retries=" + retries
            + (batchesSpooled + batchesReplayed + spoolRecovered > 0 ? " batchesSpooled=" + batchesSpooled
                + " batchesReplayed=" + batchesReplayed + " spoolRecovered=" + spoolRecovered : "")
            + (pumpFailed ? " PUMP FAILED" : "");
    }
}
