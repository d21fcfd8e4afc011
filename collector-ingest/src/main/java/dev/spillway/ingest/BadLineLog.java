package dev.spillway.ingest;

import dev.spillway.runtime.log.RateLimitedLog;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.function.LongSupplier;

/**
 * Logs rejected lines at most once per interval, with the number suppressed since the last log line, so that a
 * misbehaving client cannot flood the log. Nothing is formatted for a suppressed line: a flood of bad lines costs
 * a counter increment each.
 */
public final class BadLineLog {

    /** The logger every rejected-line warning goes to. */
    public static final String LOGGER = "dev.spillway.collector.BadLines";
    private static final Logger LOG = LoggerFactory.getLogger(LOGGER);

    private final RateLimitedLog limiter;

    /** @param intervalMillis least time between two log lines */
    public BadLineLog(long intervalMillis) {
        this(intervalMillis, System::nanoTime);
    }

    /**
     * @param intervalMillis least time between two log lines
     * @param nanoClock monotonic time in nanoseconds ({@link System#nanoTime} but in tests)
     */
    public BadLineLog(long intervalMillis, LongSupplier nanoClock) {
        this.limiter = new RateLimitedLog(LOG, intervalMillis, nanoClock);
    }

    /**
     * Reports one rejected line.
     *
     * @param source where it came from, e.g. {@code http 127.0.0.1:5123}
     */
    public void report(String source, int line, RejectReason reason, String message) {
        final long skipped = limiter.permit();
        if (skipped > 0) {
            LOG.warn("rejected line {} from {} ({}): {} [{} more rejected lines not logged]", line, source,
                reason.tag(), message, skipped);
        } else if (skipped == 0) {
            LOG.warn("rejected line {} from {} ({}): {}", line, source, reason.tag(), message);
        }
    }

    /** Logs how many rejected lines were not logged since the last line, if any (at shutdown). */
    public void flush() {
        final long skipped = limiter.takeSuppressed();
        if (skipped > 0) {
            LOG.warn("{} more rejected lines not logged since the last such line", skipped);
        }
    }
}
