package dev.spillway.telemetry;

/**
 * A snapshot of a pipeline's event accounting.
 *
 * <p>At any quiescent point (no ingest in progress and every accepted event resolved, for example after
 * {@link Pipeline#close(java.time.Duration)} returned):
 * {@code ingested == written + writtenLate + overwritten + rejected + droppedSpoolFull + failed + abandoned
 * + spooled}, see {@link #isBalanced()}. While events are in flight, {@link #pending()} says how many are
 * unresolved; it is never negative. After close, a write that was still running at the close deadline may still
 * return: its events then move from {@code abandoned} (or {@code spooled}) to {@code writtenLate} (or
 * {@code failed}), and the account still balances.
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
 * @param droppedSpoolFull events of spool segments dropped to make room under
 *     {@link SpoolConfig.FullPolicy#DROP_OLDEST_SEGMENT}; only segments holding no batch that a commit
 *     acknowledgement was waiting for are dropped (see {@link Pipeline#openAckScope()})
 * @param abandoned events of batches given up at the close deadline while their write was still running (it
 *     ignored the interrupt and {@code Sink.abortWrites()}) and not spooled: whether they were stored is unknown
 *     until the write returns, so they are not handed to the failed-batch handler; if the write returns, they move
 *     to {@code writtenLate}, or to {@code failed} and the handler
 * @param writtenLate events whose write returned successfully after the close deadline had given their batch up
 *     (abandoned, or spooled: then they leave {@code spooled}); logged once per batch with its id
 * @param spoolFull whether the spool is refusing batches for lack of room (refused an append since it last freed a
 *     segment); producers that can push back (the collector answers 503) should
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
    long spoolRecovered,
    long droppedSpoolFull,
    long abandoned,
    long writtenLate,
    boolean spoolFull) {

    /** All rejections: ring full, closed, interrupted, and invalid data. */
    public long rejected() {
        return rejectedFull + rejectedClosed + rejectedInterrupted + rejectedInvalid;
    }

    /** Events lost for any reason: overwritten, rejected, dropped by a full spool, or failed. */
    public long lost() {
        return overwritten + rejected() + droppedSpoolFull + failed;
    }

    /** Events accepted but not yet resolved as written (in time or late), dropped, failed, abandoned or spooled. */
    public long pending() {
        return ingested - written - writtenLate - overwritten - rejected() - droppedSpoolFull - failed - abandoned
            - spooled;
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
            + " spooled=" + spooled
            + (droppedSpoolFull > 0 ? " droppedSpoolFull=" + droppedSpoolFull : "")
            + (abandoned > 0 ? " abandoned=" + abandoned : "") + (writtenLate > 0 ? " writtenLate=" + writtenLate : "")
            + " pending=" + pending() + " batchesWritten=" + batchesWritten
            + " batchesFailed=" + batchesFailed + " retries=" + retries
            + (batchesSpooled + batchesReplayed + spoolRecovered > 0 ? " batchesSpooled=" + batchesSpooled
                + " batchesReplayed=" + batchesReplayed + " spoolRecovered=" + spoolRecovered : "")
            + (spoolFull ? " SPOOL FULL" : "") + (pumpFailed ? " PUMP FAILED" : "");
    }
}
