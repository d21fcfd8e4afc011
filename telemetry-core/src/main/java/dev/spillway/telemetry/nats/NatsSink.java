package dev.spillway.telemetry.nats;

import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.Sink;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.nats.client.Connection;
import io.nats.client.JetStream;
import io.nats.client.JetStreamApiException;
import io.nats.client.PublishOptions;
import io.nats.client.api.PublishAck;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;

/**
 * A {@link Sink} that publishes each batch as one JetStream message, for an edge collector whose writers
 * ({@link NatsBatchConsumer} + {@code TimescaleSink}) run elsewhere.
 *
 * <pre>{@code
 * Connection nc = Nats.connect(options);
 * JetStreamTopology topology = JetStreamTopology.builder().build();
 * topology.ensureStream(nc);
 * Pipeline edge = Pipeline.builder().sink(NatsSink.builder().connection(nc).topology(topology).build())
 *     .workers(8).build();
 * }</pre>
 *
 * <h2>What "written" means here</h2>
 * {@code write} returns only when JetStream has acknowledged the message (stored it in the stream; with file
 * storage it reaches the disk at the server's sync interval, see docs/scaling-out.md). So the edge pipeline's
 * {@code written} counts batches JetStream holds, and its accounting stays exact: a batch whose publish failed is
 * retried by the pipeline and, at the end of its budget, failed (or spooled), never counted as written while
 * still in doubt.
 *
 * <h2>Exactly once into the stream</h2>
 * The message id is {@code <run id>:<batch id>} ({@code Nats-Msg-Id}), the same key the writers' ledger uses. A
 * retry of a publish whose acknowledgement was lost is dropped by JetStream within the duplicate window
 * ({@code isDuplicate} acks are counted as {@code deduplicated}); a later duplicate is caught by the ledger.
 *
 * <h2>Bounded publishing</h2>
 * The Java client has no cap on outstanding asynchronous publishes. This sink keeps a window of at most
 * {@code maxPendingPublishes} unacknowledged publishes across all workers (a semaphore); a worker waits for a
 * slot at most the publish timeout and then fails the attempt as {@link JetStreamUnavailableException}
 * (retryable). Each worker waits for its own batch's acknowledgement, so the window in use is at most the
 * pipeline's worker count: give an edge pipeline more workers (they only wait) to keep more publishes in flight.
 *
 * <p>Thread-safe. The connection belongs to the caller (its reconnect settings decide how outages look).
 */
public final class NatsSink implements Sink {

    private static final Logger LOG = LoggerFactory.getLogger(NatsSink.class);

    private final Connection connection;
    private final JetStream jetStream;
    private final JetStreamTopology topology;
    private final String runId;
    private final long publishTimeoutNanos;
    private final int maxPending;
    private final Semaphore window;
    private final ThreadLocal<BatchCodec> codecs = ThreadLocal.withInitial(BatchCodec::new);
    private final AtomicReference<String> pipeline = new AtomicReference<>();
    private final LongAdder published = new LongAdder();
    private final LongAdder publishedEvents = new LongAdder();
    private final LongAdder acked = new LongAdder();
    private final LongAdder ackedEvents = new LongAdder();
    private final LongAdder deduplicated = new LongAdder();
    private final LongAdder publishFailures = new LongAdder();
    private final LongAdder bytes = new LongAdder();

    private NatsSink(Builder b) throws IOException {
        this.connection = b.connection;
        this.jetStream = b.connection.jetStream();
        this.topology = b.topology;
        this.runId = b.runId == null ? UUID.randomUUID().toString() : b.runId;
        this.publishTimeoutNanos = b.publishTimeout.toNanos();
        this.maxPending = b.maxPendingPublishes;
        this.window = new Semaphore(b.maxPendingPublishes);
        if (b.meterRegistry != null) {
            bind(b.meterRegistry, b.metricsName);
        }
    }

    /** A builder; {@link Builder#connection} and {@link Builder#topology} are required. */
    public static Builder builder() {
        return new Builder();
    }

    /** The run id in every message id of this sink's live batches ({@code <run id>:<batch id>}). */
    public String runId() {
        return runId;
    }

    /** Batches handed to JetStream (including retries). */
    public long published() {
        return published.sum();
    }

    /** Batches JetStream acknowledged as stored (including those it reported as duplicates). */
    public long acked() {
        return acked.sum();
    }

    /** Events of {@link #acked()}: what the edge pipeline counts as written. */
    public long ackedEvents() {
        return ackedEvents.sum();
    }

    /** Acknowledged publishes JetStream recognised as a duplicate of a stored message (not stored again). */
    public long deduplicated() {
        return deduplicated.sum();
    }

    /** Publish attempts that failed (each is retried, spooled or failed by the pipeline). */
    public long publishFailures() {
        return publishFailures.sum();
    }

    /** Publishes in flight now (at most {@code maxPendingPublishes}). */
    public int pendingPublishes() {
        return maxPending - window.availablePermits();
    }

    /** One sink per pipeline: batch ids repeat across pipelines, and the message id must be unique. */
    @Override
    public void attach(String pipelineName) {
        if (!pipeline.compareAndSet(null, pipelineName)) {
            throw new IllegalStateException("this NatsSink (run " + runId + ") already serves pipeline '"
                + pipeline.get() + "'; build one sink per pipeline");
        }
    }

    /**
     * Publishes the batch and waits for JetStream's acknowledgement.
     *
     * @return {@code batch.size()}
     * @throws JetStreamUnavailableException when JetStream is unreachable, slow, full, or the window stays full
     * @throws JetStreamApiException when JetStream refuses the message itself (e.g. too large): permanent
     */
    @Override
    public int write(EventBatch batch) throws Exception {
        final String origin = batch.runId() == null ? runId : batch.runId();
        final byte[] body = codecs.get().encode(batch, origin);
        final String messageId = origin + ':' + batch.batchId();
        final long deadline = System.nanoTime() + publishTimeoutNanos;
        if (!window.tryAcquire(publishTimeoutNanos, TimeUnit.NANOSECONDS)) {
            publishFailures.increment();
            throw new JetStreamUnavailableException("JetStream publish window (" + maxPending + ") stayed full for "
                + Duration.ofNanos(publishTimeoutNanos) + "; batch " + messageId + " not published", null);
        }
        try {
            published.increment();
            publishedEvents.add(batch.size());
            bytes.add(body.length);
            final CompletableFuture<PublishAck> future = jetStream.publishAsync(topology.subject(), body,
                PublishOptions.builder().messageId(messageId).expectedStream(topology.stream()).build());
            final PublishAck ack;
            try {
                ack = future.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                future.cancel(false);
                throw new JetStreamUnavailableException("JetStream did not acknowledge batch " + messageId
                    + " within " + Duration.ofNanos(publishTimeoutNanos) + " (connection "
                    + connection.getStatus() + ")", e);
            } catch (ExecutionException e) {
                throw classify(e.getCause(), messageId);
            }
            if (ack.isDuplicate()) {
                deduplicated.increment();
                LOG.debug("batch {} was already in stream {} (publish retried after a lost ack)", messageId,
                    ack.getStream());
            }
            acked.increment();
            ackedEvents.add(batch.size());
            return batch.size();
        } catch (Exception e) {
            publishFailures.increment();
            throw e;
        } finally {
            window.release();
        }
    }

    private Exception classify(Throwable cause, String messageId) {
        if (cause instanceof JetStreamApiException && !JetStreamFailures.isRetryable(cause)) {
            return (JetStreamApiException) cause; // permanent: the message itself was refused
        }
        if (JetStreamFailures.isRetryable(cause)) {
            return new JetStreamUnavailableException("JetStream could not store batch " + messageId + " in stream "
                + topology.stream() + ": " + cause, cause);
        }
        return cause instanceof Exception ? (Exception) cause : new IllegalStateException(cause);
    }

    /** Retryable: JetStream unreachable, slow or full; permanent: a message JetStream refuses as such. */
    @Override
    public boolean isRetryable(Throwable failure) {
        return JetStreamFailures.isRetryable(failure);
    }

    private void bind(MeterRegistry registry, String name) {
        FunctionCounter.builder("spillway.nats.published", published, LongAdder::sum).tag("sink", name)
            .description("batches published to JetStream, retries included").register(registry);
        FunctionCounter.builder("spillway.nats.published.events", publishedEvents, LongAdder::sum).tag("sink", name)
            .description("events in published batches, retries included").register(registry);
        FunctionCounter.builder("spillway.nats.acked", acked, LongAdder::sum).tag("sink", name)
            .description("batches JetStream acknowledged as stored").register(registry);
        FunctionCounter.builder("spillway.nats.acked.events", ackedEvents, LongAdder::sum).tag("sink", name)
            .description("events in acknowledged batches").register(registry);
        FunctionCounter.builder("spillway.nats.deduplicated", deduplicated, LongAdder::sum).tag("sink", name)
            .description("publishes JetStream dropped as duplicates of a stored message").register(registry);
        FunctionCounter.builder("spillway.nats.publish.failures", publishFailures, LongAdder::sum).tag("sink", name)
            .description("failed publish attempts").register(registry);
        FunctionCounter.builder("spillway.nats.published.bytes", bytes, LongAdder::sum).tag("sink", name)
            .description("encoded bytes published").register(registry);
        Gauge.builder("spillway.nats.pending", this, NatsSink::pendingPublishes).tag("sink", name)
            .description("publishes awaiting JetStream's acknowledgement").register(registry);
    }

    /** Leaves the connection open: it belongs to the caller. */
    @Override
    public void close() {
        LOG.info("NatsSink {} closed: published {} acked {} deduplicated {} failed attempts {}", runId, published(),
            acked(), deduplicated(), publishFailures());
    }

    @Override
    public String toString() {
        return "NatsSink{stream=" + topology.stream() + ", subject=" + topology.subject() + ", runId=" + runId + '}';
    }

    /** Builds a {@link NatsSink}; {@link #build()} validates every setting. */
    public static final class Builder {
        private Connection connection;
        private JetStreamTopology topology;
        private String runId;
        private Duration publishTimeout = Duration.ofSeconds(5);
        private int maxPendingPublishes = 64;
        private MeterRegistry meterRegistry;
        private String metricsName = "nats";

        private Builder() {
        }

        /** The NATS connection (owned by the caller). Required. */
        public Builder connection(Connection connection) {
            this.connection = connection;
            return this;
        }

        /** Stream and subject to publish to. Required. The stream must exist ({@link JetStreamTopology#ensureStream}). */
        public Builder topology(JetStreamTopology topology) {
            this.topology = topology;
            return this;
        }

        /** Run id for message ids, 1-128 of {@code [A-Za-z0-9._-]}; default a random UUID per sink. */
        public Builder runId(String runId) {
            this.runId = runId;
            return this;
        }

        /** Longest a publish waits for a window slot plus JetStream's acknowledgement, 100 ms to 10 min; default 5 s. */
        public Builder publishTimeout(Duration publishTimeout) {
            this.publishTimeout = publishTimeout;
            return this;
        }

        /** Most unacknowledged publishes at once, 1 to 4096; default 64. */
        public Builder maxPendingPublishes(int maxPendingPublishes) {
            this.maxPendingPublishes = maxPendingPublishes;
            return this;
        }

        /** Registry for the {@code spillway.nats.*} meters, tagged {@code sink=<name>}; optional. */
        public Builder meterRegistry(MeterRegistry meterRegistry, String name) {
            this.meterRegistry = meterRegistry;
            this.metricsName = name;
            return this;
        }

        /**
         * Validates and builds.
         *
         * @throws IllegalArgumentException naming the first invalid setting
         * @throws IOException when JetStream is not enabled on the connection's server
         */
        public NatsSink build() throws IOException {
            check(connection != null, "connection is required");
            check(topology != null, "topology is required");
            check(runId == null || runId.matches("[A-Za-z0-9._-]{1,128}"),
                "runId must be 1-128 of [A-Za-z0-9._-], was " + runId);
            check(publishTimeout != null && publishTimeout.compareTo(Duration.ofMillis(100)) >= 0
                    && publishTimeout.compareTo(Duration.ofMinutes(10)) <= 0,
                "publishTimeout must be 100ms..10m, was " + publishTimeout);
            check(maxPendingPublishes >= 1 && maxPendingPublishes <= 4096,
                "maxPendingPublishes must be 1..4096, was " + maxPendingPublishes);
            return new NatsSink(this);
        }

        private static void check(boolean ok, String message) {
            if (!ok) {
                throw new IllegalArgumentException("NatsSink." + message);
            }
        }
    }
}
