package dev.spillway.telemetry.internal;

import org.agrona.concurrent.IdleStrategy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;

/**
 * The single consumer of the ring: resolves every claimed sequence exactly once, in order, and ships events
 * in pooled batches when a batch is full or {@code flushInterval} has passed since the first event of the round.
 *
 * <p><b>Lanes and rounds.</b> The pump fills one open batch per lane ({@link BatchRouter}): one lane in arrival
 * order (its batches go to whichever worker is free), or one lane per worker when routing by source (a lane's
 * batches go to its own worker's queue, so a source is always written by the same worker, in ring order). The pump
 * cuts a <em>round</em> when an open batch is full, the flush interval has passed, the drain is complete or the
 * close deadline has passed: every non-empty open batch ships, and all of them carry the round's contiguous ring
 * range and the number of batches it was cut into, so acknowledgements ({@link CommitTracker}) still work on
 * contiguous ranges. With sources spread evenly the other batches of a round are nearly full when one fills.
 *
 * <p><b>Backpressure.</b> The pump reads only while every lane has an open batch (it cannot know an event's lane
 * before reading it). When the pool is empty, because the workers hold every batch, the pump stops reading and the
 * ring absorbs the burst (and, under {@code OVERWRITE_OLDEST}, laps and counts), so producers never feel a slow
 * sink. The pool is shared by the lanes: with routing, a slow or stuck worker collects the batches of its lane in its
 * queue while the other workers go on writing theirs, until the pool is used up; then everything waits for it (the
 * ring overwrites and counts, {@code BLOCK} producers wait), exactly as when every worker is slow. A write that
 * never returns is ended by the close deadline like any other.
 *
 * <p>Past the close deadline it no longer waits for workers: it reads the rest of the ring into fresh batches and
 * gives them up itself, so every event still in the ring reaches the failed-batch handler and nothing lapped is
 * counted as failed.
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
    /** Per lane, the queue its batches go to (with one lane: the queue every worker takes from). */
    private final List<BlockingQueue<MutableEventBatch>> laneQueues;
    private final BatchRouter router;
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
    private long next;                        // next sequence to resolve
    private long limit = Long.MAX_VALUE;      // last sequence to resolve, fixed at termination
    private boolean terminated;
    private long roundFrom;                   // first ring sequence of the round being filled
    private boolean roundLoss;                // a sequence of this round was resolved as lost
    private long roundStartNanos;             // when the round's first event arrived
    private long abandonedAtDeadline;         // claimed but never published by the close deadline
    private long idleFailures;
    private boolean pastDeadline;

    /**
     * @param laneQueues one queue per lane: a single queue shared by all workers (arrival order), or each worker's
     *     own queue (routing by source); each must hold the whole pool, so an offer never fails
     */
    Pump(EventRing ring, PipelineCounters counters, BlockingQueue<MutableEventBatch> free,
         List<BlockingQueue<MutableEventBatch>> laneQueues, WorkerPool workers, int batchCapacity,
         long flushIntervalNanos, IdleStrategy idle, String pipelineName, CommitTracker tracker) {
        this.tracker = tracker;
        this.ring = ring;
        this.counters = counters;
        this.free = free;
        this.laneQueues = List.copyOf(laneQueues);
        this.router = new BatchRouter(laneQueues.size());
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
                if (!pastDeadline) {
                    idle(workDone); // past the deadline every pass gives up what it finds: nothing to wait for
                }
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
            final long inBatch = router.events();
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
        if (!terminated && stopRequested) {
            limit = ring.terminate();
            terminated = true;
        }
        final long now = System.nanoTime();
        pastDeadline = terminated && now - drainDeadlineNanos >= 0;
        int workDone = 0;
        if (router.fill(free, pastDeadline, batchCapacity)) {
            workDone += read(now);
        } else if (ring.canLap()) {
            // No batch to read into (a stuck worker holds the pool): producers still lap the ring, and what they
            // overwrite is lost now, so it is counted now rather than when a batch comes back.
            workDone += skipLapped();
        }
        final boolean drained = terminated && next > limit;
        if (router.events() > 0 && (router.anyFull() || drained || pastDeadline
            || now - roundStartNanos >= flushIntervalNanos)) {
            cutRound();
        }
        if (drained && router.events() == 0) {
            if (abandonedAtDeadline > 0) {
                LOG.error("pipeline '{}': {} events were claimed by producers that never finished publishing them "
                    + "before the close deadline; counted as overwritten (abandoned)", pipelineName, abandonedAtDeadline);
            }
            router.release(free);
            return -1;
        }
        return workDone;
    }

    /** Reads what the producers published into the open batches; called only when every lane has one. */
    private int read(long now) {
        int workDone = 0;
        final int capacity = ring.capacity();
        final boolean canLap = ring.canLap();
        // A claimed but unpublished slot with this much of the ring claimed behind it means its producer was
        // descheduled between claim and write. Waiting for it would only let the coming lap overwrite events that
        // are ready now, so under OVERWRITE_OLDEST the pump gives the stalled one up (counted as overwritten).
        final long stalledSkipDistance = capacity - (capacity >> 2);
        final BatchRouter r = router;
        final long cursor = Math.min(ring.cursorAcquire(), limit);
        if (canLap) {
            workDone += skipLapped(cursor);
        }
        final int before = r.events();
        long lost = 0;
        while (next <= cursor && !r.anyFull()) {
            final int outcome = ring.read(next, r);
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
            roundLoss = true;
        }
        if (r.events() == 0 && next > roundFrom) {
            // Only losses so far: resolve them now rather than when the next event arrives, so an acknowledgement
            // waiting on them is not held up by a quiet ring.
            tracker.resolved(roundFrom, next - 1, true, 0, 1);
            roundFrom = next;
            roundLoss = false;
        }
        if (workDone > 0) {
            ring.pumpReached(next - 1);
        }
        if (before == 0 && r.events() > 0) {
            roundStartNanos = now;
        }
        return workDone;
    }

    /** {@link #skipLapped(long)} at the current claim cursor, publishing the progress to producers. */
    private int skipLapped() {
        final int workDone = skipLapped(Math.min(ring.cursorAcquire(), limit));
        if (workDone > 0) {
            if (router.events() == 0) { // only losses in this round: resolve them now, as read() does
                tracker.resolved(roundFrom, next - 1, true, 0, 1);
                roundFrom = next;
                roundLoss = false;
            }
            ring.pumpReached(next - 1);
        }
        return workDone;
    }

    /**
     * Lapped: the slots before the oldest live one already belong to newer claims. Jumps past them (counted as
     * overwritten, the round marked lossy) instead of visiting each one. Pump thread only.
     */
    private int skipLapped(long cursor) {
        final long oldestLive = cursor - ring.capacity() + 1;
        if (next >= oldestLive) {
            return 0;
        }
        counters.overwritten(oldestLive - next);
        roundLoss = true;
        next = oldestLive;
        return 1;
    }

    /**
     * Ships every non-empty open batch; all of them carry the round's ring range and how many batches share it.
     * Past the deadline they are given up here instead.
     */
    private void cutRound() {
        final BatchRouter r = router;
        final int parts = r.nonEmpty();
        for (int lane = 0; lane < r.lanes(); lane++) {
            final MutableEventBatch open = r.open(lane);
            if (open == null || open.size() == 0) {
                continue;
            }
            final MutableEventBatch b = r.take(lane);
            b.ringFrom(roundFrom); // clears the batch's loss flag: the round's is set next
            if (roundLoss) {
                b.markLoss();
            }
            b.ringTo(next - 1);
            b.rangeParts(parts);
            if (pastDeadline) {
                if (b.claimResolution()) {
                    workers.giveUp(b, new TimeoutException("close deadline passed before the batch reached a worker"),
                        0);
                }
                free.offer(b); // a fresh batch beyond the pool's size is simply dropped here
            } else {
                dispatch(laneQueues.get(lane), b);
            }
        }
        r.roundShipped();
        roundFrom = next;
        roundLoss = false;
    }

    private void dispatch(BlockingQueue<MutableEventBatch> queue, MutableEventBatch b) {
        counters.batchDispatched();
        if (!queue.offer(b)) { // cannot happen: the queue holds the whole pool plus the poison pills
            if (b.claimResolution()) {
                counters.batchFinished();
                workers.giveUp(b, new IllegalStateException("work queue refused the batch"), 0);
            }
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
