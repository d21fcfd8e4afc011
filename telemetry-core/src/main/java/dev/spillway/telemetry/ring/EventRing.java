package dev.spillway.telemetry.ring;

import com.lmax.disruptor.BlockingWaitStrategy;
import com.lmax.disruptor.InsufficientCapacityException;
import com.lmax.disruptor.RingBuffer;
import com.lmax.disruptor.Sequence;
import dev.spillway.telemetry.OverflowPolicy;
import dev.spillway.telemetry.metrics.PipelineCounters;

import java.lang.invoke.VarHandle;

/**
 * The Disruptor ring of {@link EventSlot}s with a claim/validate protocol that survives being lapped.
 *
 * <p>Claims come from the Disruptor's multi-producer sequencer ({@code getAndAdd} on its cursor). Under
 * {@link OverflowPolicy#OVERWRITE_OLDEST} the pump's sequence is <em>not</em> a gating sequence, so a claim
 * never waits and a full ring is simply lapped. The Disruptor's per-slot availability flags cannot describe a
 * lapped slot (its stock consumers livelock or read overwritten data), so publication here does not use them:
 * each slot carries its own {@link EventSlot stamp}, taken by CAS before the payload is written. That CAS is
 * what closes the stalled-producer hazard: a producer that was descheduled after claiming sequence {@code s}
 * finds the slot owned by a newer sequence and drops its own (already lapped) event instead of tearing the
 * newer record with late stores.
 *
 * <p>Exactly-once accounting: the pump resolves every claimed sequence exactly once, in order, as delivered,
 * overwritten (lapped or abandoned) or failed (never published by the close deadline); producers count only
 * what they refuse without a claim, or after a claim the pump will never look at (see {@link #publish}).
 */
public final class EventRing {

    /** {@link #read} found the event and appended it to the batch. */
    public static final int DELIVERED = 0;
    /** {@link #read} found the sequence overwritten or abandoned: it will never be delivered. */
    public static final int LOST = 1;
    /** {@link #read} found the sequence claimed but not yet published. */
    public static final int NOT_READY = 2;

    /** A writer that meets an older writer mid-write spins this many times before giving its event up. */
    private static final int SPINS_BEFORE_ABANDON = 64;

    private final RingBuffer<EventSlot> ring;
    private final OverflowPolicy policy;
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

    /**
     * @param capacity a power of two
     * @param policy what to do when full
     * @param counters where refusals are counted
     */
    public EventRing(int capacity, OverflowPolicy policy, PipelineCounters counters) {
        // The wait strategy is never used for waiting (the pump does not call waitFor); blocking is the
        // cheapest choice because signalAllWhenBlocking is never called on our publish path either.
        this.ring = RingBuffer.createMultiProducer(EventSlot::new, capacity, new BlockingWaitStrategy());
        this.policy = policy;
        this.capacity = capacity;
        this.counters = counters;
        if (policy != OverflowPolicy.OVERWRITE_OLDEST) {
            ring.addGatingSequences(pumpSequence);
            claims = null;
        } else {
            claims = new Sequence(-1L);
        }
    }

    /** Number of slots. */
    public int capacity() {
        return capacity;
    }

    /** Sequences claimed so far (accepted events, including those later lapped or refused at close). */
    public long claimed() {
        return cursor() + 1;
    }

    /**
     * Whether writers may lap the pump. Only under OVERWRITE_OLDEST: under BLOCK the Disruptor's {@code next()}
     * advances the cursor first and then waits at the gate, so a cursor more than a ring ahead of the pump
     * means parked producers, not overwritten slots.
     */
    public boolean canLap() {
        return policy == OverflowPolicy.OVERWRITE_OLDEST;
    }

    /** Highest claimed sequence, -1 when none. */
    public long cursor() {
        return claims == null ? ring.getCursor() : claims.get();
    }

    /**
     * Claims a slot and writes one event into it. Thread-safe; allocation-free; never blocks unless the
     * policy is {@link OverflowPolicy#BLOCK}.
     *
     * @return true when the event was accepted (it may still be overwritten later), false when refused
     */
    public boolean publish(long timestampNanos, int sourceId, short kind, double value, long sequence) {
        return publishClaimed(timestampNanos, sourceId, kind, value, sequence) >= 0;
    }

    /**
     * Like {@link #publish}, returning the ring sequence the event claimed (its place in the pump's resolution
     * order), or -1 when refused.
     */
    public long publishClaimed(long timestampNanos, int sourceId, short kind, double value, long sequence) {
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
                seq = ring.next();
                break;
            default:
                seq = claims.incrementAndGet();
                break;
        }
        // Close race: the claim and this read are both volatile, and the pump sets `terminated` before it reads
        // the cursor for the last time. So either the pump's final read saw this claim (seq <= finalLimit and
        // the pump will resolve it), or this read sees `terminated` and the producer refuses the event itself.
        if (terminated && refusedAfterClaim(seq)) {
            return -1;
        }
        return seq;
    }

    private boolean refusedAfterClaim(long seq) {
        long limit;
        while ((limit = finalLimit) == Long.MAX_VALUE) {
            Thread.onSpinWait(); // the pump stores finalLimit right after setting terminated
        }
        if (seq > limit) {
            counters.countRejectedClosedAfterClaim();
            return true;
        }
        return false;
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
    public int read(long seq, EventSink batch) {
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

    /** Publishes the pump's progress: frees slots for gated policies and feeds the occupancy gauge. */
    public void pumpReached(long lastResolved) {
        pumpSequence.set(lastResolved);
    }

    /** Events claimed but not yet resolved by the pump, between 0 and the capacity. */
    public long occupancy() {
        final long pending = cursor() - pumpSequence.get();
        return Math.max(0, Math.min(capacity, pending));
    }

    /** First step of close: every later {@link #publish} is refused before it claims. */
    public void stopAccepting() {
        accepting = false;
    }

    /** Whether {@link #stopAccepting()} was called. */
    public boolean isAccepting() {
        return accepting;
    }

    /**
     * Second step of close, called by the pump: fixes the last sequence the pump will resolve. Producers that
     * claimed beyond it refuse their own events; gated producers are released so none waits forever.
     *
     * @return the last sequence the pump must resolve
     */
    public long terminate() {
        terminated = true;
        final long limit = cursor(); // read after the volatile store above: see publish()
        finalLimit = limit;
        return limit;
    }

    /** Last step of close: releases any producer still waiting for capacity under BLOCK or DROP_NEWEST. */
    public void releaseWaitingProducers() {
        pumpSequence.set(Long.MAX_VALUE - capacity);
    }

    /** Receives the fields of one delivered event. */
    public interface EventSink {
        /** Appends one event. */
        void append(long timestampNanos, int sourceId, short kind, double value, long sequence);
    }
}
