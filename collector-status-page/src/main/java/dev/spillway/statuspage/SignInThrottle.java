package dev.spillway.statuspage;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Wrong tokens per client address, as a token bucket: {@link #BURST} tries at once, then one more every
 * {@link #REFILL_SECONDS} seconds. A client with none left is answered 429 with {@code Retry-After} (even for the
 * right token) until one is back, so guessing runs at 5 a minute instead of 50 in half a second. A right token
 * clears the client's count. At most {@link #MAX_CLIENTS} addresses are tracked (the ones whose buckets refilled
 * go first). Thread-safe.
 */
final class SignInThrottle {

    static final int BURST = 5;
    static final long REFILL_SECONDS = 12;
    static final int MAX_CLIENTS = 10_000;

    private static final long REFILL_NANOS = TimeUnit.SECONDS.toNanos(REFILL_SECONDS);

    private final LongSupplier nanos;
    /** Per client: the time at which its bucket is full again; absent when full. Guarded by this. */
    private final Map<String, Long> fullAt = new HashMap<>();

    SignInThrottle(LongSupplier nanos) {
        this.nanos = nanos;
    }

    /** 0 when {@code client} may try a token now, else the seconds until it may. */
    synchronized long retryAfterSeconds(String client) {
        final Long full = fullAt.get(client);
        if (full == null) {
            return 0;
        }
        final long now = nanos.getAsLong();
        final long left = full - now; // nanos until the bucket is full; more than BURST refills: empty
        final long overdraw = left - (BURST - 1) * REFILL_NANOS;
        if (overdraw <= 0) {
            return 0;
        }
        return Math.max(1, TimeUnit.NANOSECONDS.toSeconds(overdraw + TimeUnit.SECONDS.toNanos(1) - 1));
    }

    /** Takes one try from {@code client}'s bucket (a wrong token). */
    synchronized void failed(String client) {
        final long now = nanos.getAsLong();
        if (fullAt.size() >= MAX_CLIENTS && !fullAt.containsKey(client)) {
            fullAt.values().removeIf(t -> t - now <= 0);
            if (fullAt.size() >= MAX_CLIENTS) {
                // Everyone is guessing: forget the client closest to full.
                fullAt.entrySet().stream().min(Map.Entry.comparingByValue())
                    .ifPresent(e -> fullAt.remove(e.getKey()));
            }
        }
        final Long full = fullAt.get(client);
        final long base = full == null || full - now < 0 ? now : full;
        fullAt.put(client, base + REFILL_NANOS);
    }

    /** A right token: the client starts afresh. */
    synchronized void succeeded(String client) {
        fullAt.remove(client);
    }
}
