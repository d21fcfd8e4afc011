package dev.spillway.alerting;

/**
 * Rate limit per webhook: {@code ratePerSecond} tokens a second, up to {@code burst} saved up. Time comes from
 * the caller (the relay's clock), so tests drive it. Confined to the relay thread.
 */
final class TokenBucket {

    private final double ratePerMilli;
    private final double burst;
    private double tokens;
    private long lastMillis;

    TokenBucket(double ratePerSecond, int burst, long nowMillis) {
        this.ratePerMilli = ratePerSecond / 1000.0;
        this.burst = burst;
        this.tokens = burst;
        this.lastMillis = nowMillis;
    }

    /** Takes a token if there is one. */
    boolean tryTake(long nowMillis) {
        refill(nowMillis);
        if (tokens >= 1.0) {
            tokens -= 1.0;
            return true;
        }
        return false;
    }

    /** Milliseconds until a token is available (0 when one is). */
    long millisUntilToken(long nowMillis) {
        refill(nowMillis);
        return tokens >= 1.0 ? 0 : (long) Math.ceil((1.0 - tokens) / ratePerMilli);
    }

    private void refill(long nowMillis) {
        if (nowMillis > lastMillis) {
            tokens = Math.min(burst, tokens + (nowMillis - lastMillis) * ratePerMilli);
            lastMillis = nowMillis;
        }
    }
}
