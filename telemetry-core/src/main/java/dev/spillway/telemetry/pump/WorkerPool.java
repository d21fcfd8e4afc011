package dev.spillway.telemetry.pump;

import dev.spillway.telemetry.metrics.PipelineCounters;
import dev.spillway.telemetry.sink.FailedBatchHandler;
import dev.spillway.telemetry.sink.RetryPolicy;
import dev.spillway.telemetry.sink.Sink;
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
import java.util.concurrent.locks.LockSupport;

/**
 * N threads that take batches from the pump, write them through the {@link Sink} with the {@link RetryPolicy},
 * and return them to the pool. A sink failure never kills a worker: a batch is either written or, once its
 * retries are spent, counted as failed, logged once with its context, and handed to the failed-batch handler.
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

    /** Set at the close deadline: retries stop, and every batch not yet written is failed. */
    private volatile boolean aborted;

    /**
     * @param writeTimer records each successful write's latency; null when no registry is configured
     */
    public WorkerPool(int workers, ThreadFactory threadFactory, Sink sink, RetryPolicy retryPolicy,
                      FailedBatchHandler failedBatchHandler, PipelineCounters counters,
                      BlockingQueue<MutableEventBatch> free, BlockingQueue<MutableEventBatch> work, Timer writeTimer) {
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
                fail(left, new TimeoutException("close deadline passed before a worker took the batch"), 0);
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
                batch = work.take();
            } catch (InterruptedException e) {
                if (aborted) {
                    return; // shutdown() fails whatever is still queued
                }
                continue;
            }
            if (batch == POISON) {
                return;
            }
            try {
                process(batch);
            } finally {
                counters.batchFinished();
                free.offer(batch);
            }
        }
    }

    private void process(MutableEventBatch batch) {
        final long start = System.nanoTime();
        int attempts = 0;
        while (true) {
            if (aborted) {
                fail(batch, new TimeoutException("close deadline passed before the batch could be written"), attempts);
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
                return;
            } catch (Throwable t) {
                failure = t;
            }
            if (failure instanceof VirtualMachineError) {
                fail(batch, failure, attempts);
                throw (VirtualMachineError) failure;
            }
            if (aborted || !retryPolicy.shouldRetry(attempts, System.nanoTime() - start, failure, sink)) {
                fail(batch, failure, attempts);
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
