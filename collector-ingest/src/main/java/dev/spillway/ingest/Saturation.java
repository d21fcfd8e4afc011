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
        return refusal() != null;
    }

    /**
     * Why new data should be turned away, in words for the client (the body of the 503), or null when it should be
     * taken. The spool comes first: while it is full a client must know that waiting for the database, not for
     * the collector's buffer, is what helps.
     */
    public String refusal() {
        if (!pipeline.isRunning()) {
            return "collector is shutting down; retry later";
        }
        final PipelineStats stats = pipeline.stats();
        if (stats.spoolFull()) {
            return "the spool is full: the database is unavailable and the spool holds as much as it may (nothing "
                + "acknowledged is dropped to make room); retry later";
        }
        if (stats.ringOccupancy() >= threshold) {
            return "collector is saturated (buffer above its high-water mark); retry later";
        }
        return null;
    }

    /**
     * Whether the only reason to refuse is the ring above its high-water mark: a state that usually passes within
     * milliseconds (a worker finishing a batch frees up to a batch of slots), unlike closing or a full spool.
     */
    public boolean onlyRingAboveMark() {
        if (!pipeline.isRunning()) {
            return false;
        }
        final PipelineStats stats = pipeline.stats();
        return !stats.spoolFull() && stats.ringOccupancy() >= threshold;
    }

    /** Ring occupancy at which {@link #saturated()} turns true. */
    public long threshold() {
        return threshold;
    }
}
