package dev.spillway.uptime.monitor;

import dev.spillway.runtime.lifecycle.ServiceThreads;
import dev.spillway.runtime.lifecycle.Deadline;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import org.agrona.DeadlineTimerWheel;
import org.agrona.collections.Long2ObjectHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * One thread that only decides when checks are due and hands them over; it never runs a check or touches the
 * database. Deadlines live in Agrona's {@link DeadlineTimerWheel} (chosen over a
 * {@code ScheduledThreadPoolExecutor} by measurement: see docs/monitors.md and docs/performance.md), driven by this
 * thread's own loop with a ~4 ms tick.
 *
 * <ul>
 *   <li>Fixed rate without drift: a monitor's next deadline is its previous deadline plus the interval, never
 *       "now plus the interval", so slow checks and late wake-ups do not accumulate.</li>
 *   <li>Start-up spread on a shared grid: a monitor is due at the wall-clock instants
 *       {@code epoch + phase + k * interval}, with a stable, name-derived {@link #phase}, so 10,000 monitors
 *       started together are spread over the interval instead of firing at once, keep their phase across
 *       restarts, and a monitor that moves to another collector (its lease, {@link MonitorLeases}) stays on the
 *       same grid there: it is not checked twice in one interval by the two (clocks agreeing).</li>
 *   <li>Skips: a tick whose monitor's previous check has not finished (queued, running or being recorded) is
 *       skipped and counted, and so are ticks missed while this thread was stalled; the deadline grid stays.</li>
 * </ul>
 * Changes (add, update, remove) are queued from any thread and applied by the scheduler thread at its next tick.
 */
final class MonitorScheduler implements AutoCloseable {

    /** Receives a due check; must not block (it queues the check). */
    interface Dispatch {
        /** @return false when the check is not run after all (no trusted lease): counted as skipped */
        boolean due(Entry entry, long deadlineNanos);
    }

    /** A scheduled monitor. {@link #spec} and {@link #running} are shared; the rest is the scheduler thread's. */
    static final class Entry {
        final String name;
        volatile MonitorSpec spec;
        final AtomicBoolean running = new AtomicBoolean();
        /** Whether the last check used (nearly) its whole timeout: its next check waits in the slow lane. */
        volatile boolean slow;
        long deadline;
        /** Set when {@link #deadline} is off the grid (a missed due time checked at once): the grid point after it. */
        long gridNext = Long.MIN_VALUE;
        long intervalNanos;
        long timerId = DeadlineTimerWheel.NULL_DEADLINE;

        Entry(MonitorSpec spec) {
            this.name = spec.name();
            this.spec = spec;
        }
    }

    private static final Logger LOG = LoggerFactory.getLogger(MonitorScheduler.class);
    private static final long TICK_NANOS = 1L << 22; // ~4.2 ms: the worst added lateness
    private static final int TICKS_PER_WHEEL = 1024; // ~4.3 s per turn; longer deadlines wait for their turn

    private final Dispatch dispatch;
    private final ConcurrentLinkedQueue<Runnable> commands = new ConcurrentLinkedQueue<>();
    private final Map<String, Entry> entries = new HashMap<>();
    private final Long2ObjectHashMap<Entry> byTimer = new Long2ObjectHashMap<>();
    private final java.util.ArrayList<Entry> due = new java.util.ArrayList<>();
    private final DeadlineTimerWheel wheel;
    private final Thread thread;
    private final Counter skipped;
    private final Counter ticks;
    private final Counter missedChecked;
    private final AtomicInteger active = new AtomicInteger();
    private final Clock clock;
    // The wall clock minus System.nanoTime(), measured by calibrate() (scheduler thread only).
    private long wallMinusNano;
    private long calibratedAt = Long.MIN_VALUE;
    private volatile boolean running = true;

    /** @param clock the wall clock the grid of due times is laid on */
    MonitorScheduler(Dispatch dispatch, MeterRegistry meters, Clock clock) {
        this.dispatch = dispatch;
        this.clock = clock;
        this.wheel = new DeadlineTimerWheel(TimeUnit.NANOSECONDS, System.nanoTime(), TICK_NANOS, TICKS_PER_WHEEL);
        this.skipped = Counter.builder("spillway.monitor.ticks.skipped")
            .description("due checks not run because the previous check of the monitor was still running")
            .register(meters);
        this.ticks = Counter.builder("spillway.monitor.ticks")
            .description("due checks (run or skipped)").register(meters);
        this.missedChecked = Counter.builder("spillway.monitor.takeover.immediate")
            .description("monitors taken over whose due time had passed unchecked by the previous holder: "
                + "checked at once instead of at their next due time").register(meters);
        Gauge.builder("spillway.monitor.active", active, AtomicInteger::get)
            .description("monitors scheduled (enabled)").register(meters);
        this.thread = ServiceThreads.start("monitor-scheduler", this::loop);
    }

    /** Schedules a new monitor or applies a changed one (a disabled spec unschedules it). */
    void upsert(MonitorSpec spec) {
        command(() -> apply(spec, null));
    }

    /**
     * Schedules a monitor just taken over from another collector: if its latest due time is at or after
     * {@code uncheckedSince} (the previous holder certainly did not check it) and that was less than an interval ago,
     * it is checked at once, then on its grid; otherwise at its next due time, as {@link #upsert(MonitorSpec)}.
     *
     * @param uncheckedSince from when the previous holder checked it no more; null when unknown, {@link Instant#MIN}
     *     for never held (both: the next due time)
     */
    void upsert(MonitorSpec spec, Instant uncheckedSince) {
        command(() -> apply(spec, uncheckedSince));
    }

    /** Stops checking a monitor. */
    void remove(String name) {
        command(() -> drop(name));
    }

    private void command(Runnable r) {
        commands.add(r);
        LockSupport.unpark(thread);
    }

    private void apply(MonitorSpec spec, Instant uncheckedSince) {
        if (!spec.enabled()) {
            drop(spec.name());
            return;
        }
        final long interval = spec.interval().toNanos();
        Entry e = entries.get(spec.name());
        if (e != null) {
            e.spec = spec;
            if (e.intervalNanos == interval) {
                return; // same grid: the next check simply uses the new settings
            }
            cancel(e);
        } else {
            e = new Entry(spec);
            entries.put(spec.name(), e);
            active.incrementAndGet();
        }
        e.intervalNanos = interval;
        final long now = System.nanoTime();
        if (now - calibratedAt > CALIBRATE_EVERY_NANOS || calibratedAt == Long.MIN_VALUE) {
            calibrate();
        }
        final long wall = now + wallMinusNano;
        final long untilNext = untilNext(spec.name(), interval, wall);
        e.deadline = now + untilNext;
        e.gridNext = Long.MIN_VALUE;
        if (uncheckedSince != null && !uncheckedSince.equals(Instant.MIN)) {
            // The due time before now (the one the next replaces), on the wall clock. Only when the previous holder
            // stopped less than an interval ago: then the monitors checked at once are those whose due time fell
            // in the hand-over, a share of them as small as the hand-over is short of the interval. A holder gone
            // longer ago (a restart after a stop) or none (a first start) would fire every monitor at once; they
            // keep their spread instead.
            final long lastDue = wall + untilNext - interval;
            final long since = epochNanos(uncheckedSince);
            if (lastDue >= since && since > wall - interval) {
                e.gridNext = e.deadline; // missed by the previous holder: now, then the grid
                e.deadline = now;
                missedChecked.increment();
            }
        }
        schedule(e);
    }

    private void drop(String name) {
        final Entry e = entries.remove(name);
        if (e != null) {
            cancel(e);
            active.decrementAndGet();
        }
    }

    /** A stable offset in [0, interval) derived from the name: spreads first checks, same phase every start. */
    static long phase(String name, long intervalNanos) {
        long h = name.hashCode() * 0x9E3779B97F4A7C15L;
        h ^= h >>> 29;
        return Math.floorMod(h, intervalNanos);
    }

    /** Nanoseconds from wall-clock {@code epochNanos} to the monitor's next grid point {@code epoch + phase + k * interval}. */
    static long untilNext(String name, long intervalNanos, long epochNanos) {
        return Math.floorMod(phase(name, intervalNanos) - epochNanos, intervalNanos);
    }

    /** How often the wall clock is compared with {@code System.nanoTime()} again (NTP may slew it). */
    private static final long CALIBRATE_EVERY_NANOS = TimeUnit.MINUTES.toNanos(1);

    /**
     * Measures the wall clock against {@code System.nanoTime()}: the read of the clock between two reads of
     * nanoTime that are closest together of a few tries, so a thread preempted between the reads does not shift
     * the grid of the monitors scheduled next.
     */
    private void calibrate() {
        long bestGap = Long.MAX_VALUE;
        for (int i = 0; i < 5; i++) {
            final long before = System.nanoTime();
            final Instant wall = clock.instant();
            final long after = System.nanoTime();
            if (after - before < bestGap) {
                bestGap = after - before;
                wallMinusNano = wall.getEpochSecond() * 1_000_000_000L + wall.getNano() - (before + (after - before) / 2);
            }
        }
        calibratedAt = System.nanoTime();
    }

    private static long epochNanos(Instant t) {
        if (t.getEpochSecond() < -9_000_000_000L) {
            return Long.MIN_VALUE;
        }
        return t.getEpochSecond() * 1_000_000_000L + t.getNano();
    }

    private void schedule(Entry e) {
        e.timerId = wheel.scheduleTimer(e.deadline);
        byTimer.put(e.timerId, e);
    }

    private void cancel(Entry e) {
        if (e.timerId != DeadlineTimerWheel.NULL_DEADLINE) {
            wheel.cancelTimer(e.timerId);
            byTimer.remove(e.timerId);
            e.timerId = DeadlineTimerWheel.NULL_DEADLINE;
        }
    }

    private void loop() {
        final DeadlineTimerWheel.TimerHandler handler = this::expired;
        while (running) {
            try {
                Runnable c;
                while ((c = commands.poll()) != null) {
                    c.run();
                }
                final long now = System.nanoTime();
                if (wheel.timerCount() == 0) {
                    wheel.resetStartTime(now);
                    LockSupport.parkNanos(this, TimeUnit.SECONDS.toNanos(1));
                    continue;
                }
                while (wheel.currentTickTime() <= now) {
                    wheel.poll(now, handler, Integer.MAX_VALUE);
                    // Rescheduled after the poll, not inside it: the wheel is not modified while it is walked.
                    for (int i = 0; i < due.size(); i++) {
                        fire(due.get(i), now);
                    }
                    due.clear();
                }
                LockSupport.parkNanos(this, Math.max(wheel.currentTickTime() - System.nanoTime(), 100_000));
            } catch (RuntimeException | Error ex) {
                // Keep scheduling the other monitors; a bug here must not stop every check.
                LOG.error("monitor scheduler step failed", ex);
            }
        }
    }

    private boolean expired(TimeUnit unit, long now, long timerId) {
        final Entry e = byTimer.remove(timerId);
        if (e != null) {
            e.timerId = DeadlineTimerWheel.NULL_DEADLINE;
            due.add(e);
        }
        return true;
    }

    private void fire(Entry e, long now) {
        if (entries.get(e.name) != e) {
            return; // removed or replaced by a command earlier in this step
        }
        final long deadline = e.deadline;
        ticks.increment();
        // Lateness is recorded when the check starts (ProbeExecutor), so queue wait counts in it.
        if (!e.running.compareAndSet(false, true)) {
            skipped.increment();
        } else if (!dispatch.due(e, deadline)) {
            e.running.set(false);
            skipped.increment();
        }
        long next = e.gridNext != Long.MIN_VALUE ? e.gridNext : deadline + e.intervalNanos;
        e.gridNext = Long.MIN_VALUE;
        if (next <= now) {
            // This thread was stalled past whole intervals: those ticks are skipped, the grid is kept.
            final long missed = (now - next) / e.intervalNanos + 1;
            skipped.increment(missed);
            ticks.increment(missed);
            next += missed * e.intervalNanos;
        }
        e.deadline = next;
        schedule(e);
    }

    /** Monitors scheduled. */
    int active() {
        return active.get();
    }

    /** Ticks skipped so far. */
    long skipped() {
        return (long) skipped.count();
    }

    /** Due ticks so far (run or skipped). */
    long ticks() {
        return (long) ticks.count();
    }

    @Override
    public void close() {
        stop(Deadline.in(java.time.Duration.ofSeconds(5)));
    }

    /** Stops the scheduling thread (it finishes the tick in hand) by the deadline. */
    boolean stop(Deadline deadline) {
        running = false;
        LockSupport.unpark(thread);
        try {
            return deadline.join(thread);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
