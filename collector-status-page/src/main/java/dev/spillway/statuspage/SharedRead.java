package dev.spillway.statuspage;

import java.sql.SQLException;
import java.sql.SQLTimeoutException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongSupplier;

/**
 * A database read shared by every reader and kept as a value: at most one read runs at a time (readers who come
 * while it runs join it), and a reader who finds the value too old starts a read but waits for it only up to a
 * bound, then answers the value it had. So a slow read (a loaded database, many monitors) costs a reader at most
 * the bound once anything was read. A read may hand out a first, cheaper value before its whole one
 * ({@link Staged}): readers with nothing held are answered with it, so the very first readers wait for the cheap
 * part only, and for that at most a bound of their own ({@link #get(long, long, long)}).
 *
 * @param <T> what the read returns
 */
final class SharedRead<T> {

    /** The read itself. */
    @FunctionalInterface
    interface Loader<T> {
        T load() throws SQLException;
    }

    /**
     * A read in two stages: it may pass {@code early} a first value (once), which readers that hold nothing are
     * answered with while the rest is read; what it returns is the whole value.
     */
    @FunctionalInterface
    interface Staged<T> {
        T load(java.util.function.Consumer<T> early) throws SQLException;
    }

    /**
     * A value and when its read ended ({@link #nanos} clock); not {@code whole} when it is a read's early value (the
     * rest of that read still runs, or failed).
     */
    record Held<T>(T value, long takenNanos, boolean whole) {
    }

    /** A running read: its whole value, and its first one (the early value, else the whole value or its failure). */
    record Reading<T>(CompletableFuture<Held<T>> whole, CompletableFuture<Held<T>> first) {
    }

    private final Staged<T> loader;
    private final Executor executor;
    private final LongSupplier nanos;
    private volatile Held<T> held;
    private Reading<T> reading; // guarded by this

    /**
     * @param loader the read
     * @param executor where reads run (never the caller's thread, so a caller can stop waiting)
     * @param nanos a monotonic clock in nanoseconds ({@code System::nanoTime}; tests move one by hand)
     */
    SharedRead(Loader<T> loader, Executor executor, LongSupplier nanos) {
        this((Staged<T>) early -> loader.load(), executor, nanos);
    }

    /** As {@link #SharedRead(Loader, Executor, LongSupplier)}, with a read that may hand out an early value. */
    SharedRead(Staged<T> loader, Executor executor, LongSupplier nanos) {
        this.loader = loader;
        this.executor = executor;
        this.nanos = nanos;
    }

    /**
     * The value if its read ended less than {@code maxAgeNanos} ago; otherwise starts a read (or joins the one
     * running) and waits for it, but with a value already held only up to {@code waitNanos}: then the held value is
     * the answer and the read goes on for the next reader. With nothing held the reader waits for the read's first
     * value as long as it takes (tests; the page bounds it with {@link #get(long, long, long)}).
     *
     * @throws SQLException when the read the caller waited for failed
     */
    T get(long maxAgeNanos, long waitNanos) throws SQLException {
        return get(maxAgeNanos, waitNanos, Long.MAX_VALUE);
    }

    /**
     * As {@link #get(long, long)}, but with nothing held the reader waits for the read's first value (its early one,
     * or the whole) at most {@code firstWaitNanos}; an early value held while the rest of its read runs is answered
     * at once (the whole one follows for later readers).
     *
     * @throws SQLTimeoutException when nothing was held and the read gave no value within {@code firstWaitNanos}
     *     (the read goes on; a transient failure, so the page answers 503 with Retry-After)
     * @throws SQLException when the read the caller waited for failed
     */
    T get(long maxAgeNanos, long waitNanos, long firstWaitNanos) throws SQLException {
        final Held<T> current = held;
        if (current != null && current.whole && nanos.getAsLong() - current.takenNanos < maxAgeNanos) {
            return current.value;
        }
        if (current != null && !current.whole) {
            synchronized (this) {
                if (reading != null) {
                    return current.value; // the rest of its read runs: no new read, no wait
                }
            }
        }
        final Reading<T> read = start();
        if (current == null) {
            try {
                return unwrap(firstWaitNanos == Long.MAX_VALUE ? read.first::get
                    : () -> read.first.get(Math.max(0, firstWaitNanos), TimeUnit.NANOSECONDS)).value;
            } catch (TimeoutException e) {
                throw new SQLTimeoutException("the status page's first read gave nothing within "
                    + TimeUnit.NANOSECONDS.toMillis(firstWaitNanos) + " ms (it goes on; try again shortly)");
            }
        }
        try {
            return unwrap(() -> read.whole.get(Math.max(0, waitNanos), TimeUnit.NANOSECONDS)).value;
        } catch (TimeoutException e) {
            return current.value;
        }
    }

    /** Starts a read unless one runs; either way the running one (its whole value). */
    CompletableFuture<Held<T>> refresh() {
        return start().whole;
    }

    /** Starts a read unless one runs; either way the running one, both its values. */
    Reading<T> start() {
        final Reading<T> mine;
        synchronized (this) {
            if (reading != null) {
                return reading;
            }
            mine = new Reading<>(new CompletableFuture<>(), new CompletableFuture<>());
            reading = mine;
        }
        try {
            executor.execute(() -> run(mine));
        } catch (RuntimeException e) { // rejected: the executor is shut down
            done(mine);
            mine.whole.completeExceptionally(e);
            mine.first.completeExceptionally(e);
        }
        return mine;
    }

    private void run(Reading<T> mine) {
        try {
            final T value = loader.load(early -> {
                final Held<T> h = new Held<>(early, nanos.getAsLong(), false);
                synchronized (this) {
                    final Held<T> now = held;
                    if (reading == mine && (now == null || !now.whole)) {
                        held = h; // never over a whole value: an early one is for readers who hold nothing
                    }
                }
                mine.first.complete(h);
            });
            final Held<T> h = new Held<>(value, nanos.getAsLong(), true);
            held = h;
            done(mine);
            mine.first.complete(h);
            mine.whole.complete(h);
        } catch (SQLException | RuntimeException e) {
            done(mine);
            mine.first.completeExceptionally(e);
            mine.whole.completeExceptionally(e);
        } catch (Error e) {
            done(mine);
            mine.first.completeExceptionally(e);
            mine.whole.completeExceptionally(e);
            throw e;
        }
    }

    private synchronized void done(Reading<T> mine) {
        if (reading == mine) {
            reading = null;
        }
    }

    /**
     * Ends the waits on the running read with an error (its executor is closing and may drop it unstarted); the read,
     * if it runs after all, still keeps its value.
     */
    void abandon() {
        final Reading<T> r;
        synchronized (this) {
            r = reading;
            reading = null;
        }
        if (r != null) {
            final SQLException closing = new SQLException("the status page is closing");
            r.first.completeExceptionally(closing);
            r.whole.completeExceptionally(closing);
        }
    }

    /** The value held (whole, or a running read's early one), or null before the first read gave one. */
    Held<T> held() {
        return held;
    }

    /** Drops the value: the next reader waits for a read of its own. */
    void forget() {
        held = null;
    }

    /** Waits for {@code read}; its failure as the {@link SQLException} or runtime exception it was. */
    static <T> T join(CompletableFuture<T> read) throws SQLException {
        try {
            return unwrap(read::get);
        } catch (TimeoutException e) {
            throw new IllegalStateException(e); // no timeout given
        }
    }

    @FunctionalInterface
    private interface Wait<V> {
        V get() throws InterruptedException, ExecutionException, TimeoutException;
    }

    private static <V> V unwrap(Wait<V> w) throws SQLException, TimeoutException {
        try {
            return w.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SQLException("interrupted while waiting for the status page's read", e);
        } catch (ExecutionException | CompletionException e) {
            final Throwable cause = e.getCause();
            if (cause instanceof SQLException sql) {
                throw sql;
            }
            if (cause instanceof RuntimeException re) {
                throw re;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException(cause);
        }
    }
}
