package dev.spillway.uptime.monitor;

import dev.spillway.runtime.lifecycle.Deadline;
import dev.spillway.runtime.lifecycle.ServiceThreads;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Runs checks with at most {@code concurrency} in flight ({@code --probe-concurrency}), earliest due time first,
 * in two lanes:
 * <ul>
 *   <li><b>healthy</b>: checks of monitors whose last check ended well inside its timeout; they may use every
 *       slot;</li>
 *   <li><b>slow</b>: checks of monitors whose last check used (nearly) its whole timeout (a target that does not
 *       answer); they may hold at most {@link #slowBudget} slots (a fifth of the concurrency, at least one).</li>
 * </ul>
 * So targets that hang cannot fill every slot: with 3,000 of them at a 5 s timeout, healthy monitors still find
 * four fifths of the slots, and their checks are not queued behind the hanging ones (each lane is ordered by due
 * time, not arrival). A slow monitor whose checks cannot all run skips ticks (counted by the scheduler, because
 * its previous check is still queued or running). Nothing is dropped: the queues are bounded by the number of
 * monitors, because the scheduler hands over a monitor's next check only after its previous one finished.
 *
 * <p>Lateness is measured here, when a check starts: from its due time, queue wait included. Threads are created
 * on demand (one per slot in use, since OkHttp's calls are blocking) and retire after 30 s idle, so a collector
 * with 20 monitors does not hold 500 threads.
 */
final class ProbeExecutor implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ProbeExecutor.class);
    private static final long STACK_SIZE = 256 * 1024;
    private static final long IDLE_NANOS = TimeUnit.SECONDS.toNanos(30);

    /** A check waiting for a slot. */
    private record Task(long dueNanos, long queuedAt, boolean slow, long seq, Runnable check) {
    }

    private final int concurrency;
    private final int slowBudget;
    private final ThreadFactory threads;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition work = lock.newCondition();
    private final PriorityQueue<Task> healthy = new PriorityQueue<>(ProbeExecutor::earlier);
    private final PriorityQueue<Task> slow = new PriorityQueue<>(ProbeExecutor::earlier);
    private final Set<Thread> workers = new HashSet<>();
    private final Timer queueWait;
    private final Timer lateness;
    private final Timer healthyLateness;
    private final Timer slowLateness;
    private final AtomicInteger highWater = new AtomicInteger();
    // Guarded by lock.
    private int idle;
    private int inFlight;
    private int slowInFlight;
    private long seq;
    private boolean closed;

    ProbeExecutor(int concurrency, MeterRegistry meters) {
        if (concurrency < 1) {
            throw new IllegalArgumentException("concurrency must be at least 1: " + concurrency);
        }
        this.concurrency = concurrency;
        this.slowBudget = slowBudget(concurrency);
        this.threads = ServiceThreads.pool("probe", STACK_SIZE);
        this.queueWait = Timer.builder("spillway.monitor.queue.wait")
            .description("time a due check waited for a free probe slot")
            .publishPercentiles(0.5, 0.99)
            .register(meters);
        this.lateness = Timer.builder("spillway.monitor.schedule.lateness")
            .description("how late a check started: from its due time to its start, queue wait included")
            .publishPercentiles(0.5, 0.99)
            .register(meters);
        this.healthyLateness = laneTimer(meters, "healthy");
        this.slowLateness = laneTimer(meters, "slow");
        Gauge.builder("spillway.monitor.checks.queued", this, ProbeExecutor::queued)
            .description("due checks waiting for a free probe slot").register(meters);
        Gauge.builder("spillway.monitor.checks.in.flight", this, ProbeExecutor::inFlight)
            .description("checks running now (HTTP in flight)").register(meters);
        Gauge.builder("spillway.monitor.checks.slow.in.flight", this, ProbeExecutor::slowInFlight)
            .description("checks of monitors whose last check timed out running now (at most a fifth of the "
                + "probe concurrency)").register(meters);
    }

    /** The lateness of one lane's checks (the unlabelled timer mixes both lanes). */
    private static Timer laneTimer(MeterRegistry meters, String lane) {
        return Timer.builder("spillway.monitor.lane.lateness")
            .description("how late a check of this lane started: from its due time to its start, queue wait "
                + "included (healthy: last check ended inside 90 % of its timeout; slow: it did not)")
            .tag("lane", lane)
            .publishPercentiles(0.5, 0.99)
            .register(meters);
    }

    /** Slots checks of slow monitors may hold: a fifth of the concurrency, at least one. */
    static int slowBudget(int concurrency) {
        return Math.max(1, concurrency / 5);
    }

    private static int earlier(Task a, Task b) {
        final int byDue = Long.compare(a.dueNanos - b.dueNanos, 0); // nanoTime values: compare differences
        return byDue != 0 ? byDue : Long.compare(a.seq, b.seq);
    }

    /**
     * Queues a check.
     *
     * @param dueNanos when it was due ({@link System#nanoTime()}); orders the queue and is what lateness counts from
     * @param slowLane whether the monitor's last check timed out (its check may use only the slow lane's slots)
     * @throws RejectedExecutionException after {@link #close}
     */
    void submit(long dueNanos, boolean slowLane, Runnable check) {
        lock.lock();
        try {
            if (closed) {
                throw new RejectedExecutionException("probe executor closed");
            }
            (slowLane ? slow : healthy).add(new Task(dueNanos, System.nanoTime(), slowLane, seq++, check));
            if (idle > 0) {
                work.signal();
            }
            // A thread counted in idle may already have been signalled for an earlier task and not yet woken, so
            // "some thread is idle" does not mean "this task has a thread": start one whenever the tasks that
            // could start now outnumber the threads waiting to take them.
            if (startable() > idle && workers.size() < concurrency) {
                final Thread t = threads.newThread(this::work);
                workers.add(t);
                t.start();
            }
        } finally {
            lock.unlock();
        }
    }

    /** Queued tasks that free slots and the slow lane's budget would let start now. Caller holds the lock. */
    private int startable() {
        final int slowAllowed = Math.min(slow.size(), Math.max(0, slowBudget - slowInFlight));
        return Math.min(concurrency - inFlight, healthy.size() + slowAllowed);
    }

    /** The next task allowed to start, removed from its queue, or null. Caller holds the lock. */
    private Task next() {
        final Task h = healthy.peek();
        final Task s = slowInFlight < slowBudget ? slow.peek() : null;
        if (h == null && s == null) {
            return null;
        }
        final Task t = h == null ? s : s == null ? h : earlier(h, s) <= 0 ? h : s;
        (t.slow ? slow : healthy).poll();
        inFlight++;
        if (t.slow) {
            slowInFlight++;
        }
        return t;
    }

    private void work() {
        final Thread self = Thread.currentThread();
        Task task = null;
        while (true) {
            lock.lock();
            try {
                if (task != null) {
                    inFlight--;
                    if (task.slow) {
                        slowInFlight--;
                    }
                }
                task = null;
                long idleLeft = IDLE_NANOS;
                while (!closed && (task = next()) == null && idleLeft > 0) {
                    idle++;
                    try {
                        idleLeft = work.awaitNanos(idleLeft);
                    } catch (InterruptedException e) {
                        idleLeft = 0; // interrupted while idle: only shutdown does that
                    } finally {
                        idle--;
                    }
                }
                if (task == null) {
                    workers.remove(self);
                    return;
                }
                if (idle > 0 && (!healthy.isEmpty() || (!slow.isEmpty() && slowInFlight < slowBudget))) {
                    work.signal(); // more to start: pass it on (a signal may have woken only this thread)
                }
                highWater.accumulateAndGet(inFlight, Math::max);
            } finally {
                lock.unlock();
            }
            final long start = System.nanoTime();
            queueWait.record(start - task.queuedAt, TimeUnit.NANOSECONDS);
            final long late = Math.max(0, start - task.dueNanos);
            lateness.record(late, TimeUnit.NANOSECONDS);
            (task.slow ? slowLateness : healthyLateness).record(late, TimeUnit.NANOSECONDS);
            try {
                task.check.run();
            } catch (RuntimeException | Error e) {
                // The check itself catches what a probe throws; this keeps a shared thread alive if that fails.
                LOG.error("check failed outside its probe", e);
            }
            Thread.interrupted(); // an interrupt meant for the check must not end the next one
        }
    }

    /** Checks waiting for a slot. */
    int queued() {
        lock.lock();
        try {
            return healthy.size() + slow.size();
        } finally {
            lock.unlock();
        }
    }

    /** Checks running. */
    int inFlight() {
        lock.lock();
        try {
            return inFlight;
        } finally {
            lock.unlock();
        }
    }

    /** Checks of slow monitors running. */
    int slowInFlight() {
        lock.lock();
        try {
            return slowInFlight;
        } finally {
            lock.unlock();
        }
    }

    /** Most checks that ran at once since start. */
    int maxInFlight() {
        return highWater.get();
    }

    /** The configured bound. */
    int concurrency() {
        return concurrency;
    }

    /** The queue-wait timer: from hand-over to start. */
    Timer queueWait() {
        return queueWait;
    }

    /** The lateness timer: from due time to start, queue wait included (percentiles for the status API). */
    Timer lateness() {
        return lateness;
    }

    /** The lateness of one lane's checks: from due time to start, queue wait included. */
    Timer lateness(boolean slowLane) {
        return slowLane ? slowLateness : healthyLateness;
    }

    /** Stops taking checks, interrupts running ones and waits for them to end. */
    @Override
    public void close() {
        stop(Deadline.in(java.time.Duration.ofSeconds(10)));
    }

    /** Stops taking checks, drops queued ones, interrupts running ones and waits for them to end by the deadline. */
    boolean stop(Deadline deadline) {
        final List<Thread> running;
        lock.lock();
        try {
            closed = true;
            final int dropped = healthy.size() + slow.size();
            healthy.clear();
            slow.clear();
            if (dropped > 0) {
                LOG.info("shutdown: {} queued checks not run (their monitors are checked again after restart)",
                    dropped);
            }
            running = new ArrayList<>(workers);
            work.signalAll();
        } finally {
            lock.unlock();
        }
        for (Thread t : running) {
            t.interrupt();
        }
        try {
            boolean ended = true;
            for (Thread t : running) {
                ended &= deadline.join(t);
            }
            return ended;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
