package dev.spillway.collector;

import dev.spillway.collector.config.CollectorConfig;
import dev.spillway.collector.db.EmbeddedDatabase;
import dev.spillway.collector.nats.NatsSettings.Role;
import dev.spillway.ingest.CollectorMetrics;
import dev.spillway.ingest.PointWriter;
import dev.spillway.ingest.listen.IngestListeners;
import dev.spillway.runtime.api.ApiRouter;
import dev.spillway.runtime.lifecycle.ServiceStack;
import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.nats.NatsBatchConsumer;
import dev.spillway.uptime.Uptime;
import dev.spillway.uptime.transitions.StateTransitions;

import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;

/**
 * The composition root: picks the assembly for the configured shape ({@link DatabaseAssembly} for a collector
 * with a database, {@link NatsOnlyEdgeAssembly} for an edge with NATS only), which builds the modules in dependency
 * order and pushes each long-running part onto one {@link ServiceStack}; stopping runs that stack in reverse: the
 * inputs first, then the drain of the pipeline, and only then the connections and the database, so everything
 * that was acknowledged gets written. Embeddable: tests start it in-process with random ports.
 */
public final class Collector implements AutoCloseable {

    static final Duration STOP = Duration.ofSeconds(30);

    private final ServiceStack services;
    private final StateTransitions transitions;
    private final Assembled parts;
    private FinalAccount account;

    private Collector(ServiceStack services, StateTransitions transitions, Assembled parts) {
        this.services = services;
        this.transitions = transitions;
        this.parts = parts;
    }

    /** Starts everything; on failure stops what was started and rethrows. */
    public static Collector start(CollectorConfig config) throws Exception {
        return start(config, Clock.systemUTC());
    }

    /** Same, with the clock of heartbeat deadlines and notification scheduling (tests move it by hand). */
    public static Collector start(CollectorConfig config, Clock clock) throws Exception {
        final ServiceStack services = new ServiceStack();
        final StateTransitions transitions = new StateTransitions();
        try {
            final boolean natsOnlyEdge = config.nats().role() == Role.EDGE && config.database().embedded();
            return new Collector(services, transitions, natsOnlyEdge ? NatsOnlyEdgeAssembly.start(config, services)
                : DatabaseAssembly.start(config, clock, services, transitions));
        } catch (Exception | Error e) {
            services.stopAll();
            throw e;
        }
    }

    /** Bound HTTP address. */
    public InetSocketAddress httpAddress() {
        return parts.listeners().httpAddress();
    }

    /** Bound TCP address, or null when off. */
    public InetSocketAddress tcpAddress() {
        return parts.listeners().tcpAddress();
    }

    /** Bound UDP address, or null when off. */
    public InetSocketAddress udpAddress() {
        return parts.listeners().udpAddress();
    }

    /**
     * The JDBC URL the collector writes to (the embedded one when none was configured); null for an edge without a
     * database.
     */
    public String jdbcUrl() {
        return parts.db() == null ? null : parts.db().jdbcUrl();
    }

    /** The embedded database, or null when an external one is configured (or none: an edge without a database). */
    public EmbeddedDatabase embeddedDatabase() {
        return parts.db() == null ? null : parts.db().embedded();
    }

    /** The JetStream writer's consumer (its counters), or null unless the role is writer. */
    public NatsBatchConsumer jetStreamWriter() {
        return parts.jetStream() == null ? null : parts.jetStream().consumer();
    }

    /** The live pipeline accounting. */
    public PipelineStats stats() {
        return parts.pipeline().pipeline().stats();
    }

    /** The JSON API router, to add endpoints to. */
    public ApiRouter router() {
        return parts.router();
    }

    /** Heartbeats and monitors; null for an edge without a database. */
    public Uptime uptime() {
        return parts.uptime();
    }

    /** The HTTP, TCP and UDP listeners. */
    public IngestListeners listeners() {
        return parts.listeners();
    }

    /** The one point-writing API into the pipeline (for inputs started beside the built-in ones). */
    public PointWriter pointWriter() {
        return parts.pointWriter();
    }

    /** The transition log; add a listener to write outbox rows in the state change's transaction. */
    public StateTransitions transitions() {
        return transitions;
    }

    /** Lines accepted so far. */
    public long linesAccepted() {
        return parts.metrics().acceptedTotal();
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
            final PipelineStats stats = parts.pipeline().drained();
            final CollectorMetrics m = parts.metrics();
            account = stats == null ? null : new FinalAccount(m.acceptedTotal(), m.rejectedTotal(),
                m.stringsSkippedTotal(), stats);
        }
        return account;
    }

    /** Same as {@link #shutdown()}. */
    @Override
    public void close() {
        shutdown();
    }
}
