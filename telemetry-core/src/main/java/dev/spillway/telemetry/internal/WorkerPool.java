package dev.spillway.telemetry.internal;

import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.FailedBatchHandler;
import dev.spillway.telemetry.sink.PartialWriteException;
import dev.spillway.telemetry.sink.RetryPolicy;
import dev.spillway.telemetry.sink.Sink;
import io.micrometer.core.instrument.Timer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Instant;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * N threads that take batches from the pump, write them through the {@link Sink} with the {@link RetryPolicy},
 * and return them to the pool.
 *
 * <p>Nothing a sink or a user callback throws kills a worker: {@code RuntimeException}s, {@code Error}s
 * (including {@code OutOfMemoryError} and {@code StackOverflowError}) from {@code write}, the retry classifier or
 * the failed-batch handler are caught, counted ({@code callbackFailures} for everything but write failures),
 * logged with the batch's context, and the worker takes the next batch. A batch ends either written or given up,
 * and {@link #giveUp} is the one place where it becomes failed.
 *
 * <p>Exactly one party resolves each dispatched batch ({@link MutableEventBatch#claimResolution()}): its worker,
 * or, for a write that ignores the abort at the close deadline, the closer, which then counts it failed and
 * hands it over; the write's late result is ignored (and logged).
 */
final class WorkerPool {

    /** After the close deadline, how long aborted writes get to return before their batches are abandoned. */
    static final long ABORT_GRACE_NANOS = TimeUnit.MILLISECONDS.toNanos(200);

    private static final Logger LOG = LoggerFactory.getLogger(WorkerPool.class);
    private static final MutableEventBatch POISON = new MutableEventBatch(1);

    private final String pipelineName;
    private final Sink sink;
    private final RetryPolicy retryPolicy;
    private final FailedBatchHandler failedBatchHandler;
    private final PipelineCounters counters;
    private final BlockingQueue<MutableEventBatch> free;
    private final BlockingQueue<MutableEventBatch> work;
    private final Timer writeTimer;
    private final Worker[] workers;

    /** Set at the close deadline: retries stop, and every batch not yet written is failed. */
    private volatile boolean aborted;
    /** Workers inside {@code sink.write}: the sink is closed only when this is 0 (see {@link #closeSinkWhenIdle}). */
    private final AtomicInteger insideWrite = new AtomicInteger();
    private volatile boolean sinkCloseRequested;
    private final AtomicBoolean sinkClosed = new AtomicBoolean();

    /**
     * @param writeTimer records each successful write's latency; null when no registry is configured
     */
    WorkerPool(String pipelineName, int workerCount, ThreadFactory threadFactory, Sink sink, RetryPolicy retryPolicy,
               FailedBatchHandler failedBatchHandler, PipelineCounters counters,
               BlockingQueue<MutableEventBatch> free, BlockingQueue<MutableEventBatch> work, Timer writeTimer) {
        this.pipelineName = pipelineName;
        this.sink = sink;
        this.retryPolicy = retryPolicy;
        this.failedBatchHandler = failedBatchHandler;
        this.counters = counters;
        this.free = free;
        this.work = work;
        this.writeTimer = writeTimer;
        this.workers = new Worker[workerCount];
        for (int i = 0; i < workerCount; i++) {
            workers[i] = new Worker(threadFactory);
        }
    }

    /** Starts the threads. */
    void start() {
        for (Worker w : workers) {
            w.thread.start();
        }
    }

    /** Whether {@code t} is one of this pool's workers (a close() from inside Sink.write runs on one). */
    boolean isWorker(Thread t) {
        for (Worker w : workers) {
            if (w.thread == t) {
                return true;
            }
        }
        return false;
    }

    /**
     * Lets the workers finish the queued batches and stop; at the deadline, aborts the rest: stops retries,
     * interrupts the workers, asks the sink to {@linkplain Sink#abortWrites() abort} its writes, gives them
     * {@link #ABORT_GRACE_NANOS} to return, then abandons the batches of writes that did not (counted failed and
     * handed over). Returns with every dispatched batch resolved. Interrupting the caller moves the deadline to
     * now; the caller's interrupt status is left set.
     *
     * @return true when every worker finished by the deadline
     */
    boolean shutdown(long deadlineNanoTime) {
        final Thread self = Thread.currentThread();
        for (int i = 0; i < workers.length; i++) {
            work.offer(POISON); // the queue has room for the whole pool plus one pill per worker
        }
        boolean clean = joinUntil(deadlineNanoTime, self);
        if (!clean) {
            aborted = true;
            for (Worker w : workers) {
                if (w.thread != self) {
                    w.thread.interrupt();
                }
            }
            if (insideWriteExcludingCaller(self) > 0) {
                try {
                    sink.abortWrites();
                } catch (Throwable t) {
                    counters.callbackFailed();
                    LOG.error("pipeline '{}': sink.abortWrites() threw", pipelineName, t);
                }
            }
            joinUntil(System.nanoTime() + ABORT_GRACE_NANOS, self);
            abandonStuckBatches();
        }
        MutableEventBatch left;
        while ((left = work.poll()) != null) {
            if (left != POISON && left.claimResolution()) {
                counters.batchFinished();
                giveUp(left, new TimeoutException("close deadline passed before a worker took the batch"), 0);
            }
        }
        // A worker that took a batch just before the abort resolves it within moments (it checks `aborted` before
        // calling the sink), so this wait is short and bounded.
        final long settleBy = System.nanoTime() + ABORT_GRACE_NANOS;
        while (counters.batchesInFlight() > 0 && System.nanoTime() - settleBy < 0) {
            abandonStuckBatches();
            LockSupport.parkNanos(TimeUnit.MICROSECONDS.toNanos(100));
        }
        return clean;
    }

    private int insideWriteExcludingCaller(Thread self) {
        return insideWrite.get() - (isWorker(self) ? 1 : 0);
    }

    private void abandonStuckBatches() {
        for (Worker w : workers) {
            final MutableEventBatch b = w.current;
            if (b != null && w.thread.isAlive() && b.claimResolution()) {
                counters.batchFinished();
                LOG.error("pipeline '{}': worker {} still inside the sink after the close deadline (the write ignores "
                    + "interrupts and the abort); abandoning batch {}", pipelineName, w.thread.getName(), b.batchId());
                giveUp(b, new TimeoutException("close deadline passed while the sink was still writing the batch"),
                    w.attempts);
            }
        }
    }

    /** Joins the workers (except the caller, when it is one) until the deadline; an interrupt ends the wait. */
    private boolean joinUntil(long deadlineNanoTime, Thread self) {
        for (Worker w : workers) {
            if (w.thread == self) {
                continue;
            }
            final long left = deadlineNanoTime - System.nanoTime();
            if (left > 0 && !self.isInterrupted()) {
                try {
                    TimeUnit.NANOSECONDS.timedJoin(w.thread, left);
                } catch (InterruptedException e) {
                    self.interrupt(); // keep the status for the caller; the deadline is now
                }
            }
            if (w.thread.isAlive()) {
                return false;
            }
        }
        return !isWorker(self);
    }

    /**
     * Closes the sink now if no worker is inside {@code write}, otherwise as soon as the last one leaves it (on
     * that worker's thread). A write that never returns means the sink is never closed; that is logged.
     *
     * @return whether the sink was closed by this call
     */
    boolean closeSinkWhenIdle() {
        sinkCloseRequested = true;
        if (insideWrite.get() == 0) {
            return closeSinkOnce();
        }
        LOG.warn("pipeline '{}': {} write(s) still running after close; the sink is closed when the last one returns",
            pipelineName, insideWrite.get());
        return false;
    }

    private boolean closeSinkOnce() {
        if (!sinkClosed.compareAndSet(false, true)) {
            return false;
        }
        try {
            sink.close();
        } catch (Throwable t) {
            counters.callbackFailed();
            LOG.warn("pipeline '{}': sink close failed", pipelineName, t);
        }
        return true;
    }

    private void leaveWrite() {
        if (insideWrite.decrementAndGet() == 0 && sinkCloseRequested) {
            closeSinkOnce();
        }
    }

    private final class Worker implements Runnable {
        private final Thread thread;
        private volatile MutableEventBatch current;
        private volatile int attempts;

        Worker(ThreadFactory threadFactory) {
            this.thread = threadFactory.newThread(this);
        }

        @Override
        public void run() {
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
                attempts = 0;
                current = batch;
                try {
                    process(batch);
                } catch (Throwable t) {
                    // Only our own code runs outside the guarded calls; never let even that end the worker.
                    if (batch.claimResolution()) {
                        counters.batchFinished();
                        giveUp(batch, t, attempts);
                    }
                    LOG.error("pipeline '{}': unexpected failure while processing batch {}; the worker carries on",
                        pipelineName, batch.batchId(), t);
                }
                current = null;
                Thread.interrupted(); // an interrupt meant "look at `aborted`", and the batch is done
            }
        }

        private void process(MutableEventBatch batch) {
            final long start = System.nanoTime();
            while (true) {
                if (aborted) {
                    resolveFailed(batch, new TimeoutException("close deadline passed before the batch could be "
                        + "written"));
                    return;
                }
                attempts++;
                final long attemptStart = System.nanoTime();
                Throwable failure = null;
                int written = -1;
                insideWrite.incrementAndGet();
                try {
                    written = sink.write(batch);
                } catch (Throwable t) {
                    failure = t;
                } finally {
                    leaveWrite();
                }
                if (failure == null) {
                    if (written >= 0 && written <= batch.size()) {
                        resolveWritten(batch, written, System.nanoTime() - attemptStart);
                        return;
                    }
                    failure = new IllegalStateException("sink " + sink.getClass().getName() + " reported " + written
                        + " events written for a batch of " + batch.size());
                }
                if (failure instanceof PartialWriteException) {
                    batch.progress((PartialWriteException) failure);
                }
                final Throwable cause = failure instanceof PartialWriteException ? failure.getCause() : failure;
                if (cause instanceof Error) {
                    counters.callbackFailed();
                }
                if (!shouldRetry(batch, start, cause)) {
                    resolveFailed(batch, cause);
                    return;
                }
                counters.retried();
                final long pause = retryPolicy.backoffNanos(attempts);
                if (LOG.isDebugEnabled()) {
                    LOG.debug("batch {} ({} events) attempt {} failed, retrying in {} ms: {}", batch.batchId(),
                        batch.size(), attempts, TimeUnit.NANOSECONDS.toMillis(pause), cause.toString());
                }
                final long wakeAt = System.nanoTime() + pause;
                long remaining;
                while (!aborted && (remaining = wakeAt - System.nanoTime()) > 0) {
                    LockSupport.parkNanos(this, remaining);
                    Thread.interrupted(); // an interrupt only means "look at `aborted`"
                }
            }
        }

        private boolean shouldRetry(MutableEventBatch batch, long start, Throwable cause) {
            if (aborted) {
                return false;
            }
            try {
                return retryPolicy.shouldRetry(attempts, System.nanoTime() - start, cause, sink);
            } catch (Throwable classifierFailure) {
                counters.callbackFailed();
                LOG.error("pipeline '{}': the retry classifier threw for batch {}; the batch is not retried",
                    pipelineName, batch.batchId(), classifierFailure);
                return false;
            }
        }

        private void resolveWritten(MutableEventBatch batch, int written, long latencyNanos) {
            if (!batch.claimResolution()) {
                LOG.error("pipeline '{}': batch {} returned from the sink as written after close had abandoned it and "
                    + "counted it failed; the sink ignored the abort", pipelineName, batch.batchId());
                return;
            }
            if (writeTimer != null) {
                writeTimer.record(latencyNanos, TimeUnit.NANOSECONDS);
            }
            counters.eventsWritten(written, batch.size() - written);
            counters.batchWritten();
            counters.batchFinished();
            free.offer(batch);
        }

        private void resolveFailed(MutableEventBatch batch, Throwable cause) {
            if (!batch.claimResolution()) {
                return; // the closer abandoned it and has accounted for it
            }
            counters.batchFinished();
            giveUp(batch, cause, attempts);
            free.offer(batch);
        }
    }

    /**
     * The one place where a batch becomes failed. The caller has claimed its resolution. Events an earlier attempt
     * reported durable ({@link PartialWriteException}) are counted written (or invalid), the rest are counted
     * failed, logged once with their context, and handed to the failed-batch handler.
     */
    void giveUp(MutableEventBatch batch, Throwable cause, int attempts) {
        final PartialWriteException progress = batch.progress();
        EventBatch failedPart = batch;
        if (progress != null) {
            counters.eventsWritten(progress.writtenCount(), progress.invalidCount());
            final int[] rest = new int[batch.size() - progress.writtenCount() - progress.invalidCount()];
            int n = 0;
            for (int i = 0; i < batch.size(); i++) {
                if (!progress.isWritten(i) && !progress.isInvalid(i)) {
                    rest[n++] = i;
                }
            }
            if (rest.length == 0) {
                counters.batchWritten();
                return;
            }
            if (rest.length < batch.size()) {
                failedPart = new EventSubset(batch, rest);
            }
        }
        counters.batchFailed(failedPart.size());
        logGiveUp(failedPart, batch.size(), cause, attempts);
        if (failedBatchHandler != null) {
            try {
                failedBatchHandler.onFailedBatch(failedPart, cause, attempts);
            } catch (Throwable t) {
                counters.callbackFailed();
                LOG.error("pipeline '{}': the failed-batch handler threw for batch {}; its events stay counted as "
                    + "failed", pipelineName, batch.batchId(), t);
            }
        }
    }

    private void logGiveUp(EventBatch failedPart, int batchSize, Throwable cause, int attempts) {
        int minSource = Integer.MAX_VALUE;
        int maxSource = Integer.MIN_VALUE;
        for (int i = 0; i < failedPart.size(); i++) {
            minSource = Math.min(minSource, failedPart.sourceId(i));
            maxSource = Math.max(maxSource, failedPart.sourceId(i));
        }
        final String what = "pipeline '{}': gave up on batch {}: {} of its {} events, sources {}..{}, time {} .. {}, "
            + "after {} attempt(s): {}";
        final Object[] args = {pipelineName, failedPart.batchId(), failedPart.size(), batchSize, minSource, maxSource,
            toInstant(failedPart.minTimestampNanos()), toInstant(failedPart.maxTimestampNanos()), attempts,
            cause.toString(), null};
        if (cause instanceof Error) {
            args[args.length - 1] = cause; // an Error deserves its stack trace
            LOG.error(what, args);
        } else {
            LOG.error(what, java.util.Arrays.copyOf(args, args.length - 1));
        }
    }

    private static Instant toInstant(long epochNanos) {
        return Instant.ofEpochSecond(Math.floorDiv(epochNanos, 1_000_000_000L), Math.floorMod(epochNanos, 1_000_000_000L));
    }
}
