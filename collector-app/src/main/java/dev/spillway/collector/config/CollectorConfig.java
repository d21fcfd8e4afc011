package dev.spillway.collector.config;

import dev.spillway.collector.nats.NatsSettings;
import dev.spillway.alerting.AlertingSettings;
import dev.spillway.ingest.AckMode;
import dev.spillway.ingest.IngestSettings;
import dev.spillway.runtime.config.HostPort;
import dev.spillway.statuspage.StatusPageSettings;
import dev.spillway.telemetry.OverflowPolicy;
import dev.spillway.telemetry.SpoolConfig;
import dev.spillway.telemetry.timescale.IndexMode;
import dev.spillway.uptime.UptimeSettings;
import dev.spillway.uptime.monitor.MonitorSpec;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The collector's validated settings, one record per module. Built by {@link CollectorOptions#parse}; every value
 * here is already checked (including the {@code --monitors} file), so the rest of the collector never
 * re-validates.
 *
 * <p>The accessors below the components ({@link #workers()}, {@link #http()}, ...) are the settings under their
 * old flat names, kept while the wiring moves to the module records.
 *
 * @param ingest HTTP, TCP and UDP inputs, authentication and their limits (collector-ingest)
 * @param database the embedded or external database and the events table's layout
 * @param pipeline ring, batches, writers, retries and the disk spool
 * @param nats the process's role and its NATS JetStream settings (edge and writer roles)
 * @param uptime monitors, including those declared in the {@code --monitors} file (collector-uptime)
 * @param alertingSettings notifications of heartbeats and monitors (collector-alerting)
 * @param statusPage the status page (collector-status-page)
 */
public record CollectorConfig(
    IngestSettings ingest,
    DatabaseSettings database,
    PipelineSettings pipeline,
    NatsSettings nats,
    UptimeSettings uptime,
    AlertingSettings alertingSettings,
    StatusPageSettings statusPage) {

    /** The monitors declared in the {@code --monitors} file, parsed and validated; empty without a file. */
    public List<MonitorSpec> declaredMonitors() {
        return uptime.monitors();
    }

    /** The pipeline's spool settings, or null when the spool is off. */
    public SpoolConfig spool() {
        return pipeline.spool();
    }

    /** Whether writes need a token. */
    public boolean authRequired() {
        return ingest.authRequired();
    }

    /** Whether the collector runs its own PostgreSQL. */
    public boolean embeddedDatabase() {
        return database.embedded();
    }

    /** The JDBC URL with any {@code password=} parameter masked, for logs. */
    public String maskedJdbcUrl() {
        return database.maskedJdbcUrl();
    }

    /** Secrets masked, durations and sizes as people write them, for logs. */
    @Override
    public String toString() {
        return ingest + " " + database + " " + pipeline + " " + uptime + " " + alertingSettings + " " + statusPage
            + " " + nats;
    }

    // ---- The flat accessors of the one-record configuration, delegating to the module records. ----

    /** Heartbeats and notifications, as the flat configuration had them; see {@link #alertingSettings()}. */
    public AlertingConfig alerting() {
        return new AlertingConfig(alertingSettings.slackWebhook(), alertingSettings.publicUrl(),
            alertingSettings.notifyMaxAge());
    }

    /** HTTP listen address. */
    public HostPort http() {
        return ingest.http();
    }

    /** TCP line-protocol listen address, or null when off. */
    public HostPort tcp() {
        return ingest.tcp();
    }

    /** UDP line-protocol listen address, or null when off. */
    public HostPort udp() {
        return ingest.udp();
    }

    /** API token required on writes, /ready and /metrics, or null for no authentication. */
    public String token() {
        return ingest.token();
    }

    /** Largest HTTP body as sent (compressed). */
    public int maxBodySize() {
        return ingest.maxBodySize();
    }

    /** Largest HTTP body after gunzip. */
    public int maxDecompressedSize() {
        return ingest.maxDecompressedSize();
    }

    /** Most series the collector will create. */
    public int maxSeries() {
        return ingest.maxSeries();
    }

    /** Longest TCP line. */
    public int maxLineLength() {
        return ingest.maxLineLength();
    }

    /** Idle TCP connections are closed after this; zero disables. */
    public Duration tcpIdleTimeout() {
        return ingest.tcpIdleTimeout();
    }

    /** Most open TCP connections. */
    public int tcpMaxConnections() {
        return ingest.tcpMaxConnections();
    }

    /** Ring occupancy fraction above which HTTP writes get 503. */
    public double highWaterMark() {
        return ingest.highWaterMark();
    }

    /** Threads that decompress, parse and ingest HTTP bodies. */
    public int ingestThreads() {
        return ingest.ingestThreads();
    }

    /** Most open HTTP connections. */
    public int httpMaxConnections() {
        return ingest.httpMaxConnections();
    }

    /** Most request bytes buffered over all HTTP connections. */
    public long httpMaxBuffered() {
        return ingest.httpMaxBuffered();
    }

    /** Time from a request's first byte to its complete head. */
    public Duration httpHeaderTimeout() {
        return ingest.httpHeaderTimeout();
    }

    /** Time from a request's first byte to its complete body. */
    public Duration httpReadTimeout() {
        return ingest.httpReadTimeout();
    }

    /** Idle keep-alive HTTP connections are closed after this. */
    public Duration httpIdleTimeout() {
        return ingest.httpIdleTimeout();
    }

    /** The UDP socket receive buffer asked of the kernel. */
    public int udpReceiveBuffer() {
        return ingest.udpReceiveBuffer();
    }

    /** Default acknowledgement mode of HTTP writes. */
    public AckMode ack() {
        return ingest.ack();
    }

    /** Longest an {@code ack=commit} write waits for confirmation. */
    public Duration ackTimeout() {
        return ingest.ackTimeout();
    }

    /** External database, or null to run the embedded PostgreSQL. */
    public String jdbcUrl() {
        return database.jdbcUrl();
    }

    /** User for {@link #jdbcUrl()}. */
    public String dbUser() {
        return database.user();
    }

    /** Password for {@link #jdbcUrl()}. */
    public String dbPassword() {
        return database.password();
    }

    /** Data directory of the embedded PostgreSQL. */
    public Path dataDir() {
        return database.dataDir();
    }

    /** Port of the embedded PostgreSQL, 0 for any free port. */
    public int dbPort() {
        return database.port();
    }

    /** Hypertable chunk interval (TimescaleDB). */
    public Duration chunkInterval() {
        return database.chunkInterval();
    }

    /** Compress chunks older than this, or null (TimescaleDB). */
    public Duration compressAfter() {
        return database.compressAfter();
    }

    /** Drop chunks older than this, or null to keep everything (TimescaleDB). */
    public Duration retention() {
        return database.retention();
    }

    /** Secondary indexes of the events table. */
    public IndexMode indexMode() {
        return database.indexMode();
    }

    /** Pipeline ring slots. */
    public int ringSize() {
        return pipeline.ringSize();
    }

    /** Events per sink batch. */
    public int batchSize() {
        return pipeline.batchSize();
    }

    /** Longest wait of a partial batch. */
    public Duration flushInterval() {
        return pipeline.flushInterval();
    }

    /** Sink worker threads. */
    public int workers() {
        return pipeline.workers();
    }

    /** What the ring does when full. */
    public OverflowPolicy overflowPolicy() {
        return pipeline.overflowPolicy();
    }

    /** Write attempts per batch. */
    public int retryAttempts() {
        return pipeline.retryAttempts();
    }

    /** Time budget per batch. */
    public Duration retryMaxElapsed() {
        return pipeline.retryMaxElapsed();
    }

    /** How long shutdown waits for the pipeline to drain. */
    public Duration closeTimeout() {
        return pipeline.closeTimeout();
    }

    /** The spool directory, or null when the spool is off. */
    public Path spoolDir() {
        return pipeline.spoolDir();
    }

    /** Most bytes the spool may hold. */
    public long spoolMaxBytes() {
        return pipeline.spoolMaxBytes();
    }

    /** Fsync interval of the spool; zero means fsync every spooled batch. */
    public Duration spoolFsync() {
        return pipeline.spoolFsync();
    }

    /** What a full spool does. */
    public SpoolConfig.FullPolicy spoolFull() {
        return pipeline.spoolFull();
    }

    /** Monitors to upsert at start, or null; see {@link #declaredMonitors()} for what the file holds. */
    public Path monitorsFile() {
        return uptime.monitorsFile();
    }

    /** Most monitor checks in flight. */
    public int probeConcurrency() {
        return uptime.probeConcurrency();
    }

    /** Reuse connections between checks. */
    public boolean probeKeepAlive() {
        return uptime.probeKeepAlive();
    }

    /** How often the monitors table is re-read. */
    public Duration monitorReloadInterval() {
        return uptime.monitorReloadInterval();
    }

    /** Whether the read-only status page is open without the token. */
    public boolean publicStatusPage() {
        return statusPage.publicPage();
    }
}
