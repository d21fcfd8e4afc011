package dev.spillway.collector.log;

import org.slf4j.Logger;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One log line per interval for a condition that can repeat thousands of times a second (refused writes,
 * aborted uploads, dropped connections), with the number of occurrences not logged since the previous line, so a
 * misbehaving client or an overload cannot flood the log yet nothing goes unmentioned.
 */
public final class RateLimitedLog {

    private final Logger log;
    private final long intervalNanos;
    private final AtomicLong nextAllowed = new AtomicLong(Long.MIN_VALUE);
    private final AtomicLong suppressed = new AtomicLong();

    /**
     * @param log where the lines go (at WARN)
     * @param intervalMillis least time between two lines
     */
    public RateLimitedLog(Logger log, long intervalMillis) {
        this.log = log;
        this.intervalNanos = TimeUnit.MILLISECONDS.toNanos(intervalMillis);
    }

    /**
     * Logs {@code message} at WARN unless a line was logged less than the interval ago; then only counts it.
     *
     * @param message the whole line, without the suppressed count, which is appended
     */
    public void warn(String message) {
        final long now = System.nanoTime();
        final long allowed = nextAllowed.get();
        if ((allowed == Long.MIN_VALUE || now - allowed >= 0) && nextAllowed.compareAndSet(allowed, now + intervalNanos)) {
            final long skipped = suppressed.getAndSet(0);
            if (skipped > 0) {
                log.warn("{} [{} more like this since the last such line]", message, skipped);
            } else {
                log.warn("{}", message);
            }
        } else {
            suppressed.incrementAndGet();
        }
    }
}
