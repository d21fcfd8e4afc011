package dev.spillway.collector;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.spillway.collector.api.ApiRouter;
import dev.spillway.collector.config.AlertingConfig;
import dev.spillway.collector.config.CollectorConfig;
import dev.spillway.collector.config.NatsSettings;
import dev.spillway.collector.nats.JetStreamRole;
import dev.spillway.collector.heartbeat.HeartbeatApi;
import dev.spillway.collector.heartbeat.Heartbeats;
import dev.spillway.collector.notify.Channel;
import dev.spillway.collector.notify.ChannelKind;
import dev.spillway.collector.notify.ChannelStore;
import dev.spillway.collector.notify.Messages;
import dev.spillway.collector.notify.MonitorNotifications;
import dev.spillway.collector.notify.NotifyApi;
import dev.spillway.collector.notify.NotifySettings;
import dev.spillway.collector.notify.OutboxRelay;
import dev.spillway.collector.db.CollectorSchema;
import dev.spillway.collector.db.DataDirectoryLock;
import dev.spillway.collector.db.EmbeddedDatabase;
import dev.spillway.collector.db.EventsTable;
import dev.spillway.collector.http.HttpApi;
import dev.spillway.collector.http.HttpLimits;
import dev.spillway.collector.http.HttpServer;
import dev.spillway.collector.http.ReadinessProbe;
import dev.spillway.collector.ingest.BadLineLog;
import dev.spillway.collector.ingest.CollectorMetrics;
import dev.spillway.collector.ingest.LineIngestor;
import dev.spillway.collector.ingest.Saturation;
import dev.spillway.collector.monitor.MonitorApi;
import dev.spillway.collector.monitor.MonitorFile;
import dev.spillway.collector.monitor.MonitorService;
import dev.spillway.collector.monitor.MonitorSpec;
import dev.spillway.collector.page.StatusPage;
import dev.spillway.collector.points.PointWriter;
import dev.spillway.collector.series.SeriesRegistry;
import dev.spillway.collector.tcp.TcpServer;
import dev.spillway.collector.transitions.StateTransitions;
import dev.spillway.collector.udp.UdpServer;
import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.nats.NatsBatchConsumer;
import dev.spillway.telemetry.sink.RetryPolicy;
import dev.spillway.telemetry.sink.Sink;
import dev.spillway.telemetry.timescale.TimescaleSink;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.GlobalEventExecutor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetSocketAddress;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The running collector: inputs (HTTP, TCP, UDP) → line-protocol parsing and series resolution → pipeline →
 * PostgreSQL/TimescaleDB output. {@link #start} brings everything up in dependency order; {@link #close} stops
 * the inputs first, drains the pipeline, and only then closes the database, so everything that was acknowledged
 * gets written.
 *
 * <p>Embeddable: tests start it in-process with random ports ({@code --http 127.0.0.1:0}).
 */
public final class Collector implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Collector.class);
    private static final String EVENTS_TABLE = EventsTable.NAME;
    private static final int SERIES_THREADS = 2;
    // How often series sequence reservations are topped up (each reserves ~8 rounds of its rate ahead).
    private static final Duration SEQUENCE_RESERVE_INTERVAL = Duration.ofMillis(250);
    // Requests read ahead on one HTTP connection; clients rarely pipeline more than a few.
    private static final int MAX_PIPELINED = 16;
    // JSON API: handler threads, requests that may wait for one, largest body.
    private static final int API_THREADS = 4;
    private static final int API_QUEUE = 256;
    private static final int API_MAX_BODY = 1 << 20;
    // Connections beyond the sink's and the series threads': API handlers, monitor state changes, the
    // notification relay (one held while it waits for a webhook) and heartbeat state changes.
    private static final int EXTRA_CONNECTIONS = 5;
    /** How often heartbeat ping times are persisted and deadlines checked. */
    private static final Duration HEARTBEAT_TICK = Duration.ofSeconds(1);

    private final Object closeLock = new Object();
    private CollectorConfig config;
    private DataDirectoryLock dataDirLock;
    private EmbeddedDatabase embedded;
    private HikariDataSource dataSource;
    private SeriesRegistry series;
    private JetStreamRole jetStream;
    private Pipeline pipeline;
    private CollectorMetrics metrics;
    private PointWriter pointWriter;
    private ApiRouter router;
    private MonitorService monitors;
    private final StateTransitions transitions = new StateTransitions();
    private final Clock clock;
    private OutboxRelay relay;
    private Heartbeats heartbeats;
    private ExecutorService ingestExecutor;
    private ExecutorService streamExecutor;
    private JvmGcMetrics gcMetrics;
    private EventLoopGroup boss;
    private EventLoopGroup workers;
    private ChannelGroup connections;
    private HttpServer http;
    private TcpServer tcp;
    private BadLineLog badLines;
    private UdpServer udp;
    private ReadinessProbe readiness;
    private StatusPage page;
    private String jdbcUrl;
    private String dbUser;
    private FinalAccount account;

    private Collector(Clock clock) {
        this.clock = clock;
    }

    /**
     * Starts everything; on failure closes what was started and rethrows.
     *
     * @throws Exception when the database, the schema or a listener cannot be brought up
     */
    public static Collector start(CollectorConfig config) throws Exception {
        return start(config, Clock.systemUTC());
    }

    /**
     * Starts everything with the given clock for heartbeat deadlines and notification scheduling (tests move it
     * by hand); on failure closes what was started and rethrows.
     *
     * @throws Exception when the database, the schema or a listener cannot be brought up
     */
    public static Collector start(CollectorConfig config, Clock clock) throws Exception {
        final Collector c = new Collector(clock);
        try {
            c.startAll(config);
            return c;
        } catch (Exception | Error e) {
            c.abort();
            throw e;
        }
    }

    private void startAll(CollectorConfig cfg) throws Exception {
        this.config = cfg;
        final String dbPassword;
        if (cfg.embeddedDatabase()) {
            // First of all: a second collector on this directory stops here, before any port or process.
            dataDirLock = DataDirectoryLock.acquire(cfg.dataDir());
            embedded = EmbeddedDatabase.start(cfg.dataDir(), cfg.dbPort());
            jdbcUrl = embedded.jdbcUrl();
            dbUser = embedded.user();
            dbPassword = embedded.password();
        } else {
            jdbcUrl = cfg.jdbcUrl();
            dbUser = cfg.dbUser();
            dbPassword = cfg.dbPassword();
        }
        final NatsSettings.Role role = cfg.nats().role();
        dataSource = pool(jdbcUrl, dbUser, dbPassword,
            cfg.workers() + (role == NatsSettings.Role.WRITER ? cfg.nats().writerThreads() : 0));
        if (cfg.nats().usesNats()) {
            jetStream = JetStreamRole.connect(cfg.nats(), "spillway-" + role.name().toLowerCase(java.util.Locale.ROOT));
        }
        // The dedup ledger must outlive the longest retry of a batch, and for a writer, the longest time a batch can
        // wait in the stream to be redelivered.
        final TimescaleSink sink = EventsTable.sink(cfg, dataSource, max(max(Duration.ofHours(1),
                cfg.retryMaxElapsed().multipliedBy(2)),
            role == NatsSettings.Role.WRITER ? JetStreamRole.writerLedgerRetention(cfg.nats()) : Duration.ZERO))
            .build();
        EventsTable.reportNotApplicable(cfg, sink.isTimescale());
        CollectorSchema.create(dataSource, EVENTS_TABLE);
        series = new SeriesRegistry(dataSource, cfg.maxSeries(), SERIES_THREADS, SEQUENCE_RESERVE_INTERVAL);

        final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        // promtool's lint refuses two of Micrometer's standard names: a "_count" gauge and an abbreviated unit.
        registry.config()
            .meterFilter(MeterFilter.deny(id -> id.getName().equals("process.cpu.time"))) // process_cpu_usage stays
            .meterFilter(new MeterFilter() {
                @Override
                public Meter.Id map(Meter.Id id) {
                    return id.getName().equals("system.cpu.count") ? id.withName("system.cpu.processors") : id;
                }
            });
        // The JVM and the process, as every Micrometer-based service exposes them (jvm_*, process_*, system_*).
        new ClassLoaderMetrics().bindTo(registry);
        new JvmMemoryMetrics().bindTo(registry);
        gcMetrics = new JvmGcMetrics();
        gcMetrics.bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        new FileDescriptorMetrics().bindTo(registry);
        metrics = new CollectorMetrics(registry, series);
        // An edge publishes its batches to JetStream; the other roles write them to the database.
        final Sink pipelineSink = role == NatsSettings.Role.EDGE ? jetStream.edgeSink(registry) : sink;
        pipeline = Pipeline.builder()
            .name("collector")
            .sink(pipelineSink)
            .ringSize(cfg.ringSize())
            .batchSize(cfg.batchSize())
            .flushInterval(cfg.flushInterval())
            .workers(cfg.workers())
            .overflowPolicy(cfg.overflowPolicy())
            .retryPolicy(RetryPolicy.builder().maxAttempts(cfg.retryAttempts()).maxElapsed(cfg.retryMaxElapsed())
                .build())
            .closeTimeout(cfg.closeTimeout())
            .meterRegistry(registry)
            .spool(cfg.spool())
            .build();
        if (role == NatsSettings.Role.WRITER) {
            // Shares the pipeline's sink: consumed batches carry the edges' ledger keys, never this run's.
            jetStream.startWriter(sink, registry);
        }
        badLines = new BadLineLog(10_000);
        final Saturation saturation = new Saturation(pipeline, cfg.highWaterMark());
        // The one way into the pipeline: line protocol, probes and heartbeats all write through it.
        pointWriter = new PointWriter(pipeline, series, saturation, registry);
        router = new ApiRouter(API_MAX_BODY, API_THREADS, API_QUEUE);
        // Alerting first: its transition listener must be in place before the first monitor check can flip.
        startAlerting(cfg, registry);
        if (cfg.monitorsFile() != null) {
            final java.util.List<MonitorSpec> declared = MonitorFile.read(cfg.monitorsFile());
            MonitorService.applyFile(dataSource, declared);
            LOG.info("--monitors: {} monitors from {} applied", declared.size(), cfg.monitorsFile());
        }
        monitors = new MonitorService(dataSource, pointWriter, transitions, registry, new MonitorService.Settings(
            cfg.probeConcurrency(), cfg.probeKeepAlive(), cfg.monitorReloadInterval()));
        MonitorApi.register(router, monitors);
        final LineIngestor ingestor = new LineIngestor(pointWriter, metrics, badLines, heartbeats::pingFromLine,
            cfg.ack(), cfg.ackTimeout());
        // An edge is ready only while JetStream answers: its batches go there, not to the database.
        readiness = new ReadinessProbe(dataSource, pipeline, embedded == null ? () -> null : embedded::problem,
            role == NatsSettings.Role.EDGE ? jetStream::edgeProblem : null);
        final AtomicInteger n = new AtomicInteger();
        // Bounded: when every thread is busy and the queue is full, new writes get 503 instead of piling up.
        ingestExecutor = new ThreadPoolExecutor(cfg.ingestThreads(), cfg.ingestThreads(), 0, TimeUnit.SECONDS,
            new ArrayBlockingQueue<>(cfg.ingestThreads() * 16), r -> {
                final Thread t = new Thread(r, "ingest-" + n.incrementAndGet());
                t.setDaemon(true);
                return t;
            });
        // TCP batches: at most one task per connection is queued, so the queue is bounded by the connections.
        final AtomicInteger s = new AtomicInteger();
        streamExecutor = new ThreadPoolExecutor(cfg.ingestThreads(), cfg.ingestThreads(), 0, TimeUnit.SECONDS,
            new java.util.concurrent.LinkedBlockingQueue<>(), r -> {
                final Thread t = new Thread(r, "tcp-ingest-" + s.incrementAndGet());
                t.setDaemon(true);
                return t;
            });
        boss = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("accept", true), NioIoHandler.newFactory());
        workers = new MultiThreadIoEventLoopGroup(0, new DefaultThreadFactory("io", true), NioIoHandler.newFactory());
        connections = new DefaultChannelGroup("connections", GlobalEventExecutor.INSTANCE);
        page = new StatusPage(cfg.token(), cfg.publicStatusPage(), pipeline::stats, pipeline.ringCapacity(),
            readiness::databaseReachable, dataSource, EVENTS_TABLE, java.time.Instant::now);
        page.register(router);
        final HttpApi api = new HttpApi(ingestor, ingestExecutor, saturation,
            readiness, registry, metrics, cfg.token(), cfg.maxDecompressedSize(), router);
        http = HttpServer.start(cfg.http(), boss, workers, api, new HttpLimits(cfg.maxBodySize(),
            cfg.httpMaxConnections(), cfg.httpMaxBuffered(), MAX_PIPELINED, cfg.httpHeaderTimeout(),
            cfg.httpReadTimeout(), cfg.httpIdleTimeout()), connections, registry);
        if (cfg.tcp() != null) {
            tcp = TcpServer.start(cfg.tcp(), boss, workers, ingestor, metrics, badLines, cfg.maxLineLength(),
                cfg.tcpIdleTimeout(), cfg.tcpMaxConnections(), connections, streamExecutor, registry);
        }
        if (cfg.udp() != null) {
            udp = UdpServer.start(cfg.udp(), workers, ingestor, cfg.udpReceiveBuffer(), registry);
        }
        logBanner();
    }

    /**
     * Notifications (outbox relay, channels, the monitor-transition listener) and heartbeats, with their routes.
     * The relay starts last, so rows left pending by an earlier run are sent once everything is up.
     */
    private void startAlerting(CollectorConfig cfg, PrometheusMeterRegistry registry) throws SQLException {
        final AlertingConfig a = cfg.alerting();
        relay = new OutboxRelay(dataSource, new Messages(a.publicUrl()),
            NotifySettings.defaults().withMaxAge(a.notifyMaxAge()), clock, () -> ThreadLocalRandom.current().nextDouble(),
            registry);
        if (a.slackWebhook() != null) {
            final Channel slack = new ChannelStore(dataSource).ensure("slack", ChannelKind.SLACK, a.slackWebhook());
            if (!slack.enabled()) {
                LOG.warn("notification channel 'slack' stays disabled since {}: {} (same --slack-webhook; re-enable "
                    + "with PUT /api/v1/channels/slack or give a new URL)", slack.disabledAt(), slack.disabledReason());
            }
        }
        transitions.addListener(new MonitorNotifications(clock, relay::wakeup));
        heartbeats = new Heartbeats(dataSource, transitions, pointWriter.producer("heartbeat"), clock,
            HEARTBEAT_TICK, relay::wakeup, registry);
        heartbeats.start();
        new HeartbeatApi(heartbeats).register(router);
        new NotifyApi(dataSource, relay::wakeup).register(router);
        relay.start();
    }

    private static HikariDataSource pool(String url, String user, String password, int sinkWorkers) {
        final HikariConfig hc = new HikariConfig();
        hc.setJdbcUrl(url);
        hc.setUsername(user);
        hc.setPassword(password);
        hc.setPoolName("collector-db");
        // One per sink worker, one per series thread, one for the readiness probe, and the API's and state's.
        hc.setMaximumPoolSize(sinkWorkers + SERIES_THREADS + 1 + EXTRA_CONNECTIONS);
        hc.setConnectionTimeout(5_000);
        hc.setInitializationFailTimeout(10_000);
        return new HikariDataSource(hc);
    }

    private static Duration max(Duration a, Duration b) {
        final Duration m = a.compareTo(b) >= 0 ? a : b;
        return m.compareTo(Duration.ofDays(30)) > 0 ? Duration.ofDays(30) : m;
    }

    private void logBanner() {
        LOG.info("spillway collector ready: {}", config);
        LOG.info("HTTP listening on http://{} (POST /api/v2/write, POST /write, /ping, /health, /ready, /metrics, "
                + "/api/v1/monitors, /api/v1/status){}",
            hostPort(http.address()), config.authRequired() ? "; token required" : "");
        LOG.info("status page: http://{}/{}", hostPort(http.address()), !config.authRequired() ? ""
            : config.publicStatusPage() ? " (public, read-only)" : " (sign in with the token)");
        if (tcp != null) {
            LOG.info("TCP line protocol listening on {}", hostPort(tcp.address()));
        }
        if (udp != null) {
            LOG.info("UDP line protocol listening on {}", hostPort(udp.address()));
        }
        if (embedded != null) {
            LOG.info("query the data: PGPASSFILE={} psql -h 127.0.0.1 -p {} -U {} postgres -c \"SELECT * FROM telemetry "
                + "ORDER BY time DESC LIMIT 10\" (superuser: -U postgres; both passwords are in that file)",
                embedded.passwordFile(), embedded.port(), embedded.user());
        } else {
            LOG.info("writing to {} as {}; query the view: SELECT * FROM telemetry ORDER BY time DESC LIMIT 10",
                config.maskedJdbcUrl(), dbUser);
        }
    }

    private static String hostPort(InetSocketAddress a) {
        return a.getAddress().getHostAddress() + ":" + a.getPort();
    }

    /** Bound HTTP address. */
    public InetSocketAddress httpAddress() {
        return http.address();
    }

    /** Request bytes the HTTP server holds now (received, not yet answered). */
    public long httpBufferedBytes() {
        return http.bufferedBytes();
    }

    /** Open HTTP connections. */
    public int httpConnections() {
        return http.openConnections();
    }

    /** Bound TCP address, or null when off. */
    public InetSocketAddress tcpAddress() {
        return tcp == null ? null : tcp.address();
    }

    /** Bound UDP address, or null when off. */
    public InetSocketAddress udpAddress() {
        return udp == null ? null : udp.address();
    }

    /** The JDBC URL the collector writes to (the embedded one when none was configured). */
    public String jdbcUrl() {
        return jdbcUrl;
    }

    /** The JetStream writer's consumer (its counters), or null unless the role is writer. */
    public NatsBatchConsumer jetStreamWriter() {
        return jetStream == null ? null : jetStream.consumer();
    }

    /** The embedded database, or null when an external one is configured. */
    public EmbeddedDatabase embeddedDatabase() {
        return embedded;
    }

    /** The live pipeline accounting. */
    public PipelineStats stats() {
        return pipeline.stats();
    }

    /** The heartbeat engine (for tests: drive a tick after moving the clock). */
    public Heartbeats heartbeats() {
        return heartbeats;
    }

    /** The notification relay (for tests: drain a round). */
    public OutboxRelay relay() {
        return relay;
    }

    /** The one point-writing API into the pipeline (for inputs started beside the built-in ones). */
    public PointWriter pointWriter() {
        return pointWriter;
    }

    /** The JSON API router, to add endpoints to. */
    public ApiRouter router() {
        return router;
    }

    /** The monitors (probes, their state and API). */
    public MonitorService monitors() {
        return monitors;
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
     * Stops the inputs, lets in-flight requests finish, drains the pipeline into the database, then closes the
     * database. Idempotent.
     *
     * @return the final account
     */
    public FinalAccount shutdown() {
        synchronized (closeLock) {
            if (account != null) {
                return account;
            }
            // 1. No new connections or datagrams.
            for (Runnable stop : new Runnable[] {
                () -> { if (http != null) { http.stopAccepting(); } },
                () -> { if (tcp != null) { tcp.stopAccepting(); } },
                () -> { if (udp != null) { udp.stopAccepting(); } },
                // Monitors are an input too: no new checks; results of finished checks reach the pipeline.
                () -> { if (monitors != null) { monitors.close(); } }}) {
                quietly(stop);
            }
            // 2. Requests already being processed finish and get their answer; queued ones and TCP batches too.
            for (ExecutorService e : new ExecutorService[] {ingestExecutor, streamExecutor}) {
                if (e != null) {
                    e.shutdown();
                    try {
                        if (!e.awaitTermination(30, TimeUnit.SECONDS)) {
                            LOG.warn("in-flight requests did not finish in 30s");
                        }
                    } catch (InterruptedException ie) {
                        Thread.currentThread().interrupt();
                    }
                }
            }
            // Heartbeats persist the ping times still in memory; the relay stops (a send in flight stays pending).
            closeAlerting();
            // 3. A writer stops consuming: the batch in hand is committed and acked, fetched ones are given back.
            if (jetStream != null) {
                quietly(() -> jetStream.stopConsuming(config.closeTimeout()));
            }
            // 4. Drain: everything accepted reaches the database or JetStream (or is counted as failed).
            final PipelineStats stats = pipeline != null ? pipeline.close(config.closeTimeout()) : null;
            // 5. Connections (keep-alive HTTP, TCP) go only now, so responses written above were flushed.
            if (connections != null) {
                quietly(() -> connections.close().awaitUninterruptibly(5, TimeUnit.SECONDS));
            }
            // Every line is in by now: say how many rejected lines the rate limit kept out of the log.
            if (badLines != null) {
                quietly(badLines::flush);
            }
            // 5. Nothing takes sequence numbers any more: save each series' exact next one (no gap on restart).
            if (series != null && stats != null) {
                quietly(() -> {
                    try {
                        series.saveSequences();
                    } catch (java.sql.SQLException e) {
                        throw new IllegalStateException("could not save sequences (the next run continues from "
                            + "the reserved limits, leaving a gap)", e);
                    }
                });
            }
            abort();
            account = stats == null ? null : new FinalAccount(metrics.acceptedTotal(), metrics.rejectedTotal(),
                metrics.stringsSkippedTotal(), stats);
            return account;
        }
    }

    /** Same as {@link #shutdown()}. */
    @Override
    public void close() {
        shutdown();
    }

    private void closeAlerting() {
        if (heartbeats != null) {
            quietly(heartbeats::close);
        }
        if (relay != null) {
            quietly(relay::close);
        }
    }

    /** Releases everything still open, in reverse start order. */
    private void abort() {
        closeAlerting();
        if (pipeline != null) {
            quietly(pipeline::close);
        }
        if (workers != null) {
            quietly(() -> workers.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS));
        }
        if (boss != null) {
            quietly(() -> boss.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS));
        }
        if (ingestExecutor != null) {
            ingestExecutor.shutdownNow();
        }
        if (streamExecutor != null) {
            streamExecutor.shutdownNow();
        }
        if (jetStream != null) {
            quietly(() -> {
                try {
                    jetStream.close();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
        }
        if (page != null) {
            quietly(page::close);
        }
        if (router != null) {
            quietly(router::close);
        }
        if (monitors != null) {
            quietly(monitors::close);
        }
        if (readiness != null) {
            quietly(readiness::close);
        }
        if (gcMetrics != null) {
            quietly(gcMetrics::close);
        }
        if (series != null) {
            quietly(series::close);
        }
        if (dataSource != null) {
            quietly(dataSource::close);
        }
        if (embedded != null) {
            quietly(() -> {
                try {
                    embedded.close();
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
        }
        if (dataDirLock != null) {
            quietly(() -> {
                try {
                    dataDirLock.close();
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
        }
    }

    private static void quietly(Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            LOG.warn("shutdown step failed: {}", e.toString());
        }
    }
}
