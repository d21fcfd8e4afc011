package dev.spillway.benchmarks.ingest;

/**
 * The classic lock-based overwrite-oldest ring: one monitor guards the head and tail; a producer writes its event
 * into a preallocated primitive slot (4 longs: 32 bytes, two slots per cache line), advances the head, and when
 * the ring was full advances the tail over the oldest event and counts it. The consumer copies up to a batch of
 * slots out under the same monitor and processes them outside it.
 */
public final class MutexOverwriteRing {

    private static final int STRIDE = 4;

    private final long[] slots;
    private final int mask;
    private final int capacity;
    private long head;        // events written so far (next write position)
    private long tail;        // next event to read
    private long overwritten; // events pushed out unread

    public MutexOverwriteRing(int capacity) {
        if (capacity < 2 || Integer.bitCount(capacity) != 1) {
            throw new IllegalArgumentException("capacity must be a power of two >= 2, was " + capacity);
        }
        this.capacity = capacity;
        this.mask = capacity - 1;
        this.slots = new long[capacity * STRIDE];
    }

    /** Writes one event, overwriting the oldest when full. Never refuses. */
    public synchronized void offer(long timestampNanos, int sourceId, short kind, double value, long sequence) {
        if (head - tail == capacity) {
            tail++;
            overwritten++;
        }
        final int i = (int) (head & mask) * STRIDE;
        slots[i] = timestampNanos;
        slots[i + 1] = ((long) sourceId << 16) | (kind & 0xFFFFL);
        slots[i + 2] = Double.doubleToRawLongBits(value);
        slots[i + 3] = sequence;
        head++;
    }

    /**
     * Moves up to {@code max} of the oldest events into {@code batch} (4 longs per event, see {@link #sourceId},
     * {@link #kind}, {@link #value}).
     *
     * @return how many events were moved
     */
    public synchronized int drainTo(long[] batch, int max) {
        final int n = (int) Math.min(head - tail, Math.min(max, batch.length / STRIDE));
        long t = tail;
        for (int j = 0; j < n; j++, t++) {
            System.arraycopy(slots, (int) (t & mask) * STRIDE, batch, j * STRIDE, STRIDE);
        }
        tail = t;
        return n;
    }

    public synchronized long overwritten() {
        return overwritten;
    }

    public synchronized long written() {
        return head;
    }

    public int capacity() {
        return capacity;
    }

    /** Longs per event in a drained batch. */
    public static int stride() {
        return STRIDE;
    }

    public static int sourceId(long packed) {
        return (int) (packed >> 16);
    }

    public static short kind(long packed) {
        return (short) packed;
    }

    public static double value(long bits) {
        return Double.longBitsToDouble(bits);
    }
}
