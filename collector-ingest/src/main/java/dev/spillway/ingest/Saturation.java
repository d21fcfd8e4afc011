package dev.spillway.ingest;

import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.PipelineStats;

/**
 * Says when the collector should push back instead of accepting: the ring is above the high-water mark (so
 * accepting would soon overwrite, drop or block), the pipeline is closing, or the spool is full (it refuses new
 * batches rather than drop what a commit acknowledgement confirmed, so new work would only fail).
 */
public final class Saturation {

    private final Pipeline pipeline;
    private final long threshold;

    /** @param highWaterMark fraction of the ring, in (0, 1] */
    public Saturation(Pipeline pipeline, double highWaterMark) {
        this.pipeline = pipeline;
        this.threshold = Math.max(1, (long) Math.ceil(highWaterMark * pipeline.ringCapacity()));
    }

    /** Whether new data should be turned away with 503 and {@code Retry-After}. */
    public boolean saturated() {
        if (!pipeline.isRunning()) {
            return true;
        }
        final PipelineStats stats = pipeline.stats();
        return stats.ringOccupancy() >= threshold || stats.spoolFull();
    }

    /** Ring occupancy at which {@link #saturated()} turns true. */
    public long threshold() {
        return threshold;
    }
}
