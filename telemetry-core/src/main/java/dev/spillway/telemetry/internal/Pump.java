package dev.spillway.telemetry.internal;

import org.agrona.concurrent.IdleStrategy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;

/**
 * The single consumer of the ring: resolves every claimed sequence exactly once, in order, and ships events
 * in pooled batches when a batch is full or {@code flushInterval} has passed since its first event.
 *
 * <p>When every batch is with a worker the pump simply stops reading: the ring absorbs the burst (and, under
 * {@code OVERWRITE_OLDEST}, laps), so producers never feel a slow sink. Past the close deadline it no longer
 * waits for workers: it reads the rest of the ring into fresh batches and gives them up itself, so every event
 * still in the ring reaches the failed-batch handler and nothing lapped is counted as failed.
 *
 * <p>Its loop state lives in fields, so that if the pump thread dies, {@link #drainAfterDeath} can finish the
 * drain on the closing thread from exactly where the pump stopped.
 */
final class Pump implements Runnable {

    private static final Logger LOG = LoggerFactory.getLogger(Pump.class);
    private static final long IDLE_FALLBACK_NANOS = TimeUnit.MILLISECONDS.toNanos(1);

    private final EventRing ring;
    private final PipelineCounters counters;
    private final BlockingQueue<MutableEventBatch> free;
    private final BlockingQueue<MutableEventBatch> work;
    private final WorkerPool workers;
    private final int batchCapacity;
    private final long flushIntervalNanos;
    private final IdleStrategy idle;
    private final String pipelineName;
    private final CountDownLatch finished = new CountDownLatch(1);
    private final CommitTracker tracker;

    private volatile boolean stopRequested;
    private volatile long drainDeadlineNanos;
    private volatile Throwable death;

    // Loop state: touched by the pump thread, or by the closer after the pump thread ended (the latch orders it).
    private long nextBatchId;
    private long next;                        // next sequence to resolve
    private long limit = Long.MAX_VALUE;      // last sequence to resolve, fixed at termination
    private boolean terminated;
    private MutableEventBatch batch;
    private long abandonedAtDeadline;         // claimed but never published by the close deadline
    private long idleFailures;

    Pump(EventRing ring, PipelineCounters counters, BlockingQueue<MutableEventBatch> free,
         BlockingQueue<MutableEventBatch> work, WorkerPool workers, int batchCapacity, long flushIntervalNanos,
         IdleStrategy idle, String pipelineName, CommitTracker tracker) {
        this.tracker = tracker;
        this.ring = ring;
        this.counters = counters;
        this.free = free;
        this.work = work;
        this.workers = workers;
        this.batchCapacity = batchCapacity;
        this.flushIntervalNanos = flushIntervalNanos;
        this.idle = idle;
        this.pipelineName = pipelineName;
    }

    /**
     * Asks the pump to drain everything claimed so far and stop. Past the deadline, what is still in the ring is
     * given up (handed to the failed-batch handler); a claim never published by then counts as overwritten
     * (abandoned), since there is no event to hand over. Calling it again moves the deadline.
     */
    void requestStop(long deadlineNanoTime) {
        drainDeadlineNanos = deadlineNanoTime;
        stopRequested = true;
    }

    /** Waits for the pump thread to end (drained, or dead). */
    boolean awaitFinished(long timeout, TimeUnit unit) throws InterruptedException {
        return finished.await(timeout, unit);
    }

    /** What killed the pump thread, or null while it lives or after it finished its drain normally. */
    Throwable death() {
        return death;
    }

    @Override
    public void run() {
        try {
            int workDone;
            while ((workDone = step()) >= 0) {
                idle(workDone);
            }
        } catch (Throwable t) {
            death = t;
            ring.stopAccepting();
            LOG.error("pipeline '{}': the pump thread died; the pipeline stops accepting, and close() drains what is "
                + "left in the ring", pipelineName, t);
        } finally {
            ring.releaseWaitingProducers();
            finished.countDown();
        }
    }

    /**
     * After the pump thread died: finishes the drain on the calling thread (the closer), from where the pump
     * stopped and under the same deadline: batches go to the workers until then, and are given up after. If that
     * fails too, the unread events are counted failed (they cannot reach the handler) and logged.
     */
    void drainAfterDeath() {
        try {
            int workDone;
            while ((workDone = step()) >= 0) {
                if (workDone == 0) {
                    LockSupport.parkNanos(IDLE_FALLBACK_NANOS / 10);
                }
            }
        } catch (Throwable t) {
            if (!terminated) {
                limit = ring.terminate();
                terminated = true;
            }
            final long inBatch = batch == null ? 0 : batch.size();
            long unread = Math.max(0, limit - next + 1);
            if (ring.canLap() && unread > ring.capacity()) {
                counters.overwritten(unread - ring.capacity());
                unread = ring.capacity();
            }
            counters.failedUnread(unread + inBatch);
            next = limit + 1;
            LOG.error("pipeline '{}': draining the ring after the pump died failed too; {} events counted failed "
                + "without reaching the failed-batch handler", pipelineName, unread + inBatch, t);
        } finally {
            ring.releaseWaitingProducers();
        }
    }

    /** One pass of the loop: the work done (for the idle strategy), or -1 when the drain is complete. */
    private int step() {
        int workDone = 0;
        if (!terminated && stopRequested) {
            limit = ring.terminate();
            terminated = true;
        }
        final long now = System.nanoTime();
        final boolean pastDeadline = terminated && now - drainDeadlineNanos >= 0;
        if (batch == null) {
            batch = free.poll();
            if (batch == null && pastDeadline) {
                // Every pooled batch is stuck with a worker; a fresh one carries the rest to the handler.
                batch = new MutableEventBatch(batchCapacity);
            }
            if (batch != null) {
                batch.reset(nextBatchId++);
                batch.ringFrom(next);
            }
        }
        if (batch != null) {
            workDone += read(now, pastDeadline);
        }
        if (terminated && next > limit && (batch == null || batch.size() == 0)) {
            if (abandonedAtDeadline > 0) {
                LOG.error("pipeline '{}': {} events were claimed by producers that never finished publishing them "
                    + "before the close deadline; counted as overwritten (abandoned)", pipelineName, abandonedAtDeadline);
            }
            if (batch != null) {
                free.offer(batch);
                batch = null;
            }
            return -1;
        }
        return workDone;
    }

    private int read(long now, boolean pastDeadline) {
        int workDone = 0;
        final int capacity = ring.capacity();
        final boolean canLap = ring.canLap();
        // A claimed but unpublished slot with this much of the ring claimed behind it means its producer was
        // descheduled between claim and write. Waiting for it would only let the coming lap overwrite events that
        // are ready now, so under OVERWRITE_OLDEST the pump gives the stalled one up (counted as overwritten).
        final long stalledSkipDistance = capacity - (capacity >> 2);
        final MutableEventBatch b = batch;
        final long cursor = Math.min(ring.cursorAcquire(), limit);
        final long oldestLive = cursor - capacity + 1;
        if (canLap && next < oldestLive) {
            // Lapped: those slots already belong to newer claims. Jump instead of visiting each one.
            counters.overwritten(oldestLive - next);
            b.markLoss();
            next = oldestLive;
            workDone++;
        }
        final int before = b.size();
        long lost = 0;
        while (next <= cursor && !b.isFull()) {
            final int outcome = ring.read(next, b);
            if (outcome == EventRing.NOT_READY) {
                if (pastDeadline) {
                    abandonedAtDeadline++;
                    lost++;
                } else if (canLap && cursor - next >= stalledSkipDistance) {
                    lost++;
                } else {
                    break; // claimed, not yet published: wait for its producer (or for a lapper)
                }
            } else if (outcome == EventRing.LOST) {
                lost++;
            }
            next++;
            workDone++;
        }
        if (lost > 0) {
            counters.overwritten(lost);
            b.markLoss();
        }
        if (b.size() == 0 && next > b.ringFrom()) {
            // Only losses so far: resolve them now rather than when the next event arrives, so an acknowledgement
            // waiting on them is not held up by a quiet ring.
            tracker.resolved(b.ringFrom(), next - 1, true, 0);
            b.ringFrom(next);
        }
        if (workDone > 0) {
            ring.pumpReached(next - 1);
        }
        if (before == 0 && b.size() > 0) {
            b.firstAppendNanos(now);
        }
        final boolean drained = terminated && next > limit;
        if (b.size() > 0 && (b.isFull() || drained || pastDeadline || now - b.firstAppendNanos() >= flushIntervalNanos)) {
            batch = null;
            b.ringTo(next - 1);
            if (pastDeadline) {
                workers.giveUp(b, new TimeoutException("close deadline passed before the batch reached a worker"), 0);
                free.offer(b); // a fresh batch beyond the pool's size is simply dropped here
            } else {
                dispatch(b);
            }
        }
        return workDone;
    }

    private void dispatch(MutableEventBatch b) {
        counters.batchDispatched();
        if (!work.offer(b)) { // cannot happen: the queue holds the whole pool plus the poison pills
            counters.batchFinished();
            workers.giveUp(b, new IllegalStateException("work queue refused the batch"), 0);
            free.offer(b);
        }
    }

    /** A user's idle strategy that throws must not kill the pump; an Error still does (see run()). */
    private void idle(int workDone) {
        try {
            idle.idle(workDone);
        } catch (RuntimeException e) {
            counters.callbackFailed();
            if (idleFailures++ == 0) {
                LOG.error("pipeline '{}': the idle strategy threw; the pump parks 1 ms instead whenever it does "
                    + "(logged once)", pipelineName, e);
            }
            LockSupport.parkNanos(IDLE_FALLBACK_NANOS);
        }
    }
}
