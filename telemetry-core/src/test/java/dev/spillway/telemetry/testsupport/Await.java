package dev.spillway.telemetry.testsupport;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

/**
 * Polls a condition until it holds or a deadline passes. Tests use this instead of {@code Thread.sleep}, so they
 * wait exactly as long as needed on a fast machine and fail with a message (not a hang) on a broken one.
 */
public final class Await {

    private static final long POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(5);

    private Await() {
    }

    /**
     * Returns as soon as {@code condition} is true; throws {@link AssertionError} with {@code message} if it is
     * still false after {@code timeout}. The condition is evaluated once more after the deadline so that a slow
     * poll loop cannot cause a spurious failure.
     */
    public static void until(Duration timeout, BooleanSupplier condition, String message) {
        final long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                if (condition.getAsBoolean()) {
                    return;
                }
                throw new AssertionError("timed out after " + timeout + ": " + message);
            }
            LockSupport.parkNanos(POLL_NANOS);
            if (Thread.interrupted()) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted while waiting: " + message);
            }
        }
    }

    /** Like {@link #until} for a condition that may throw (e.g. a JDBC query); an exception counts as false. */
    public static void untilNoThrow(Duration timeout, ThrowingBooleanSupplier condition, String message) {
        until(timeout, () -> {
            try {
                return condition.getAsBoolean();
            } catch (Exception e) {
                return false;
            }
        }, message);
    }

    /** A condition that may throw a checked exception. */
    @FunctionalInterface
    public interface ThrowingBooleanSupplier {
        boolean getAsBoolean() throws Exception;
    }
}
