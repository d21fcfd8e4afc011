package dev.spillway.telemetry.internal;

import java.nio.file.Path;

/**
 * Validated spool settings, as the API's {@code SpoolConfig} hands them to {@link PipelineCore}.
 *
 * @param directory the spool directory
 * @param maxBytes most bytes of segment files
 * @param segmentBytes size at which a new segment is started
 * @param fsyncIntervalNanos 0 for "fsync every append", else the longest time between fsyncs
 * @param dropOldestWhenFull true: a full spool drops its oldest segment; false: it refuses the new batch
 */
public record SpoolSettings(Path directory, long maxBytes, long segmentBytes, long fsyncIntervalNanos,
                            boolean dropOldestWhenFull) {

    /** Whether every append is forced to the device before it returns. */
    public boolean fsyncAlways() {
        return fsyncIntervalNanos == 0;
    }

    /** The largest record a batch of {@code batchSize} events can need (with the longest run id). */
    public static long maxRecordBytes(int batchSize) {
        return RecordCodec.recordSize(RecordCodec.MAX_RUN_ID, batchSize);
    }
}
