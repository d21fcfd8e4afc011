package dev.spillway.telemetry;

import dev.spillway.telemetry.metrics.PipelineCounters;
import dev.spillway.telemetry.metrics.PipelineMetrics;
import dev.spillway.telemetry.pump.CommitTracker;
import dev.spillway.telemetry.pump.MutableEventBatch;
import dev.spillway.telemetry.pump.Pump;
import dev.spillway.telemetry.pump.WorkerPool;
import dev.spillway.telemetry.ring.EventRing;
import dev.spillway.telemetry.sink.FailedBatchHandler;
import dev.spillway.telemetry.sink.RetryPolicy;
import dev.spillway.telemetry.sink.Sink;
import dev.spillway.telemetry.spool.Spool;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.EpochNanoClock;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.OffsetEpochNanoClock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A running telemetry pipeline: producers {@link #ingest} pointer-free events into a ring, one pump thread
 * batches them, and a pool of workers writes the batches to a {@link Sink} with retries.
 *
 * <pre>{@code
 * try (Pipeline pipeline = Pipeline.builder().sink(sink).build()) {
 *     SourceHandle line7 = pipeline.source(7);
 *     line7.record((short) 1, 21.5);
 * } // close() drains everything in flight
 * }</pre>
 *
 * <p>Every event is accounted for: at any quiescent point
 * {@code ingested == written + overwritten + rejected + failed + spooled} (see {@link PipelineStats}).
 *
 * <p>With a {@link Builder#spool(SpoolConfig) spool}, batches the sink cannot take go to disk instead of failing
 * and are written back, oldest first, once the sink is healthy; a pipeline started on a spool left by an earlier
 * run replays it. {@link #ingestClaimed} and {@link #whenResolved} give producers end-to-end acknowledgements
 * without any per-event object.
 */
public final class Pipeline implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Pipeline.class);

    private final String name;
    private final EventRing ring;
    private final PipelineCounters counters;
    private final Pump pump;
    private final WorkerPool workers;
    private final Sink sink;
    private final EpochNanoClock clock;
    private final Duration closeTimeout;
    private final OverflowPolicy policy;
    private final int workerCount;
    private final Spool spool;
    private final CommitTracker tracker;
    private final Object closeLock = new Object();
    private volatile PipelineStats finalStats;

    private Pipeline(Builder b, Spool spool) {
        this.spool = spool;
        this.tracker = new CommitTracker(spool == null ? () -> Long.MAX_VALUE : spool::syncedGeneration);
        if (spool != null) {
            spool.onSynced(tracker::syncAdvanced);
        }
        this.name = b.name;
        this.sink = b.sink;
        this.clock = b.clock;
        this.closeTimeout = b.closeTimeout;
        this.policy = b.overflowPolicy;
        this.workerCount = b.workers;
        this.counters = new PipelineCounters();
        this.ring = new EventRing(b.ringSize, b.overflowPolicy, counters);
        final int poolSize = b.workers * 2 + 1; // one filling, and up to two per worker (one writing, one queued)
        final BlockingQueue<MutableEventBatch> free = new ArrayBlockingQueue<>(poolSize);
        final BlockingQueue<MutableEventBatch> work = new ArrayBlockingQueue<>(poolSize + b.workers);
        for (int i = 0; i < poolSize; i++) {
            free.add(new MutableEventBatch(b.batchSize));
        }
        final Timer writeTimer = b.meterRegistry == null ? null
            : PipelineMetrics.bind(b.meterRegistry, name, counters, ring, spool);
        this.pump = new Pump(ring, counters, free, work, b.flushInterval.toNanos(), b.idleStrategy, tracker);
        final AtomicInteger workerIndex = new AtomicInteger();
        this.workers = new WorkerPool(b.workers, r -> daemon(r, name + "-worker-" + workerIndex.incrementAndGet()),
            b.sink, b.retryPolicy, b.failedBatchHandler, counters, free, work, writeTimer, spool, tracker);
    }

    private static Thread daemon(Runnable r, String threadName) {
        final Thread t = new Thread(r, threadName);
        t.setDaemon(true);
        return t;
    }

    private void start() {
        workers.start();
        daemon(pump, name + "-pump").start();
        LOG.info("pipeline '{}' started: ring={} policy={} workers={} sink={} spool={}", name, ring.capacity(), policy,
            workerCount, sink.getClass().getName(), spool == null ? "off" : spool.config().directory() + " ("
                + spool.events() + " events to replay)");
    }

    /** A builder with safe defaults; only {@link Builder#sink(Sink)} is required. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Offers one event. Thread-safe for any number of producers; allocation-free; never blocks unless the
     * overflow policy is {@link OverflowPolicy#BLOCK}.
     *
     * @param timestampNanos event time, nanoseconds since the Unix epoch
     * @param sourceId the source (series)
     * @param kind an application-defined kind
     * @param value the value
     * @param sequence the source's sequence number for this event
     * @return true when accepted (it may still be overwritten later, and is then counted), false when refused
     *     (ring full under {@code DROP_NEWEST}, or the pipeline is closing); refusals are counted too
     */
    public boolean ingest(long timestampNanos, int sourceId, short kind, double value, long sequence) {
        return ring.publish(timestampNanos, sourceId, kind, value, sequence);
    }

    /**
     * Like {@link #ingest}, returning the ring sequence the event claimed, or -1 when it was refused. A producer
     * that wants an end-to-end acknowledgement remembers the smallest and largest sequence of its events and
     * waits on {@link #whenResolved}. Same cost as {@code ingest}.
     */
    public long ingestClaimed(long timestampNanos, int sourceId, short kind, double value, long sequence) {
        return ring.publishClaimed(timestampNanos, sourceId, kind, value, sequence);
    }

    /**
     * Completes when every ring sequence in {@code [fromSequence, toSequence]} (from {@link #ingestClaimed}) is
     * resolved: {@code true} when all of them were committed by the sink or are durably (fsynced) in the spool,
     * {@code false} when any was lost (overwritten, failed, rejected as invalid) or the pipeline closed before
     * resolving them. Losses are tracked per batch, so a loss of another producer's event in the same batch also
     * answers {@code false}. The future completes on a pipeline thread: continuations must be quick.
     */
    public CompletableFuture<Boolean> whenResolved(long fromSequence, long toSequence) {
        return tracker.whenResolved(fromSequence, toSequence);
    }

    /** A handle that stamps time and sequence (starting at 0) for a producer that owns {@code sourceId}. */
    public SourceHandle source(int sourceId) {
        return source(sourceId, 0);
    }

    /** A handle whose first event carries {@code firstSequence}, for example to continue after a restart. */
    public SourceHandle source(int sourceId, long firstSequence) {
        return new SourceHandle(this, sourceId, firstSequence, clock);
    }

    /** The pipeline's name, used in thread names, logs and the {@code pipeline} metric tag. */
    public String name() {
        return name;
    }

    /** Number of ring slots. */
    public int ringCapacity() {
        return ring.capacity();
    }

    /** Whether the pipeline still accepts events (false from the start of {@link #close()}). */
    public boolean isRunning() {
        return ring.isAccepting();
    }

    /**
     * A live snapshot of the accounting. After {@link #close()} it still moves if producers keep calling
     * {@code ingest} (each refusal is counted), and it still balances.
     */
    public PipelineStats stats() {
        // Resolutions are read before the claim count, so a snapshot under load shows pending >= 0.
        final long written = counters.written();
        final long overwritten = counters.overwritten();
        final long rejectedInvalid = counters.rejectedInvalid();
        final long spooled = spool == null ? 0 : spool.events();
        final long failed = counters.failed() + (spool == null ? 0 : spool.droppedEvents());
        final long rejectedFull = counters.rejectedFull();
        final long rejectedClosed = counters.rejectedClosed();
        final long recovered = spool == null ? 0 : spool.recoveredEvents();
        final long ingested = ring.claimed() + counters.refusedWithoutClaim() + recovered;
        return new PipelineStats(ingested, written, overwritten, rejectedFull, rejectedClosed, rejectedInvalid,
            failed, counters.batchesWritten(), counters.batchesFailed(), counters.retries(), ring.occupancy(),
            counters.batchesInFlight(), spooled, spool == null ? 0 : spool.appendedBatches(),
            spool == null ? 0 : spool.replayedBatches(), recovered);
    }

    /** Closes with the configured close timeout; see {@link #close(Duration)}. */
    @Override
    public void close() {
        close(closeTimeout);
    }

    /**
     * Stops accepting (later {@code ingest} calls are refused and counted), drains the ring, ships the partial
     * batch, waits for the workers up to {@code timeout}, closes the sink, and logs the final account. Whatever
     * could not be written by the deadline is counted as failed. Idempotent: later calls return the same stats.
     *
     * @return the final accounting
     */
    public PipelineStats close(Duration timeout) {
        synchronized (closeLock) {
            if (finalStats != null) {
                return finalStats;
            }
            final long deadline = System.nanoTime() + timeout.toNanos();
            ring.stopAccepting();
            pump.requestStop(deadline);
            boolean interrupted = false;
            try {
                // The pump gives up on the ring itself at the deadline; the slack covers its last loop.
                if (!pump.awaitFinished(timeout.toNanos() + TimeUnit.SECONDS.toNanos(5), TimeUnit.NANOSECONDS)) {
                    LOG.error("pipeline '{}': pump did not finish draining", name);
                }
                workers.shutdown(deadline);
            } catch (InterruptedException e) {
                interrupted = true;
                LOG.warn("pipeline '{}': close interrupted; the account below may show pending events", name);
            }
            try {
                sink.close();
            } catch (Exception e) {
                LOG.warn("pipeline '{}': sink close failed", name, e);
            }
            if (spool != null) {
                spool.close(); // forces what was spooled: it is durable and replayed by the next run
                tracker.syncAdvanced();
            }
            tracker.close();
            final PipelineStats stats = stats();
            finalStats = stats;
            if (stats.isBalanced()) {
                LOG.info("pipeline '{}' closed: {} (balanced)", name, stats);
            } else {
                LOG.error("pipeline '{}' closed UNBALANCED: {}", name, stats);
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
            return stats;
        }
    }

    /**
     * Builds a {@link Pipeline}. Every setting is validated by {@link #build()} with a message that names the
     * setting and its valid range.
     */
    public static final class Builder {
        private String name = "spillway";
        private Sink sink;
        private int ringSize = 65_536;
        private int batchSize = 4_096;
        private Duration flushInterval = Duration.ofMillis(100);
        private int workers = 2;
        private OverflowPolicy overflowPolicy = OverflowPolicy.OVERWRITE_OLDEST;
        private RetryPolicy retryPolicy = RetryPolicy.defaults();
        private FailedBatchHandler failedBatchHandler;
        private IdleStrategy idleStrategy;
        private Duration closeTimeout = Duration.ofSeconds(30);
        private MeterRegistry meterRegistry;
        private EpochNanoClock clock;
        private SpoolConfig spool;

        private Builder() {
        }

        /** Name for threads, logs and metrics; default {@code spillway}; letters, digits, '.', '_' and '-'. */
        public Builder name(String name) {
            this.name = name;
            return this;
        }

        /** Where batches go. Required. */
        public Builder sink(Sink sink) {
            this.sink = sink;
            return this;
        }

        /** Ring slots, a power of two from 2 to 2^30; default 65,536. About 64 bytes of heap each. */
        public Builder ringSize(int ringSize) {
            this.ringSize = ringSize;
            return this;
        }

        /** Most events per batch, 1 to the ring size; default 4,096. */
        public Builder batchSize(int batchSize) {
            this.batchSize = batchSize;
            return this;
        }

        /** Longest a partial batch waits for more events, 1 ms to 1 h; default 100 ms. */
        public Builder flushInterval(Duration flushInterval) {
            this.flushInterval = flushInterval;
            return this;
        }

        /** Worker threads calling the sink, 1 to 256; default 2. */
        public Builder workers(int workers) {
            this.workers = workers;
            return this;
        }

        /** What {@code ingest} does when the ring is full; default {@link OverflowPolicy#OVERWRITE_OLDEST}. */
        public Builder overflowPolicy(OverflowPolicy overflowPolicy) {
            this.overflowPolicy = overflowPolicy;
            return this;
        }

        /** How failed writes are retried; default {@link RetryPolicy#defaults()}. */
        public Builder retryPolicy(RetryPolicy retryPolicy) {
            this.retryPolicy = retryPolicy;
            return this;
        }

        /** Receives batches that were given up on; optional. */
        public Builder failedBatchHandler(FailedBatchHandler failedBatchHandler) {
            this.failedBatchHandler = failedBatchHandler;
            return this;
        }

        /**
         * How the pump waits when idle; default a {@link BackoffIdleStrategy} that spins, yields, then parks
         * from 1 us up to 1 ms. A {@code BusySpinIdleStrategy} lowers latency at the cost of a core.
         */
        public Builder idleStrategy(IdleStrategy idleStrategy) {
            this.idleStrategy = idleStrategy;
            return this;
        }

        /** How long {@link Pipeline#close()} waits for the drain, 0 to 1 h; default 30 s. */
        public Builder closeTimeout(Duration closeTimeout) {
            this.closeTimeout = closeTimeout;
            return this;
        }

        /** Registry for the pipeline's meters; optional (the pipeline works without one). */
        public Builder meterRegistry(MeterRegistry meterRegistry) {
            this.meterRegistry = meterRegistry;
            return this;
        }

        /**
         * Keep batches the sink cannot take in a disk spool instead of failing them, and replay them (also those an
         * earlier run left) once the sink is healthy; default none. The spool directory is opened by
         * {@link #build()}.
         */
        public Builder spool(SpoolConfig spool) {
            this.spool = spool;
            return this;
        }

        /** Clock used by {@link SourceHandle} to stamp events; default an allocation-free offset clock. */
        public Builder clock(EpochNanoClock clock) {
            this.clock = clock;
            return this;
        }

        /**
         * Validates every setting, then builds and starts the pipeline (its pump and worker threads).
         *
         * @throws IllegalArgumentException naming the first invalid setting and its valid range
         */
        public Pipeline build() {
            check(name != null && name.matches("[A-Za-z0-9._-]{1,64}"),
                "name must be 1-64 of [A-Za-z0-9._-], was " + quote(name));
            check(sink != null, "sink is required");
            check(ringSize >= 2 && ringSize <= (1 << 30) && Integer.bitCount(ringSize) == 1,
                "ringSize must be a power of two from 2 to 2^30, was " + ringSize);
            check(batchSize >= 1 && batchSize <= ringSize,
                "batchSize must be 1..ringSize (" + ringSize + "), was " + batchSize);
            check(flushInterval != null && flushInterval.compareTo(Duration.ofMillis(1)) >= 0
                    && flushInterval.compareTo(Duration.ofHours(1)) <= 0,
                "flushInterval must be 1ms..1h, was " + flushInterval);
            check(workers >= 1 && workers <= 256, "workers must be 1..256, was " + workers);
            check(overflowPolicy != null, "overflowPolicy must not be null");
            check(retryPolicy != null, "retryPolicy must not be null");
            check(closeTimeout != null && !closeTimeout.isNegative() && closeTimeout.compareTo(Duration.ofHours(1)) <= 0,
                "closeTimeout must be 0..1h, was " + closeTimeout);
            if (idleStrategy == null) {
                idleStrategy = new BackoffIdleStrategy(100, 10, TimeUnit.MICROSECONDS.toNanos(1),
                    TimeUnit.MILLISECONDS.toNanos(1));
            }
            if (clock == null) {
                clock = new OffsetEpochNanoClock();
            }
            if (spool != null) {
                final long record = Spool.recordBytes(batchSize);
                check(record <= spool.segmentBytes() / 2, "batchSize " + batchSize + " needs spool records of up to "
                    + record + " bytes; SpoolConfig.segmentBytes must be at least twice that, was "
                    + spool.segmentBytes());
            }
            sink.attach(name);
            Spool opened = null;
            if (spool != null) {
                try {
                    opened = Spool.open(spool);
                } catch (IOException e) {
                    throw new UncheckedIOException("Pipeline.spool: " + e.getMessage(), e);
                }
            }
            final Pipeline pipeline = new Pipeline(this, opened);
            pipeline.start();
            return pipeline;
        }

        private static String quote(String s) {
            return s == null ? "null" : '"' + s + '"';
        }

        private static void check(boolean ok, String message) {
            if (!ok) {
                throw new IllegalArgumentException("Pipeline." + message);
            }
        }
    }

    @Override
    public String toString() {
        return "Pipeline{" + name + ", " + stats() + '}';
    }
}
