package dev.spillway.telemetry.internal;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.function.LongSupplier;

/**
 * Pointer-free end-to-end acknowledgements. A producer remembers the range of ring sequences its events claimed;
 * nothing is attached to ring slots or batches. The pipeline reports each resolved range of ring sequences (a
 * batch's range, as the pump cut it, once the batch is written, spooled or failed) and publishes:
 *
 * <ul>
 *   <li>a <em>resolved-through</em> watermark: every sequence at or below it is committed to the sink, durably in
 *       the spool (a spooled range counts only once the spool's fsync covers it), or lost;</li>
 *   <li>a compact record of <em>lost</em> ranges (overwritten, failed, rejected), merged when adjacent and bounded:
 *       when it overflows, the oldest ranges are forgotten behind a horizon, and a waiter reaching back past the
 *       horizon is answered "not confirmed" (conservative, never a false "durable").</li>
 * </ul>
 *
 * A range may be reported in parts: the pump cuts one range (a round) into one batch per lane when it routes by
 * source, and the range counts as resolved when all its parts are.
 *
 * <p>A waiter for {@code [from, to]} completes once the watermark reaches {@code to}, with {@code true} when no lost
 * range intersects its range. Ranges are per batch (thousands of events), so the lock is taken once per batch,
 * never per event. Losses are tracked per batch range, so a loss in a concurrent producer's event inside the same
 * range also answers "not confirmed": conservative, and only under loss.
 */
final class CommitTracker {

    private static final int MAX_LOST_RANGES = 4_096;

    private final LongSupplier syncedGeneration;
    /**
     * Resolved ranges above the watermark, by first sequence: {to, highest spool generation that must be synced,
     * parts still unresolved}.
     */
    private final TreeMap<Long, long[]> resolved = new TreeMap<>();
    private final ArrayDeque<long[]> lost = new ArrayDeque<>();
    /**
     * Open acknowledgement scopes by floor (the lowest ring sequence their events can have), with how many share
     * each floor. A batch reaching up to the lowest floor may hold events a client will be told are durable.
     */
    private final TreeMap<Long, int[]> scopes = new TreeMap<>();
    private final PriorityQueue<Waiter> waiters = new PriorityQueue<>((a, b) -> Long.compare(a.to, b.to));
    private long watermark = -1;
    private long lostHorizon = -1;
    private boolean closed;

    private record Waiter(long from, long to, CompletableFuture<Boolean> future) {
    }

    private record Done(CompletableFuture<Boolean> future, boolean durable) {
    }

    /** @param syncedGeneration the spool's fsynced generation ({@code () -> Long.MAX_VALUE} without a spool) */
    public CommitTracker(LongSupplier syncedGeneration) {
        this.syncedGeneration = syncedGeneration;
    }

    /**
     * One of the {@code parts} batches that share ring sequences {@code [from, to]} is resolved.
     *
     * @param anyLost whether any event of this part was not stored (overwritten, failed, rejected)
     * @param spoolGeneration 0, or the spool append generation that must be fsynced before the part is durable
     * @param parts how many batches share the range (1 unless the pump routed the range's events by source)
     */
    public void resolved(long from, long to, boolean anyLost, long spoolGeneration, int parts) {
        if (to < from) {
            return;
        }
        final List<Done> done;
        synchronized (this) {
            if (anyLost) {
                addLost(from, to);
            }
            final long[] entry = resolved.get(from);
            if (entry == null) {
                resolved.put(from, new long[] {to, spoolGeneration, parts - 1});
            } else {
                entry[1] = Math.max(entry[1], spoolGeneration);
                entry[2]--;
            }
            done = advance();
        }
        complete(done);
    }

    /** Re-checks spool durability (called after each spool fsync). */
    public void syncAdvanced() {
        final List<Done> done;
        synchronized (this) {
            done = advance();
        }
        complete(done);
    }

    /** Highest ring sequence such that it and all below are resolved durably (or lost). */
    public synchronized long watermark() {
        return watermark;
    }

    /**
     * Completes when every sequence in {@code [from, to]} is resolved: {@code true} when all of them were committed
     * or durably spooled, {@code false} when any was lost (or the pipeline closed first).
     */
    public CompletableFuture<Boolean> whenResolved(long from, long to) {
        final CompletableFuture<Boolean> f = new CompletableFuture<>();
        final boolean answer;
        synchronized (this) {
            if (closed && to > watermark) {
                answer = false;
            } else if (to > watermark) {
                waiters.add(new Waiter(from, to, f));
                return f;
            } else {
                answer = !anyLost(from, to);
            }
        }
        f.complete(answer);
        return f;
    }

    /**
     * Opens an acknowledgement scope: events claimed from now on by the caller will have ring sequences of at least
     * {@code floor}, and a client may be told they are durable once {@link #whenResolved} confirms them. The caller
     * closes the scope with {@link #closeScope} once the client's answer is decided.
     */
    public synchronized void openScope(long floor) {
        scopes.computeIfAbsent(floor, f -> new int[1])[0]++;
    }

    /** Closes a scope opened with {@code floor}. */
    public synchronized void closeScope(long floor) {
        final int[] n = scopes.get(floor);
        if (n != null && --n[0] == 0) {
            scopes.remove(floor);
        }
    }

    /**
     * Whether a batch whose ring range ends at {@code to} may hold events of an open acknowledgement scope: true
     * when any open scope's floor is at or below {@code to}. Conservative: a batch holding only other producers'
     * events while a scope is open may be marked too, never the other way round. Called once per spooled batch.
     */
    public synchronized boolean anyScopeReaches(long to) {
        return !scopes.isEmpty() && scopes.firstKey() <= to;
    }

    /** Completes every remaining waiter with {@code false}: the pipeline stopped before confirming them. */
    public void close() {
        final List<Waiter> left;
        synchronized (this) {
            closed = true;
            left = new ArrayList<>(waiters);
            waiters.clear();
        }
        for (Waiter w : left) {
            w.future.complete(Boolean.FALSE);
        }
    }

    private void addLost(long from, long to) {
        final long[] last = lost.peekLast();
        if (last != null && from <= last[1] + 1 && to >= last[0] - 1) {
            last[0] = Math.min(last[0], from);
            last[1] = Math.max(last[1], to);
            return;
        }
        lost.addLast(new long[] {from, to});
        if (lost.size() > MAX_LOST_RANGES) {
            final long[] forgotten = lost.pollFirst();
            lostHorizon = Math.max(lostHorizon, forgotten[1]);
        }
    }

    private boolean anyLost(long from, long to) {
        if (from <= lostHorizon) {
            return true;
        }
        for (Iterator<long[]> it = lost.descendingIterator(); it.hasNext(); ) {
            final long[] r = it.next();
            if (r[0] <= to && r[1] >= from) {
                return true;
            }
        }
        return false;
    }

    private List<Done> advance() {
        final long synced = syncedGeneration.getAsLong();
        Map.Entry<Long, long[]> e;
        while ((e = resolved.firstEntry()) != null && e.getKey() <= watermark + 1 && e.getValue()[2] == 0
            && e.getValue()[1] <= synced) {
            watermark = Math.max(watermark, e.getValue()[0]);
            resolved.pollFirstEntry();
        }
        List<Done> done = null;
        while (!waiters.isEmpty() && waiters.peek().to <= watermark) {
            if (done == null) {
                done = new ArrayList<>();
            }
            final Waiter w = waiters.poll();
            done.add(new Done(w.future, !anyLost(w.from, w.to)));
        }
        return done;
    }

    /** Futures are completed outside the lock: their continuations (writing a response) must not hold it. */
    private static void complete(List<Done> done) {
        if (done != null) {
            for (Done d : done) {
                d.future.complete(d.durable);
            }
        }
    }
}
