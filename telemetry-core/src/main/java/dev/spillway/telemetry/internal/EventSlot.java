package dev.spillway.telemetry.internal;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * One preallocated ring entry: only primitives, so the producer path allocates nothing and the GC never
 * traces the ring's contents.
 *
 * <p>{@code stamp} says who owns the payload: {@code 2*s} when sequence {@code s} is published,
 * {@code 2*s + 1} while the writer of {@code s} is storing it. The owner's sequence only ever grows, so a stamp
 * never repeats (no ABA) and a reader that sees the same published stamp before and after copying the payload
 * knows no writer touched it in between. {@code abandonedBy} is the highest sequence whose writer found an
 * older writer still mid-write here and gave up its event rather than wait for it.
 */
final class EventSlot {

    static final long EMPTY_STAMP = -2L; // "sequence -1 published": older than every real sequence

    private static final VarHandle STAMP;
    private static final VarHandle ABANDONED_BY;

    static {
        try {
            final MethodHandles.Lookup lookup = MethodHandles.lookup();
            STAMP = lookup.findVarHandle(EventSlot.class, "stamp", long.class);
            ABANDONED_BY = lookup.findVarHandle(EventSlot.class, "abandonedBy", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused") // accessed through STAMP
    private long stamp = EMPTY_STAMP;
    @SuppressWarnings("unused") // accessed through ABANDONED_BY
    private long abandonedBy = -1L;

    // Payload: plain fields, guarded by the stamp protocol rather than by their own ordering.
    long timestampNanos;
    int sourceId;
    short kind;
    double value;
    long sequence;

    static long publishedStamp(long sequence) {
        return sequence << 1;
    }

    static long writingStamp(long sequence) {
        return (sequence << 1) | 1L;
    }

    static long ownerOf(long stamp) {
        return stamp >> 1;
    }

    static boolean isWriting(long stamp) {
        return (stamp & 1L) != 0;
    }

    long stampVolatile() {
        return (long) STAMP.getVolatile(this);
    }

    long stampAcquire() {
        return (long) STAMP.getAcquire(this);
    }

    boolean casStamp(long expected, long update) {
        return STAMP.compareAndSet(this, expected, update);
    }

    void releaseStamp(long value) {
        STAMP.setRelease(this, value);
    }

    long abandonedByAcquire() {
        return (long) ABANDONED_BY.getAcquire(this);
    }

    /** Raises {@code abandonedBy} to at least {@code sequence}; it never goes down. */
    void markAbandoned(long sequence) {
        long current;
        do {
            current = (long) ABANDONED_BY.getVolatile(this);
            if (current >= sequence) {
                return;
            }
        } while (!ABANDONED_BY.compareAndSet(this, current, sequence));
    }
}
