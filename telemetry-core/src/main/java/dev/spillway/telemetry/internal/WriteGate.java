package dev.spillway.telemetry.internal;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * The workers' way into the sink and the closer's abort, as one handshake: after {@link #abort()} returns, every
 * write either is counted in the number it returned (so the closer aborts it through {@code Sink.abortWrites()})
 * or never starts ({@link #enter()} returns false).
 *
 * <p>Store-buffering (Dekker) on two volatiles: a worker increments the count (a volatile read-modify-write), then
 * reads {@code aborted}; the closer stores {@code aborted}, then reads the count. Volatile accesses are
 * sequentially consistent, so at least one side sees the other's write: a worker that read {@code aborted == false}
 * is counted by the closer. {@code WriteGateTest} (jcstress) checks that no outcome has both missed.
 */
final class WriteGate {

    private final AtomicInteger inside = new AtomicInteger();
    private volatile boolean aborted;

    /** Worker: enters a write; false (and not counted) when the close deadline already passed. */
    boolean enter() {
        inside.incrementAndGet();
        if (aborted) {
            inside.decrementAndGet();
            return false;
        }
        return true;
    }

    /** Worker: leaves a write; returns how many are still inside. */
    int leave() {
        return inside.decrementAndGet();
    }

    /** Closer: no write starts from now on; returns how many are inside (each of them must be aborted). */
    int abort() {
        aborted = true;
        return inside.get();
    }

    /** Whether {@link #abort()} was called. */
    boolean aborted() {
        return aborted;
    }

    /** Writes inside now. */
    int inside() {
        return inside.get();
    }
}
