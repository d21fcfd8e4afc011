package dev.spillway.ingest.series;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One series, {@code (measurement, tag set, field)}, with its database id ({@code source_id}) and the sequence
 * numbers its events carry.
 *
 * <p>Sequences are handed out only from a range reserved in {@code telemetry_sources.next_seq} beforehand (see
 * {@link SequenceReserver}), or, while the database is unreachable, in the collector's {@link LocalSeriesStore},
 * so after a crash the next run starts at the reserved limit and never reuses a number an earlier event may carry.
 * The hot path is one {@code getAndIncrement} and two volatile reads; only a number beyond the reserved range
 * takes the slow path, which extends the range locally during an outage and otherwise waits for the reserver.
 *
 * <p>A series first seen during an outage is <em>provisional</em>: its {@link #id()} is negative, made up locally,
 * and it has no catalogue row yet ({@link #databaseId()} is -1). When the database is back, the catalogue row is
 * created (or found, if another collector created the same series meanwhile) and the series learns its
 * {@link #databaseId()} and a sequence {@link #sequenceOffset() offset}; events keep carrying the provisional id
 * and their own numbers for the rest of the run, and the sink maps both on the way to the database.
 */
public final class Series {

    /** Returned by {@link #takeSequence()} when no sequence could be reserved (database down, shutting down). */
    public static final long UNAVAILABLE = -1;

    private final int id;
    private final AtomicLong next;
    // The catalogue row: the id itself for a series loaded or created in the database; -1 for a provisional series
    // until it is reconciled, then the row's id, with the offset that maps this series' numbers onto the row's.
    private volatile int databaseId;
    private volatile long sequenceOffset;
    // Reserver side: the limit the database holds for this series (in this series' own numbering), -1 when it holds
    // none; below the live limit while numbers reserved locally during an outage are not in the database yet.
    private long databaseLimit;
    private volatile long headroom = SequenceReserver.MIN_BLOCK;
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
        this.databaseId = id < 0 ? -1 : id;
        this.databaseLimit = id < 0 ? -1 : reservedLimit;
        this.next = new AtomicLong(nextSequence);
        this.rangeStart = nextSequence;
        this.limit = reservedLimit;
        this.reserver = reserver;
        this.lastSeenNext = nextSequence;
    }

    /** The {@code source_id} events carry: the catalogue id, or a negative provisional id (see the class comment). */
    public int id() {
        return id;
    }

    /** The catalogue id ({@code telemetry_sources.id}), or -1 for a provisional series not yet in the database. */
    public int databaseId() {
        return databaseId;
    }

    /** What to add to this series' numbers to get the catalogue row's: 0 unless it was provisional. */
    public long sequenceOffset() {
        return sequenceOffset;
    }

    /** Whether this series was first seen during an outage and carries a provisional id. */
    public boolean provisional() {
        return id < 0;
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
                // Past the limit. During an outage the range is extended on local disk, without waiting for the
                // database; otherwise ask the reserver for more and wait.
                if (reserver.extendLocally(this, n)) {
                    continue;
                }
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

    long databaseLimit() {
        return databaseLimit;
    }

    void databaseLimit(long limit) {
        databaseLimit = limit;
    }

    long headroom() {
        return headroom;
    }

    void headroom(long h) {
        headroom = h;
    }

    /** The provisional series has its catalogue row now: numbers map to the row's by adding {@code offset}. */
    void reconciled(int databaseId, long offset, long databaseLimit) {
        this.sequenceOffset = offset;
        this.databaseLimit = databaseLimit;
        this.databaseId = databaseId; // last: a reader that sees the id sees the offset
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

    /** {@code newLimit} is reserved now (in the database or the local store), contiguous with the current range. */
    void extend(long newLimit) {
        extendQuietly(newLimit);
        wake();
    }

    /**
     * Like {@link #extend} without waking takers: for a caller that holds a lock a taker may hold while it waits
     * for this series' monitor; it calls {@link #wake()} once it let go. Never lowers the limit.
     */
    void extendQuietly(long newLimit) {
        waiting = false;
        if (newLimit > limit && limit != Long.MIN_VALUE) {
            limit = newLimit;
        }
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
