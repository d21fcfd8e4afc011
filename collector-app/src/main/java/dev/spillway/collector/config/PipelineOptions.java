package dev.spillway.collector.config;

import dev.spillway.runtime.config.ConfigException;
import dev.spillway.runtime.config.OptionValues;
import dev.spillway.runtime.config.Units;
import dev.spillway.telemetry.OverflowPolicy;
import dev.spillway.telemetry.SpoolConfig;
import picocli.CommandLine.Option;

import dev.spillway.runtime.config.HostPort;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The pipeline options (a picocli mixin of the collector's command): ring, batches, writers, retries, shutdown and
 * the disk spool.
 */
public final class PipelineOptions {

    @Option(names = "--ring-size", paramLabel = "N", defaultValue = "65536",
        description = "Ring slots, a power of two (default: ${DEFAULT-VALUE}).")
    String ringSize;

    @Option(names = "--batch-size", paramLabel = "N", defaultValue = "16384",
        description = "Most events per database batch (default: ${DEFAULT-VALUE}).")
    String batchSize;

    @Option(names = "--flush-interval", paramLabel = "DURATION", defaultValue = "100ms",
        description = "Longest a partial batch waits (default: ${DEFAULT-VALUE}).")
    String flushInterval;

    @Option(names = "--workers", paramLabel = "N", defaultValue = "2",
        description = "Database writer threads (default: ${DEFAULT-VALUE}).")
    String workers;

    @Option(names = "--overflow-policy", paramLabel = "POLICY", defaultValue = "block",
        description = "When the ring is full: block, drop-newest or overwrite-oldest (default: ${DEFAULT-VALUE}).")
    String overflowPolicy;

    @Option(names = "--retry-attempts", paramLabel = "N", defaultValue = "8",
        description = "Write attempts per batch (default: ${DEFAULT-VALUE}).")
    String retryAttempts;

    @Option(names = "--retry-max-elapsed", paramLabel = "DURATION", defaultValue = "60s",
        description = "Time budget for retrying one batch (default: ${DEFAULT-VALUE}).")
    String retryMaxElapsed;

    @Option(names = "--close-timeout", paramLabel = "DURATION", defaultValue = "30s",
        description = "How long shutdown waits for buffered events to be written (default: ${DEFAULT-VALUE}).")
    String closeTimeout;

    @Option(names = "--spool-dir", paramLabel = "DIR|off",
        description = "Disk spool for batches the database cannot take (outage, retries exhausted), replayed once it "
            + "is back; 'off' disables it (then such batches fail, counted). Default: <data-dir>-spool, beside the "
            + "data directory (PostgreSQL owns the data directory itself); for an edge spillway-edge-<http port>-spool "
            + "in the working directory, so that edges on one host each have their own.")
    String spoolDir;

    @Option(names = "--spool-max-size", paramLabel = "SIZE", defaultValue = "1GiB",
        description = "Most disk the spool may use (default: ${DEFAULT-VALUE}).")
    String spoolMaxSize;

    @Option(names = "--spool-fsync", paramLabel = "always|DURATION", defaultValue = "500ms",
        description = "fsync every spooled batch ('always') or at most this often; a power loss can lose up to one "
            + "interval of spooled batches (default: ${DEFAULT-VALUE}).")
    String spoolFsync;

    @Option(names = "--spool-full", paramLabel = "POLICY", defaultValue = "drop-oldest-segment",
        description = "When the spool is full: drop-oldest-segment (the oldest segment holding no line a client "
            + "was answered 204 for under ack=commit; its events count as dropped) or refuse (the new batch fails). "
            + "Never drops ack=commit data: with no such segment the spool refuses, and HTTP writes get 503 until "
            + "replay frees room (default: ${DEFAULT-VALUE}).")
    String spoolFull;

    /**
     * Validates the options.
     *
     * @param database where the spool goes by default (beside the embedded database's data directory), and which
     *     directory it must stay out of
     * @throws ConfigException naming the first bad option as the user set it
     */
    public PipelineSettings settings(OptionValues v, DatabaseSettings database) {
        return settings(v, database, null);
    }

    /**
     * Validates the options.
     *
     * @param edgeHttp an edge's HTTP address, or null for other roles: an edge's spool defaults to
     *     {@code spillway-edge-<port>-spool} in the working directory, so edges on one host do not share one (an
     *     edge on a random port must name its {@code --spool-dir})
     * @throws ConfigException naming the first bad option as the user set it
     */
    public PipelineSettings settings(OptionValues v, DatabaseSettings database, HostPort edgeHttp) {
        final int ring = v.intIn("--ring-size", ringSize, 2, 1 << 30);
        if (Integer.bitCount(ring) != 1) {
            throw v.invalid("--ring-size", "must be a power of two (e.g. 65536), was " + ring);
        }
        final int batch = v.intIn("--batch-size", batchSize, 1, ring);
        final Duration flush = v.durationIn("--flush-interval", flushInterval, Duration.ofMillis(1),
            Duration.ofHours(1));
        final int workerCount = v.intIn("--workers", workers, 1, 256);
        final OverflowPolicy policy = v.choice("--overflow-policy", overflowPolicy, OverflowPolicy.class);
        final int attempts = v.intIn("--retry-attempts", retryAttempts, 1, 1000);
        final Duration maxElapsed = v.durationIn("--retry-max-elapsed", retryMaxElapsed, Duration.ZERO,
            Duration.ofHours(24));
        final Duration close = v.durationIn("--close-timeout", closeTimeout, Duration.ZERO, Duration.ofHours(1));
        final Path data = database.dataDir();
        final Path spool;
        if (spoolDir == null && edgeHttp != null) {
            if (edgeHttp.port() == 0) {
                throw new ConfigException("an edge on a random HTTP port (" + v.name("--http") + " ...:0) needs "
                    + "--spool-dir: the default spool of an edge is named after its port (spillway-edge-PORT-spool), "
                    + "so that edges on one host do not share one");
            }
            spool = Path.of("spillway-edge-" + edgeHttp.port() + "-spool").toAbsolutePath().normalize();
        } else if (spoolDir == null) {
            spool = data.resolveSibling(data.getFileName() + "-spool");
        } else if (spoolDir.isBlank()) {
            throw v.invalid("--spool-dir", "must be a directory or 'off'");
        } else {
            spool = spoolDir.trim().equalsIgnoreCase("off") ? null
                : Path.of(spoolDir.trim()).toAbsolutePath().normalize();
        }
        if (spool != null && spool.startsWith(data) && database.embedded()) {
            throw v.invalid("--spool-dir", "must not be inside --data-dir (" + data + "): PostgreSQL owns it");
        }
        final long spoolMax = v.convert("--spool-max-size", spoolMaxSize, Units::parseSize);
        if (spoolMax < (1L << 20)) {
            throw v.invalid("--spool-max-size", "must be at least 1MiB, was " + spoolMaxSize);
        }
        final Duration fsync = "always".equalsIgnoreCase(spoolFsync == null ? "" : spoolFsync.trim()) ? Duration.ZERO
            : v.durationIn("--spool-fsync", spoolFsync, Duration.ofMillis(1), Duration.ofMinutes(1));
        final SpoolConfig.FullPolicy full = v.choice("--spool-full", spoolFull, SpoolConfig.FullPolicy.class);
        if (spool != null && (long) batch * 64 > spoolMax / 4) {
            throw new ConfigException(v.name("--spool-max-size") + " (" + Units.formatSize(spoolMax)
                + ") is too small for batches of " + batch + " events; give it at least "
                + Units.formatSize((long) batch * 64 * 4));
        }
        return new PipelineSettings(ring, batch, flush, workerCount, policy, attempts, maxElapsed, close, spool,
            spoolMax, fsync, full);
    }
}
