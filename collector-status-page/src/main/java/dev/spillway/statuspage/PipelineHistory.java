package dev.spillway.statuspage;

import dev.spillway.telemetry.PipelineStats;

import java.util.ArrayList;
import java.util.List;

/**
 * The last hour of pipeline accounting for the page's plot: one snapshot every {@link #STEP_MILLIS} in a fixed
 * ring (361 snapshots make 360 ten-second rates), so memory stays constant however long the collector runs. The
 * page turns neighbouring snapshots into per-second rates.
 *
 * <p>Written by one sampler thread every ten seconds and read by page requests; both are rare, so a monitor lock
 * is simplest.
 */
public final class PipelineHistory {

    /** Sampling period. */
    public static final long STEP_MILLIS = 10_000;
    /** Snapshots kept: an hour of ten-second intervals, plus the one before the first. */
    public static final int CAPACITY = 361;

    /**
     * One snapshot.
     *
     * @param epochMillis when it was taken
     * @param stats the pipeline's account then
     */
    public record Sample(long epochMillis, PipelineStats stats) {
    }

    private final Sample[] ring = new Sample[CAPACITY];
    private long count;

    /** Records a snapshot; the oldest falls out when the ring is full. */
    public synchronized void add(long epochMillis, PipelineStats stats) {
        ring[(int) (count % CAPACITY)] = new Sample(epochMillis, stats);
        count++;
    }

    /** The snapshots held, oldest first. */
    public synchronized List<Sample> samples() {
        final int n = (int) Math.min(count, CAPACITY);
        final List<Sample> out = new ArrayList<>(n);
        for (long i = count - n; i < count; i++) {
            out.add(ring[(int) (i % CAPACITY)]);
        }
        return out;
    }
}
