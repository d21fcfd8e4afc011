package dev.spillway.collector.ingest;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Logs rejected lines at most once per interval, with the number suppressed since the last log line, so that a
 * misbehaving client cannot flood the log.
 */
public final class BadLineLog {

    private static final Logger LOG = LoggerFactory.getLogger("dev.spillway.collector.BadLines");

    private final long intervalNanos;
    private final AtomicLong nextAllowed = new AtomicLong(Long.MIN_VALUE);
    private final AtomicLong suppressed = new AtomicLong();

    /** @param intervalMillis least time between two log lines */
    public BadLineLog(long intervalMillis) {
        this.intervalNanos = TimeUnit.MILLISECONDS.toNanos(intervalMillis);
    }

    /**
     * Reports one rejected line.
     *
     * @param source where it came from, e.g. {@code http 127.0.0.1:5123}
     */
    public void report(String source, int line, RejectReason reason, String message) {
        final long now = System.nanoTime();
        final long allowed = nextAllowed.get();
        if ((allowed == Long.MIN_VALUE || now - allowed >= 0) && nextAllowed.compareAndSet(allowed, now + intervalNanos)) {
            final long skipped = suppressed.getAndSet(0);
            if (skipped > 0) {
                LOG.warn("rejected line {} from {} ({}): {} [{} more rejected lines not logged]", line, source,
                    reason.tag(), message, skipped);
            } else {
                LOG.warn("rejected line {} from {} ({}): {}", line, source, reason.tag(), message);
            }
        } else {
            suppressed.incrementAndGet();
        }
    }
}
