package dev.spillway.collector.nats;

import dev.spillway.ingest.resend.ResendWindow;
import dev.spillway.ingest.series.EdgeOrigin;
import dev.spillway.ingest.series.EdgeSeriesCatalogue;
import dev.spillway.ingest.series.SeriesAnnouncer;
import dev.spillway.runtime.lifecycle.Service;
import dev.spillway.collector.nats.NatsSettings;
import dev.spillway.runtime.log.RateLimitedLog;
import dev.spillway.telemetry.nats.JetStreamTopology;
import dev.spillway.telemetry.nats.NatsBatchConsumer;
import dev.spillway.telemetry.nats.NatsSink;
import dev.spillway.telemetry.timescale.TimescaleSink;
import io.micrometer.core.instrument.MeterRegistry;
import io.nats.client.Connection;
import io.nats.client.ConnectionListener;
import io.nats.client.ErrorListener;
import io.nats.client.JetStreamApiException;
import io.nats.client.JetStreamManagement;
import io.nats.client.JetStreamOptions;
import io.nats.client.Nats;
import io.nats.client.Options;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.time.Duration;

/**
 * The collector's part in a JetStream deployment: one NATS connection (reconnecting forever), the stream and
 * consumer ensured at start, and either the edge's {@link NatsSink} or the writer's {@link NatsBatchConsumer}.
 * Stopped in the collector's shutdown order: the writer's consumer before the pipeline, the connection after it.
 */
public final class JetStreamRole implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(JetStreamRole.class);
    private static final Duration PROBE_TIMEOUT = Duration.ofSeconds(2);

    private final NatsSettings settings;
    private final JetStreamTopology topology;
    private final Connection connection;
    /** For the edge's readiness check: stream info with a short timeout, on the probe thread. */
    private final JetStreamManagement probe;
    private NatsBatchConsumer consumer;
    private EdgeSeriesStream seriesStream;
    private EdgeSeriesCatalogue edgeSeries;

    private JetStreamRole(NatsSettings settings, Connection connection) throws java.io.IOException {
        this.settings = settings;
        this.topology = topology(settings);
        this.connection = connection;
        this.probe = connection.jetStreamManagement(JetStreamOptions.builder().requestTimeout(PROBE_TIMEOUT).build());
    }

    /** The stream and consumer for these settings (validated: throws IllegalArgumentException naming a setting). */
    public static JetStreamTopology topology(NatsSettings s) {
        return JetStreamTopology.builder().stream(s.stream()).subject(s.subject()).consumer(s.consumer())
            .maxBytes(s.maxBytes()).maxAge(s.maxAge()).duplicateWindow(s.duplicateWindow()).ackWait(s.ackWait())
            .build();
    }

    /**
     * Connects (waiting for the first connection up to 10 s) and ensures the stream.
     *
     * @throws java.io.IOException when no server can be reached or JetStream is not enabled there
     */
    public static JetStreamRole connect(NatsSettings settings, String name) throws Exception {
        final RateLimitedLog errors = new RateLimitedLog(LOG, 10_000);
        final Options.Builder options = new Options.Builder()
            .servers(settings.servers().split(","))
            .connectionName(name)
            .maxReconnects(-1)
            .reconnectWait(Duration.ofMillis(250))
            .connectionTimeout(Duration.ofSeconds(5))
            .connectionListener((conn, event) -> {
                if (event == ConnectionListener.Events.DISCONNECTED || event == ConnectionListener.Events.RECONNECTED
                    || event == ConnectionListener.Events.CLOSED) {
                    LOG.info("NATS connection {}: {}", name, event);
                }
            })
            .errorListener(new ErrorListener() {
                @Override
                public void errorOccurred(Connection conn, String error) {
                    errors.warn("NATS error on " + name + ": " + error);
                }

                @Override
                public void exceptionOccurred(Connection conn, Exception exp) {
                    errors.warn("NATS connection " + name + ": " + exp);
                }
            });
        if (settings.credentials() != null) {
            options.authHandler(Nats.credentials(settings.credentials().toString()));
        }
        if (settings.user() != null) {
            options.userInfo(settings.user(), settings.password());
        }
        final Connection connection = Nats.connect(options.build());
        final JetStreamRole role;
        try {
            role = new JetStreamRole(settings, connection);
            role.topology.ensureStream(connection);
            role.seriesStream = EdgeSeriesStream.ensure(connection, settings);
        } catch (Exception | Error e) {
            connection.close();
            throw e;
        }
        LOG.info("JetStream: {} ({})", settings, role.topology.describe());
        return role;
    }

    /** The edge's sink: one message per batch, {@code Nats-Msg-Id = <run id>:<batch id>}. */
    public NatsSink edgeSink(MeterRegistry registry) throws java.io.IOException {
        return NatsSink.builder().connection(connection).topology(topology).meterRegistry(registry, "edge").build();
    }

    /**
     * A NATS-only edge's sink: its run id names the edge's series store instance ({@link EdgeOrigin}), so writers
     * know whose local series ids a batch carries.
     */
    public NatsSink edgeSink(MeterRegistry registry, String instance) throws java.io.IOException {
        return NatsSink.builder().connection(connection).topology(topology).runId(EdgeOrigin.runId(instance))
            .meterRegistry(registry, "edge").build();
    }

    /** Where a NATS-only edge publishes its series ({@link EdgeSeriesStream}). */
    public SeriesAnnouncer seriesAnnouncer(String instance) {
        return seriesStream.announcer(instance);
    }

    /**
     * Starts the writer's consumer into {@code sink} (whose ledger must outlive the stream's max_age).
     */
    public void startWriter(TimescaleSink sink, DataSource dataSource, String eventsTable, MeterRegistry registry)
        throws Exception {
        // NATS-only edges' batches carry their local series ids: filed and mapped on the way into the sink.
        edgeSeries = new EdgeSeriesCatalogue(dataSource, seriesStream.reader());
        io.micrometer.core.instrument.FunctionCounter.builder("spillway.nats.edge.series.filed", edgeSeries,
                EdgeSeriesCatalogue::filed)
            .description("series of NATS-only edges this writer filed in the catalogue").register(registry);
        consumer = NatsBatchConsumer.builder().connection(connection).topology(topology).sink(edgeSeries.sink(sink))
            .ledger(sink).name("writer").threads(settings.writerThreads()).meterRegistry(registry).build().start();
        // Edges ask which events of a body resent after their restart are stored (EdgeResends).
        EdgeResends.serve(connection, settings, edgeSeries, ResendWindow.databaseLookup(dataSource, eventsTable));
    }

    /** A NATS-only edge's lookup of resent events: a writer answers (see {@link EdgeResends}). */
    public ResendWindow.Lookup edgeLookup(String instance) {
        return EdgeResends.client(connection, settings, instance);
    }

    /**
     * Whether nothing an earlier run of this edge published can still be on its way to the database (see
     * {@link EdgeResends}).
     *
     * @param spooled events in the edge's spool now
     */
    public java.util.function.BooleanSupplier edgeSettled(java.util.function.LongSupplier spooled)
        throws java.io.IOException {
        return EdgeResends.settled(connection, settings, spooled);
    }

    /**
     * The edge's readiness check (run once a second on the readiness probe's thread, never on a request): null
     * when the NATS connection is up and JetStream answers for the stream within 2 s, else why not. While it fails,
     * {@code /health} and {@code /ready} answer 503 with this sentence; batches meanwhile are retried, then spooled.
     */
    public String edgeProblem() {
        final Connection.Status status = connection.getStatus();
        if (status != Connection.Status.CONNECTED) {
            return "NATS unreachable: connection to " + settings.servers() + " is " + status
                + " (reconnecting; batches are retried, then spooled)";
        }
        try {
            probe.getStreamInfo(topology.stream());
            return null;
        } catch (JetStreamApiException e) {
            return "JetStream stream " + topology.stream() + " unavailable on " + settings.servers() + ": "
                + e.getMessage();
        } catch (java.io.IOException | RuntimeException e) {
            return "JetStream unreachable on " + settings.servers() + " (no answer within " + PROBE_TIMEOUT.toSeconds()
                + " s): " + e.getMessage();
        }
    }

    /** The ledger retention a writer needs: the stream's max_age plus an hour of margin. */
    public static Duration writerLedgerRetention(NatsSettings settings) {
        return settings.maxAge().plusHours(1);
    }

    /** The writer's consumer, or null for an edge. */
    public NatsBatchConsumer consumer() {
        return consumer;
    }

    /** The writer's consumer as a service: stopping it finishes the batch in hand (committed, acked). */
    public Service writer(Duration timeout) {
        return Service.of("JetStream writer", d -> {
            stopConsuming(timeout);
            return true;
        });
    }

    /** Stops consuming (writer): batches in hand are finished, fetched ones given back. */
    public void stopConsuming(Duration timeout) {
        if (consumer != null) {
            consumer.close(timeout);
        }
    }

    /** Closes the connection (after the pipeline has drained into it). */
    @Override
    public void close() throws InterruptedException {
        stopConsuming(Duration.ofSeconds(30));
        connection.close();
    }
}
