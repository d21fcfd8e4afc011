package dev.spillway.telemetry.internal;

/**
 * One consistent snapshot of a pipeline's counts, taken by {@link PipelineCore#account()}; the API turns it into
 * a {@code PipelineStats}. Resolutions are read before the claim cursor, so a snapshot under load never shows a
 * negative pending count.
 */
public record Account(
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

    /** One line for logs, the same as {@code PipelineStats.toString()}. */
    @Override
    public String toString() {
        return "ingested=" + ingested + " written=" + written + " overwritten=" + overwritten
            + " rejected=" + (rejectedFull + rejectedClosed + rejectedInterrupted + rejectedInvalid) + " (full="
            + rejectedFull + " closed=" + rejectedClosed + " interrupted=" + rejectedInterrupted + " invalid="
            + rejectedInvalid + ") failed=" + failed + " spooled=" + spooled
            + (droppedSpoolFull > 0 ? " droppedSpoolFull=" + droppedSpoolFull : "")
            + (abandoned > 0 ? " abandoned=" + abandoned : "") + (writtenLate > 0 ? " writtenLate=" + writtenLate : "")
            + " pending=" + pending()
            + " batchesWritten=" + batchesWritten + " batchesFailed=" + batchesFailed + " retries=" + retries
            + (batchesSpooled + batchesReplayed + spoolRecovered > 0 ? " batchesSpooled=" + batchesSpooled
                + " batchesReplayed=" + batchesReplayed + " spoolRecovered=" + spoolRecovered : "")
            + (spoolFull ? " SPOOL FULL" : "") + (pumpFailed ? " PUMP FAILED" : "");
    }

    /** Accepted and not yet resolved. */
    long pending() {
        return ingested - written - writtenLate - overwritten - rejectedFull - rejectedClosed - rejectedInterrupted
            - rejectedInvalid - droppedSpoolFull - failed - abandoned - spooled;
    }
}
