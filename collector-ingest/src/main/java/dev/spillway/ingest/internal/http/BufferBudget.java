package dev.spillway.ingest.internal.http;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The bound on request bytes held in memory by all connections together. A request reserves its bytes before
 * they are buffered (all of a known Content-Length at once, chunked bodies as they grow) and releases them when
 * its answer is written; a reservation that does not fit is refused, and the request gets 503.
 */
final class BufferBudget {

    private final long limit;
    private final AtomicLong used = new AtomicLong();

    BufferBudget(long limit) {
        this.limit = limit;
    }

    /** Reserves {@code bytes}, or nothing when they do not fit. */
    boolean tryReserve(long bytes) {
        while (true) {
            final long u = used.get();
            if (u + bytes > limit) {
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
