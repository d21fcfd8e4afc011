package dev.spillway.runtime.api;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The failed-authentication bucket on a fake clock: burst, refill, per-client independence, bounded table. */
class AuthThrottleTest {

    private final AtomicLong now = new AtomicLong(1_000_000_000L);
    private final AuthThrottle t = new AuthThrottle(3, Duration.ofSeconds(10), 100, now::get);

    @Test
    void burstThenOneTryPerRefill() {
        for (int i = 0; i < 3; i++) {
            assertEquals(0, t.retryAfterSeconds("a"), "try " + (i + 1));
            t.failed("a");
        }
        assertEquals(10, t.retryAfterSeconds("a"));
        now.addAndGet(Duration.ofSeconds(9).toNanos());
        assertEquals(1, t.retryAfterSeconds("a"));
        now.addAndGet(Duration.ofSeconds(1).toNanos());
        assertEquals(0, t.retryAfterSeconds("a"));
        t.failed("a");
        assertEquals(10, t.retryAfterSeconds("a"));
        now.addAndGet(Duration.ofSeconds(30).toNanos());
        assertEquals(0, t.retryAfterSeconds("a"));
    }

    @Test
    void clientsAreIndependent() {
        for (int i = 0; i < 3; i++) {
            t.failed("a");
        }
        t.failed("b");
        t.succeeded("b");
        t.succeeded("c");
        assertEquals(10, t.retryAfterSeconds("a"), "another client's success changes nothing");
        assertEquals(0, t.retryAfterSeconds("b"));
        t.succeeded("a");
        assertEquals(0, t.retryAfterSeconds("a"), "its own success (the sign-in) starts it afresh");
    }

    @Test
    void theTableIsBounded() {
        for (int i = 0; i < 3; i++) {
            t.failed("guesser");
        }
        for (int i = 0; i < 1_000; i++) {
            t.failed("10.0." + (i / 256) + "." + (i % 256));
            now.addAndGet(1);
        }
        assertEquals(100, t.tracked());
        assertEquals(10, t.retryAfterSeconds("guesser"), "a flood of one-try addresses evicts the empty bucket last");
        now.addAndGet(Duration.ofSeconds(11).toNanos());
        t.failed("new");
        assertEquals(2, t.tracked(), "buckets that refilled go first: the guesser's and the new one are left");
        assertEquals(0, t.retryAfterSeconds("new"));
    }
}
