package dev.spillway.runtime.log;

import org.slf4j.Logger;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * One log line per interval for a condition that can repeat thousands of times a second (refused writes,
 * aborted uploads, dropped connections), with the number of occurrences not logged since the previous line, so a
 * misbehaving client or an overload cannot flood the log yet nothing goes unmentioned: every occurrence is either
 * a line of its own or counted in the bracket of a later line, or in the line {@link #flush} writes at shutdown.
 */
public final class RateLimitedLog {

    private final Logger log;
    private final long intervalNanos;
    private final LongSupplier nanoClock;
    private final AtomicLong nextAllowed = new AtomicLong(Long.MIN_VALUE);
    private final AtomicLong suppressed = new AtomicLong();
    // The newest message not logged, for the flush line; written only on the (rare) suppressed path.
    private volatile String lastSuppressed;

    /**
     * @param log where the lines go (at WARN)
     * @param intervalMillis least time between two lines
     */
    public RateLimitedLog(Logger log, long intervalMillis) {
        this(log, intervalMillis, System::nanoTime);
    }

    /**
     * @param log where the lines go (at WARN)
     * @param intervalMillis least time between two lines
     * @param nanoClock monotonic time in nanoseconds ({@link System#nanoTime} but in tests)
     */
    public RateLimitedLog(Logger log, long intervalMillis, LongSupplier nanoClock) {
        this.log = log;
        this.intervalNanos = TimeUnit.MILLISECONDS.toNanos(intervalMillis);
        this.nanoClock = nanoClock;
    }

    /**
     * Logs {@code message} at WARN unless a line was logged less than the interval ago; then only counts it.
     *
     * @param message the whole line, without the suppressed count, which is appended
     */
    public void warn(String message) {
        final long skipped = permit();
        if (skipped < 0) {
            lastSuppressed = message;
        } else if (skipped > 0) {
            log.warn("{} [{} more like this since the last such line]", message, skipped);
        } else {
            log.warn("{}", message);
        }
    }

    /**
     * For callers that build their own line: -1 when this occurrence is not to be logged (it is counted), else
     * the number of occurrences not logged since the previous line, to be mentioned in the line logged now.
     */
    public long permit() {
        final long now = nanoClock.getAsLong();
        final long allowed = nextAllowed.get();
        if ((allowed == Long.MIN_VALUE || now - allowed >= 0) && nextAllowed.compareAndSet(allowed, now + intervalNanos)) {
            return suppressed.getAndSet(0);
        }
        suppressed.incrementAndGet();
        return -1;
    }

    /** Takes the number of occurrences not logged since the last line (for a caller's own flush line). */
    public long takeSuppressed() {
        return suppressed.getAndSet(0);
    }

    /**
     * Logs the occurrences not mentioned yet, if any (at shutdown: a flood that stopped less than an interval
     * before would otherwise never be reported).
     */
    public void flush() {
        final long skipped = takeSuppressed();
        if (skipped > 0) {
            log.warn("{} more like this not logged since the last such line; the latest: {}", skipped, lastSuppressed);
        }
    }
}
