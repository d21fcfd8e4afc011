package dev.spillway.statuspage;

import java.sql.SQLException;
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
 * the bound once anything was read; only the very first read is waited for in full.
 *
 * @param <T> what the read returns
 */
final class SharedRead<T> {

    /** The read itself. */
    @FunctionalInterface
    interface Loader<T> {
        T load() throws SQLException;
    }

    /** A value and when its read ended ({@link #nanos} clock). */
    record Held<T>(T value, long takenNanos) {
    }

    private final Loader<T> loader;
    private final Executor executor;
    private final LongSupplier nanos;
    private volatile Held<T> held;
    private CompletableFuture<Held<T>> reading; // guarded by this

    /**
     * @param loader the read
     * @param executor where reads run (never the caller's thread, so a caller can stop waiting)
     * @param nanos a monotonic clock in nanoseconds ({@code System::nanoTime}; tests move one by hand)
     */
    SharedRead(Loader<T> loader, Executor executor, LongSupplier nanos) {
        this.loader = loader;
        this.executor = executor;
        this.nanos = nanos;
    }

    /**
     * The value if its read ended less than {@code maxAgeNanos} ago; otherwise starts a read (or joins the one
     * running) and waits for it, but with a value already held only up to {@code waitNanos}: then the held value is
     * the answer and the read goes on for the next reader.
     *
     * @throws SQLException when the read the caller waited for failed
     */
    T get(long maxAgeNanos, long waitNanos) throws SQLException {
        final Held<T> current = held;
        if (current != null && nanos.getAsLong() - current.takenNanos < maxAgeNanos) {
            return current.value;
        }
        final CompletableFuture<Held<T>> read = refresh();
        if (current == null) {
            return join(read).value;
        }
        try {
            return unwrap(() -> read.get(Math.max(0, waitNanos), TimeUnit.NANOSECONDS)).value;
        } catch (TimeoutException e) {
            return current.value;
        }
    }

    /** Starts a read unless one runs; either way the running one. */
    CompletableFuture<Held<T>> refresh() {
        final CompletableFuture<Held<T>> mine;
        synchronized (this) {
            if (reading != null) {
                return reading;
            }
            mine = new CompletableFuture<>();
            reading = mine;
        }
        try {
            executor.execute(() -> run(mine));
        } catch (RuntimeException e) { // rejected: the executor is shut down
            done(mine);
            mine.completeExceptionally(e);
        }
        return mine;
    }

    private void run(CompletableFuture<Held<T>> mine) {
        try {
            final T value = loader.load();
            final Held<T> h = new Held<>(value, nanos.getAsLong());
            held = h;
            done(mine);
            mine.complete(h);
        } catch (SQLException | RuntimeException e) {
            done(mine);
            mine.completeExceptionally(e);
        } catch (Error e) {
            done(mine);
            mine.completeExceptionally(e);
            throw e;
        }
    }

    private synchronized void done(CompletableFuture<Held<T>> mine) {
        if (reading == mine) {
            reading = null;
        }
    }

    /**
     * Ends the waits on the running read with an error (its executor is closing and may drop it unstarted); the read,
     * if it runs after all, still keeps its value.
     */
    void abandon() {
        final CompletableFuture<Held<T>> r;
        synchronized (this) {
            r = reading;
            reading = null;
        }
        if (r != null) {
            r.completeExceptionally(new SQLException("the status page is closing"));
        }
    }

    /** The value held, or null before the first read ended. */
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
