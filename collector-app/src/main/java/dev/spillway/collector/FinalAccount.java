package dev.spillway.collector;

import dev.spillway.telemetry.PipelineStats;

/**
 * What the collector did over its life, printed once as its last line: lines in and out of the parser, events
 * in and out of the pipeline by outcome, and whether the pipeline's books balance.
 *
 * @param linesAccepted lines accepted
 * @param linesRejected lines rejected (bad syntax, series limit, refused, too long)
 * @param stringsSkipped string fields not stored
 * @param stats the pipeline's final accounting
 */
public record FinalAccount(long linesAccepted, long linesRejected, long stringsSkipped, PipelineStats stats) {

    /** The one-line summary; the test of the shutdown path parses it, so keep the keys stable. */
    @Override
    public String toString() {
        return "final account: lines_accepted=" + linesAccepted + " lines_rejected=" + linesRejected
            + " strings_skipped=" + stringsSkipped + " ingested=" + stats.ingested() + " written=" + stats.written()
            + " dropped_overwritten=" + stats.overwritten() + " dropped_full=" + stats.rejectedFull()
            + " dropped_closed=" + stats.rejectedClosed() + " dropped_invalid=" + stats.rejectedInvalid()
            + " dropped_spool_full=" + stats.droppedSpoolFull() + " failed=" + stats.failed() + " abandoned="
            + stats.abandoned() + " written_late=" + stats.writtenLate() + " spooled=" + stats.spooled()
            + " spool_recovered=" + stats.spoolRecovered() + " balanced=" + (stats.isBalanced() ? "yes" : "no");
    }
}
