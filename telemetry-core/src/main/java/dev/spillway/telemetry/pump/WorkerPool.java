package dev.spillway.telemetry.pump;

import dev.spillway.telemetry.metrics.PipelineCounters;
import dev.spillway.telemetry.sink.FailedBatchHandler;
import dev.spillway.telemetry.sink.RetryPolicy;
import dev.spillway.telemetry.sink.Sink;
import dev.spillway.telemetry.spool.Spool;
import dev.spillway.telemetry.spool.SpoolException;
import dev.spillway.telemetry.spool.SpooledBatch;
import io.micrometer.core.instrument.Timer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

/**
 * N threads that take batches from the pump, write them through the {@link Sink} with the {@link RetryPolicy},
 * and return them to the pool. A sink failure never kills a worker: a batch is either written or, once its
 * retries are spent, given up ({@link #giveUp}): appended to the spool when there is one, else counted as failed,
 * logged once with its context, and handed to the failed-batch handler.
 *
 * <h2>Spool and replay</h2>
 * With a {@link Spool}, a batch whose retries are exhausted by transient failures, or that fails once while the
 * sink is known to be down (an earlier batch was spooled and nothing was written since), is appended to the spool
 * instead of failing. The same workers replay the spool, oldest batch first, one batch at a time (a single replay
 * permit keeps the replay in order): after every live batch a worker takes one spooled batch, and a worker with
 * no live batch waiting replays continuously. So when both exist each worker alternates live and spooled batches
 * one for one (neither can starve: live traffic keeps at least half of the workers' turns, the spool gets at most
 * one worker's worth), and an idle pipeline drains its spool at full speed. A replay that fails transiently
 * leaves the batch in the spool and pauses replay with the retry policy's backoff; each replayed batch keeps its
 * original ledger key.
 */
public final class WorkerPool {

    private static final Logger LOG = LoggerFactory.getLogger(WorkerPool.class);
    private static final MutableEventBatch POISON = new MutableEventBatch(1);

    private final Sink sink;
    private final RetryPolicy retryPolicy;
    private final FailedBatchHandler failedBatchHandler;
    private final PipelineCounters counters;
    private final BlockingQueue<MutableEventBatch> free;
    private final BlockingQueue<MutableEventBatch> work;
    private final Timer writeTimer;
    private final List<Thread> threads;
    private final Spool spool;
    private final CommitTracker tracker;
    /** One replay at a time, so spooled batches are written oldest first and the replay position stays simple. */
    private final AtomicBoolean replayPermit = new AtomicBoolean();
    /** Set when a batch was spooled for want of a sink, cleared by the next successful write (live or replay). */
    private volatile boolean sinkDown;
    private volatile Throwable lastSinkFailure;
    /** Whether the last append was refused (full, disk error): such errors are logged once per episode. */
    private volatile boolean spoolRefusing;
    private volatile boolean closing;
    private volatile long replayNotBefore;
    private int replayFailures; // guarded by replayPermit

    /** Set at the close deadline: retries stop, and every batch not yet written is failed. */
    private volatile boolean aborted;

    /**
     * @param writeTimer records each successful write's latency; null when no registry is configured
     */
    public WorkerPool(int workers, ThreadFactory threadFactory, Sink sink, RetryPolicy retryPolicy,
                      FailedBatchHandler failedBatchHandler, PipelineCounters counters,
                      BlockingQueue<MutableEventBatch> free, BlockingQueue<MutableEventBatch> work, Timer writeTimer,
                      Spool spool, CommitTracker tracker) {
        this.spool = spool;
        this.tracker = tracker;
        this.sink = sink;
        this.retryPolicy = retryPolicy;
        this.failedBatchHandler = failedBatchHandler;
        this.counters = counters;
        this.free = free;
        this.work = work;
        this.writeTimer = writeTimer;
        this.threads = new ArrayList<>(workers);
        for (int i = 0; i < workers; i++) {
            threads.add(threadFactory.newThread(this::runWorker));
        }
    }

    /** Starts the threads. */
    public void start() {
        threads.forEach(Thread::start);
    }

    /**
     * Lets the workers finish the queued batches and stop; at the deadline, aborts what is left.
     *
     * @return true when every worker finished by the deadline
     */
    public boolean shutdown(long deadlineNanoTime) throws InterruptedException {
        closing = true; // no new replays: what is left in the spool stays there for the next run
        for (int i = 0; i < threads.size(); i++) {
            work.put(POISON); // the queue has room for the whole pool plus one pill per worker
        }
        boolean clean = joinUntil(deadlineNanoTime);
        if (!clean) {
            aborted = true;
            threads.forEach(Thread::interrupt);
            // A worker blocked inside the sink gets a short grace to notice the interrupt.
            clean = joinUntil(System.nanoTime() + TimeUnit.SECONDS.toNanos(2));
        }
        MutableEventBatch left;
        while ((left = work.poll()) != null) {
            if (left != POISON) {
                giveUp(left, new TimeoutException("close deadline passed before a worker took the batch"), 0, true);
                counters.batchFinished();
            }
        }
        if (!clean) {
            LOG.error("{} worker(s) still inside the sink after the close deadline; their batches are not accounted",
                threads.stream().filter(Thread::isAlive).count());
        }
        return clean;
    }

    private boolean joinUntil(long deadlineNanoTime) throws InterruptedException {
        for (Thread t : threads) {
            final long left = deadlineNanoTime - System.nanoTime();
            if (left > 0) {
                TimeUnit.NANOSECONDS.timedJoin(t, left);
            }
            if (t.isAlive()) {
                return false;
            }
        }
        return true;
    }

    private void runWorker() {
        while (true) {
            final MutableEventBatch batch;
            try {
                // With something to replay, do not block: an idle worker replays.
                batch = spool != null && spool.hasEvents() && !closing
                    ? work.poll(REPLAY_IDLE_POLL_MILLIS, TimeUnit.MILLISECONDS) : work.take();
            } catch (InterruptedException e) {
                if (aborted) {
                    return; // shutdown() fails whatever is still queued
                }
                continue;
            }
            if (batch == POISON) {
                return;
            }
            if (batch != null) {
                try {
                    process(batch);
                } finally {
                    counters.batchFinished();
                    free.offer(batch);
                }
            }
            if (spool != null && !closing) {
                replayOne(); // one spooled batch per live batch (or per idle poll)
            }
        }
    }

    private static final long REPLAY_IDLE_POLL_MILLIS = 10;
    private static final long MAX_REPLAY_PROBE_NANOS = TimeUnit.SECONDS.toNanos(1);

    /** Writes the oldest spooled batch, if replay is due and no other worker is replaying. */
    private void replayOne() {
        if (!spool.hasEvents() || System.nanoTime() - replayNotBefore < 0 || !replayPermit.compareAndSet(false, true)) {
            return;
        }
        try {
            final SpooledBatch batch;
            try {
                batch = spool.peek();
            } catch (java.io.IOException e) {
                replayFailed(e);
                return;
            }
            if (batch == null) {
                return;
            }
            final int written;
            try {
                written = sink.write(batch);
                if (written < 0 || written > batch.size()) {
                    throw new IllegalStateException("sink " + sink.getClass().getName() + " reported " + written
                        + " events written for a batch of " + batch.size());
                }
            } catch (Throwable t) {
                if (t instanceof VirtualMachineError) {
                    throw (VirtualMachineError) t;
                }
                if (retryPolicy.isRetryable(t, sink)) {
                    replayFailed(t);
                } else {
                    final int n = batch.size();
                    LOG.error("gave up on spooled batch {} of run {} ({} events): permanent failure: {}",
                        batch.batchId(), batch.runId(), n, t.toString());
                    spool.commit();
                    counters.batchFailed(n);
                }
                return;
            }
            final int n = batch.size();
            spool.commit();
            counters.batchWritten(written, n - written);
            if (replayFailures > 0 || sinkDown) {
                LOG.info("sink healthy again: replaying the spool ({} events left)", spool.events());
            }
            replayFailures = 0;
            sinkDown = false;
        } finally {
            replayPermit.set(false);
        }
    }

    private void replayFailed(Throwable t) {
        replayFailures++;
        // While the sink is down the replay is its health probe: backed off like a retry, but at least once a
        // second, so the spool starts draining (and live batches stop going to it) soon after the sink is back.
        replayNotBefore = System.nanoTime() + Math.min(MAX_REPLAY_PROBE_NANOS,
            retryPolicy.backoffNanos(Math.min(replayFailures, 30)));
        if (replayFailures == 1) {
            LOG.warn("replaying the spool failed, will retry with backoff ({} events wait): {}", spool.events(),
                t.toString());
        }
    }

    private void process(MutableEventBatch batch) {
        if (spool != null && sinkDown && !aborted && trySpool(batch, lastSinkFailure)) {
            // The sink is known to be down: live batches go straight to the spool, in order, and the replayer's
            // backed-off attempts are the health probe. A replay that succeeds clears sinkDown.
            return;
        }
        final long start = System.nanoTime();
        int attempts = 0;
        while (true) {
            if (aborted) {
                giveUp(batch, new TimeoutException("close deadline passed before the batch could be written"), attempts,
                    true);
                return;
            }
            attempts++;
            final long attemptStart = System.nanoTime();
            Throwable failure;
            try {
                final int written = sink.write(batch);
                if (written < 0 || written > batch.size()) {
                    throw new IllegalStateException("sink " + sink.getClass().getName() + " reported " + written
                        + " events written for a batch of " + batch.size());
                }
                if (writeTimer != null) {
                    writeTimer.record(System.nanoTime() - attemptStart, TimeUnit.NANOSECONDS);
                }
                counters.batchWritten(written, batch.size() - written);
                tracker.resolved(batch.ringFrom(), batch.ringTo(), batch.lossInRange() || written < batch.size(), 0);
                if (sinkDown) {
                    sinkDown = false;
                    LOG.info("sink healthy again{}", spool == null ? "" : "; replaying the spool (" + spool.events()
                        + " events)");
                }
                return;
            } catch (Throwable t) {
                failure = t;
            }
            if (failure instanceof VirtualMachineError) {
                giveUp(batch, failure, attempts, false);
                throw (VirtualMachineError) failure;
            }
            final boolean retryable = retryPolicy.isRetryable(failure, sink);
            if (spool != null && sinkDown && retryable && trySpool(batch, failure)) {
                return; // the sink is known to be down: spool at once
            }
            if (aborted || !retryPolicy.shouldRetry(attempts, System.nanoTime() - start, failure, sink)) {
                giveUp(batch, failure, attempts, retryable);
                return;
            }
            counters.retried();
            final long pause = retryPolicy.backoffNanos(attempts);
            if (LOG.isDebugEnabled()) {
                LOG.debug("batch {} ({} events) attempt {} failed, retrying in {} ms: {}", batch.batchId(),
                    batch.size(), attempts, TimeUnit.NANOSECONDS.toMillis(pause), failure.toString());
            }
            final long wakeAt = System.nanoTime() + pause;
            long remaining;
            while (!aborted && (remaining = wakeAt - System.nanoTime()) > 0) {
                LockSupport.parkNanos(this, remaining);
                Thread.interrupted(); // an interrupt only means "look at `aborted`"
            }
        }
    }

    /**
     * The one place a batch is given up on. With a spool, a batch that failed for a transient reason (or the close
     * deadline) is appended to it; otherwise, or when the spool refuses (full, disk error), it fails.
     */
    private void giveUp(MutableEventBatch batch, Throwable cause, int attempts, boolean spoolable) {
        if (spool != null && spoolable && trySpool(batch, cause)) {
            return;
        }
        tracker.resolved(batch.ringFrom(), batch.ringTo(), true, 0);
        fail(batch, cause, attempts);
    }

    /** Appends the batch to the spool; false (logged once per episode) when the spool refuses it. */
    private boolean trySpool(MutableEventBatch batch, Throwable cause) {
        try {
            final long generation = spool.append(batch, sink.runId());
            tracker.resolved(batch.ringFrom(), batch.ringTo(), batch.lossInRange(), generation);
            lastSinkFailure = cause;
            spoolRefusing = false;
            if (!sinkDown) {
                sinkDown = true;
                LOG.warn("sink unavailable ({}); spooling batches to {} ({} events there now)", cause,
                    spool.config().directory(), spool.events());
            }
            return true;
        } catch (SpoolException e) {
            if (!spoolRefusing) {
                spoolRefusing = true;
                LOG.error("could not spool batch {} ({} events): {}; batches fail until the spool takes them again",
                    batch.batchId(), batch.size(), e.getMessage());
            }
            return false;
        }
    }

    private void fail(MutableEventBatch batch, Throwable cause, int attempts) {
        counters.batchFailed(batch.size());
        int minSource = Integer.MAX_VALUE;
        int maxSource = Integer.MIN_VALUE;
        for (int i = 0; i < batch.size(); i++) {
            minSource = Math.min(minSource, batch.sourceId(i));
            maxSource = Math.max(maxSource, batch.sourceId(i));
        }
        LOG.error("gave up on batch {}: {} events, sources {}..{}, time {} .. {}, after {} attempt(s): {}",
            batch.batchId(), batch.size(), minSource, maxSource, toInstant(batch.minTimestampNanos()),
            toInstant(batch.maxTimestampNanos()), attempts, cause.toString());
        if (failedBatchHandler != null) {
            try {
                failedBatchHandler.onFailedBatch(batch, cause, attempts);
            } catch (RuntimeException e) {
                LOG.error("failed-batch handler threw for batch {}; the batch stays counted as failed",
                    batch.batchId(), e);
            }
        }
    }

    private static Instant toInstant(long epochNanos) {
        return Instant.ofEpochSecond(Math.floorDiv(epochNanos, 1_000_000_000L), Math.floorMod(epochNanos, 1_000_000_000L));
    }
}
