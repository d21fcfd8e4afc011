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
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

/**
 * N threads that take batches from the pump, write them through the {@link Sink} with the {@link RetryPolicy},
 * and return them to the pool.
 *
 * <p>Nothing a sink or a user callback throws kills a worker: {@code RuntimeException}s, {@code Error}s
 * (including {@code OutOfMemoryError} and {@code StackOverflowError}) from {@code write}, the retry classifier or
 * the failed-batch handler are caught, counted ({@code callbackFailures} for everything but write failures),
 * logged with the batch's context, and the worker takes the next batch. A batch ends either written or given up,
 * and {@link #giveUp} is the one place where it becomes failed (or, with a spool, spooled).
 *
 * <p>Exactly one party resolves each dispatched batch ({@link MutableEventBatch#claimResolution()}): its worker,
 * or, for a write that ignores the abort at the close deadline, the closer ({@link #abandon}), which spools it or
 * counts it abandoned (in doubt: the write may still store it, so it is not handed over). The write's late result
 * is then accounted by {@link #settleLate}: a success as written late (logged once with the batch id), a failure
 * of an abandoned batch as failed and handed over.
 *
 * <p>Interrupts: at the deadline the closer interrupts a worker only while it is inside the sink (a write or the
 * backoff between attempts), never during spool I/O, where an interrupt would close the segment's channel.
 *
 * <h2>Spool and replay</h2>
 * With a {@link Spool}, {@link #giveUp} appends a whole batch that failed for a transient reason (retries
 * exhausted, the close deadline, or at once when the write found the sink unreachable:
 * {@link SinkReachability}) to the spool instead of failing it. Once a batch was spooled the sink counts as
 * down: later live batches go straight to the spool (in order, without paying a connection timeout each), and the
 * replayer's attempts are the health probe; the first successful write, live or replayed, clears it. The same
 * workers replay the spool, oldest batch first, one batch at a time (a single permit keeps the order): after
 * every live batch a worker takes one spooled batch, and a worker with no live batch waiting replays
 * continuously. So under load each worker alternates live and spooled batches one for one: live traffic keeps at
 * least half of the workers' turns and the spool gets at most one worker, so neither starves; an idle pipeline
 * drains its spool at the speed of one worker. A replay that fails transiently leaves the batch in the spool and
 * pauses replay with the retry policy's backoff, capped at one second. Each replayed batch keeps its original
 * ledger key ({@link EventBatch#runId()}, {@link EventBatch#batchId()}).
 *
 * <p>Acknowledgements: every resolution (written, spooled, failed) reports the batch's ring range to the
 * {@link CommitTracker}.
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
    /** The queue each worker takes from: one shared by all (arrival order) or one per worker (routing by source). */
    private final List<BlockingQueue<MutableEventBatch>> queueOfWorker;
    private final Timer writeTimer;
    private final Worker[] workers;

    /**
     * Workers inside {@code sink.write} (the sink is closed only when there are none, see
     * {@link #closeSinkWhenIdle}), and the close deadline: once aborted, retries stop, no write starts, and every
     * batch not yet written is spooled or failed.
     */
    private final WriteGate gate = new WriteGate();
    private volatile boolean sinkCloseRequested;
    /** The closing thread was interrupted during {@link #shutdown}; touched by that thread only. */
    private boolean callerInterrupted;
    private final AtomicBoolean sinkClosed = new AtomicBoolean();

    private static final long REPLAY_IDLE_POLL_MILLIS = 10;
    private static final long MAX_REPLAY_PROBE_NANOS = TimeUnit.SECONDS.toNanos(1);
    private final Spool spool;
    private final CommitTracker tracker;
    /** The sink's ledger run id, stored with spooled batches (read once: a sink's run id does not change). */
    private final String sinkRunId;
    /** One replay at a time, so spooled batches are written oldest first. */
    private final AtomicBoolean replayPermit = new AtomicBoolean();
    /** Set when a batch was spooled for want of a sink, cleared by the next successful write (live or replay). */
    private volatile boolean sinkDown;
    private volatile Throwable lastSinkFailure;
    /** Whether the last append was refused (full, disk error): logged once per episode. */
    private volatile boolean spoolRefusing;
    private volatile boolean closing;
    private volatile long replayNotBefore;
    private int replayFailures; // guarded by replayPermit

    /**
     * @param queueOfWorker the queue worker {@code i} takes batches from: the same queue for every worker (arrival
     *     order) or a queue per worker (routing by source); each has room for the whole pool plus one pill per
     *     worker that takes from it
     * @param writeTimer records each successful write's latency; null when no registry is configured
     */
    WorkerPool(String pipelineName, ThreadFactory threadFactory, Sink sink, RetryPolicy retryPolicy,
               FailedBatchHandler failedBatchHandler, PipelineCounters counters,
               BlockingQueue<MutableEventBatch> free, List<BlockingQueue<MutableEventBatch>> queueOfWorker,
               Timer writeTimer, Spool spool, CommitTracker tracker) {
        final int workerCount = queueOfWorker.size();
        this.spool = spool;
        this.tracker = tracker;
        String runId = null;
        if (spool != null) {
            try {
                runId = sink.runId();
            } catch (Throwable t) {
                counters.callbackFailed();
                LOG.error("pipeline '{}': sink.runId() threw; spooled batches are stored without a run id",
                    pipelineName, t);
            }
        }
        this.sinkRunId = runId;
        this.pipelineName = pipelineName;
        this.sink = sink;
        this.retryPolicy = retryPolicy;
        this.failedBatchHandler = failedBatchHandler;
        this.counters = counters;
        this.free = free;
        this.queueOfWorker = List.copyOf(queueOfWorker);
        this.writeTimer = writeTimer;
        this.workers = new Worker[workerCount];
        for (int i = 0; i < workerCount; i++) {
            workers[i] = new Worker(threadFactory, this.queueOfWorker.get(i));
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
     * interrupts the workers inside the sink, asks the sink to {@linkplain Sink#abortWrites() abort} its writes,
     * gives them {@link #ABORT_GRACE_NANOS} to return (their workers spool or fail the batches), then abandons the
     * batches of writes that did not ({@link #abandon}). Returns with every dispatched batch resolved. Interrupting
     * the caller moves the deadline to now.
     *
     * @return whether the caller was interrupted meanwhile (its interrupt status is cleared; the caller restores it)
     */
    boolean shutdown(long deadlineNanoTime) {
        closing = true; // no new replays: what is left in the spool stays there for the next run
        final Thread self = Thread.currentThread();
        for (Worker w : workers) {
            w.work.offer(POISON); // each queue has room for the whole pool plus one pill per worker taking from it
        }
        callerInterrupted = false;
        final boolean clean = joinUntil(deadlineNanoTime, self);
        if (!clean) {
            final int inside = gate.abort() - (isWorker(self) ? 1 : 0);
            for (Worker w : workers) {
                if (w.thread != self) {
                    w.interruptIfInSink();
                }
            }
            if (inside > 0) {
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
        for (Worker w : workers) { // a shared queue is simply found empty after the first worker's turn
            MutableEventBatch left;
            while ((left = w.work.poll()) != null) {
                if (left != POISON && left.claimResolution()) {
                    counters.batchFinished();
                    giveUp(left, new TimeoutException("close deadline passed before a worker took the batch"), 0);
                }
            }
        }
        // A worker that took a batch just before the abort resolves it within moments (it checks `aborted` before
        // calling the sink), so this wait is short and bounded.
        final long settleBy = System.nanoTime() + ABORT_GRACE_NANOS;
        while (counters.batchesInFlight() > 0 && System.nanoTime() - settleBy < 0) {
            abandonStuckBatches();
            LockSupport.parkNanos(TimeUnit.MICROSECONDS.toNanos(100));
        }
        return callerInterrupted || Thread.interrupted();
    }

    private void abandonStuckBatches() {
        for (Worker w : workers) {
            final MutableEventBatch b = w.current;
            if (b != null && w.thread.isAlive() && b.claimResolution()) {
                counters.batchFinished();
                abandon(w, b);
            }
        }
    }

    /** How the closer gave up a batch whose write was still running ({@link MutableEventBatch#givenUpAs()}). */
    static final int GIVEN_UP_SPOOLED = 1;
    static final int GIVEN_UP_IN_DOUBT = 2;

    /**
     * The closer gives up a batch whose write is still running past the deadline and the abort grace (the write
     * ignores interrupts and {@link Sink#abortWrites()}). Its outcome is unknown: the write may still commit it.
     * With a spool it is spooled (its ledger key goes with it, so a sink with a ledger finds it committed on replay
     * if the write did land); otherwise it is counted abandoned, not failed, and NOT handed to the failed-batch
     * handler, which would resend what may be stored. When the write returns, {@link #settleLate} moves it.
     */
    private void abandon(Worker w, MutableEventBatch b) {
        final TimeoutException cause = new TimeoutException("close deadline passed while the sink was still writing "
            + "the batch");
        final PartialWriteException progress = b.progress();
        final int as;
        if (progress == null && spool != null && trySpool(b, cause, false)) {
            as = GIVEN_UP_SPOOLED;
            LOG.error("pipeline '{}': worker {} still inside the sink after the close deadline (the write ignores "
                + "interrupts and the abort); batch {} ({} events) spooled while its write runs on: if the write "
                + "returns written, its events are counted written late", pipelineName, w.thread.getName(),
                b.batchId(), b.size());
        } else {
            as = GIVEN_UP_IN_DOUBT;
            int durable = 0;
            int invalid = 0;
            if (progress != null) {
                durable = progress.writtenCount();
                invalid = progress.invalidCount();
                counters.eventsWritten(durable, invalid);
            }
            final int inDoubt = b.size() - durable - invalid;
            counters.abandoned(inDoubt);
            tracker.resolved(b.ringFrom(), b.ringTo(), true, 0, b.rangeParts()); // not confirmed: 503, not 204
            LOG.error("pipeline '{}': worker {} still inside the sink after the close deadline (the write ignores "
                + "interrupts and the abort); abandoning batch {}: {} of its {} events are in doubt (the write may "
                + "still store them), counted abandoned and not handed to the failed-batch handler; if the write "
                + "returns, they are counted written late, or failed and handed over", pipelineName,
                w.thread.getName(), b.batchId(), inDoubt, b.size());
        }
        if (b.givenUpWhileWriting(as, progress)) {
            settleLate(b);
        }
    }

    /** A worker's write returned after the closer had claimed its batch. */
    private void returnedAfterGiveUp(MutableEventBatch b, int written, Throwable failure) {
        if (b.returnedAfterGiveUp(written, failure) != 0) {
            settleLate(b);
        }
    }

    /**
     * Both halves are known: how the closer gave the batch up, and what its write returned. A success moves the
     * events to written-late (out of abandoned, or out of spooled), logged once with the batch id; a failure of an
     * abandoned batch makes its events failed and hands them over now; a failure of a spooled batch changes nothing.
     */
    private void settleLate(MutableEventBatch b) {
        final int as = b.givenUpAs();
        final PartialWriteException before = b.progressAtGiveUp();
        final Throwable failure = b.lateFailure();
        final int beforeWritten = before == null ? 0 : before.writtenCount();
        final int beforeInvalid = before == null ? 0 : before.invalidCount();
        if (failure == null) {
            final int written = b.lateWritten();
            if (as == GIVEN_UP_SPOOLED) {
                counters.spooledThenWritten(b.size());
            } else {
                counters.abandonedSettled(b.size() - beforeWritten - beforeInvalid);
            }
            counters.writtenLate(written - beforeWritten, (b.size() - written) - beforeInvalid);
            LOG.warn("pipeline '{}': batch {} was written ({} of its {} events) after the close deadline had given it "
                + "up{}; counted as written late, not failed", pipelineName, b.batchId(), written, b.size(),
                as == GIVEN_UP_SPOOLED ? " and spooled it (the record stays: its replay at the next start finds it "
                    + "committed in a sink with a ledger)" : "");
            return;
        }
        if (as == GIVEN_UP_SPOOLED) {
            LOG.info("pipeline '{}': the write of batch {}, spooled at the close deadline, returned failed ({}); it "
                + "stays spooled", pipelineName, b.batchId(), failure.toString());
            return;
        }
        final PartialWriteException after = failure instanceof PartialWriteException
            ? (PartialWriteException) failure : before;
        final Throwable cause = failure instanceof PartialWriteException ? failure.getCause() : failure;
        counters.abandonedSettled(b.size() - beforeWritten - beforeInvalid);
        if (after != null) {
            counters.writtenLate(after.writtenCount() - beforeWritten, after.invalidCount() - beforeInvalid);
        }
        final EventBatch rest = notDurable(b, after);
        if (rest.size() == 0) {
            return;
        }
        counters.batchFailed(rest.size());
        logGiveUp(rest, b.size(), cause, 0);
        handOver(rest, b, cause, 0);
    }

    /** The events of {@code batch} not reported written or invalid by {@code progress} (all of them when null). */
    private static EventBatch notDurable(MutableEventBatch batch, PartialWriteException progress) {
        if (progress == null) {
            return batch;
        }
        final int[] rest = new int[batch.size() - progress.writtenCount() - progress.invalidCount()];
        int n = 0;
        for (int i = 0; i < batch.size(); i++) {
            if (!progress.isWritten(i) && !progress.isInvalid(i)) {
                rest[n++] = i;
            }
        }
        return rest.length == batch.size() ? batch : new EventSubset(batch, rest);
    }

    private void handOver(EventBatch failedPart, MutableEventBatch batch, Throwable cause, int attempts) {
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

    /** Joins the workers (except the caller, when it is one) until the deadline; an interrupt ends the wait. */
    private boolean joinUntil(long deadlineNanoTime, Thread self) {
        for (Worker w : workers) {
            if (w.thread == self) {
                continue;
            }
            final long left = deadlineNanoTime - System.nanoTime();
            if (left > 0 && !callerInterrupted) {
                try {
                    TimeUnit.NANOSECONDS.timedJoin(w.thread, left);
                } catch (InterruptedException e) {
                    callerInterrupted = true; // the deadline is now; the caller restores the status
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
        if (gate.inside() == 0) {
            return closeSinkOnce();
        }
        LOG.warn("pipeline '{}': {} write(s) still running after close; the sink is closed when the last one returns",
            pipelineName, gate.inside());
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
        if (gate.leave() == 0 && sinkCloseRequested) {
            closeSinkOnce();
        }
    }

    private final class Worker implements Runnable {
        private final Thread thread;
        private final BlockingQueue<MutableEventBatch> work;
        private volatile MutableEventBatch current;
        private volatile int attempts;
        /**
         * Guards {@link #inSink}. The closer interrupts a worker only while it is inside the sink (a write, or the
         * backoff between attempts), never while it appends to or replays from the spool: an interrupt during
         * {@code FileChannel} I/O closes the channel ({@code ClosedByInterruptException}), and an interrupted
         * append gives up its batch. Leaving the sink clears any interrupt under this lock, so none arrives later.
         */
        private final Object interruptLock = new Object();
        private boolean inSink;

        Worker(ThreadFactory threadFactory, BlockingQueue<MutableEventBatch> work) {
            this.work = work;
            this.thread = threadFactory.newThread(this);
        }

        /** Closer: interrupts the worker if it is inside the sink (see {@link #interruptLock}). */
        void interruptIfInSink() {
            synchronized (interruptLock) {
                if (inSink) {
                    thread.interrupt();
                }
            }
        }

        /**
         * Enters the sink (a write, or a backoff): interruptible from now on. Returns false, having left again, when
         * the close deadline has passed: a write started now would be neither interrupted nor aborted.
         */
        private boolean enterSink(boolean write) {
            synchronized (interruptLock) {
                inSink = true;
            }
            // The closer aborts the gate, then interrupts whoever is inside the sink (under the lock), then aborts
            // the sink's writes if the gate counted any: a worker that got in after either step sees the abort.
            if (write ? !gate.enter() : gate.aborted()) {
                synchronized (interruptLock) {
                    inSink = false;
                }
                Thread.interrupted();
                if (write && gate.inside() == 0 && sinkCloseRequested) {
                    closeSinkOnce(); // the sink's close may have been left to the last one out
                }
                return false;
            }
            return true;
        }

        /** Leaves the sink: no interrupt can reach the worker until it enters again, and none is pending. */
        private void leaveSink(boolean write) {
            synchronized (interruptLock) {
                inSink = false;
            }
            Thread.interrupted();
            if (write) {
                leaveWrite();
            }
        }

        @Override
        public void run() {
            boolean replayed = false;
            while (true) {
                final MutableEventBatch batch;
                try {
                    // With something to replay, do not block: an idle worker replays (back to back while that
                    // works, polling every few milliseconds while replay is backing off).
                    if (spool == null || !spool.hasEvents() || closing) {
                        batch = work.take();
                    } else {
                        batch = replayed ? work.poll() : work.poll(REPLAY_IDLE_POLL_MILLIS, TimeUnit.MILLISECONDS);
                    }
                } catch (InterruptedException e) {
                    if (gate.aborted()) {
                        return; // shutdown() fails whatever is still queued
                    }
                    continue;
                }
                if (batch == POISON) {
                    return;
                }
                if (batch == null) {
                    replayed = replayOne(this);
                    continue;
                }
                attempts = 0;
                current = batch;
                try {
                    process(batch);
                } catch (Throwable t) {
                    // Only our own code runs outside the guarded calls; never let even that end the worker.
                    // Unclaimed: nobody has accounted for it. Claimed: by this worker (then it is accounted) or by the
                    // closer (then resolveWritten/resolveFailed reported the write's outcome to it), so nothing to do.
                    if (batch.claimResolution()) {
                        counters.batchFinished();
                        giveUp(batch, t, attempts);
                    }
                    LOG.error("pipeline '{}': unexpected failure while processing batch {}; the worker carries on",
                        pipelineName, batch.batchId(), t);
                }
                current = null;
                Thread.interrupted(); // an interrupt meant "look at `aborted`", and the batch is done
                replayed = replayOne(this); // one spooled batch per live batch
            }
        }

        private void process(MutableEventBatch batch) {
            if (spool != null && sinkDown && !gate.aborted()) {
                // The sink is known to be down: straight to the spool, in order; the replayer probes the sink.
                resolveFailed(batch, lastSinkFailure);
                return;
            }
            final long start = System.nanoTime();
            while (true) {
                if (gate.aborted()) {
                    resolveFailed(batch, new TimeoutException("close deadline passed before the batch could be "
                        + "written"));
                    return;
                }
                if (!enterSink(true)) {
                    continue; // the deadline passed: the top of the loop fails (spools) the batch
                }
                attempts++;
                final long attemptStart = System.nanoTime();
                Throwable failure = null;
                int written = -1;
                try {
                    written = sink.write(batch);
                } catch (Throwable t) {
                    failure = t;
                } finally {
                    leaveSink(true);
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
                if (!shouldRetry(batch, start, cause) || spoolsAtOnce(batch, cause)) {
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
                if (enterSink(false)) { // interruptible while it backs off, so the deadline ends the wait
                    try {
                        long remaining;
                        while (!gate.aborted() && (remaining = wakeAt - System.nanoTime()) > 0) {
                            LockSupport.parkNanos(this, remaining);
                        }
                    } finally {
                        leaveSink(false);
                    }
                }
            }
        }

        /**
         * With a spool, a whole batch whose write found the sink unreachable goes to the spool at once instead of
         * retrying: the sink is known to be down (later batches follow it there, in order), and the replayer's
         * probe decides when it is back. A batch partly written keeps retrying (only whole batches are spooled).
         */
        private boolean spoolsAtOnce(MutableEventBatch batch, Throwable cause) {
            return spool != null && batch.progress() == null && SinkReachability.unreachable(cause);
        }

        private boolean shouldRetry(MutableEventBatch batch, long start, Throwable cause) {
            if (gate.aborted()) {
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
                returnedAfterGiveUp(batch, written, null); // the closer gave it up at the deadline: written late
                return;
            }
            if (writeTimer != null) {
                writeTimer.record(latencyNanos, TimeUnit.NANOSECONDS);
            }
            counters.eventsWritten(written, batch.size() - written);
            counters.batchWritten();
            counters.batchFinished();
            tracker.resolved(batch.ringFrom(), batch.ringTo(), batch.lossInRange() || written < batch.size(), 0,
                batch.rangeParts());
            free.offer(batch);
            sinkIsUp();
        }

        private void resolveFailed(MutableEventBatch batch, Throwable cause) {
            if (!batch.claimResolution()) {
                returnedAfterGiveUp(batch, -1, cause); // the closer gave it up at the deadline
                return;
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
        // Only whole batches are spooled: a remainder after a partial write would share the batch's ledger key
        // with its written part, and a ledger could take it for committed.
        if (progress == null && spool != null && spoolable(cause) && trySpool(batch, cause, attempts == 0)) {
            return;
        }
        final EventBatch failedPart = notDurable(batch, progress);
        if (progress != null) {
            counters.eventsWritten(progress.writtenCount(), progress.invalidCount());
            if (failedPart.size() == 0) {
                counters.batchWritten();
                tracker.resolved(batch.ringFrom(), batch.ringTo(),
                    batch.lossInRange() || progress.invalidCount() > 0, 0, batch.rangeParts());
                return;
            }
        }
        tracker.resolved(batch.ringFrom(), batch.ringTo(), true, 0, batch.rangeParts());
        counters.batchFailed(failedPart.size());
        logGiveUp(failedPart, batch.size(), cause, attempts);
        handOver(failedPart, batch, cause, attempts);
    }

    /** Transient failures (and the close deadline) are worth spooling; permanent ones would fail again. */
    private boolean spoolable(Throwable cause) {
        if (cause instanceof TimeoutException) {
            return true;
        }
        try {
            return retryPolicy.isRetryable(cause, sink);
        } catch (Throwable classifierFailure) {
            counters.callbackFailed();
            return false;
        }
    }

    /**
     * Appends the batch to the spool; false (logged once per episode) when the spool refuses it.
     *
     * @param neverWritten no attempt handed it to the sink, so its ledger key was never used and the spool may
     *     replay it together with its neighbours under another batch's key (see {@link Spool#append})
     */
    private boolean trySpool(MutableEventBatch batch, Throwable cause, boolean neverWritten) {
        try {
            // Marked when an acknowledgement scope may cover it: a full spool never drops such a batch.
            final long generation = spool.append(batch, sinkRunId, tracker.anyScopeReaches(batch.ringTo()),
                neverWritten);
            tracker.resolved(batch.ringFrom(), batch.ringTo(), batch.lossInRange(), generation, batch.rangeParts());
            lastSinkFailure = cause;
            spoolRefusing = false;
            if (!sinkDown && !closing) {
                sinkDown = true;
                LOG.warn("pipeline '{}': sink unavailable ({}); spooling batches to {} ({} events there now)",
                    pipelineName, cause, spool.config().directory(), spool.events());
            }
            return true;
        } catch (SpoolException e) {
            if (!spoolRefusing) {
                spoolRefusing = true;
                LOG.error("pipeline '{}': could not spool batch {} ({} events): {}; batches fail until the spool "
                    + "takes them again", pipelineName, batch.batchId(), batch.size(), e.getMessage());
            }
            return false;
        }
    }

    private void sinkIsUp() {
        if (spool != null) {
            spool.sinkWrites();
        }
        if (sinkDown) {
            sinkDown = false;
            LOG.info("pipeline '{}': sink healthy again; replaying the spool ({} events)", pipelineName,
                spool.events());
        }
    }

    /**
     * Writes the oldest spooled batch, if replay is due and no other worker is replaying.
     *
     * @return whether a batch was written (so the caller may replay again at once)
     */
    private boolean replayOne(Worker worker) {
        if (spool == null || closing || !spool.hasEvents() || System.nanoTime() - replayNotBefore < 0
            || !replayPermit.compareAndSet(false, true)) {
            return false;
        }
        try {
            final SpooledBatch batch;
            try {
                batch = spool.peek();
            } catch (java.io.IOException e) {
                replayFailed(e);
                return false;
            }
            if (batch == null) {
                return false;
            }
            final int n = batch.size();
            if (!worker.enterSink(true)) {
                return false; // closing: it stays in the spool for the next run
            }
            Throwable failure = null;
            int written = -1;
            try {
                written = sink.write(batch);
            } catch (Throwable t) {
                failure = t;
            } finally {
                worker.leaveSink(true);
            }
            if (failure == null && (written < 0 || written > n)) {
                failure = new IllegalStateException("sink " + sink.getClass().getName() + " reported " + written
                    + " events written for a batch of " + n);
            }
            if (failure == null) {
                spool.commit();
                counters.eventsWritten(written, n - written);
                replayFailures = 0;
                sinkIsUp();
                return true;
            } else if (failure instanceof PartialWriteException || !spoolable(failure)) {
                // Permanent (or partial, whose remainder cannot be told apart): counted, logged, not retried.
                spool.commit();
                counters.batchFailed(n);
                LOG.error("pipeline '{}': gave up on spooled batch {} of run {} ({} events): {}", pipelineName,
                    batch.batchId(), batch.runId(), n, failure.toString());
            } else {
                replayFailed(failure);
            }
            return false;
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
            LOG.warn("pipeline '{}': replaying the spool failed, will retry with backoff ({} events wait): {}",
                pipelineName, spool.events(), t.toString());
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
