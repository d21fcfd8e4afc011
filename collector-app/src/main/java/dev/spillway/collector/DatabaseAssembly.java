package dev.spillway.collector;

import dev.spillway.alerting.Alerting;
import dev.spillway.alerting.Maintenance;
import dev.spillway.collector.config.CollectorConfig;
import dev.spillway.collector.config.PipelineSettings;
import dev.spillway.collector.db.CollectorDatabase;
import dev.spillway.collector.db.CollectorSchema;
import dev.spillway.collector.db.EventsTable;
import dev.spillway.collector.db.FailFastDataSource;
import dev.spillway.collector.nats.JetStreamRole;
import dev.spillway.collector.nats.NatsSettings.Role;
import dev.spillway.ingest.BadLineLog;
import dev.spillway.ingest.CollectorMetrics;
import dev.spillway.ingest.LineIngestor;
import dev.spillway.ingest.PointWriter;
import dev.spillway.ingest.ReadinessProbe;
import dev.spillway.ingest.Saturation;
import dev.spillway.ingest.auth.ApiTokens;
import dev.spillway.ingest.listen.IngestListeners;
import dev.spillway.ingest.listen.NetworkIo;
import dev.spillway.ingest.resend.ResendWindow;
import dev.spillway.ingest.series.LocalSeriesStore;
import dev.spillway.ingest.series.SeriesRegistry;
import dev.spillway.runtime.api.ApiRouter;
import dev.spillway.runtime.api.AuthThrottle;
import dev.spillway.runtime.lifecycle.Service;
import dev.spillway.runtime.lifecycle.ServiceStack;
import dev.spillway.statuspage.StatusPage;
import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.timescale.TimescaleSink;
import dev.spillway.uptime.Uptime;
import dev.spillway.uptime.transitions.StateTransitions;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import javax.sql.DataSource;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;

import static dev.spillway.collector.Collector.STOP;

/**
 * The collector with a database (standalone, writer, or an edge that files series in the database), wired in
 * dependency order: database, series, pipeline, alerting, uptime, status page, and the listeners last, each
 * long-running part pushed onto the service stack as soon as it is up, so the stack stops them in reverse.
 */
final class DatabaseAssembly {

    static final int SERIES_THREADS = 2;
    // How often series sequence reservations are topped up (each reserves ~8 rounds of its rate ahead).
    static final Duration SEQUENCE_RESERVE_INTERVAL = Duration.ofMillis(250);
    // JSON API: handler threads, requests that may wait for one, largest body.
    static final int API_THREADS = 4;
    static final int API_QUEUE = 256;
    static final int API_MAX_BODY = 1 << 20;

    private DatabaseAssembly() {
    }

    /**
     * The monitors duty's liveness lock lives on a connection of its own, opened outside the pool and kept for the
     * whole run (so the pool's size is unchanged and the lock goes the moment this process dies).
     */
    static dev.spillway.uptime.monitor.MonitorLeases.Connector livenessConnector(CollectorDatabase db) {
        return () -> {
            final java.util.Properties p = new java.util.Properties();
            p.setProperty("user", db.user());
            if (db.dataSource().getPassword() != null) {
                p.setProperty("password", db.dataSource().getPassword());
            }
            p.setProperty("ApplicationName", "spillway monitor liveness");
            p.setProperty("tcpKeepAlive", "true");
            p.setProperty("connectTimeout", "5");
            return java.sql.DriverManager.getConnection(db.jdbcUrl(), p);
        };
    }

    static Assembled start(CollectorConfig cfg, Clock clock, ServiceStack services, StateTransitions transitions)
        throws Exception {
        final Role role = cfg.nats().role();
        final PipelineSettings ps = cfg.pipeline();
        final CollectorDatabase db = CollectorDatabase.open(services, cfg.database(),
            ps.workers() + (role == Role.WRITER ? cfg.nats().writerThreads() : 0), SERIES_THREADS);
        JetStreamRole jetStream = null;
        if (cfg.nats().usesNats()) {
            jetStream = JetStreamRole.connect(cfg.nats(), "spillway-" + role.name().toLowerCase(Locale.ROOT));
            services.push(Service.closing("NATS connection", jetStream), STOP);
        }
        EventsTable.checkStorageLayout(cfg.database(), db.dataSource());
        final TimescaleSink sink = EventsTable.sink(cfg.database(), db.dataSource(), EventsTable.ledgerRetention(
            ps.retryMaxElapsed(),
            role == Role.WRITER ? JetStreamRole.writerLedgerRetention(cfg.nats()) : Duration.ZERO)).build();
        EventsTable.reportNotApplicable(cfg.database(), sink.isTimescale(), sink.storageLayout());
        CollectorSchema.create(db.dataSource(), EventsTable.NAME);
        // Beside the spool: what the series catalogue needs to ride out an outage (numbers reserved and series first
        // seen while the database is down). Without a spool an outage loses batches anyway, so there is none.
        final LocalSeriesStore seriesStore = ps.spoolDir() == null ? null : LocalSeriesStore.open(ps.spoolDir());
        if (seriesStore != null) {
            services.push(Service.closing("series store", seriesStore), STOP);
        }
        final SeriesRegistry series = new SeriesRegistry(db.dataSource(), cfg.ingest().maxSeries(), SERIES_THREADS,
            SEQUENCE_RESERVE_INTERVAL, seriesStore);
        services.push(series, STOP); // stopped after the drain, it saves each series' next sequence number
        final PrometheusMeterRegistry registry = CollectorMeters.create();
        services.push(Service.closing("JVM meters", CollectorMeters.bindJvm(registry)), STOP);
        final CollectorMetrics metrics = new CollectorMetrics(registry, series);
        final NetworkIo io = services.push(new NetworkIo(), Duration.ofSeconds(10));
        // An edge publishes to JetStream; either way events of series first seen during an outage get their
        // catalogue ids on the way out.
        final DrainedPipeline drained = DrainedPipeline.start(services, ps,
            series.resolvingSink(role == Role.EDGE ? jetStream.edgeSink(registry) : sink), registry, STOP);
        if (role == Role.WRITER) {
            // Shares the pipeline's sink: consumed batches carry the edges' ledger keys, never this run's.
            jetStream.startWriter(sink, db.dataSource(), EventsTable.NAME, registry);
            services.push(jetStream.writer(ps.closeTimeout()), ps.closeTimeout().plus(STOP));
        }
        final Pipeline pipeline = drained.pipeline();
        final Saturation saturation = new Saturation(pipeline, cfg.ingest().highWaterMark());
        // The one way into the pipeline: line protocol, probes and heartbeats all write through it.
        final PointWriter pointWriter = new PointWriter(pipeline, series, saturation, registry);
        final ApiRouter router = new ApiRouter(API_MAX_BODY, API_THREADS, API_QUEUE);
        services.push(Service.closing("API router", router), STOP);
        // An edge is ready only while JetStream answers: its batches go there, not to the database.
        final ReadinessProbe readiness = new ReadinessProbe(db.dataSource(), pipeline, db.embedded() == null
            ? () -> null : db.embedded()::problem, role == Role.EDGE ? jetStream::edgeProblem : null);
        services.push(Service.closing("readiness probe", readiness), STOP);
        // The modules' view of the pool: while the database is known to be down, API requests fail at once (503).
        final DataSource modulesDb = new FailFastDataSource(db.dataSource(), readiness::databaseDown);
        final ApiTokens tokens = ApiTokens.start(modulesDb);
        services.push(Service.closing("API tokens", tokens), STOP);
        tokens.register(router);
        // Alerting first: its transition listener must be in place before the first check can flip.
        final Alerting alerting = Alerting.start(cfg.alerting(), modulesDb, transitions, clock, router, registry,
            services, cfg.duties().notifications());
        final Uptime uptime = Uptime.start(cfg.uptime(), modulesDb, transitions, alerting, alerting::wakeup,
            pointWriter, clock, router, tokens, registry, services, cfg.duties().monitors(),
            cfg.duties().heartbeats(), new Maintenance(modulesDb).forReports(), livenessConnector(db));
        final BadLineLog badLines = new BadLineLog(10_000);
        // Resent HTTP bodies store each line once. Not on an edge: its events are confirmed by JetStream and stored
        // by a writer, whose database this collector does not look into.
        final ResendWindow resends = cfg.ingest().resendWindow().isZero() || role == Role.EDGE ? null
            : ResendWindow.open(ps.spoolDir(), cfg.ingest().resendWindow(), cfg.ingest().resendWindowRequests(),
                cfg.ingest().resendWindowRows(), pipeline::whenResolved, () -> pipeline.stats().spooled() == 0,
                series::databaseDown, db.dataSource(), EventsTable.NAME, registry);
        if (resends != null) {
            services.push(Service.closing("resend window", resends), STOP);
        }
        final LineIngestor ingestor = new LineIngestor(pointWriter, metrics, badLines,
            uptime.heartbeats()::pingFromLine, cfg.ingest().ack(), cfg.ingest().ackTimeout(), resends);
        final StatusPage page = new StatusPage(cfg.ingest().token(), cfg.statusPage(), pipeline::stats,
            pipeline.ringCapacity(), readiness::databaseReachable, modulesDb, EventsTable.NAME, Instant::now,
            clock::instant);
        page.register(router);
        services.push(Service.closing("status page", page), STOP);
        final IngestListeners listeners = services.push(IngestListeners.start(cfg.ingest(), io, ingestor,
            saturation, readiness, metrics, badLines, router, tokens, registry, AuthThrottle.api(clock)), STOP);
        Banner.log(cfg, listeners, db, uptime.monitors().leases());
        return new Assembled(db, jetStream, drained, metrics, pointWriter, router, uptime, listeners);
    }
}
