package dev.spillway.telemetry.internal;

import java.util.Queue;

/**
 * The pump's open batches, one per <em>lane</em>, and the rule that sends each event to one of them.
 *
 * <p>With one lane (arrival order) every event goes to the same batch and the batch goes to whichever worker is
 * free. With one lane per worker (routing by source) an event goes to lane {@code mix(sourceId) mod lanes}, and each
 * lane's batches go to that lane's worker only: a source is always written by the same worker, in ring order, and
 * each database connection touches only its own sources' index pages, as the sharded COPY ceiling does.
 *
 * <p>Touched by the pump thread only (or the closer after the pump ended). {@link #append} is the hot path: two
 * multiplies, an array store, no allocation, no lock.
 */
final class BatchRouter implements EventRing.EventSink {

    private final MutableEventBatch[] open;
    private final int lanes;
    private int events;
    private boolean anyFull;
    private long nextBatchId;

    /** @param lanes 1 for arrival order, the worker count for routing by source */
    BatchRouter(int lanes) {
        this.lanes = lanes;
        this.open = new MutableEventBatch[lanes];
    }

    /**
     * The lane of a source: Fibonacci (Knuth multiplicative) hashing, one multiply by 2^32 / golden ratio, then the
     * high bits by Lemire's multiply-shift reduction to {@code [0, lanes)} (no division). By the three-distance
     * theorem, consecutive ids (a database sequence, the collector's series ids) and ids with a common stride spread
     * over the lanes within a few sources of perfectly even: 1,000 consecutive ids fall 500 / 500 on two lanes and
     * 251 / 249 / 250 / 250 on four, where a random-looking hash (murmur3's finaliser) gave 464 / 536 and 225 .. 281,
     * and a routed round waits for its fullest lane.
     */
    static int laneOf(int sourceId, int lanes) {
        final int h = sourceId * 0x9E3779B9;
        return (int) (((h & 0xFFFF_FFFFL) * lanes) >>> 32);
    }

    int lanes() {
        return lanes;
    }

    /**
     * Gives every lane without a batch one from {@code free}; past the close deadline, a fresh one when the pool is
     * empty (every pooled batch is stuck with a worker, and a fresh one carries the rest to the handler).
     *
     * @return whether every lane has a batch (only then may the pump read: it cannot know an event's lane before it
     *     has read it)
     */
    boolean fill(Queue<MutableEventBatch> free, boolean allocateIfEmpty, int capacity) {
        boolean all = true;
        for (int i = 0; i < lanes; i++) {
            if (open[i] == null) {
                MutableEventBatch b = free.poll();
                if (b == null && allocateIfEmpty) {
                    b = new MutableEventBatch(capacity);
                }
                if (b == null) {
                    all = false;
                } else {
                    b.reset(nextBatchId++); // unique per pipeline run: with the sink's run id, the ledger key
                    open[i] = b;
                }
            }
        }
        return all;
    }

    @Override
    public void append(long timestampNanos, int sourceId, short kind, double value, long sequence) {
        final MutableEventBatch b = open[lanes == 1 ? 0 : laneOf(sourceId, lanes)];
        b.append(timestampNanos, sourceId, kind, value, sequence);
        events++;
        if (b.isFull()) {
            anyFull = true;
        }
    }

    /** Events in the open batches (the current round). */
    int events() {
        return events;
    }

    /** Whether some open batch is full: the round must be cut before the pump reads on. */
    boolean anyFull() {
        return anyFull;
    }

    /** The open batches that hold events. */
    int nonEmpty() {
        int n = 0;
        for (int i = 0; i < lanes; i++) {
            if (open[i] != null && open[i].size() > 0) {
                n++;
            }
        }
        return n;
    }

    /** The lane's open batch, or null. */
    MutableEventBatch open(int lane) {
        return open[lane];
    }

    /** Takes the lane's batch out (it ships); the lane gets a new one at the next {@link #fill}. */
    MutableEventBatch take(int lane) {
        final MutableEventBatch b = open[lane];
        open[lane] = null;
        if (b != null) {
            events -= b.size();
        }
        return b;
    }

    /** After a cut: no open batch is full any more. */
    void roundShipped() {
        anyFull = false;
    }

    /** Returns every (empty) open batch to the pool, at the end of the drain. */
    void release(Queue<MutableEventBatch> free) {
        for (int i = 0; i < lanes; i++) {
            if (open[i] != null) {
                free.offer(open[i]);
                open[i] = null;
            }
        }
    }
}
