package dev.spillway.collector;

import dev.spillway.alerting.Alerting;
import dev.spillway.collector.config.CollectorConfig;
import dev.spillway.collector.config.PipelineSettings;
import dev.spillway.collector.nats.NatsSettings.Role;
import dev.spillway.collector.db.CollectorDatabase;
import dev.spillway.collector.db.CollectorSchema;
import dev.spillway.collector.db.EmbeddedDatabase;
import dev.spillway.collector.db.EventsTable;
import dev.spillway.collector.db.FailFastDataSource;
import dev.spillway.collector.nats.JetStreamRole;
import dev.spillway.ingest.BadLineLog;
import dev.spillway.ingest.CollectorMetrics;
import dev.spillway.ingest.HeartbeatLines;
import dev.spillway.ingest.auth.ApiTokens;
import dev.spillway.ingest.listen.IngestListeners;
import dev.spillway.ingest.LineIngestor;
import dev.spillway.ingest.listen.NetworkIo;
import dev.spillway.ingest.PointWriter;
import dev.spillway.ingest.Saturation;
import dev.spillway.ingest.ReadinessProbe;
import dev.spillway.ingest.resend.ResendWindow;
import dev.spillway.ingest.series.LocalSeriesStore;
import dev.spillway.ingest.series.SeriesRegistry;
import dev.spillway.runtime.api.ApiRouter;
import dev.spillway.runtime.api.AuthThrottle;
import dev.spillway.runtime.lifecycle.Service;
import dev.spillway.runtime.lifecycle.ServiceStack;
import dev.spillway.statuspage.StatusPage;
import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.nats.NatsBatchConsumer;
import dev.spillway.telemetry.sink.RetryPolicy;
import dev.spillway.telemetry.timescale.TimescaleSink;
import dev.spillway.uptime.Uptime;
import dev.spillway.uptime.transitions.StateTransitions;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import javax.sql.DataSource;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;

/**
 * The composition root: builds the modules in dependency order (database, series, pipeline, alerting, uptime,
 * status page, listeners), pushing each long-running part onto one {@link ServiceStack}, and stops them in reverse:
 * the inputs first, then the drain of the pipeline, and only then the connections and the database, so everything
 * that was acknowledged gets written. Embeddable: tests start it in-process with random ports.
 */
public final class Collector implements AutoCloseable {

    private static final int SERIES_THREADS = 2;
    // How often series sequence reservations are topped up (each reserves ~8 rounds of its rate ahead).
    private static final Duration SEQUENCE_RESERVE_INTERVAL = Duration.ofMillis(250);
    // JSON API: handler threads, requests that may wait for one, largest body.
    private static final int API_THREADS = 4;
    private static final int API_QUEUE = 256;
    private static final int API_MAX_BODY = 1 << 20;
    private static final Duration STOP = Duration.ofSeconds(30);

    private final ServiceStack services = new ServiceStack();
    private final StateTransitions transitions = new StateTransitions();
    private final Clock clock;
    private CollectorDatabase db;
    private JetStreamRole jetStream;
    private Pipeline pipeline;
    private volatile PipelineStats drained;
    private CollectorMetrics metrics;
    private PointWriter pointWriter;
    private ApiRouter router;
    private Uptime uptime;
    private IngestListeners listeners;
    private FinalAccount account;

    private Collector(Clock clock) {
        this.clock = clock;
    }

    /** Starts everything; on failure stops what was started and rethrows. */
    public static Collector start(CollectorConfig config) throws Exception {
        return start(config, Clock.systemUTC());
    }

    /** Same, with the clock of heartbeat deadlines and notification scheduling (tests move it by hand). */
    public static Collector start(CollectorConfig config, Clock clock) throws Exception {
        final Collector c = new Collector(clock);
        try {
            c.startAll(config);
            return c;
        } catch (Exception | Error e) {
            c.services.stopAll();
            throw e;
        }
    }

    private void startAll(CollectorConfig cfg) throws Exception {
        final Role role = cfg.nats().role();
        if (role == Role.EDGE && cfg.database().embedded()) {
            startNatsOnlyEdge(cfg);
            return;
        }
        final PipelineSettings ps = cfg.pipeline();
        db = CollectorDatabase.open(services, cfg.database(),
            ps.workers() + (role == Role.WRITER ? cfg.nats().writerThreads() : 0), SERIES_THREADS);
        if (cfg.nats().usesNats()) {
            jetStream = JetStreamRole.connect(cfg.nats(), "spillway-" + role.name().toLowerCase(Locale.ROOT));
            services.push(Service.closing("NATS connection", jetStream), STOP);
        }
        final TimescaleSink sink = EventsTable.sink(cfg.database(), db.dataSource(), EventsTable.ledgerRetention(
            ps.retryMaxElapsed(),
            role == Role.WRITER ? JetStreamRole.writerLedgerRetention(cfg.nats()) : Duration.ZERO)).build();
        EventsTable.reportNotApplicable(cfg.database(), sink.isTimescale());
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
        metrics = new CollectorMetrics(registry, series);
        final NetworkIo io = services.push(new NetworkIo(), Duration.ofSeconds(10));
        pipeline = Pipeline.builder().name("collector")
            // An edge publishes to JetStream; either way events of series first seen during an outage get their
            // catalogue ids on the way out.
            .sink(series.resolvingSink(role == Role.EDGE ? jetStream.edgeSink(registry) : sink))
            .ringSize(ps.ringSize()).batchSize(ps.batchSize()).flushInterval(ps.flushInterval())
            .workers(ps.workers()).overflowPolicy(ps.overflowPolicy())
            .retryPolicy(RetryPolicy.builder().maxAttempts(ps.retryAttempts()).maxElapsed(ps.retryMaxElapsed()).build())
            .closeTimeout(ps.closeTimeout()).meterRegistry(registry).spool(ps.spool()).build();
        services.push(Service.of("pipeline", d -> {
            drained = pipeline.close(ps.closeTimeout()); // everything accepted reaches the sink or is counted
            return drained.isBalanced();
        }), ps.closeTimeout().plus(STOP));
        if (role == Role.WRITER) {
            // Shares the pipeline's sink: consumed batches carry the edges' ledger keys, never this run's.
            jetStream.startWriter(sink, db.dataSource(), EventsTable.NAME, registry);
            services.push(jetStream.writer(ps.closeTimeout()), ps.closeTimeout().plus(STOP));
        }
        final Saturation saturation = new Saturation(pipeline, cfg.ingest().highWaterMark());
        // The one way into the pipeline: line protocol, probes and heartbeats all write through it.
        pointWriter = new PointWriter(pipeline, series, saturation, registry);
        router = new ApiRouter(API_MAX_BODY, API_THREADS, API_QUEUE);
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
        uptime = Uptime.start(cfg.uptime(), modulesDb, transitions, alerting, alerting::wakeup, pointWriter, clock,
            router, tokens, registry, services, cfg.duties().monitors(), cfg.duties().heartbeats(),
            new dev.spillway.alerting.Maintenance(modulesDb).forReports());
        final BadLineLog badLines = new BadLineLog(10_000);
        // Resent HTTP bodies store each line once. Not on an edge: its events are confirmed by JetStream and stored
        // by a writer, whose database this collector does not look into.
        final ResendWindow resends = cfg.ingest().resendWindow().isZero() || role == Role.EDGE ? null
            : ResendWindow.open(ps.spoolDir(), cfg.ingest().resendWindow(), cfg.ingest().resendWindowRequests(),
                cfg.ingest().resendWindowRows(), pipeline::whenResolved, () -> pipeline.stats().spooled() == 0, series::databaseDown, db.dataSource(),
                EventsTable.NAME, registry);
        if (resends != null) {
            services.push(Service.closing("resend window", resends), STOP);
        }
        final LineIngestor ingestor = new LineIngestor(pointWriter, metrics, badLines, uptime.heartbeats()::pingFromLine,
            cfg.ingest().ack(), cfg.ingest().ackTimeout(), resends);
        final StatusPage page = new StatusPage(cfg.ingest().token(), cfg.statusPage(), pipeline::stats,
            pipeline.ringCapacity(), readiness::databaseReachable, modulesDb, EventsTable.NAME, Instant::now,
            clock::instant);
        page.register(router);
        services.push(Service.closing("status page", page), STOP);
        listeners = services.push(IngestListeners.start(cfg.ingest(), io, ingestor, saturation, readiness, metrics,
            badLines, router, tokens, registry, AuthThrottle.api(clock)), STOP);
        Banner.log(cfg, listeners, db, uptime.monitors().leases());
    }

    /**
     * An edge without a database: series numbered locally (kept in the series store beside the spool) and announced
     * on NATS, batches published to JetStream, writers file and map both. It takes line protocol (HTTP, TCP, UDP)
     * and serves {@code /health}, {@code /ready}, {@code /metrics}; the APIs that live in the database (monitors,
     * services, channels, tokens, the status page) are the writers'. Heartbeat lines are stored as points; the
     * ping itself is recorded only by a collector with a database.
     */
    private void startNatsOnlyEdge(CollectorConfig cfg) throws Exception {
        final PipelineSettings ps = cfg.pipeline();
        jetStream = JetStreamRole.connect(cfg.nats(), "spillway-edge");
        services.push(Service.closing("NATS connection", jetStream), STOP);
        final LocalSeriesStore seriesStore = openSeriesStore(ps.spoolDir());
        services.push(Service.closing("series store", seriesStore), STOP);
        final SeriesRegistry series = SeriesRegistry.edge(seriesStore, cfg.ingest().maxSeries(), SERIES_THREADS,
            SEQUENCE_RESERVE_INTERVAL, jetStream.seriesAnnouncer(seriesStore.instance()));
        services.push(series, STOP);
        final PrometheusMeterRegistry registry = CollectorMeters.create();
        services.push(Service.closing("JVM meters", CollectorMeters.bindJvm(registry)), STOP);
        metrics = new CollectorMetrics(registry, series);
        final NetworkIo io = services.push(new NetworkIo(), Duration.ofSeconds(10));
        pipeline = Pipeline.builder().name("collector")
            .sink(jetStream.edgeSink(registry, seriesStore.instance()))
            .ringSize(ps.ringSize()).batchSize(ps.batchSize()).flushInterval(ps.flushInterval())
            .workers(ps.workers()).overflowPolicy(ps.overflowPolicy())
            .retryPolicy(RetryPolicy.builder().maxAttempts(ps.retryAttempts()).maxElapsed(ps.retryMaxElapsed()).build())
            .closeTimeout(ps.closeTimeout()).meterRegistry(registry).spool(ps.spool()).build();
        services.push(Service.of("pipeline", d -> {
            drained = pipeline.close(ps.closeTimeout());
            return drained.isBalanced();
        }), ps.closeTimeout().plus(STOP));
        final Saturation saturation = new Saturation(pipeline, cfg.ingest().highWaterMark());
        pointWriter = new PointWriter(pipeline, series, saturation, registry);
        router = new ApiRouter(API_MAX_BODY, API_THREADS, API_QUEUE);
        services.push(Service.closing("API router", router), STOP);
        final ReadinessProbe readiness = new ReadinessProbe(null, pipeline, () -> null, jetStream::edgeProblem);
        services.push(Service.closing("readiness probe", readiness), STOP);
        final ApiTokens tokens = ApiTokens.withoutDatabase();
        services.push(Service.closing("API tokens", tokens), STOP);
        final BadLineLog badLines = new BadLineLog(10_000);
        // Resent bodies store each line once here too: what an earlier run took is looked up through a writer once
        // the stream holds none of that run's batches.
        final ResendWindow resends = cfg.ingest().resendWindow().isZero() ? null
            : ResendWindow.open(ps.spoolDir(), cfg.ingest().resendWindow(), cfg.ingest().resendWindowRequests(),
                cfg.ingest().resendWindowRows(), pipeline::whenResolved,
                jetStream.edgeSettled(() -> pipeline.stats().spooled()), jetStream.edgeLookup(seriesStore.instance()),
                registry);
        if (resends != null) {
            services.push(Service.closing("resend window", resends), STOP);
        }
        final LineIngestor ingestor = new LineIngestor(pointWriter, metrics, badLines, HeartbeatLines.NONE,
            cfg.ingest().ack(), cfg.ingest().ackTimeout(), resends);
        listeners = services.push(IngestListeners.start(cfg.ingest(), io, ingestor, saturation, readiness, metrics,
            badLines, router, tokens, registry, AuthThrottle.api(clock)), STOP);
        Banner.logEdge(cfg, listeners, seriesStore);
    }

    /** The spool directory's series store; a second process on the same directory is told which option to set. */
    private static LocalSeriesStore openSeriesStore(java.nio.file.Path dir) throws java.io.IOException {
        try {
            return LocalSeriesStore.openCatalogue(dir);
        } catch (java.io.IOException e) {
            if (e.getMessage() != null && e.getMessage().contains("locked by another process")) {
                throw new dev.spillway.runtime.config.ConfigException("the spool directory " + dir
                    + " is in use by another collector; give each collector on this host its own --spool-dir");
            }
            throw e;
        }
    }

    /** Bound HTTP address. */
    public InetSocketAddress httpAddress() {
        return listeners.httpAddress();
    }

    /** Bound TCP address, or null when off. */
    public InetSocketAddress tcpAddress() {
        return listeners.tcpAddress();
    }

    /** Bound UDP address, or null when off. */
    public InetSocketAddress udpAddress() {
        return listeners.udpAddress();
    }

    /**
     * The JDBC URL the collector writes to (the embedded one when none was configured); null for an edge without a
     * database.
     */
    public String jdbcUrl() {
        return db == null ? null : db.jdbcUrl();
    }

    /** The embedded database, or null when an external one is configured (or none: an edge without a database). */
    public EmbeddedDatabase embeddedDatabase() {
        return db == null ? null : db.embedded();
    }

    /** The JetStream writer's consumer (its counters), or null unless the role is writer. */
    public NatsBatchConsumer jetStreamWriter() {
        return jetStream == null ? null : jetStream.consumer();
    }

    /** The live pipeline accounting. */
    public PipelineStats stats() {
        return pipeline.stats();
    }

    /** The JSON API router, to add endpoints to. */
    public ApiRouter router() {
        return router;
    }

    /** Heartbeats and monitors; null for an edge without a database. */
    public Uptime uptime() {
        return uptime;
    }

    /** The HTTP, TCP and UDP listeners. */
    public IngestListeners listeners() {
        return listeners;
    }

    /** The one point-writing API into the pipeline (for inputs started beside the built-in ones). */
    public PointWriter pointWriter() {
        return pointWriter;
    }

    /** The transition log; add a listener to write outbox rows in the state change's transaction. */
    public StateTransitions transitions() {
        return transitions;
    }

    /** Lines accepted so far. */
    public long linesAccepted() {
        return metrics.acceptedTotal();
    }

    /**
     * Stops every service in reverse start order: inputs, monitors, alerting, the drain of the pipeline, then the
     * connections and the database. Idempotent.
     *
     * @return the final account, or null when the pipeline never started
     */
    public synchronized FinalAccount shutdown() {
        if (account == null) {
            services.stopAll();
            final PipelineStats stats = drained;
            account = stats == null ? null : new FinalAccount(metrics.acceptedTotal(), metrics.rejectedTotal(),
                metrics.stringsSkippedTotal(), stats);
        }
        return account;
    }

    /** Same as {@link #shutdown()}. */
    @Override
    public void close() {
        shutdown();
    }
}
