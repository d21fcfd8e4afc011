package dev.spillway.collector.config;

import dev.spillway.collector.ingest.AckMode;
import dev.spillway.telemetry.OverflowPolicy;
import dev.spillway.telemetry.SpoolConfig;
import dev.spillway.telemetry.timescale.IndexMode;

import java.nio.file.Path;
import java.time.Duration;

/**
 * The collector's validated settings. Built by {@link CollectorOptions#parse}; every value here is already
 * checked, so the rest of the collector never re-validates.
 *
 * @param http HTTP listen address
 * @param tcp TCP line-protocol listen address, or null when off
 * @param udp UDP line-protocol listen address, or null when off
 * @param token API token required on writes, /ready and /metrics, or null for no authentication
 * @param jdbcUrl external database, or null to run the embedded PostgreSQL
 * @param dbUser user for {@code jdbcUrl}
 * @param dbPassword password for {@code jdbcUrl}
 * @param dataDir data directory of the embedded PostgreSQL
 * @param dbPort port of the embedded PostgreSQL, 0 for any free port
 * @param ringSize pipeline ring slots
 * @param batchSize events per sink batch
 * @param flushInterval longest wait of a partial batch
 * @param workers sink worker threads
 * @param overflowPolicy what the ring does when full
 * @param retryAttempts write attempts per batch
 * @param retryMaxElapsed time budget per batch
 * @param maxBodySize largest HTTP body as sent (compressed)
 * @param maxDecompressedSize largest HTTP body after gunzip
 * @param maxSeries most series the collector will create
 * @param maxLineLength longest TCP line
 * @param tcpIdleTimeout idle TCP connections are closed after this; zero disables
 * @param tcpMaxConnections most open TCP connections; more are closed on accept
 * @param highWaterMark ring occupancy fraction above which HTTP writes get 503
 * @param ingestThreads threads that decompress, parse and ingest HTTP bodies
 * @param closeTimeout how long shutdown waits for the pipeline to drain
 * @param httpMaxConnections most open HTTP connections
 * @param httpMaxBuffered most request bytes buffered over all HTTP connections
 * @param httpHeaderTimeout time from a request's first byte to its complete head
 * @param httpReadTimeout time from a request's first byte to its complete body
 * @param httpIdleTimeout idle keep-alive HTTP connections are closed after this
 * @param udpReceiveBuffer the UDP socket receive buffer asked of the kernel
 * @param chunkInterval hypertable chunk interval (TimescaleDB)
 * @param compressAfter compress chunks older than this, or null (TimescaleDB)
 * @param retention drop chunks older than this, or null to keep everything (TimescaleDB)
 * @param indexMode secondary indexes of the events table
 * @param monitorsFile monitors to upsert at start, or null
 * @param probeConcurrency most monitor checks in flight
 * @param probeKeepAlive reuse connections between checks
 * @param monitorReloadInterval how often the monitors table is re-read
 * @param alerting heartbeats and notifications
 * @param publicStatusPage whether the read-only status page is open without the token
 * @param spoolDir the spool directory for batches the database cannot take, or null when the spool is off
 * @param spoolMaxBytes most bytes the spool may hold
 * @param spoolFsync fsync interval of the spool; zero means fsync every spooled batch
 * @param spoolFull what a full spool does
 * @param ack default acknowledgement mode of HTTP writes
 * @param ackTimeout longest an {@code ack=commit} write waits for confirmation before answering 503
 * @param nats the process's role and its NATS JetStream settings (edge and writer roles)
 */
public record CollectorConfig(
    HostPort http,
    HostPort tcp,
    HostPort udp,
    String token,
    String jdbcUrl,
    String dbUser,
    String dbPassword,
    Path dataDir,
    int dbPort,
    int ringSize,
    int batchSize,
    Duration flushInterval,
    int workers,
    OverflowPolicy overflowPolicy,
    int retryAttempts,
    Duration retryMaxElapsed,
    int maxBodySize,
    int maxDecompressedSize,
    int maxSeries,
    int maxLineLength,
    Duration tcpIdleTimeout,
    int tcpMaxConnections,
    double highWaterMark,
    int ingestThreads,
    Duration closeTimeout,
    int httpMaxConnections,
    long httpMaxBuffered,
    Duration httpHeaderTimeout,
    Duration httpReadTimeout,
    Duration httpIdleTimeout,
    int udpReceiveBuffer,
    Duration chunkInterval,
    Duration compressAfter,
    Duration retention,
    IndexMode indexMode,
    Path monitorsFile,
    int probeConcurrency,
    boolean probeKeepAlive,
    Duration monitorReloadInterval,
    AlertingConfig alerting,
    boolean publicStatusPage,
    Path spoolDir,
    long spoolMaxBytes,
    Duration spoolFsync,
    SpoolConfig.FullPolicy spoolFull,
    AckMode ack,
    Duration ackTimeout,
    NatsSettings nats) {

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

    /** Whether writes need a token. */
    public boolean authRequired() {
        return token != null;
    }

    /** Whether the collector runs its own PostgreSQL. */
    public boolean embeddedDatabase() {
        return jdbcUrl == null;
    }

    /** The JDBC URL with any {@code password=} parameter masked, for logs. */
    public String maskedJdbcUrl() {
        return jdbcUrl == null ? null : jdbcUrl.replaceAll("(?i)(password=)[^&]*", "$1***");
    }

    /** Secrets masked, for logs. */
    @Override
    public String toString() {
        return "http=" + http + " tcp=" + tcp + " udp=" + udp + " auth=" + (token != null ? "token" : "off")
            + " db=" + (jdbcUrl != null ? maskedJdbcUrl() : "embedded:" + dataDir) + " ring=" + ringSize + " batch="
            + batchSize + " flush=" + flushInterval.toMillis() + "ms workers=" + workers + " policy="
            + overflowPolicy + " maxSeries=" + maxSeries + " highWaterMark=" + highWaterMark + " retention="
            + (retention == null ? "forever" : retention) + " indexMode=" + indexMode + " spool="
            + (spoolDir == null ? "off" : spoolDir + " (max " + spoolMaxBytes + " bytes, fsync "
                + (spoolFsync.isZero() ? "always" : spoolFsync.toMillis() + "ms") + ", when full " + spoolFull + ")")
            + " ack=" + ack + " " + alerting + " " + nats;
    }
}
