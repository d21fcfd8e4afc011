package dev.spillway.uptime;

import dev.spillway.ingest.PointWriter;
import dev.spillway.ingest.auth.ApiTokens;
import dev.spillway.runtime.api.ApiRouter;
import dev.spillway.runtime.lifecycle.ServiceStack;
import dev.spillway.uptime.heartbeat.HeartbeatApi;
import dev.spillway.uptime.heartbeat.Heartbeats;
import dev.spillway.uptime.monitor.MonitorApi;
import dev.spillway.uptime.monitor.MonitorLeases;
import dev.spillway.uptime.monitor.MonitorService;
import dev.spillway.uptime.monitor.UptimeReportApi;
import dev.spillway.uptime.transitions.NotificationQueue;
import dev.spillway.uptime.transitions.StateTransitions;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.time.Clock;
import java.time.Duration;

/**
 * The uptime module assembled: heartbeats and monitors started (in that order, each pushed onto the stack) with
 * their APIs. Their APIs and pings work on every collector; what runs in the background depends on the duties:
 * the monitors duty checks monitors under leases shared with the other collectors on the database
 * ({@link MonitorLeases}), the heartbeats duty announces missed heartbeat deadlines. Every check result and ping goes into the pipeline through {@code points}; every confirmed state
 * change into {@code transitions}, whose listeners (the alerting outbox) write in the same transaction.
 *
 * @param heartbeats the heartbeat engine; its line-protocol ping hook is {@link Heartbeats#pingFromLine}
 * @param monitors the monitors
 */
public record Uptime(Heartbeats heartbeats, MonitorService monitors) {

    private static final Logger LOG = LoggerFactory.getLogger(Uptime.class);
    private static final Duration HEARTBEAT_TICK = Duration.ofSeconds(1);
    private static final Duration STOP = Duration.ofSeconds(30);

    /**
     * @param settings the monitors declared in a file (validated, upserted before the first check) and the probes'
     * @param notifications where heartbeats put their announcements
     * @param notified called after a transaction wrote notifications (wakes the relay)
     * @param tokens the ping keys' store: they are created for existing services and revoked with their service
     * @param monitorsDuty whether this collector checks monitors (its share, by leases)
     * @param heartbeatsDuty whether this collector announces missed heartbeat deadlines
     * @param maintenance where uptime reports take maintenance time from (the alerting module's windows)
     * @param liveness opens the connection that holds the monitors duty's liveness lock for the whole run (one
     *     of its own, outside {@code ds}'s pool); null to take it from {@code ds} (then kept out of the pool)
     */
    public static Uptime start(UptimeSettings settings, DataSource ds, StateTransitions transitions, NotificationQueue notifications, Runnable notified,
                               PointWriter points, Clock clock, ApiRouter router, ApiTokens tokens,
                               MeterRegistry registry, ServiceStack stack, boolean monitorsDuty, boolean heartbeatsDuty,
                               dev.spillway.uptime.monitor.UptimeReport.Maintenance maintenance,
                               MonitorLeases.Connector liveness)
        throws Exception {
        final Heartbeats heartbeats = new Heartbeats(ds, transitions, notifications, points.producer("heartbeat"),
            clock, HEARTBEAT_TICK, notified, registry);
        new HeartbeatApi(heartbeats, tokens).register(router);
        tokens.serviceCheck(id -> heartbeats.store().get(id).isPresent());
        heartbeats.start(heartbeatsDuty);
        stack.push(heartbeats, STOP);
        if (settings.monitorsFile() != null) {
            MonitorService.applyFile(ds, settings.monitors(), "--monitors " + settings.monitorsFile());
            LOG.info("--monitors: {} monitors from {} applied", settings.monitors().size(), settings.monitorsFile());
        }
        final MonitorLeases leases = monitorsDuty
            ? new MonitorLeases(ds, liveness != null ? liveness : ds::getConnection, MonitorLeases.newCollectorId(),
                settings.location(), settings.monitorLeaseTtl(), clock) : null;
        final MonitorService monitors = stack.push(new MonitorService(ds, points, transitions, registry,
            new MonitorService.Settings(settings.probeConcurrency(), settings.probeKeepAlive(),
                settings.monitorReloadInterval(), settings.probePolicy()), leases, clock), STOP);
        MonitorApi.register(router, monitors);
        UptimeReportApi.register(router, monitors, new UptimeReportApi.Services() {
            @Override
            public java.util.List<String> ids() throws java.sql.SQLException {
                return heartbeats.store().list().stream().map(s -> s.spec().id()).sorted().toList();
            }

            @Override
            public boolean exists(String id) throws java.sql.SQLException {
                return heartbeats.store().get(id).isPresent();
            }
        }, maintenance, clock);
        return new Uptime(heartbeats, monitors);
    }
}
