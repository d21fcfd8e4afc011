package dev.spillway.ingest.internal.http;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The bound on request bytes held in memory by all connections together. A request reserves its bytes before
 * they are buffered (all of a known Content-Length at once, chunked bodies as they grow) and releases them when
 * its answer is written; a reservation that does not fit is refused, and the request gets 503.
 *
 * <p>An eighth of the bound is kept for small requests (at most {@link #SMALL_REQUEST} bytes in all): large
 * uploads share the rest, so uploads that stall part way (nine 30 MiB bodies held at 30 MiB fill 256 MiB) cannot
 * make every other client's one-line write wait for a read timeout.
 */
final class BufferBudget {

    /** A request whose whole reservation stays at or below this may use the reserve. */
    static final long SMALL_REQUEST = 1 << 20;

    private final long limit;
    private final long largeLimit;
    private final AtomicLong used = new AtomicLong();

    BufferBudget(long limit) {
        this.limit = limit;
        this.largeLimit = limit - limit / 8;
    }

    /**
     * Reserves {@code bytes}, or nothing when they do not fit.
     *
     * @param requestTotal what the request will hold in all with these bytes: above {@link #SMALL_REQUEST} it may
     *     not use the small requests' reserve
     */
    boolean tryReserve(long bytes, long requestTotal) {
        final long bound = requestTotal <= SMALL_REQUEST ? limit : largeLimit;
        while (true) {
            final long u = used.get();
            if (u + bytes > bound) {
                return false;
            }
            if (used.compareAndSet(u, u + bytes)) {
                return true;
            }
        }
    }

    /** Gives back a reservation. */
    void release(long bytes) {
        if (bytes > 0) {
            used.addAndGet(-bytes);
        }
    }

    /** Bytes reserved now. */
    long used() {
        return used.get();
    }

    /** The bound. */
    long limit() {
        return limit;
    }
}
