package dev.spillway.telemetry.internal;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The interior of one pipeline: ring, pump, workers, counters and meters, behind the few operations the public
 * {@code Pipeline} needs. The only public class of the interior (with its value types), and not exported by the
 * module.
 *
 * <h2>Close</h2>
 * Stop accepting; the pump drains the ring up to its final limit and ships the partial batch; the workers write
 * the queued batches; at the deadline everything still unwritten is given up (counted failed, handed to the
 * failed-batch handler exactly once); the sink is closed once no worker is inside {@code write}. It returns within
 * the timeout plus {@link #CLOSE_SLACK}, plus the time the failed-batch handler itself takes for the batches given
 * up at the deadline, with every event resolved.
 */
public final class PipelineCore {

    /** How far past its timeout {@link #close} may return (abort grace, pump's last passes, settling). */
    public static final Duration CLOSE_SLACK = Duration.ofMillis(500);

    private static final Logger LOG = LoggerFactory.getLogger(PipelineCore.class);

    private final String name;
    private final CoreSettings settings;
    private final PipelineCounters counters = new PipelineCounters();
    private final EventRing ring;
    private final Pump pump;
    private final WorkerPool workers;
    private final PipelineMetrics metrics;
    private final Spool spool;
    private final CommitTracker tracker;

    private final AtomicBoolean closing = new AtomicBoolean();
    private final CountDownLatch closed = new CountDownLatch(1);
    private volatile Account finalAccount;

    /**
     * Builds the interior; nothing runs until {@link #start()}.
     *
     * @throws java.io.UncheckedIOException when the spool directory cannot be opened (the message names it)
     */
    public PipelineCore(CoreSettings s) {
        this(s, SpoolDisk.DIRECT, Spool.DEFAULT_STALL_NANOS);
    }

    /** With a spool disk seam and stall bound (the slow-disk tests). */
    PipelineCore(CoreSettings s, SpoolDisk spoolDisk, long spoolStallNanos) {
        if (s.spool() != null) {
            try {
                this.spool = Spool.open(s.spool(), spoolDisk, spoolStallNanos);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("Pipeline.spool: " + e.getMessage(), e);
            }
        } else {
            this.spool = null;
        }
        this.tracker = new CommitTracker(spool == null ? () -> Long.MAX_VALUE : spool::syncedGeneration);
        if (spool != null) {
            spool.onSynced(tracker::syncAdvanced);
        }
        this.name = s.name();
        this.settings = s;
        this.ring = new EventRing(s.ringSize(), s.mode(), counters);
        // One open batch per lane at the pump, and up to two per worker (one writing, one queued).
        final int lanes = s.routeBySource() ? s.workers() : 1;
        final int poolSize = lanes + s.workers() * 2;
        final BlockingQueue<MutableEventBatch> free = new ArrayBlockingQueue<>(poolSize);
        for (int i = 0; i < poolSize; i++) {
            free.add(new MutableEventBatch(s.batchSize()));
        }
        // Every work queue holds the whole pool plus a pill per worker taking from it, so an offer never fails.
        final List<BlockingQueue<MutableEventBatch>> laneQueues = new ArrayList<>(lanes);
        final List<BlockingQueue<MutableEventBatch>> queueOfWorker = new ArrayList<>(s.workers());
        if (s.routeBySource()) {
            for (int i = 0; i < s.workers(); i++) {
                laneQueues.add(new ArrayBlockingQueue<>(poolSize + 1));
            }
            queueOfWorker.addAll(laneQueues);
        } else {
            final BlockingQueue<MutableEventBatch> shared = new ArrayBlockingQueue<>(poolSize + s.workers());
            laneQueues.add(shared);
            for (int i = 0; i < s.workers(); i++) {
                queueOfWorker.add(shared);
            }
        }
        this.metrics = s.meterRegistry() == null ? null
            : new PipelineMetrics(s.meterRegistry(), name, this, counters, spool);
        final AtomicInteger workerIndex = new AtomicInteger();
        this.workers = new WorkerPool(name,
            r -> daemon(r, name + "-worker-" + workerIndex.incrementAndGet()), s.sink(), s.retryPolicy(),
            s.failedBatchHandler(), counters, free, queueOfWorker, metrics == null ? null : metrics.writeTimer(),
            spool, tracker);
        this.pump = new Pump(ring, counters, free, laneQueues, workers, s.batchSize(), s.flushIntervalNanos(),
            s.idleStrategy(), name, tracker);
    }

    private static Thread daemon(Runnable r, String threadName) {
        final Thread t = new Thread(r, threadName);
        t.setDaemon(true);
        return t;
    }

    /** Starts the workers and the pump. */
    public void start() {
        workers.start();
        daemon(pump, name + "-pump").start();
        LOG.info("pipeline '{}' started: ring={} policy={} workers={} batch={} routing={} sink={} spool={}", name,
            ring.capacity(), settings.mode(), settings.workers(), settings.batchSize(),
            settings.routeBySource() ? "by-source" : "arrival", settings.sink().getClass().getName(), spool == null ? "off"
                : spool.config().directory() + " (" + spool.events() + " events to replay)");
    }

    /** The producer's path; see {@code Pipeline.ingest}. */
    public boolean publish(long timestampNanos, int sourceId, short kind, double value, long sequence) {
        return ring.publish(timestampNanos, sourceId, kind, value, sequence);
    }

    /** Like {@link #publish}, returning the claimed ring sequence or -1; see {@code Pipeline.ingestClaimed}. */
    public long publishClaimed(long timestampNanos, int sourceId, short kind, double value, long sequence) {
        return ring.publishClaimed(timestampNanos, sourceId, kind, value, sequence);
    }

    /** See {@code Pipeline.openAckScope}. */
    public long openAckScope() {
        // Any sequence the caller claims after this read is above the cursor it saw (the cursor only grows, and
        // the caller's own claim comes later in its program order), and the scope is registered before that claim,
        // so whichever worker spools a batch holding that event sees the scope (the event's publication, the pump
        // and the work queue order the registration before the spool's check).
        final long floor = ring.cursorAcquire() + 1;
        tracker.openScope(floor);
        return floor;
    }

    /** See {@code Pipeline.closeAckScope}. */
    public void closeAckScope(long scope) {
        tracker.closeScope(scope);
    }

    /** See {@code Pipeline.whenResolved}. */
    public java.util.concurrent.CompletableFuture<Boolean> whenResolved(long fromSequence, long toSequence) {
        return tracker.whenResolved(fromSequence, toSequence);
    }

    /** Number of ring slots. */
    public int ringCapacity() {
        return ring.capacity();
    }

    /** Events in the ring not yet read by the pump. */
    public long ringOccupancy() {
        return ring.occupancy();
    }

    /** Accepting events: not closing, and the pump is alive. */
    public boolean isRunning() {
        return ring.isAccepting() && pump.death() == null;
    }

    /**
     * A snapshot of the account. Resolutions are read before the claim cursor (and the final limit before the
     * cursor), so under load {@code pending >= 0}; each refusal counter is read once and used on both sides.
     */
    public Account account() {
        // Events move between categories only towards resolution; the few that move between two resolved ones (a
        // write that returns after the close deadline gave it up) leave the old one first: reading the new one
        // first keeps pending >= 0.
        final long written = counters.written();
        final long writtenLate = counters.writtenLate();
        final long overwritten = counters.overwritten();
        final long rejectedInvalid = counters.rejectedInvalid();
        final long abandoned = counters.abandoned();
        final long spooledThenWritten = counters.spooledThenWritten();
        final long spooled = spool == null ? 0 : spool.events() - spooledThenWritten;
        final long droppedSpoolFull = spool == null ? 0 : spool.droppedEvents();
        final long failed = counters.failed() + (spool == null ? 0 : spool.lostEvents());
        final long recovered = spool == null ? 0 : spool.recoveredEvents();
        final long batchesWritten = counters.batchesWritten();
        final long batchesFailed = counters.batchesFailed();
        final long retries = counters.retries();
        final long inFlight = counters.batchesInFlight();
        final long rejectedFull = counters.rejectedFull();
        final long closedBeforeClaim = counters.rejectedClosedBeforeClaim();
        final long interrupted = counters.rejectedInterrupted();
        final long finalLimit = ring.finalLimit();
        final long cursor = ring.cursorAcquire();
        final long closedAfterClaim = EventRing.claimedAfterLimit(cursor, finalLimit);
        final long ingested = cursor + 1 + rejectedFull + closedBeforeClaim + interrupted + recovered;
        return new Account(ingested, written, overwritten, rejectedFull, closedBeforeClaim + closedAfterClaim,
            interrupted, rejectedInvalid, failed, batchesWritten, batchesFailed, retries, ring.occupancy(), inFlight,
            pump.death() != null, spooled, spool == null ? 0 : spool.appendedBatches(),
            spool == null ? 0 : spool.replayedBatches(), recovered, droppedSpoolFull, abandoned, writtenLate,
            spool != null && spool.isFull());
    }

    /**
     * Closes: see the class comment. Idempotent and safe from any thread: concurrent and later callers wait for
     * the first close and get its account. An interrupted closer (or one interrupted while closing) closes at once,
     * as if the deadline had come, and keeps its interrupt status. A close from inside {@code Sink.write} (a
     * worker thread) also closes at once, since its own batch cannot finish before close returns.
     */
    public Account close(Duration timeout) {
        if (!closing.compareAndSet(false, true)) {
            return awaitFinalAccount();
        }
        // An interrupt means "close now": the flag is cleared while closing (so waits work) and restored after.
        boolean interrupted = Thread.interrupted();
        try {
            final boolean fromWorker = workers.isWorker(Thread.currentThread());
            final long now = System.nanoTime();
            long deadline = interrupted || fromWorker ? now : now + timeout.toNanos();
            ring.stopAccepting();
            pump.requestStop(deadline);
            while (true) {
                try {
                    awaitPump(deadline);
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                    deadline = System.nanoTime();
                    pump.requestStop(deadline);
                }
            }
            if (pump.death() != null) {
                pump.drainAfterDeath();
            }
            if (workers.shutdown(deadline)) {
                interrupted = true;
            }
            workers.closeSinkWhenIdle();
            if (spool != null) {
                spool.close(); // forces what was spooled: it is durable, and the next run replays it
                tracker.syncAdvanced();
            }
            tracker.close();
            if (metrics != null) {
                metrics.unbind();
            }
            final Account account = account();
            finalAccount = account;
            if (account.pending() == 0) {
                LOG.info("pipeline '{}' closed (balanced): {}", name, account);
            } else {
                LOG.error("pipeline '{}' closed UNBALANCED: {}", name, account);
            }
            return account;
        } finally {
            if (finalAccount == null) {
                finalAccount = account(); // close itself failed: later callers still get an account
            }
            closed.countDown();
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Waits for the pump to finish its drain. Past the deadline the pump gives everything up without waiting for
     * anyone, so it finishes within moments, plus the failed-batch handler's time for what it gives up, which
     * close waits for (a warning is logged if that takes long).
     */
    private void awaitPump(long deadline) throws InterruptedException {
        final long warnAt = deadline + CLOSE_SLACK.toNanos() / 2;
        if (!pump.awaitFinished(Math.max(0, warnAt - System.nanoTime()), TimeUnit.NANOSECONDS)) {
            LOG.warn("pipeline '{}': the pump is still giving up batches after the close deadline; waiting for the "
                + "failed-batch handler", name);
            pump.awaitFinished(Long.MAX_VALUE, TimeUnit.NANOSECONDS);
        }
    }

    private Account awaitFinalAccount() {
        boolean interrupted = false;
        while (true) {
            try {
                closed.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true; // the first closer returns within its deadline: wait for it, keep the status
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        return finalAccount;
    }
}
