package dev.spillway.collector.config;

import dev.spillway.runtime.config.OptionValues;
import dev.spillway.runtime.config.Units;
import dev.spillway.telemetry.OverflowPolicy;
import dev.spillway.telemetry.SpoolConfig;

import java.nio.file.Path;
import java.time.Duration;

/**
 * The pipeline between the inputs and the database: ring, batches, writer threads, retries and the disk spool.
 * Built by {@link PipelineOptions#settings}.
 *
 * @param ringSize pipeline ring slots
 * @param batchSize events per sink batch
 * @param flushInterval longest wait of a partial batch
 * @param workers sink worker threads
 * @param overflowPolicy what the ring does when full
 * @param retryAttempts write attempts per batch
 * @param retryMaxElapsed time budget per batch
 * @param closeTimeout how long shutdown waits for the pipeline to drain
 * @param spoolDir the spool directory for batches the database cannot take, or null when the spool is off
 * @param spoolMaxBytes most bytes the spool may hold
 * @param spoolFsync fsync interval of the spool; zero means fsync every spooled batch
 * @param spoolFull what a full spool does
 */
public record PipelineSettings(
    int ringSize,
    int batchSize,
    Duration flushInterval,
    int workers,
    OverflowPolicy overflowPolicy,
    int retryAttempts,
    Duration retryMaxElapsed,
    Duration closeTimeout,
    Path spoolDir,
    long spoolMaxBytes,
    Duration spoolFsync,
    SpoolConfig.FullPolicy spoolFull) {

    /** The pipeline's spool settings, or null when the spool is off. */
    public SpoolConfig spool() {
        if (spoolDir == null) {
            return null;
        }
        final long segment = Math.min(SpoolConfig.DEFAULT_SEGMENT_BYTES, spoolMaxBytes / 2);
        final SpoolConfig.Builder b = SpoolConfig.builder(spoolDir).maxBytes(spoolMaxBytes).segmentBytes(segment)
            .fullPolicy(spoolFull);
        return (spoolFsync.isZero() ? b.fsyncAlways() : b.fsyncInterval(spoolFsync)).build();
    }

    /** Durations and sizes as people write them, for logs. */
    @Override
    public String toString() {
        final String spool = spoolDir == null ? "off" : spoolDir + " (max " + Units.formatSize(spoolMaxBytes)
            + ", fsync " + (spoolFsync.isZero() ? "always" : Units.formatDuration(spoolFsync)) + ", when full "
            + OptionValues.spelling(spoolFull) + ")";
        return "ring=" + ringSize + " batch=" + batchSize + " flush=" + Units.formatDuration(flushInterval)
            + " workers=" + workers + " policy=" + OptionValues.spelling(overflowPolicy) + " retryAttempts="
            + retryAttempts + " retryMaxElapsed=" + Units.formatDuration(retryMaxElapsed) + " spool=" + spool;
    }
}
