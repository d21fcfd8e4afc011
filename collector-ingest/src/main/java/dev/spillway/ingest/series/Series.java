package dev.spillway.ingest.series;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One series, {@code (measurement, tag set, field)}, with its database id ({@code source_id}) and the sequence
 * numbers its events carry.
 *
 * <p>Sequences are handed out only from a range reserved in {@code telemetry_sources.next_seq} beforehand (see
 * {@link SequenceReserver}), so after a crash the next run starts at the reserved limit and never reuses a number
 * an earlier event may carry. The hot path is one {@code getAndIncrement} and two volatile reads; only a number
 * beyond the reserved range takes the slow path, which waits for the reserver.
 */
public final class Series {

    /** Returned by {@link #takeSequence()} when no sequence could be reserved (database down, shutting down). */
    public static final long UNAVAILABLE = -1;

    private final int id;
    private final AtomicLong next;
    private final SequenceReserver reserver;
    // The reserved range is [rangeStart, limit). Written by the reserver (limit last), read by takers (limit first):
    // a taker that sees a new limit also sees the range start that goes with it.
    private volatile long rangeStart;
    private volatile long limit;
    private volatile boolean waiting;
    private long lastSeenNext; // reserver thread only: how far next had moved at the previous round

    /** A series whose whole range {@code [nextSequence, reservedLimit)} is reserved, for tests and benchmarks. */
    public Series(int id, long nextSequence) {
        this(id, nextSequence, Long.MAX_VALUE, null);
    }

    Series(int id, long nextSequence, long reservedLimit, SequenceReserver reserver) {
        this.id = id;
        this.next = new AtomicLong(nextSequence);
        this.rangeStart = nextSequence;
        this.limit = reservedLimit;
        this.reserver = reserver;
        this.lastSeenNext = nextSequence;
    }

    /** The {@code source_id}. */
    public int id() {
        return id;
    }

    /**
     * Takes the next sequence number; every call consumes one, accepted or not, so refusals show as gaps.
     *
     * @return the number, or {@link #UNAVAILABLE} when none could be reserved in time
     */
    public long takeSequence() {
        final long n = next.getAndIncrement();
        if (n < limit && n >= rangeStart) {
            return n;
        }
        return reserver == null ? UNAVAILABLE : slowTake(n);
    }

    /** Beyond the reserved range: wait (bounded) for the reserver, then take a number from the new range. */
    private synchronized long slowTake(long taken) {
        long n = taken;
        final long deadline = System.nanoTime() + reserver.maxWaitNanos();
        while (true) {
            if (n < limit && n >= rangeStart) {
                return n;
            }
            if (n >= rangeStart) {
                // Past the limit: ask for more and wait.
                waiting = true;
                final long left = deadline - System.nanoTime();
                if (left <= 0 || !reserver.requestAndWait(this, left)) {
                    return UNAVAILABLE;
                }
            } else {
                n = next.getAndIncrement(); // below a range that moved (another collector took the gap): retake
            }
        }
    }

    /** The sequence the next event will carry. */
    public long peekSequence() {
        return next.get();
    }

    // ---- the reserver's side ----

    long limit() {
        return limit;
    }

    boolean waiting() {
        return waiting;
    }

    /** @return how far {@code next} moved since the previous call (the reserver's measure of this series' rate) */
    long advanceSinceLastRound() {
        final long n = next.get();
        final long moved = n - lastSeenNext;
        lastSeenNext = n;
        return Math.max(0, moved);
    }

    /** The database now holds {@code newLimit}, contiguous with the current range. */
    void extend(long newLimit) {
        waiting = false;
        limit = newLimit;
        wake();
    }

    /**
     * Someone else advanced this series in the database: continue at {@code start} (every number below it may be
     * theirs). Takers that got a number below it retake.
     */
    void jump(long start, long newLimit) {
        waiting = false;
        rangeStart = start;
        next.accumulateAndGet(start, Math::max);
        limit = newLimit;
        wake();
    }

    /** No more numbers: every taker from now on gets {@link #UNAVAILABLE}. */
    void seal() {
        limit = Long.MIN_VALUE;
        wake();
    }

    synchronized void wake() {
        notifyAll();
    }

    /** Waits on this series' monitor; called by the reserver with the monitor held. */
    void await(long nanos) throws InterruptedException {
        TimeUnit.NANOSECONDS.timedWait(this, nanos);
    }
}
