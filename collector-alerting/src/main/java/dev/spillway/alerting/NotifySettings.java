package dev.spillway.alerting;

import java.time.Duration;

/**
 * How the relay delivers.
 *
 * @param maxAge give a message up when it is still undelivered this long after it was written
 *     ({@code --notify-max-age}, default 24 h)
 * @param ratePerSecond messages a second per webhook (Slack: about 1)
 * @param burst messages a webhook may get at once after a quiet spell
 * @param requestTimeout longest wait for one answer
 * @param backoffBase first retry delay after a 5xx or a timeout; doubles each attempt
 * @param backoffMax longest retry delay
 * @param pollInterval how often the relay looks for due rows when nobody wakes it
 */
public record NotifySettings(Duration maxAge, double ratePerSecond, int burst, Duration requestTimeout,
                             Duration backoffBase, Duration backoffMax, Duration pollInterval) {

    /** The defaults: 24 h, 1/s with bursts of 3, 10 s timeout, retries from 5 s up to 10 min, poll every 1 s. */
    public static NotifySettings defaults() {
        return new NotifySettings(Duration.ofHours(24), 1.0, 3, Duration.ofSeconds(10), Duration.ofSeconds(5),
            Duration.ofMinutes(10), Duration.ofSeconds(1));
    }

    /** A copy with another maximum age. */
    public NotifySettings withMaxAge(Duration d) {
        return new NotifySettings(d, ratePerSecond, burst, requestTimeout, backoffBase, backoffMax, pollInterval);
    }

    /** The delay before attempt {@code attempts + 1}, "equal jitter": half fixed, half random. */
    Duration backoff(int attempts, double random01) {
        final long base = backoffBase.toMillis();
        final long max = backoffMax.toMillis();
        final int shift = Math.min(Math.max(attempts - 1, 0), 30);
        final long full = Math.min(max, base << shift);
        return Duration.ofMillis(full / 2 + (long) (random01 * (full - full / 2)));
    }
}
