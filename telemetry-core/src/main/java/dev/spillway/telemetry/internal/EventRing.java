package dev.spillway.telemetry.internal;

import com.lmax.disruptor.BlockingWaitStrategy;
import com.lmax.disruptor.InsufficientCapacityException;
import com.lmax.disruptor.RingBuffer;
import com.lmax.disruptor.Sequence;

import java.lang.invoke.VarHandle;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The Disruptor ring of {@link EventSlot}s with a claim/validate protocol that survives being lapped.
 *
 * <p>Claims come from the Disruptor's multi-producer sequencer ({@code getAndAdd} on its cursor). Under
 * {@link RingMode#OVERWRITE_OLDEST} the pump's sequence is <em>not</em> a gating sequence, so a claim
 * never waits and a full ring is simply lapped. The Disruptor's per-slot availability flags cannot describe a
 * lapped slot (its stock consumers livelock or read overwritten data), so publication here does not use them:
 * each slot carries its own {@link EventSlot stamp}, taken by CAS before the payload is written. That CAS is
 * what closes the stalled-producer hazard: a producer that was descheduled after claiming sequence {@code s}
 * finds the slot owned by a newer sequence and drops its own (already lapped) event instead of tearing the
 * newer record with late stores.
 *
 * <p>Exactly-once accounting: the pump resolves every claimed sequence exactly once, in order, as delivered,
 * overwritten (lapped, or abandoned by a producer that never finished publishing); producers count only what they
 * refuse without a claim. Claims beyond the pump's final limit (see {@link #terminate}) are refused by their
 * producers and counted by arithmetic ({@link #claimedAfterLimit}), never by a counter, so the account balances
 * the instant the claim is made.
 *
 * <h2>Orderings at the protocol's accesses</h2>
 * <ul>
 *   <li>claim: an atomic read-modify-write of the cursor (volatile semantics), then {@code terminated}: a volatile
 *       load.</li>
 *   <li>{@link #terminate}: {@code terminated}: a volatile store, then a full fence, then {@link #cursorAcquire()}.
 *       The fence is what forbids store buffering: the Disruptor's {@code Sequence.get()} is a plain load followed
 *       by an acquire fence, which does not order it after the earlier store.</li>
 *   <li>{@link #cursorAcquire()}: what the pump and the gauges use; a claim seen late only delays its resolution.</li>
 *   <li>pump progress ({@link #pumpReached}): a release store, a volatile store under {@code BLOCK} so that the
 *       check for parked producers after it cannot be satisfied early (the producer side has a full fence).</li>
 * </ul>
 */
final class EventRing {

    /** {@link #read} found the event and appended it to the batch. */
    static final int DELIVERED = 0;
    /** {@link #read} found the sequence overwritten or abandoned: it will never be delivered. */
    static final int LOST = 1;
    /** {@link #read} found the sequence claimed but not yet published. */
    static final int NOT_READY = 2;

    /** A writer that meets an older writer mid-write spins this many times before giving its event up. */
    private static final int SPINS_BEFORE_ABANDON = 64;

    /**
     * Longest a parked BLOCK producer sleeps before it looks again by itself. The pump unparks waiters when it frees
     * slots, so this bound only matters if a wake-up is missed; it keeps a missed one from becoming a hang.
     */
    private static final long PARK_BACKSTOP_NANOS = TimeUnit.MILLISECONDS.toNanos(10);

    private final RingBuffer<EventSlot> ring;
    private final RingMode policy;
    private final int capacity;
    /** The pump's position (last sequence resolved); gates producers under DROP_NEWEST and BLOCK only. */
    private final Sequence pumpSequence = new Sequence(-1L);
    private final PipelineCounters counters;
    /**
     * The claim cursor under OVERWRITE_OLDEST: a padded Disruptor {@link Sequence} bumped with one atomic add.
     * The sequencer's own {@code next()} would do the same add and then, with no gating sequence to wait for,
     * still store its gating-sequence cache on most calls from contending producers: a second shared cache line
     * written per event, for nothing. Null under the gated policies, which use the sequencer.
     */
    private final Sequence claims;

    // Close protocol. Each flag is written once and read on every ingest: they stay in a shared, clean cache
    // line, so the reads cost a load, not a coherence miss.
    private volatile boolean accepting = true;
    private volatile boolean terminated;
    private volatile long finalLimit = Long.MAX_VALUE;

    /** Producers parked under BLOCK; a node is allocated only for a producer that has to wait anyway. */
    private final ConcurrentLinkedQueue<Thread> parked = new ConcurrentLinkedQueue<>();

    /**
     * @param capacity a power of two
     * @param policy what to do when full
     * @param counters where refusals are counted
     */
    EventRing(int capacity, RingMode policy, PipelineCounters counters) {
        // The wait strategy is never used for waiting (the pump does not call waitFor); blocking is the
        // cheapest choice because signalAllWhenBlocking is never called on our publish path either.
        this.ring = RingBuffer.createMultiProducer(EventSlot::new, capacity, new BlockingWaitStrategy());
        this.policy = policy;
        this.capacity = capacity;
        this.counters = counters;
        if (policy != RingMode.OVERWRITE_OLDEST) {
            ring.addGatingSequences(pumpSequence);
            claims = null;
        } else {
            claims = new Sequence(-1L);
        }
    }

    /** Number of slots. */
    int capacity() {
        return capacity;
    }

    /**
     * Whether writers may lap the pump. Only under OVERWRITE_OLDEST: under BLOCK the Disruptor's {@code next()}
     * advances the cursor first and then waits at the gate, so a cursor more than a ring ahead of the pump
     * means parked producers, not overwritten slots.
     */
    boolean canLap() {
        return policy == RingMode.OVERWRITE_OLDEST;
    }

    /**
     * Highest claimed sequence, -1 when none: the Disruptor's {@code Sequence.get()}, a plain load plus an acquire
     * fence. Enough for the pump and the gauges (a claim seen late is resolved on a later pass); NOT enough after a
     * store that must be visible first, see {@link #terminate()}.
     */
    long cursorAcquire() {
        return claims == null ? ring.getCursor() : claims.get();
    }

    /**
     * Claims the pump will never resolve because they came after its final limit: each one's producer refused its
     * event, so each counts as rejected-closed. 0 while the ring is not terminated.
     *
     * @param cursor a cursor value read after {@link #finalLimit()} was read
     */
    static long claimedAfterLimit(long cursor, long finalLimit) {
        return finalLimit == Long.MAX_VALUE ? 0 : Math.max(0, cursor - finalLimit);
    }

    /** The pump's final limit, {@link Long#MAX_VALUE} until {@link #terminate()}. */
    long finalLimit() {
        return finalLimit;
    }

    /**
     * Claims a slot and writes one event into it. Thread-safe; allocation-free; never blocks unless the
     * policy is {@link OverflowPolicy#BLOCK}.
     *
     * @return true when the event was accepted (it may still be overwritten later), false when refused
     */
    boolean publish(long timestampNanos, int sourceId, short kind, double value, long sequence) {
        return publishClaimed(timestampNanos, sourceId, kind, value, sequence) >= 0;
    }

    /**
     * Like {@link #publish}, returning the ring sequence the event claimed (its place in the pump's resolution
     * order, for acknowledgements), or -1 when refused.
     */
    long publishClaimed(long timestampNanos, int sourceId, short kind, double value, long sequence) {
        final long seq = claim();
        if (seq >= 0) {
            write(seq, timestampNanos, sourceId, kind, value, sequence);
        }
        return seq;
    }

    /**
     * First half of {@link #publish}: claims a sequence, or returns -1 when refused (and counted). Split out so
     * tests can stall a producer between claim and write, the hazard the stamp protocol exists for.
     */
    long claim() {
        if (!accepting) {
            counters.countRejectedClosedBeforeClaim();
            return -1;
        }
        final long seq;
        switch (policy) {
            case DROP_NEWEST:
                try {
                    seq = ring.tryNext();
                } catch (InsufficientCapacityException full) { // a preallocated singleton: no allocation
                    counters.countRejectedFull();
                    return -1;
                }
                break;
            case BLOCK:
                seq = claimOrPark();
                if (seq < 0) {
                    return -1;
                }
                break;
            default:
                seq = claims.incrementAndGet();
                break;
        }
        // Close race (store buffering): the claim above is a volatile read-modify-write and this read is volatile;
        // terminate() stores `terminated`, fences, then reads the cursor. So either its read saw this claim (seq <=
        // finalLimit: the pump resolves it) or this read sees `terminated` and the producer refuses the event.
        if (terminated && seq > awaitFinalLimit()) {
            return -1; // counted by claimedAfterLimit(), not here: the account balances the instant of the claim
        }
        return seq;
    }

    private long awaitFinalLimit() {
        long limit;
        while ((limit = finalLimit) == Long.MAX_VALUE) {
            Thread.onSpinWait(); // terminate() stores finalLimit right after its cursor read
        }
        return limit;
    }

    /**
     * BLOCK: claims a free slot, or parks until the pump frees one. Returns -1 (counted) when the pipeline stops
     * accepting while waiting, or when the waiting thread is interrupted (its interrupt status is left set). A
     * thread that finds room never waits and is not refused for being interrupted.
     */
    private long claimOrPark() {
        final Thread self = Thread.currentThread();
        while (true) {
            try {
                return ring.tryNext();
            } catch (InsufficientCapacityException full) { // a preallocated singleton: no allocation
                // fall through to wait
            }
            if (self.isInterrupted()) {
                counters.countRejectedInterrupted();
                return -1;
            }
            parked.add(self);
            // Dekker with pumpReached(): our registration must be visible before we look at the gate again, and
            // the pump's progress before it looks for us; each side has a store-load barrier, so one sees the other.
            VarHandle.fullFence();
            if (accepting && !ring.hasAvailableCapacity(1)) {
                LockSupport.parkNanos(this, PARK_BACKSTOP_NANOS);
            }
            parked.remove(self);
            if (!accepting) {
                counters.countRejectedClosedBeforeClaim();
                return -1;
            }
        }
    }

    /** Second half of {@link #publish}: writes the payload of claimed sequence {@code seq}. */
    void write(long seq, long timestampNanos, int sourceId, short kind, double value, long sequence) {
        final EventSlot slot = ring.get(seq);
        final long writing = EventSlot.writingStamp(seq);
        int spins = 0;
        while (true) {
            final long current = slot.stampVolatile();
            if (EventSlot.ownerOf(current) > seq) {
                return; // lapped before we started: a newer event owns the slot; the pump counts ours as lost
            }
            if (EventSlot.isWriting(current)) {
                if (++spins < SPINS_BEFORE_ABANDON) {
                    Thread.onSpinWait();
                    continue;
                }
                slot.markAbandoned(seq); // an older writer stalled mid-write: never wait on another thread
                return;
            }
            if (slot.casStamp(current, writing)) {
                break;
            }
        }
        // The CAS must be visible before any payload store, so a reader that copied a half-written payload is
        // guaranteed to see the changed stamp when it re-validates.
        VarHandle.storeStoreFence();
        slot.timestampNanos = timestampNanos;
        slot.sourceId = sourceId;
        slot.kind = kind;
        slot.value = value;
        slot.sequence = sequence;
        slot.releaseStamp(EventSlot.publishedStamp(seq)); // release: payload stores happen-before the stamp
    }

    /**
     * Reads sequence {@code seq} into the batch if it is published and intact. Only the pump calls this, with
     * consecutive sequences.
     *
     * @return {@link #DELIVERED}, {@link #LOST} or {@link #NOT_READY}
     */
    int read(long seq, EventSink batch) {
        final EventSlot slot = slot(seq);
        final long stamp = slot.stampAcquire();
        final long owner = EventSlot.ownerOf(stamp);
        if (owner == seq && !EventSlot.isWriting(stamp)) {
            final long timestampNanos = slot.timestampNanos;
            final int sourceId = slot.sourceId;
            final short kind = slot.kind;
            final double value = slot.value;
            final long sequence = slot.sequence;
            // Plain loads may otherwise be reordered after the re-check below (the StampedLock.validate rule).
            VarHandle.acquireFence();
            if (slot.stampVolatile() != stamp) {
                return LOST; // a newer writer took the slot while we copied: the copy may be torn, discard it
            }
            batch.append(timestampNanos, sourceId, kind, value, sequence);
            return DELIVERED;
        }
        if (owner > seq || slot.abandonedByAcquire() >= seq) {
            return LOST;
        }
        return NOT_READY;
    }

    /** The slot that sequence {@code seq} maps to. */
    EventSlot slot(long seq) {
        return ring.get(seq);
    }

    /** Publishes the pump's progress: frees slots for gated policies, wakes parked producers, feeds the gauge. */
    void pumpReached(long lastResolved) {
        if (policy == RingMode.BLOCK) {
            pumpSequence.setVolatile(lastResolved); // store-load with the check below: see claimOrPark()
            if (!parked.isEmpty()) {
                wakeParkedProducers();
            }
        } else {
            pumpSequence.set(lastResolved);
        }
    }

    private void wakeParkedProducers() {
        for (Thread t : parked) {
            LockSupport.unpark(t);
        }
    }

    /** Events claimed but not yet resolved by the pump, between 0 and the capacity. */
    long occupancy() {
        final long resolved = pumpSequence.get();
        final long pending = Math.min(cursorAcquire(), finalLimit) - resolved;
        return Math.max(0, Math.min(capacity, pending));
    }

    /** First step of close: every later {@link #publish} is refused before it claims; parked producers leave. */
    void stopAccepting() {
        accepting = false;
        VarHandle.fullFence();
        wakeParkedProducers();
    }

    /** Whether {@link #stopAccepting()} was called. */
    boolean isAccepting() {
        return accepting;
    }

    /**
     * Second step of close, called by the pump: fixes the last sequence the pump will resolve. Producers that
     * claimed beyond it refuse their own events; gated producers are released so none waits forever.
     *
     * @return the last sequence the pump must resolve
     */
    long terminate() {
        terminated = true;
        // Store-load barrier. Without it the cursor read below (a plain load plus an acquire fence) may be satisfied
        // before the store above is visible to producers, and a producer may claim N, read terminated == false and
        // keep its event while this read returns N-1: an accepted event no one resolves. See CloseStoreBufferingTest.
        VarHandle.fullFence();
        final long limit = cursorAcquire();
        finalLimit = limit;
        return limit;
    }

    /** Last step of close: releases any producer still waiting for capacity under BLOCK or DROP_NEWEST. */
    void releaseWaitingProducers() {
        pumpSequence.setVolatile(Long.MAX_VALUE - capacity);
        wakeParkedProducers();
    }

    /** Receives the fields of one delivered event. */
    interface EventSink {
        /** Appends one event. */
        void append(long timestampNanos, int sourceId, short kind, double value, long sequence);
    }
}
