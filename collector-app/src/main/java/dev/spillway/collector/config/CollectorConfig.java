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
 * @param ingest HTTP, TCP and UDP inputs, authentication and their limits (collector-ingest)
 * @param database the embedded or external database and the events table's layout
 * @param pipeline ring, batches, writers, retries and the disk spool
 * @param nats the process's role and its NATS JetStream settings (edge and writer roles)
 * @param duties what this collector runs (by role unless {@code --duties} says otherwise)
 * @param uptime monitors, including those declared in the {@code --monitors} file (collector-uptime)
 * @param alerting notifications of heartbeats and monitors (collector-alerting)
 * @param statusPage the status page (collector-status-page)
 */
public record CollectorConfig(
    IngestSettings ingest,
    DatabaseSettings database,
    PipelineSettings pipeline,
    NatsSettings nats,
    Duties duties,
    UptimeSettings uptime,
    AlertingSettings alerting,
    StatusPageSettings statusPage) {

    /** Secrets masked, durations and sizes as people write them, for logs. */
    @Override
    public String toString() {
        return ingest + " " + database + " " + pipeline + " " + uptime + " " + alerting + " " + statusPage
            + " " + nats + " duties=" + duties.toString().replace(" ", "");
    }
}
