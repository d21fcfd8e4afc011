package dev.spillway.runtime.lifecycle;

import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A point in time by which a stop must be over, measured on {@link System#nanoTime()}. Passed down a shutdown so
 * that every wait inside it (a join, an executor's termination) shares one budget instead of each having its own.
 */
public final class Deadline {

    private final long deadlineNanos;

    private Deadline(long deadlineNanos) {
        this.deadlineNanos = deadlineNanos;
    }

    /** A deadline {@code budget} from now. */
    public static Deadline in(Duration budget) {
        return new Deadline(System.nanoTime() + budget.toNanos());
    }

    /** Time left, never negative. */
    public Duration remaining() {
        return Duration.ofNanos(Math.max(0, deadlineNanos - System.nanoTime()));
    }

    /** Whether no time is left. */
    public boolean expired() {
        return deadlineNanos - System.nanoTime() <= 0;
    }

    /**
     * Waits for {@code t} to end, at most until the deadline (at least a millisecond, so a thread that has just
     * ended is seen as ended).
     *
     * @return whether it ended
     */
    public boolean join(Thread t) throws InterruptedException {
        t.join(Math.max(1, remaining().toMillis()));
        return !t.isAlive();
    }

    /**
     * Waits for a shut-down executor to finish its tasks, at most until the deadline.
     *
     * @return whether it terminated
     */
    public boolean await(ExecutorService executor) throws InterruptedException {
        return executor.awaitTermination(Math.max(1, remaining().toNanos()), TimeUnit.NANOSECONDS);
    }
}
