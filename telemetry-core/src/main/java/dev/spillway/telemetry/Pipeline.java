package dev.spillway.telemetry;

import dev.spillway.telemetry.internal.Account;
import dev.spillway.telemetry.internal.CoreSettings;
import dev.spillway.telemetry.internal.PipelineCore;
import dev.spillway.telemetry.internal.RingMode;
import dev.spillway.telemetry.internal.SpoolSettings;
import dev.spillway.telemetry.sink.FailedBatchHandler;
import dev.spillway.telemetry.sink.RetryPolicy;
import dev.spillway.telemetry.sink.Sink;
import io.micrometer.core.instrument.MeterRegistry;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.EpochNanoClock;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.OffsetEpochNanoClock;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

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
 * {@code ingested == written + writtenLate + overwritten + rejected + droppedSpoolFull + failed + abandoned + spooled}
 * (see {@link PipelineStats}), and
 * {@link #close(Duration)} returns the final, balanced account.
 *
 * <p>With a {@link Builder#spool(SpoolConfig) spool}, batches the sink cannot take go to disk instead of failing
 * and are written back, oldest first, once the sink is healthy; a pipeline started on a spool left by an earlier
 * run replays it. {@link #ingestClaimed} and {@link #whenResolved} give producers end-to-end acknowledgements
 * without any per-event object.
 */
public final class Pipeline implements AutoCloseable {

    /**
     * How far past its timeout {@link #close(Duration)} may return, not counting the time the
     * {@link FailedBatchHandler} takes for the batches given up at the deadline.
     */
    public static final Duration CLOSE_SLACK = PipelineCore.CLOSE_SLACK;

    /** Default of {@link Builder#batchSize(int)} (capped at the ring size). */
    public static final int DEFAULT_BATCH_SIZE = 16_384;

    /** Default of {@link Builder#routeBySource(boolean)}. */
    public static final boolean DEFAULT_ROUTE_BY_SOURCE = false;

    private final String name;
    private final PipelineCore core;
    private final EpochNanoClock clock;
    private final Duration closeTimeout;

    private Pipeline(String name, PipelineCore core, EpochNanoClock clock, Duration closeTimeout) {
        this.name = name;
        this.core = core;
        this.clock = clock;
        this.closeTimeout = closeTimeout;
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
     * <p>Under {@link OverflowPolicy#BLOCK} a producer that finds the ring full parks (no CPU while it waits)
     * until the pump frees a slot; it is refused when the pipeline closes meanwhile, or when the thread is
     * interrupted while waiting (its interrupt status stays set; counted as {@code rejectedInterrupted}).
     *
     * @return true when accepted (it may still be overwritten later, and is then counted), false when refused
     *     (ring full under {@code DROP_NEWEST}, interrupted while blocked, or the pipeline is closing or its pump
     *     died); refusals are counted too
     */
    public boolean ingest(long timestampNanos, int sourceId, short kind, double value, long sequence) {
        return core.publish(timestampNanos, sourceId, kind, value, sequence);
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
        return core.ringCapacity();
    }

    /**
     * Whether the pipeline still accepts events: false from the start of {@link #close()}, and false if its pump
     * thread died (then {@link PipelineStats#pumpFailed()} is true and the log says why).
     */
    public boolean isRunning() {
        return core.isRunning();
    }

    /**
     * A live snapshot of the accounting. After {@link #close()} it still moves if producers keep calling
     * {@code ingest} (each refusal is counted), and it still balances.
     */
    public PipelineStats stats() {
        return toStats(core.account());
    }

    private static PipelineStats toStats(Account a) {
        return new PipelineStats(a.ingested(), a.written(), a.overwritten(), a.rejectedFull(), a.rejectedClosed(),
            a.rejectedInterrupted(), a.rejectedInvalid(), a.failed(), a.batchesWritten(), a.batchesFailed(),
            a.retries(), a.ringOccupancy(), a.batchesInFlight(), a.pumpFailed(), a.spooled(), a.batchesSpooled(),
            a.batchesReplayed(), a.spoolRecovered(), a.droppedSpoolFull(), a.abandoned(), a.writtenLate(),
            a.spoolFull());
    }

    /**
     * Like {@link #ingest}, returning the ring sequence the event claimed, or -1 when it was refused. A producer
     * that wants an end-to-end acknowledgement remembers the smallest and largest sequence of its events and
     * waits on {@link #whenResolved}. Same cost as {@code ingest}.
     */
    public long ingestClaimed(long timestampNanos, int sourceId, short kind, double value, long sequence) {
        return core.publishClaimed(timestampNanos, sourceId, kind, value, sequence);
    }

    /**
     * Opens an acknowledgement scope, before ingesting events whose producer will tell its client they are durable
     * once {@link #whenResolved} confirms them (for example an HTTP write answered only after commit). While a scope
     * is open, every batch that may hold events claimed after this call is marked commit-acknowledged when it goes
     * to the spool, and a full spool never drops a marked batch to make room: it refuses new batches instead
     * ({@link PipelineStats#spoolFull()}). Batches spooled while no scope could cover them hold only events whose
     * producers were promised nothing beyond acceptance; only those may be dropped
     * ({@link SpoolConfig.FullPolicy#DROP_OLDEST_SEGMENT}).
     *
     * <p>Close the scope with {@link #closeAckScope} once the client's answer is decided (the future from
     * {@code whenResolved} completed, or timed out, or nothing was ingested). One lock and one map entry per scope;
     * ingest itself is unchanged. A scope left open only makes the marking more conservative.
     *
     * @return the scope, for {@link #closeAckScope}
     */
    public long openAckScope() {
        return core.openAckScope();
    }

    /** Closes a scope from {@link #openAckScope}. */
    public void closeAckScope(long scope) {
        core.closeAckScope(scope);
    }

    /**
     * Completes when every ring sequence in {@code [fromSequence, toSequence]} (from {@link #ingestClaimed}) is
     * resolved: {@code true} when all of them were committed by the sink or are durably (fsynced) in the spool,
     * {@code false} when any was lost (overwritten, failed, rejected as invalid) or the pipeline closed before
     * resolving them. Losses are tracked per batch, so a loss of another producer's event in the same batch also
     * answers {@code false} (conservative). The future completes on a pipeline thread: continuations must be quick.
     */
    public CompletableFuture<Boolean> whenResolved(long fromSequence, long toSequence) {
        return core.whenResolved(fromSequence, toSequence);
    }

    /**
     * Closes with the configured close timeout; see {@link #close(Duration)}, which also returns the final account
     * ({@code AutoCloseable.close()} cannot).
     */
    @Override
    public void close() {
        close(closeTimeout);
    }

    /**
     * Stops accepting (later {@code ingest} calls are refused and counted), drains the ring, ships the partial
     * batch, lets the workers write what is queued, and at the deadline gives up whatever is left: with a spool it
     * is spooled (the next run replays it), otherwise counted failed and handed to the {@link FailedBatchHandler}
     * exactly once. Writes still running are aborted through {@link Sink#abortWrites()} (their batches are then
     * spooled or failed like the others); a write that ignores the abort too is abandoned: its batch is spooled, or
     * else counted {@code abandoned} (in doubt: not handed over, since the write may still store it) until the write
     * returns. The sink is closed once no worker is inside {@code write}. Logs and returns the final account, in
     * which every event is resolved.
     *
     * <p>Returns within {@code timeout} plus {@link #CLOSE_SLACK}, plus the time the failed-batch handler takes for
     * the batches given up at the deadline. Idempotent and thread-safe: concurrent and later calls wait for the first
     * and return its account. An interrupted caller closes at once (as if the deadline had come) and keeps its
     * interrupt status; so does a call from inside {@link Sink#write}.
     *
     * @return the final accounting, balanced
     */
    public PipelineStats close(Duration timeout) {
        return toStats(core.close(timeout));
    }

    /**
     * Builds a {@link Pipeline}. Every setting is validated by {@link #build()} with a message that names the
     * setting and its valid range.
     */
    public static final class Builder {
        private String name = "spillway";
        private Sink sink;
        private int ringSize = 65_536;
        private int batchSize;
        /** Unset: {@link #DEFAULT_BATCH_SIZE}, or the ring size if that is smaller. */
        private boolean batchSizeSet;
        private Duration flushInterval = Duration.ofMillis(100);
        private int workers = 2;
        private boolean routeBySource = DEFAULT_ROUTE_BY_SOURCE;
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

        /**
         * Most events per batch (one sink write, one transaction for the {@code TimescaleSink}), 1 to the ring size;
         * default {@value #DEFAULT_BATCH_SIZE}, or the ring size if that is smaller. A batch is five primitive arrays,
         * 30 bytes per event: 480 KiB at the default. The pipeline preallocates {@code 2 x workers + 1} of them in
         * arrival order, {@code 3 x workers} routed by source (2.3 MiB and 2.8 MiB with the default 2 workers), and
         * no more, ever. Larger batches cost PostgreSQL less per row (fewer commits and ledger rows); a partial batch
         * still ships after {@link #flushInterval(Duration)}.
         */
        public Builder batchSize(int batchSize) {
            this.batchSize = batchSize;
            this.batchSizeSet = true;
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

        /**
         * Whether each source's events are always written by the same worker; default {@value
         * #DEFAULT_ROUTE_BY_SOURCE}.
         *
         * <p>{@code true}: the pump keeps one open batch per worker and puts each event into the batch of worker
         * {@code hash(sourceId) mod workers}. A source's events are then written in the order they were ingested
         * (its batches go through one worker's queue, one at a time), and each database connection touches only its
         * own sources' index pages, as a COPY sharded by source does. The cost: the write load is only as even as the
         * sources' rates (a pipeline with one busy source writes on one worker), and a slow or stuck worker holds its
         * lane's batches until the pool of {@code 3 x workers} batches is used up, after which the pump waits for it
         * (the ring absorbs, then overwrites and counts, or blocks producers under {@code BLOCK}) until the write
         * returns, is given up by the retry policy, or is ended by the close deadline.
         *
         * <p>{@code false}: batches are filled in arrival order and go to whichever worker is free (a pool of
         * {@code 2 x workers + 1} batches); batches of one source may commit out of order, and a stuck worker does not
         * hold the others up.
         *
         * <p>With one worker both are the same. Either way every event is accounted for exactly.
         */
        public Builder routeBySource(boolean routeBySource) {
            this.routeBySource = routeBySource;
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
         * How the pump waits when idle; default a new {@link BackoffIdleStrategy} per pipeline that spins, yields,
         * then parks from 1 us up to 1 ms. A {@code BusySpinIdleStrategy} lowers latency at the cost of a core. Idle
         * strategies keep state: give each pipeline its own. One that throws a {@code RuntimeException} is survived
         * (the pump parks 1 ms instead); an {@code Error} from it kills the pump and stops the pipeline.
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
         * {@link #build()}, which throws {@link java.io.UncheckedIOException} naming it when it cannot be used.
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
            final int batchSize = batchSizeSet ? this.batchSize : Math.min(DEFAULT_BATCH_SIZE, ringSize);
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
            // Defaults are local: build() never mutates the builder, so two pipelines never share state by accident.
            final IdleStrategy idle = idleStrategy != null ? idleStrategy
                : new BackoffIdleStrategy(100, 10, TimeUnit.MICROSECONDS.toNanos(1), TimeUnit.MILLISECONDS.toNanos(1));
            final EpochNanoClock stampClock = clock != null ? clock : new OffsetEpochNanoClock();
            if (spool != null) {
                final long record = SpoolSettings.maxRecordBytes(batchSize);
                check(record <= spool.segmentBytes() / 2, "batchSize " + batchSize + " needs spool records of up to "
                    + record + " bytes; SpoolConfig.segmentBytes must be at least twice that, was "
                    + spool.segmentBytes());
            }
            sink.attach(name);
            final PipelineCore core = new PipelineCore(new CoreSettings(name, sink, ringSize, batchSize,
                flushInterval.toNanos(), workers, ringMode(overflowPolicy), retryPolicy, failedBatchHandler, idle,
                meterRegistry, spool == null ? null : new SpoolSettings(spool.directory(), spool.maxBytes(),
                    spool.segmentBytes(), spool.fsyncIntervalNanos(),
                    spool.fullPolicy() == SpoolConfig.FullPolicy.DROP_OLDEST_SEGMENT), routeBySource));
            core.start();
            return new Pipeline(name, core, stampClock, closeTimeout);
        }

        private static RingMode ringMode(OverflowPolicy policy) {
            switch (policy) {
                case DROP_NEWEST:
                    return RingMode.DROP_NEWEST;
                case BLOCK:
                    return RingMode.BLOCK;
                default:
                    return RingMode.OVERWRITE_OLDEST;
            }
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
