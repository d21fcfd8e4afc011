package dev.spillway.telemetry;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * Where and how a {@link Pipeline} keeps batches the sink cannot take: a directory of checksummed segment files on
 * local disk. A batch that exhausts its retries, or meets a sink already known to be down, is appended to the spool
 * instead of being failed; a replayer writes spooled batches back, oldest first, once the sink is healthy again.
 *
 * <pre>{@code
 * Pipeline.builder().sink(sink)
 *     .spool(SpoolConfig.builder(Path.of("/var/lib/app/spool")).maxBytes(4L << 30).build())
 *     .build();
 * }</pre>
 *
 * <p>What each fsync policy risks: {@link Builder#fsyncAlways()} forces every appended batch to the device before
 * the append returns (a power loss loses nothing that was spooled, at the cost of one fsync per batch);
 * {@link Builder#fsyncInterval(Duration)} (default 500 ms) forces at most that often, so a power loss (not a
 * process crash: the page cache survives {@code kill -9}) can lose up to one interval of spooled batches. A record
 * torn by the power loss is detected by its CRC32C at the next start, skipped, counted and logged.
 *
 * @param directory the spool directory (created if missing); one pipeline per directory
 * @param maxBytes the most bytes of segment files on disk
 * @param segmentBytes the size at which a segment file is closed and a new one started
 * @param fsyncIntervalNanos 0 for "fsync every append", else the longest time between fsyncs
 * @param fullPolicy what an append does when the spool is full
 */
public record SpoolConfig(Path directory, long maxBytes, long segmentBytes, long fsyncIntervalNanos,
                          FullPolicy fullPolicy) {

    /**
     * What an append does when the spool already holds {@code maxBytes}. Either way a full spool never discards a
     * batch a commit acknowledgement may have confirmed ({@link Pipeline#openAckScope()}): when no segment may be
     * dropped, the new batch is refused (counted {@code failed}, as without a spool) and
     * {@link PipelineStats#spoolFull()} says so until replay frees a segment.
     */
    public enum FullPolicy {
        /**
         * Delete the oldest segment that holds no commit-acknowledged batch (its unreplayed events are counted as
         * {@code droppedSpoolFull}) and append; refuse when every segment but the one being written holds one.
         * Default.
         */
        DROP_OLDEST_SEGMENT,
        /** Refuse the append: the new batch is counted as {@code failed}, as without a spool. */
        REFUSE
    }

    /** Default segment size: 64 MiB. */
    public static final long DEFAULT_SEGMENT_BYTES = 64L << 20;
    /** Default total size: 1 GiB. */
    public static final long DEFAULT_MAX_BYTES = 1L << 30;
    /** Default fsync interval: 500 ms. */
    public static final Duration DEFAULT_FSYNC_INTERVAL = Duration.ofMillis(500);

    /** Validated by {@link Builder#build()}. */
    public SpoolConfig {
        Objects.requireNonNull(directory, "directory");
        Objects.requireNonNull(fullPolicy, "fullPolicy");
    }

    /** Whether every append is forced to the device before it returns. */
    public boolean fsyncAlways() {
        return fsyncIntervalNanos == 0;
    }

    /** A builder for a spool in {@code directory}. */
    public static Builder builder(Path directory) {
        return new Builder(directory);
    }

    /** Builds a {@link SpoolConfig}; {@link #build()} validates every setting with a message naming it. */
    public static final class Builder {
        private final Path directory;
        private long maxBytes = DEFAULT_MAX_BYTES;
        private long segmentBytes = DEFAULT_SEGMENT_BYTES;
        private Duration fsyncInterval = DEFAULT_FSYNC_INTERVAL;
        private FullPolicy fullPolicy = FullPolicy.DROP_OLDEST_SEGMENT;

        private Builder(Path directory) {
            this.directory = directory;
        }

        /** Most bytes on disk, at least two segments; default 1 GiB. */
        public Builder maxBytes(long maxBytes) {
            this.maxBytes = maxBytes;
            return this;
        }

        /** Segment file size, 64 KiB to 1 GiB; default 64 MiB. Must hold one whole batch. */
        public Builder segmentBytes(long segmentBytes) {
            this.segmentBytes = segmentBytes;
            return this;
        }

        /** fsync at most every {@code interval} (1 ms to 1 min); default 500 ms. */
        public Builder fsyncInterval(Duration interval) {
            this.fsyncInterval = interval;
            return this;
        }

        /** fsync every appended batch before the append returns. */
        public Builder fsyncAlways() {
            this.fsyncInterval = Duration.ZERO;
            return this;
        }

        /** What to do when full; default {@link FullPolicy#DROP_OLDEST_SEGMENT}. */
        public Builder fullPolicy(FullPolicy fullPolicy) {
            this.fullPolicy = fullPolicy;
            return this;
        }

        /**
         * @throws IllegalArgumentException naming the first invalid setting and its valid range
         */
        public SpoolConfig build() {
            check(directory != null, "directory is required");
            check(segmentBytes >= (64L << 10) && segmentBytes <= (1L << 30),
                "segmentBytes must be 64 KiB..1 GiB, was " + segmentBytes);
            check(maxBytes >= 2 * segmentBytes, "maxBytes must be at least 2 segments (" + 2 * segmentBytes
                + " bytes), was " + maxBytes);
            check(fsyncInterval != null && (fsyncInterval.isZero() || fsyncInterval.compareTo(Duration.ofMillis(1)) >= 0
                    && fsyncInterval.compareTo(Duration.ofMinutes(1)) <= 0),
                "fsyncInterval must be 1ms..1min (or fsyncAlways()), was " + fsyncInterval);
            check(fullPolicy != null, "fullPolicy must be DROP_OLDEST_SEGMENT or REFUSE, was null");
            return new SpoolConfig(directory, maxBytes, segmentBytes, fsyncInterval.toNanos(), fullPolicy);
        }

        private static void check(boolean ok, String message) {
            if (!ok) {
                throw new IllegalArgumentException("SpoolConfig." + message);
            }
        }
    }
}
