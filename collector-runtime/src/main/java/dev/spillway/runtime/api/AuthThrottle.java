package dev.spillway.runtime.api;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Failed authentications per client address, as a token bucket: {@code burst} failures at once, then one more every
 * {@code refill}. A client with none left is told to wait ({@link #retryAfterSeconds}: the caller answers 429 with
 * {@code Retry-After}) until one is back; its further requests take nothing from the bucket while it waits, so
 * guessing runs at one try per {@code refill}. Buckets are per client: one client's failures or successes never
 * change another's. At most {@code maxClients} addresses are tracked (memory is bounded): when the table is full,
 * the buckets that refilled go first, then the one closest to full. Thread-safe.
 *
 * <p>Two uses: the status page's sign-in ({@link #signIn}: 5, then one per 12 s) and every credential sent to the
 * HTTP API, writes, {@code /metrics}, {@code /ready} and ping URLs ({@link #api}: 20, then one per 3 s).
 */
public final class AuthThrottle {

    /** Failures at once on the HTTP API before 429. */
    public static final int API_BURST = 20;
    /** One more HTTP API failure allowed every this long. */
    public static final Duration API_REFILL = Duration.ofSeconds(3);
    /** Wrong sign-in tokens at once before 429. */
    public static final int SIGN_IN_BURST = 5;
    /** One more sign-in try every this long. */
    public static final Duration SIGN_IN_REFILL = Duration.ofSeconds(12);
    /** Client addresses tracked at most per throttle. */
    public static final int MAX_CLIENTS = 10_000;

    private final int burst;
    private final long refillNanos;
    private final int maxClients;
    private final LongSupplier nanos;
    /** Per client: the time at which its bucket is full again; absent when full. Guarded by this. */
    private final Map<String, Long> fullAt = new HashMap<>();

    /**
     * @param burst failures allowed at once
     * @param refill one failure allowed again after this long
     * @param maxClients addresses tracked at most
     * @param nanos a monotonic time in nanoseconds
     */
    public AuthThrottle(int burst, Duration refill, int maxClients, LongSupplier nanos) {
        if (burst < 1 || refill.isNegative() || refill.isZero() || maxClients < 1) {
            throw new IllegalArgumentException("burst, refill and maxClients must be positive");
        }
        this.burst = burst;
        this.refillNanos = refill.toNanos();
        this.maxClients = maxClients;
        this.nanos = nanos;
    }

    /**
     * The HTTP API's throttle: {@link #API_BURST} failures, then one per {@link #API_REFILL}; time from
     * {@code clock}.
     */
    public static AuthThrottle api(Clock clock) {
        return new AuthThrottle(API_BURST, API_REFILL, MAX_CLIENTS, () -> nanosOf(clock.instant()));
    }

    /** The sign-in throttle: {@link #SIGN_IN_BURST} tries, then one per {@link #SIGN_IN_REFILL}. */
    public static AuthThrottle signIn(LongSupplier nanos) {
        return new AuthThrottle(SIGN_IN_BURST, SIGN_IN_REFILL, MAX_CLIENTS, nanos);
    }

    private static long nanosOf(Instant t) {
        return t.getEpochSecond() * 1_000_000_000L + t.getNano();
    }

    /** 0 when {@code client} may try a credential now, else the whole seconds (at least 1) until it may. */
    public synchronized long retryAfterSeconds(String client) {
        final Long full = fullAt.get(client);
        if (full == null) {
            return 0;
        }
        final long left = full - nanos.getAsLong(); // nanos until the bucket is full; more than burst-1 refills: empty
        final long overdraw = left - (burst - 1) * refillNanos;
        if (overdraw <= 0) {
            return 0;
        }
        return Math.max(1, TimeUnit.NANOSECONDS.toSeconds(overdraw + TimeUnit.SECONDS.toNanos(1) - 1));
    }

    /** Takes one try from {@code client}'s bucket (a wrong credential). */
    public synchronized void failed(String client) {
        final long now = nanos.getAsLong();
        if (fullAt.size() >= maxClients && !fullAt.containsKey(client)) {
            fullAt.values().removeIf(t -> t - now <= 0);
            if (fullAt.size() >= maxClients) {
                // Everyone is guessing: forget the client closest to full.
                fullAt.entrySet().stream().min(Map.Entry.comparingByValue())
                    .ifPresent(e -> fullAt.remove(e.getKey()));
            }
        }
        final Long full = fullAt.get(client);
        final long base = full == null || full - now < 0 ? now : full;
        fullAt.put(client, base + refillNanos);
    }

    /** {@code client} starts afresh (the sign-in's right token); no other client's bucket changes. */
    public synchronized void succeeded(String client) {
        fullAt.remove(client);
    }

    /** Addresses tracked now (at most {@code maxClients}). */
    public synchronized int tracked() {
        return fullAt.size();
    }

    /** Failures allowed at once. */
    public int burst() {
        return burst;
    }

    /** How long until one failure is allowed again. */
    public Duration refill() {
        return Duration.ofNanos(refillNanos);
    }
}
