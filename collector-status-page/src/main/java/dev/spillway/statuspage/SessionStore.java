package dev.spillway.statuspage;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The status page's sign-in sessions, kept in the collector's memory: each has a random id (256 bits from
 * {@link SecureRandom}; the cookie holds it, the store only its SHA-256, so a heap dump reveals no usable cookie)
 * and its own CSRF token for the page's forms. A session ends when it is revoked (sign-out), when it is older than
 * the maximum age, when more than {@link #MAX_SESSIONS} exist (the oldest goes), or when the collector stops.
 * Thread-safe.
 */
final class SessionStore {

    /** Most sessions kept at once; signing in beyond it ends the oldest. */
    static final int MAX_SESSIONS = 1_000;

    private static final SecureRandom RANDOM = new SecureRandom();

    /** A live session: the cookie's id, the forms' CSRF token, and when it ends. */
    record Session(String id, String csrf, Instant created, Instant expires) {
    }

    private final Duration maxAge;
    private final Supplier<Instant> clock;
    private final Map<String, Session> byHash = new HashMap<>(); // guarded by this

    /**
     * @param maxAge how long a session lasts from sign-in ({@code --session-max-age})
     * @param clock now
     */
    SessionStore(Duration maxAge, Supplier<Instant> clock) {
        this.maxAge = maxAge;
        this.clock = clock;
    }

    /** A new session (ending the oldest when {@link #MAX_SESSIONS} are live). */
    synchronized Session create() {
        final Instant now = clock.get();
        byHash.values().removeIf(s -> !s.expires.isAfter(now));
        while (byHash.size() >= MAX_SESSIONS) {
            byHash.entrySet().stream().min(Comparator.comparing(e -> e.getValue().created))
                .ifPresent(e -> byHash.remove(e.getKey()));
        }
        final Session s = new Session(random(), random(), now, now.plus(maxAge));
        byHash.put(hash(s.id), s);
        return s;
    }

    /** The live session with this id, or null (unknown, revoked, expired, or not an id at all). */
    synchronized Session find(String id) {
        if (id == null || id.isEmpty() || id.length() > 64) {
            return null;
        }
        final String h = hash(id);
        final Session s = byHash.get(h);
        if (s == null) {
            return null;
        }
        if (!s.expires.isAfter(clock.get())) {
            byHash.remove(h);
            return null;
        }
        return s;
    }

    /** Ends a session; whether it was live. */
    synchronized boolean revoke(String id) {
        return id != null && byHash.remove(hash(id)) != null;
    }

    /** Live sessions (expired ones not yet noticed included). */
    synchronized int size() {
        return byHash.size();
    }

    /** The session length. */
    Duration maxAge() {
        return maxAge;
    }

    /** 32 random bytes, URL-safe base64 (43 characters). */
    static String random() {
        final byte[] b = new byte[32];
        RANDOM.nextBytes(b);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }

    private static String hash(String id) {
        try {
            return Base64.getEncoder().encodeToString(MessageDigest.getInstance("SHA-256")
                .digest(id.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every JVM", e);
        }
    }
}
