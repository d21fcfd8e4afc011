package dev.spillway.telemetry.pump;

import dev.spillway.telemetry.metrics.PipelineCounters;
import dev.spillway.telemetry.ring.EventRing;
import org.agrona.concurrent.IdleStrategy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The single consumer of the ring: resolves every claimed sequence exactly once, in order, and ships events
 * in pooled batches when a batch is full or {@code flushInterval} has passed since its first event.
 *
 * <p>When every batch is with a worker the pump simply stops reading: the ring absorbs the burst (and, under
 * {@code OVERWRITE_OLDEST}, laps), so producers never feel a slow sink.
 */
public final class Pump implements Runnable {

    private static final Logger LOG = LoggerFactory.getLogger(Pump.class);

    private final EventRing ring;
    private final PipelineCounters counters;
    private final BlockingQueue<MutableEventBatch> free;
    private final BlockingQueue<MutableEventBatch> work;
    private final long flushIntervalNanos;
    private final IdleStrategy idle;
    private final CountDownLatch finished = new CountDownLatch(1);
    private final CommitTracker tracker;

    private volatile boolean stopRequested;
    private volatile long drainDeadlineNanos;

    private long nextBatchId;

    /**
     * @param ring the ring to drain
     * @param counters where losses are counted
     * @param free empty batches; the pump waits for one when none is free
     * @param work the workers' queue; must have room for every batch in the pool
     * @param flushIntervalNanos the longest a partial batch waits for more events
     * @param idle how to wait when there is nothing to do
     * @param tracker told about ring ranges the pump resolves without a batch (lost only)
     */
    public Pump(EventRing ring, PipelineCounters counters, BlockingQueue<MutableEventBatch> free,
                BlockingQueue<MutableEventBatch> work, long flushIntervalNanos, IdleStrategy idle,
                CommitTracker tracker) {
        this.tracker = tracker;
        this.ring = ring;
        this.counters = counters;
        this.free = free;
        this.work = work;
        this.flushIntervalNanos = flushIntervalNanos;
        this.idle = idle;
    }

    /**
     * Asks the pump to drain everything claimed so far and stop. Events still unresolved at the deadline (a
     * producer that never finished publishing, or no batch freed by stuck workers) are counted as failed.
     */
    public void requestStop(long deadlineNanoTime) {
        drainDeadlineNanos = deadlineNanoTime;
        stopRequested = true;
    }

    /** Waits for the pump to finish its drain. */
    public boolean awaitFinished(long timeout, TimeUnit unit) throws InterruptedException {
        return finished.await(timeout, unit);
    }

    @Override
    public void run() {
        try {
            pump();
        } catch (Throwable t) {
            LOG.error("pump thread died; events still in the ring will be counted at close", t);
            throw t;
        } finally {
            ring.releaseWaitingProducers();
            finished.countDown();
        }
    }

    private void pump() {
        final int capacity = ring.capacity();
        final boolean canLap = ring.canLap();
        // A claimed but unpublished slot with this much of the ring claimed behind it means its producer was
        // descheduled between claim and write. Waiting for it would only let the coming lap overwrite events that
        // are ready now, so under OVERWRITE_OLDEST the pump gives the stalled one up (counted as overwritten).
        final long stalledSkipDistance = capacity - (capacity >> 2);
        long next = 0;                 // next sequence to resolve
        long limit = Long.MAX_VALUE;   // last sequence to resolve, fixed at termination
        boolean terminated = false;
        MutableEventBatch batch = null;
        long unpublished = 0;          // claimed but never published by the close deadline
        while (true) {
            int workDone = 0;
            if (!terminated && stopRequested) {
                limit = ring.terminate();
                terminated = true;
            }
            final long now = System.nanoTime();
            final boolean pastDeadline = terminated && now - drainDeadlineNanos > 0;
            if (batch == null) {
                batch = free.poll();
                if (batch != null) {
                    batch.reset(nextBatchId++);
                    batch.ringFrom(next);
                }
            }
            if (batch != null) {
                final long cursor = Math.min(ring.cursor(), limit);
                final long oldestLive = cursor - capacity + 1;
                if (canLap && next < oldestLive) {
                    // Lapped: those slots already belong to newer claims. Jump instead of visiting each one.
                    counters.overwritten(oldestLive - next);
                    batch.markLoss();
                    next = oldestLive;
                    workDone++;
                }
                final int before = batch.size();
                long lost = 0;
                while (next <= cursor && !batch.isFull()) {
                    final int outcome = ring.read(next, batch);
                    if (outcome == EventRing.NOT_READY) {
                        if (pastDeadline) {
                            unpublished++;
                            batch.markLoss();
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
                    batch.markLoss();
                }
                if (batch.size() == 0 && next > batch.ringFrom()) {
                    // Only losses so far: resolve them now rather than when the next event arrives, so an
                    // acknowledgement waiting on them is not held up by a quiet ring.
                    tracker.resolved(batch.ringFrom(), next - 1, true, 0);
                    batch.ringFrom(next);
                }
                if (workDone > 0) {
                    ring.pumpReached(next - 1);
                }
                if (before == 0 && batch.size() > 0) {
                    batch.firstAppendNanos(now);
                }
                final boolean drained = terminated && next > limit;
                if (batch.size() > 0
                    && (batch.isFull() || drained || now - batch.firstAppendNanos() >= flushIntervalNanos)) {
                    dispatch(batch, next - 1);
                    batch = null;
                }
            } else if (pastDeadline && next <= limit) {
                // Every batch is stuck with a worker: what is left in the ring cannot be written in time.
                final long left = limit - next + 1;
                counters.failedAtClose(left);
                tracker.resolved(next, limit, true, 0);
                LOG.error("close deadline passed with {} events still in the ring (all workers busy); counted as failed",
                    left);
                next = limit + 1;
            }
            if (terminated && next > limit && (batch == null || batch.size() == 0)) {
                if (unpublished > 0) {
                    counters.failedAtClose(unpublished);
                    LOG.error("{} events were claimed by producers that never finished publishing them before the "
                        + "close deadline; counted as failed", unpublished);
                }
                if (batch != null) {
                    free.offer(batch);
                }
                return;
            }
            idle.idle(workDone);
        }
    }

    private void dispatch(MutableEventBatch batch, long lastSequence) {
        batch.ringTo(lastSequence);
        counters.batchDispatched();
        if (!work.offer(batch)) { // cannot happen: the queue holds the whole pool
            counters.batchFinished();
            counters.batchFailed(batch.size());
            LOG.error("work queue refused batch {} of {} events; counted as failed", batch.batchId(), batch.size());
            tracker.resolved(batch.ringFrom(), lastSequence, true, 0);
            free.offer(batch);
        }
    }
}
