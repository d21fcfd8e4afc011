package dev.spillway.telemetry.nats;

import dev.spillway.telemetry.sink.Sink;
import dev.spillway.telemetry.timescale.TimescaleSink;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.nats.client.Connection;
import io.nats.client.JetStream;
import io.nats.client.JetStreamApiException;
import io.nats.client.JetStreamManagement;
import io.nats.client.JetStreamOptions;
import io.nats.client.JetStreamSubscription;
import io.nats.client.Message;
import io.nats.client.PullSubscribeOptions;
import io.nats.client.PurgeOptions;
import io.nats.client.api.ConsumerInfo;
import io.nats.client.api.StreamConfiguration;
import io.nats.client.api.StreamState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;

/**
 * The writer side: pulls batches from the JetStream consumer and writes each with a {@link Sink} (normally a
 * {@link TimescaleSink}), acknowledging a message only after its batch is committed.
 *
 * <pre>{@code
 * NatsBatchConsumer writer = NatsBatchConsumer.builder()
 *     .connection(nc).topology(topology).sink(timescaleSink).threads(2).build();
 * writer.start();   // ensures the durable consumer, checks the ledger horizon, starts pulling
 * ...
 * writer.close();   // stops pulling, finishes the batches in hand, NAKs what was fetched but not started
 * }</pre>
 *
 * <h2>Per message</h2>
 * <ul>
 *   <li>Decoded into a batch that carries the edge's ledger key ({@link DecodedBatch#runId()}, batch id),
 *       so a redelivered or re-published batch is found in the ledger and acknowledged without a second
 *       write.</li>
 *   <li>{@code ack} after {@code Sink.write} returned: the rows are committed (those the sink rejected as invalid
 *       data are counted and acknowledged too; they would fail again).</li>
 *   <li>A retryable failure (database unreachable) {@code NAK}s with a delay growing with the delivery count
 *       ({@code nakDelay} doubling up to {@code maxNakDelay}): the stream is the buffer, nothing is lost, and
 *       writers do not spin against a dead database.</li>
 *   <li>A permanent failure, or a retryable one on the consumer's last allowed delivery, {@code term}s the message
 *       and counts its events as failed (logged with the batch key). A body that does not decode (unknown
 *       version, truncated) is terminated and counted as poisoned.</li>
 *   <li>While a write runs, and for fetched messages waiting their turn, {@code inProgress} is sent every third
 *       of AckWait, so a long commit is not redelivered to another writer meanwhile.</li>
 * </ul>
 *
 * <h2>Acknowledged messages a nats-server crash left in the stream</h2>
 * After a {@code kill -9} (or a crash) of nats-server 2.9, a work-queue stream can come back holding messages the
 * durable consumer had already acknowledged: the consumer's acknowledgement floor reached the disk, their removal
 * from the stream did not. JetStream never delivers a message at or below the floor again, so they would stay until
 * max_age (24 h by default), taking {@code max_bytes}, keeping the stream from ever emptying and a restarted edge's
 * resent bodies waiting ({@code EdgeResends}). Every {@code sweepInterval} (default 10 s, on a thread of its own,
 * each request bounded by 5 s) the writer reads the consumer, then the stream, and when the stream's first message
 * is at or below the floor it purges the stream below {@code floor + 1}: only acknowledged messages, each one
 * committed (or terminated) by a writer before its ack. Counted ({@link #leftoversPurged()},
 * {@code spillway.nats.leftovers.purged}), logged once when the first is found (WARN) and once when none is left
 * (INFO, with the total); not done when the stream's last sequence is behind the consumer's delivered one (the
 * stream lost messages: nothing is purged, logged once). The same check finds a consumer or stream that is gone (a
 * nats-server restarted without its store, or a deletion by hand), which would leave the pulls answered by nobody
 * and the writer idle: it creates them again ({@link #recreated()}, {@code spillway.nats.recreated}, logged each
 * time). A failure of the check is counted ({@code spillway.nats.sweep.failures}) and logged once until it works.
 * A message whose handling throws unexpectedly is given back with the longest NAK delay, counted
 * ({@code spillway.nats.handling.failures}) and logged once per outage; the pulling thread goes on.
 *
 * Each thread pulls at most {@code fetchBatch} messages at once and the consumer's MaxAckPending bounds them
 * across writers. The sink is the caller's: {@link #close()} does not close it.
 */
public final class NatsBatchConsumer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(NatsBatchConsumer.class);

    /** The NAK delay after a message's first failed delivery, by default; it doubles per delivery. */
    public static final Duration DEFAULT_NAK_DELAY = Duration.ofMillis(250);
    /** The cap of the NAK delay, by default. */
    public static final Duration DEFAULT_MAX_NAK_DELAY = Duration.ofSeconds(15);
    /** How often a writer checks the stream for acknowledged messages left in it, by default. */
    public static final Duration DEFAULT_SWEEP_INTERVAL = Duration.ofSeconds(10);
    private static final Duration SWEEP_TIMEOUT = Duration.ofSeconds(5);
    private static final int CONSUMER_NOT_FOUND = 10014;
    private static final int STREAM_NOT_FOUND = 10059;

    /**
     * TEST ONLY, for crash tests with a real process: with {@code -Dspillway.test.nats.stallAfterCommit=N} the
     * thread that commits this JVM's N-th batch stops right after the commit, before the ack, and waits to be
     * killed ({@code kill -9}), so a test can kill a writer exactly between commit and ack. Read once at class
     * load (a static final: the JIT drops the check when unset); never set it in production.
     */
    private static final long STALL_AFTER_COMMIT = Long.getLong("spillway.test.nats.stallAfterCommit", 0L);
    private static final AtomicLong COMMITS_BEFORE_STALL = new AtomicLong();

    private final Connection connection;
    private final JetStreamTopology topology;
    private final Sink sink;
    /** The sink's ledger (the sink itself, or the one a wrapping sink writes to), or null when it keeps none. */
    private final TimescaleSink ledger;
    private final String name;
    private final int threadCount;
    private final int fetchBatch;
    private final Duration fetchWait;
    private final long nakDelayNanos;
    private final long maxNakDelayNanos;
    private final MeterRegistry meterRegistry;
    private final Worker[] workers;
    private final CountDownLatch stop = new CountDownLatch(1);
    private final ScheduledExecutorService ticker;
    private volatile boolean started;
    private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();
    private final Outage pullOutage = new Outage("pulling from JetStream");
    private final Outage writeOutage = new Outage("writing batches");
    private final Outage sweepOutage = new Outage("checking the stream for acknowledged messages left in it");
    private final Duration sweepInterval;
    private final ScheduledExecutorService sweeper;
    private volatile JetStreamManagement sweepManagement;
    /** Purged since the last sweep that found nothing to purge (guarded by the sweep's lock). */
    private long episodePurged;
    private final java.util.concurrent.atomic.AtomicBoolean streamBehindLogged =
        new java.util.concurrent.atomic.AtomicBoolean();

    private final LongAdder delivered = new LongAdder();
    private final LongAdder redelivered = new LongAdder();
    private final LongAdder acked = new LongAdder();
    private final LongAdder nakked = new LongAdder();
    private final LongAdder terminated = new LongAdder();
    private final LongAdder poisoned = new LongAdder();
    private final LongAdder writtenEvents = new LongAdder();
    private final LongAdder rejectedEvents = new LongAdder();
    private final LongAdder failedEvents = new LongAdder();
    private final LongAdder fetchFailures = new LongAdder();
    private final LongAdder leftoversPurged = new LongAdder();
    private final LongAdder sweepFailures = new LongAdder();
    private final LongAdder recreated = new LongAdder();
    private final LongAdder handlingFailures = new LongAdder();
    private final java.util.concurrent.atomic.LongAccumulator highestDelivery =
        new java.util.concurrent.atomic.LongAccumulator(Math::max, 0);

    private NatsBatchConsumer(Builder b) {
        this.connection = b.connection;
        this.topology = b.topology;
        this.sink = b.sink;
        this.ledger = b.ledger != null ? b.ledger : b.sink instanceof TimescaleSink ts ? ts : null;
        this.name = b.name;
        this.threadCount = b.threads;
        this.fetchBatch = b.fetchBatch;
        this.fetchWait = b.fetchWait;
        this.nakDelayNanos = b.nakDelay.toNanos();
        this.maxNakDelayNanos = b.maxNakDelay.toNanos();
        this.meterRegistry = b.meterRegistry;
        this.sweepInterval = b.sweepInterval;
        this.workers = new Worker[threadCount];
        for (int i = 0; i < threadCount; i++) {
            workers[i] = new Worker(name + "-nats-" + (i + 1));
        }
        this.ticker = Executors.newSingleThreadScheduledExecutor(r -> {
            final Thread t = new Thread(r, name + "-nats-in-progress");
            t.setDaemon(true);
            return t;
        });
        this.sweeper = Executors.newSingleThreadScheduledExecutor(r -> {
            final Thread t = new Thread(r, name + "-nats-sweep");
            t.setDaemon(true);
            return t;
        });
    }

    /** A builder; connection, topology and sink are required. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Ensures the stream, creates or updates the durable consumer, checks that the sink's ledger outlives the stream's redelivery
     * horizon, and starts the pulling threads.
     *
     * @throws IllegalStateException when a {@link TimescaleSink}'s ledger retention does not exceed the stream's
     *     max_age (a batch redelivered after its ledger row was pruned would be written twice)
     */
    public synchronized NatsBatchConsumer start() throws IOException, JetStreamApiException {
        if (started) {
            return this;
        }
        // Either role may start first: the stream is ensured by both.
        final StreamConfiguration stream = topology.ensureStream(connection).getConfiguration();
        checkLedgerHorizon(stream.getMaxAge());
        topology.ensureConsumer(connection);
        final JetStream js = connection.jetStream();
        for (Worker w : workers) {
            w.subscription = js.subscribe(topology.subject(),
                PullSubscribeOptions.bind(topology.stream(), topology.consumer()));
        }
        if (meterRegistry != null) {
            bind(meterRegistry);
        }
        final long tick = Math.max(TimeUnit.MILLISECONDS.toNanos(200), topology.ackWait().toNanos() / 3);
        ticker.scheduleAtFixedRate(this::signalInProgress, tick, tick, TimeUnit.NANOSECONDS);
        sweepManagement = connection.jetStreamManagement(JetStreamOptions.builder().requestTimeout(SWEEP_TIMEOUT)
            .build());
        sweeper.scheduleWithFixedDelay(this::sweepAcknowledged, 0, sweepInterval.toNanos(), TimeUnit.NANOSECONDS);
        for (Worker w : workers) {
            final Thread t = new Thread(w, w.threadName);
            t.setDaemon(true);
            w.thread = t;
            t.start();
        }
        started = true;
        LOG.info("JetStream writer '{}' started: stream {} consumer {}, {} threads, fetch {}, sink {}", name,
            topology.stream(), topology.consumer(), threadCount, fetchBatch, sink);
        return this;
    }

    private void checkLedgerHorizon(Duration streamMaxAge) {
        if (ledger == null) {
            LOG.warn("JetStream writer '{}': sink {} keeps no ledger this writer can check; a batch redelivered "
                + "after a crash between commit and ack may be written twice", name, sink);
            return;
        }
        final Duration retention = ledger.ledgerRetention();
        if (streamMaxAge.isZero() || retention.compareTo(streamMaxAge) <= 0) {
            throw new IllegalStateException("the ledger retention of " + sink + " (" + retention + ") must exceed the "
                + "max_age of JetStream stream " + topology.stream() + " (" + (streamMaxAge.isZero() ? "unlimited"
                : streamMaxAge) + "): a batch can be redelivered until it ages out of the stream, and without its "
                + "ledger row it would be written twice. Raise the ledger retention or lower the stream's max_age");
        }
    }

    /**
     * Purges messages at or below the consumer's acknowledgement floor that are still in the stream (see the class
     * comment): acknowledged, so committed or terminated by a writer, and never delivered again by JetStream.
     * Never throws: a failure is counted and logged once until a check works again.
     *
     * @return the messages purged now
     */
    synchronized long sweepAcknowledged() {
        final JetStreamManagement jsm = sweepManagement;
        if (jsm == null || closed.get()) {
            return 0;
        }
        try {
            // The consumer first: its floor only grows, so a stream message read later at or below it is one that
            // was acknowledged before this check began.
            final ConsumerInfo consumer = jsm.getConsumerInfo(topology.stream(), topology.consumer());
            final StreamState stream = jsm.getStreamInfo(topology.stream()).getStreamState();
            sweepOutage.recovered();
            final long floor = consumer.getAckFloor() == null ? 0 : consumer.getAckFloor().getStreamSequence();
            final long delivered = consumer.getDelivered() == null ? 0 : consumer.getDelivered().getStreamSequence();
            if (stream.getMsgCount() == 0 || floor <= 0 || stream.getFirstSequence() > floor) {
                if (episodePurged > 0) {
                    LOG.info("JetStream writer '{}': no acknowledged message left in stream {}; {} purged since the "
                        + "first", name, topology.stream(), episodePurged);
                    episodePurged = 0;
                }
                return 0;
            }
            if (delivered > stream.getLastSequence()) {
                if (streamBehindLogged.compareAndSet(false, true)) {
                    LOG.warn("JetStream writer '{}': stream {} ends at sequence {}, behind what consumer {} delivered "
                            + "({}): the stream lost messages it had stored; its first {} message(s) at or below the "
                            + "acknowledgement floor {} are left alone (logged once)", name, topology.stream(),
                        stream.getLastSequence(), topology.consumer(), delivered, stream.getMsgCount(), floor);
                }
                return 0;
            }
            final long purged = jsm.purgeStream(topology.stream(), PurgeOptions.builder().sequence(floor + 1).build())
                .getPurged();
            if (purged > 0) {
                leftoversPurged.add(purged);
                if (episodePurged == 0) {
                    LOG.warn("JetStream writer '{}': stream {} held {} message(s) from sequence {} at or below consumer "
                            + "{}'s acknowledgement floor {}: acknowledged (written) but back in the stream, as after a "
                            + "nats-server crash; JetStream would never deliver them again, so they were purged (more "
                            + "are counted in spillway_nats_leftovers_purged_total, summed up when none is left)", name,
                        topology.stream(), purged, stream.getFirstSequence(), topology.consumer(), floor);
                } else {
                    LOG.debug("JetStream writer '{}': purged {} more acknowledged message(s) from stream {} (floor {})",
                        name, purged, topology.stream(), floor);
                }
                episodePurged += purged;
            }
            return purged;
        } catch (JetStreamApiException e) {
            if (e.getApiErrorCode() == CONSUMER_NOT_FOUND || e.getApiErrorCode() == STREAM_NOT_FOUND) {
                recreate(e);
            } else {
                sweepFailed(e);
            }
            return 0;
        } catch (IOException | RuntimeException e) {
            sweepFailed(e);
            return 0;
        }
    }

    private void sweepFailed(Exception e) {
        if (closed.get()) {
            return; // interrupted by close(): not a failure of JetStream
        }
        sweepFailures.increment();
        sweepOutage.note("checking stream " + topology.stream() + " for acknowledged messages failed: " + e);
    }

    /**
     * The stream or the consumer is gone (a nats-server restarted without its store, or deleted by hand): the pulls
     * of this writer's threads find nothing to answer them and return empty, so without this the writer would idle
     * silently. Creates them again as at start; a new consumer delivers what the stream holds, and the ledger keeps
     * what was written before from being written twice.
     */
    private void recreate(JetStreamApiException gone) {
        try {
            topology.ensureStream(connection);
            topology.ensureConsumer(connection);
            sweepOutage.recovered();
            recreated.increment();
            LOG.warn("JetStream writer '{}': {} was gone ({}), as after a nats-server restart without its store; "
                    + "created stream {} and consumer {} again ({} time(s) so far)", name, gone.getApiErrorCode()
                    == STREAM_NOT_FOUND ? "the stream" : "the consumer", gone.getMessage(), topology.stream(),
                topology.consumer(), recreated.sum());
        } catch (IOException | JetStreamApiException | RuntimeException e) {
            sweepFailed(e);
        }
    }

    /** Extends AckWait of every message a worker holds (being written, or fetched and waiting its turn). */
    private void signalInProgress() {
        for (Worker w : workers) {
            final List<Message> batch = w.inHand;
            if (batch == null) {
                continue;
            }
            for (int i = w.done; i < batch.size(); i++) {
                try {
                    batch.get(i).inProgress();
                } catch (RuntimeException e) {
                    LOG.debug("inProgress failed (connection down?): {}", e.toString());
                }
            }
        }
    }

    private void bind(MeterRegistry r) {
        counter(r, "spillway.nats.delivered", delivered, "messages delivered to this writer, redeliveries included");
        counter(r, "spillway.nats.redelivered", redelivered, "deliveries of a message delivered before");
        counter(r, "spillway.nats.writer.acked", acked, "messages acknowledged after their batch was committed");
        counter(r, "spillway.nats.nakked", nakked, "messages given back for a later retry (database unavailable)");
        counter(r, "spillway.nats.terminated", terminated, "messages terminated (permanent failure or poisoned)");
        counter(r, "spillway.nats.poisoned", poisoned, "messages whose body did not decode");
        counter(r, "spillway.nats.written.events", writtenEvents, "events the sink reported written");
        counter(r, "spillway.nats.rejected.events", rejectedEvents, "events the sink rejected as invalid data");
        counter(r, "spillway.nats.failed.events", failedEvents, "events of terminated messages");
        counter(r, "spillway.nats.fetch.failures", fetchFailures, "pulls that failed (JetStream unreachable)");
        counter(r, "spillway.nats.leftovers.purged", leftoversPurged, "acknowledged messages found back in the stream "
            + "(as after a nats-server crash) and purged");
        counter(r, "spillway.nats.sweep.failures", sweepFailures, "checks for acknowledged messages left in the "
            + "stream that failed (JetStream unreachable, or the purge refused)");
        counter(r, "spillway.nats.recreated", recreated, "times the stream or consumer was found gone and created "
            + "again");
        counter(r, "spillway.nats.handling.failures", handlingFailures, "messages whose handling failed unexpectedly "
            + "(given back with the longest NAK delay; the pulling thread goes on)");
        io.micrometer.core.instrument.Gauge.builder("spillway.nats.highest.delivery", highestDelivery,
                java.util.concurrent.atomic.LongAccumulator::get).tag("writer", name)
            .description("the highest delivery count of a message this writer received (how long a batch was retried)")
            .register(r);
        if (ledger != null) {
            final TimescaleSink ts = ledger;
            FunctionCounter.builder("spillway.nats.deduplicated", ts, TimescaleSink::batchesAlreadyCommitted)
                .tag("writer", name).description("batches found already committed in the ledger (not written again)")
                .register(r);
            FunctionCounter.builder("spillway.nats.deduplicated.events", ts, TimescaleSink::eventsAlreadyCommitted)
                .tag("writer", name).description("events of deduplicated batches").register(r);
        }
    }

    private void counter(MeterRegistry r, String meter, LongAdder adder, String description) {
        FunctionCounter.builder(meter, adder, LongAdder::sum).tag("writer", name).description(description)
            .register(r);
    }

    /** Messages delivered to this writer (redeliveries included). */
    public long delivered() {
        return delivered.sum();
    }

    /** Deliveries of messages that had been delivered before (to this or another writer). */
    public long redelivered() {
        return redelivered.sum();
    }

    /**
     * The highest delivery count of any message this writer received (1 until a redelivery): how many times the
     * longest-retried batch came back, e.g. during a database outage, where NAK delays double per delivery.
     */
    public long highestDeliveryCount() {
        return Math.max(1, highestDelivery.get());
    }

    /** Messages acknowledged after their batch was committed. */
    public long acked() {
        return acked.sum();
    }

    /** Messages given back with a delay after a retryable failure. */
    public long nakked() {
        return nakked.sum();
    }

    /** Messages terminated: permanent failures, the last allowed delivery failing, poisoned bodies. */
    public long terminated() {
        return terminated.sum();
    }

    /** Messages whose body did not decode (also in {@link #terminated()}). */
    public long poisoned() {
        return poisoned.sum();
    }

    /** Events the sink reported as written (for a {@link TimescaleSink}: ledger hits included). */
    public long writtenEvents() {
        return writtenEvents.sum();
    }

    /** Events the sink rejected as invalid data (acknowledged, not retried). */
    public long rejectedEvents() {
        return rejectedEvents.sum();
    }

    /** Events of terminated messages. */
    public long failedEvents() {
        return failedEvents.sum();
    }

    /**
     * Acknowledged messages this writer found back in the stream (at or below the consumer's acknowledgement floor,
     * as after a nats-server crash) and purged.
     */
    public long leftoversPurged() {
        return leftoversPurged.sum();
    }

    /** Times this writer found the stream or its consumer gone and created it again. */
    public long recreated() {
        return recreated.sum();
    }

    /**
     * Stops pulling, lets each thread finish the batch it is writing (up to {@code timeout}), and NAKs, without
     * delay, messages fetched but not started, so another writer takes them at once. Idempotent.
     */
    public void close(Duration timeout) {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        stop.countDown();
        final long deadline = System.nanoTime() + timeout.toNanos();
        for (Worker w : workers) {
            if (w.thread == null) {
                continue;
            }
            try {
                w.thread.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            if (w.thread.isAlive()) {
                LOG.warn("JetStream writer '{}': {} still writing at the close deadline; its message will be "
                    + "redelivered after AckWait", name, w.threadName);
            }
        }
        ticker.shutdownNow();
        sweeper.shutdownNow();
        for (Worker w : workers) {
            if (w.subscription != null && !w.thread.isAlive()) {
                try {
                    w.subscription.unsubscribe();
                } catch (RuntimeException e) {
                    LOG.debug("unsubscribe failed: {}", e.toString());
                }
            }
        }
        LOG.info("JetStream writer '{}' closed: delivered {} (redelivered {}), acked {}, nakked {}, terminated {} "
                + "(poisoned {}); events written {}, rejected {}, failed {}", name, delivered(), redelivered(),
            acked(), nakked(), terminated(), poisoned(), writtenEvents(), rejectedEvents(), failedEvents());
    }

    /** {@link #close(Duration)} with 30 s. */
    @Override
    public void close() {
        close(Duration.ofSeconds(30));
    }

    private long nakDelayNanos(long deliveries) {
        final int doublings = (int) Math.min(30, Math.max(0, deliveries - 1));
        final long delay = nakDelayNanos << doublings;
        return delay <= 0 || delay > maxNakDelayNanos ? maxNakDelayNanos : delay;
    }

    /** One pulling thread with its own subscription and reusable decode buffers. */
    private final class Worker implements Runnable {
        final String threadName;
        final DecodedBatch batch = new DecodedBatch();
        JetStreamSubscription subscription;
        Thread thread;
        /** Messages fetched and not yet finished, read by the in-progress ticker. */
        volatile List<Message> inHand;
        volatile int done;

        Worker(String threadName) {
            this.threadName = threadName;
        }

        @Override
        public void run() {
            while (stop.getCount() > 0) {
                final List<Message> messages;
                try {
                    messages = subscription.fetch(fetchBatch, fetchWait);
                } catch (RuntimeException e) {
                    fetchFailures.increment();
                    pullOutage.note("fetch from stream " + topology.stream() + " failed: " + e);
                    pause(Duration.ofSeconds(1));
                    continue;
                }
                if (messages.isEmpty()) {
                    continue;
                }
                pullOutage.recovered();
                done = 0;
                inHand = messages;
                for (int i = 0; i < messages.size(); i++) {
                    final Message m = messages.get(i);
                    if (stop.getCount() == 0) {
                        giveBack(m);
                    } else {
                        handleGuarded(m);
                    }
                    done = i + 1;
                }
                inHand = null;
            }
        }

        /**
         * {@link #handle}, never letting a failure end this thread (a pulling thread that died would leave the
         * writer consuming with fewer threads, or none): the message goes back with the longest NAK delay.
         */
        private void handleGuarded(Message m) {
            try {
                handle(m);
            } catch (RuntimeException e) {
                handlingFailures.increment();
                writeOutage.note("handling message " + sequence(m) + " of stream " + topology.stream()
                    + " failed unexpectedly (given back, retried in " + Duration.ofNanos(maxNakDelayNanos) + "): "
                    + e);
                settle(() -> m.nakWithDelay(Duration.ofNanos(maxNakDelayNanos)));
            }
        }

        private void handle(Message m) {
            delivered.increment();
            final long deliveries = deliveries(m);
            if (deliveries > 1) {
                redelivered.increment();
                highestDelivery.accumulate(deliveries);
            }
            try {
                BatchCodec.decode(m.getData(), batch);
            } catch (IllegalArgumentException e) {
                poisoned.increment();
                terminated.increment();
                LOG.error("JetStream writer '{}': message {} of stream {} does not decode ({}); terminated, not "
                    + "retried", name, sequence(m), topology.stream(), e.getMessage());
                settle(m::term);
                return;
            }
            final int size = batch.size();
            final int written;
            try {
                written = sink.write(batch);
            } catch (Throwable failure) {
                onWriteFailure(m, deliveries, size, failure);
                return;
            }
            final int valid = Math.max(0, Math.min(size, written));
            writtenEvents.add(valid);
            rejectedEvents.add(size - valid);
            // After the commit: if this ack is lost, the redelivery is found in the ledger.
            writeOutage.recovered();
            if (STALL_AFTER_COMMIT > 0 && COMMITS_BEFORE_STALL.incrementAndGet() == STALL_AFTER_COMMIT) {
                stallForTest(m, size);
            }
            if (settle(m::ack)) {
                acked.increment();
            }
        }

        private void onWriteFailure(Message m, long deliveries, int size, Throwable failure) {
            boolean retryable;
            try {
                retryable = sink.isRetryable(failure);
            } catch (RuntimeException classifierFailure) {
                failure.addSuppressed(classifierFailure);
                retryable = false;
            }
            final long maxDeliver = topology.maxDeliver();
            final boolean lastDelivery = maxDeliver > 0 && deliveries >= maxDeliver;
            if (retryable && !lastDelivery) {
                final long delay = nakDelayNanos(deliveries);
                writeOutage.note("writing batch " + key() + " failed (delivery " + deliveries + "), retrying in "
                    + Duration.ofNanos(delay) + ": " + failure);
                if (settle(() -> m.nakWithDelay(Duration.ofNanos(delay)))) {
                    nakked.increment();
                }
                return;
            }
            terminated.increment();
            failedEvents.add(size);
            LOG.error("JetStream writer '{}': batch {} ({} events, delivery {}) failed {}; terminated and counted as "
                    + "failed", name, key(), size, deliveries, retryable ? "on its last allowed delivery" :
                    "permanently", failure);
            settle(m::term);
        }

        private String key() {
            return batch.runId() + ':' + batch.batchId();
        }

        /** The test-only stall (see {@code STALL_AFTER_COMMIT}): committed, not acked, until the process dies. */
        private void stallForTest(Message m, int size) {
            final String line = "TEST HOOK spillway.test.nats.stallAfterCommit: batch " + key() + " (" + size
                + " events, stream sequence " + sequence(m) + ") committed, not acknowledged; waiting to be killed";
            LOG.error(line);
            System.err.println(line);
            System.err.flush();
            while (true) {
                java.util.concurrent.locks.LockSupport.park(this);
            }
        }

        private void giveBack(Message m) {
            settle(m::nak);
        }

        /** Sends an ack/nak/term; false when the connection is gone (the server redelivers after AckWait). */
        private boolean settle(Runnable action) {
            try {
                action.run();
                return true;
            } catch (RuntimeException e) {
                pullOutage.note("acknowledging a message failed (it will be redelivered after AckWait): " + e);
                return false;
            }
        }

        private void pause(Duration d) {
            try {
                stop.await(d.toNanos(), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                stop.countDown();
            }
        }
    }

    private static long deliveries(Message m) {
        try {
            return m.metaData().deliveredCount();
        } catch (RuntimeException e) {
            return 1;
        }
    }

    private static String sequence(Message m) {
        try {
            return Long.toString(m.metaData().streamSequence());
        } catch (RuntimeException e) {
            return "?";
        }
    }

    /** Logs the first failure of an outage once (at WARN) and its end once (at INFO), not once per message. */
    private final class Outage {
        private final String activity;
        private final AtomicReference<String> first = new AtomicReference<>();
        private final LongAdder failures = new LongAdder();

        Outage(String activity) {
            this.activity = activity;
        }

        void note(String what) {
            failures.increment();
            if (first.compareAndSet(null, what)) {
                LOG.warn("JetStream writer '{}': {} (further failures are counted, not logged, until {} works again)",
                    name, what, activity);
            }
        }

        void recovered() {
            if (first.get() != null) {
                final String was = first.getAndSet(null);
                if (was != null) {
                    LOG.info("JetStream writer '{}': {} works again after {} failures; the first was: {}", name,
                        activity, failures.sumThenReset(), was);
                }
            }
        }
    }

    /** Builds a {@link NatsBatchConsumer}; {@link #build()} validates every setting. */
    public static final class Builder {
        private static final AtomicInteger SEQ = new AtomicInteger();
        private Connection connection;
        private JetStreamTopology topology;
        private Sink sink;
        private TimescaleSink ledger;
        private String name = "writer-" + SEQ.incrementAndGet();
        private int threads = 2;
        private int fetchBatch = 4;
        private Duration fetchWait = Duration.ofMillis(500);
        private Duration nakDelay = DEFAULT_NAK_DELAY;
        private Duration maxNakDelay = DEFAULT_MAX_NAK_DELAY;
        private MeterRegistry meterRegistry;
        private Duration sweepInterval = DEFAULT_SWEEP_INTERVAL;

        private Builder() {
        }

        /** The NATS connection (owned by the caller). Required. */
        public Builder connection(Connection connection) {
            this.connection = connection;
            return this;
        }

        /** Stream, subject and consumer. Required. */
        public Builder topology(JetStreamTopology topology) {
            this.topology = topology;
            return this;
        }

        /** Where batches go (owned by the caller). Required. */
        public Builder sink(Sink sink) {
            this.sink = sink;
            return this;
        }

        /**
         * The {@link TimescaleSink} a wrapping {@link #sink} writes to, whose ledger this consumer relies on (its
         * retention is checked against the stream's max_age, its ledger hits counted as deduplicated). Default: the
         * sink itself when it is one.
         */
        public Builder ledger(TimescaleSink ledger) {
            this.ledger = ledger;
            return this;
        }

        /** Name for threads, logs and the {@code writer} meter tag, 1-64 of {@code [A-Za-z0-9._-]}. */
        public Builder name(String name) {
            this.name = name;
            return this;
        }

        /** Pulling threads, each writing one batch at a time, 1 to 64; default 2 (match the sink's pool). */
        public Builder threads(int threads) {
            this.threads = threads;
            return this;
        }

        /** Most messages one thread holds at once, 1 to 256; default 4 (they wait their turn under inProgress). */
        public Builder fetchBatch(int fetchBatch) {
            this.fetchBatch = fetchBatch;
            return this;
        }

        /** Longest one pull waits for messages, 10 ms to 30 s; default 500 ms (also bounds close latency). */
        public Builder fetchWait(Duration fetchWait) {
            this.fetchWait = fetchWait;
            return this;
        }

        /** NAK delay after the first failed delivery, doubling per delivery, 10 ms to 1 min; default 250 ms. */
        public Builder nakDelay(Duration nakDelay) {
            this.nakDelay = nakDelay;
            return this;
        }

        /** Cap of the NAK delay, nakDelay to 1 h; default 15 s. */
        public Builder maxNakDelay(Duration maxNakDelay) {
            this.maxNakDelay = maxNakDelay;
            return this;
        }

        /**
         * How often the stream is checked for acknowledged messages a nats-server crash left in it (purged; see the
         * class comment), 100 ms to 10 min; default 10 s.
         */
        public Builder sweepInterval(Duration sweepInterval) {
            this.sweepInterval = sweepInterval;
            return this;
        }

        /** Registry for the writer's {@code spillway.nats.*} meters; optional. */
        public Builder meterRegistry(MeterRegistry meterRegistry) {
            this.meterRegistry = meterRegistry;
            return this;
        }

        /** Validates and builds (not started: call {@link NatsBatchConsumer#start()}). */
        public NatsBatchConsumer build() {
            check(connection != null, "connection is required");
            check(topology != null, "topology is required");
            check(sink != null, "sink is required");
            check(name != null && name.matches("[A-Za-z0-9._-]{1,64}"), "name must be 1-64 of [A-Za-z0-9._-], was "
                + name);
            check(threads >= 1 && threads <= 64, "threads must be 1..64, was " + threads);
            check(fetchBatch >= 1 && fetchBatch <= 256, "fetchBatch must be 1..256, was " + fetchBatch);
            check(fetchWait != null && fetchWait.compareTo(Duration.ofMillis(10)) >= 0
                && fetchWait.compareTo(Duration.ofSeconds(30)) <= 0, "fetchWait must be 10ms..30s, was " + fetchWait);
            check(nakDelay != null && nakDelay.compareTo(Duration.ofMillis(10)) >= 0
                && nakDelay.compareTo(Duration.ofMinutes(1)) <= 0, "nakDelay must be 10ms..1m, was " + nakDelay);
            check(maxNakDelay != null && maxNakDelay.compareTo(nakDelay) >= 0
                    && maxNakDelay.compareTo(Duration.ofHours(1)) <= 0,
                "maxNakDelay must be nakDelay..1h, was " + maxNakDelay);
            check(sweepInterval != null && sweepInterval.compareTo(Duration.ofMillis(100)) >= 0
                && sweepInterval.compareTo(Duration.ofMinutes(10)) <= 0,
                "sweepInterval must be 100ms..10m, was " + sweepInterval);
            return new NatsBatchConsumer(this);
        }

        private static void check(boolean ok, String message) {
            if (!ok) {
                throw new IllegalArgumentException("NatsBatchConsumer." + message);
            }
        }
    }
}
