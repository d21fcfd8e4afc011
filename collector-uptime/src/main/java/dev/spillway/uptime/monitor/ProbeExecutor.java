package dev.spillway.uptime.monitor;

import dev.spillway.runtime.lifecycle.Deadline;
import dev.spillway.runtime.lifecycle.ServiceThreads;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BiConsumer;
import java.util.function.Supplier;
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
 * <p>Two kinds of checks ({@link Probes#nonBlocking} decides): <b>blocking</b> ones ({@link #submit}: ICMP, and HTTP
 * with keep-alive, which runs on OkHttp's pooled connections) hold a thread, and so a slot, for their whole duration;
 * <b>non-blocking</b> ones ({@link #submitAsync}: HTTP without keep-alive, the default, TCP, DNS, TLS) use a thread
 * only to start (hand the name to the probes' resolver pool, or open the socket of an IP literal) and then hold an
 * <em>asynchronous slot</em> until their result future completes, however long that takes, while the thread takes
 * the next check. Asynchronous slots are connections
 * (file descriptors), not threads: their budget is separate and larger ({@link #DEFAULT_ASYNC_SLOTS}, a fifth of
 * them for the slow lane), so targets that hang hold connections, not threads. Every asynchronous check ends at its
 * deadline from its probe's timer; as a safety net the executor also ends one that is still open
 * {@link #SAFETY_GRACE} after its timeout, so nothing holds a slot forever.
 *
 * <p>Lateness is measured here, when a check starts (for both kinds): from its due time, queue wait included.
 * Threads are created on demand (one per blocking check running, and at most {@link #ASYNC_STARTERS} starting
 * non-blocking ones) and retire after 30 s idle, so a collector with 20 monitors does not hold 500 threads, and one
 * whose checks are all non-blocking holds a few.
 */
final class ProbeExecutor implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ProbeExecutor.class);
    private static final long STACK_SIZE = 256 * 1024;
    private static final long IDLE_NANOS = TimeUnit.SECONDS.toNanos(30);

    /**
     * Asynchronous slots (connections in flight): below the process's open-file limit (HotSpot raises its soft limit
     * to the hard one on Linux; 20,000 on the project's machine). Where the limit is lower, a check that cannot open
     * its socket ends down with {@code io: Too many open files}, it does not hang.
     */
    static final int DEFAULT_ASYNC_SLOTS = 10_000;
    /**
     * Threads starting non-blocking checks at once. A start only hands a name to the resolver pool or opens a
     * socket (tens of microseconds), so a few threads start thousands a second; more would only be created by a
     * burst of due checks (up to {@code concurrency} threads, each kept 30 s) and then compete for the cores with
     * the selector threads that do the checks' I/O.
     */
    static final int ASYNC_STARTERS = 4;
    /** How long after its timeout the executor ends an asynchronous check its probe did not end. */
    static final Duration SAFETY_GRACE = Duration.ofSeconds(2);

    /** A check waiting for a slot: blocking ({@code check}) or asynchronous ({@code async}). */
    private record Task(long dueNanos, long queuedAt, boolean slow, long seq, Runnable check, Async<?> async) {
    }

    /** An asynchronous check: starts on a worker, ends when its future completes. */
    private record Async<T>(Duration timeout, Supplier<CompletableFuture<T>> start, BiConsumer<T, Throwable> done) {
    }

    private final int concurrency;
    private final int slowBudget;
    private final int asyncSlots;
    private final int slowAsyncBudget;
    private final ThreadFactory threads;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition work = lock.newCondition();
    private final Condition drained = lock.newCondition();
    private final PriorityQueue<Task> healthy = new PriorityQueue<>(ProbeExecutor::earlier);
    private final PriorityQueue<Task> slow = new PriorityQueue<>(ProbeExecutor::earlier);
    private final PriorityQueue<Task> healthyAsync = new PriorityQueue<>(ProbeExecutor::earlier);
    private final PriorityQueue<Task> slowAsync = new PriorityQueue<>(ProbeExecutor::earlier);
    private final Set<Thread> workers = new HashSet<>();
    /** Futures of asynchronous checks started and not ended (guarded by lock). */
    private final Set<CompletableFuture<?>> pending = new HashSet<>();
    private final LongAdder overdue = new LongAdder();
    private final Timer queueWait;
    private final Timer lateness;
    private final Timer healthyLateness;
    private final Timer slowLateness;
    private final AtomicInteger highWater = new AtomicInteger();
    // Guarded by lock.
    private int idle;
    /** Blocking checks running (each on a thread). */
    private int inFlight;
    private int slowInFlight;
    /** Asynchronous checks being started on a thread (counted in asyncInFlight too). */
    private int starting;
    /** Asynchronous checks holding a slot: from their start until their future completes. */
    private int asyncInFlight;
    private int slowAsyncInFlight;
    private long seq;
    private boolean closed;
    private ScheduledThreadPoolExecutor safetyNet;

    ProbeExecutor(int concurrency, MeterRegistry meters) {
        this(concurrency, DEFAULT_ASYNC_SLOTS, meters);
    }

    /**
     * @param concurrency threads, so blocking checks in flight
     * @param asyncSlots asynchronous checks in flight (connections), a fifth of them for the slow lane
     */
    ProbeExecutor(int concurrency, int asyncSlots, MeterRegistry meters) {
        if (concurrency < 1) {
            throw new IllegalArgumentException("concurrency must be at least 1: " + concurrency);
        }
        if (asyncSlots < 1) {
            throw new IllegalArgumentException("asynchronous slots must be at least 1: " + asyncSlots);
        }
        this.concurrency = concurrency;
        this.slowBudget = slowBudget(concurrency);
        this.asyncSlots = asyncSlots;
        this.slowAsyncBudget = slowBudget(asyncSlots);
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
            .description("checks running now: blocking ones on probe threads plus non-blocking (http, tcp, dns, tls) "
                + "ones waiting on their socket").register(meters);
        Gauge.builder("spillway.monitor.checks.slow.in.flight", this, ProbeExecutor::slowInFlight)
            .description("checks of monitors whose last check timed out running now (at most a fifth of the "
                + "probe concurrency, plus a fifth of the asynchronous slots)").register(meters);
        Gauge.builder("spillway.monitor.checks.async.in.flight", this, ProbeExecutor::asyncInFlight)
            .description("non-blocking (http, tcp, dns, tls) checks holding an asynchronous slot: from their start "
                + "until their result (at most " + asyncSlots + ")").register(meters);
        io.micrometer.core.instrument.FunctionCounter.builder("spillway.monitor.checks.async.overdue", overdue,
                LongAdder::sum)
            .description("non-blocking checks the executor ended because their probe had not ended them "
                + SAFETY_GRACE.toSeconds() + " s after their timeout (a probe defect)").register(meters);
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
        enqueue(dueNanos, slowLane, check, null);
    }

    /**
     * Queues a non-blocking check: when a slot is free a worker thread calls {@code start} (which may block briefly,
     * e.g. for name resolution, and must not wait for the answer), then takes the next check; the slot is held
     * until the returned future completes, and {@code done} gets the result (or the failure: the start's exception,
     * a {@link TimeoutException} from the executor's safety net, a {@link CancellationException} at
     * {@link #stop}). {@code done} runs on whichever thread completes the future: it must not block.
     *
     * @param timeout the check's timeout: its probe ends it then; the executor ends it {@link #SAFETY_GRACE} later
     * @throws RejectedExecutionException after {@link #close}
     */
    <T> void submitAsync(long dueNanos, boolean slowLane, Duration timeout, Supplier<CompletableFuture<T>> start,
                         BiConsumer<T, Throwable> done) {
        enqueue(dueNanos, slowLane, null, new Async<>(timeout, start, done));
    }

    private void enqueue(long dueNanos, boolean slowLane, Runnable check, Async<?> async) {
        lock.lock();
        try {
            if (closed) {
                throw new RejectedExecutionException("probe executor closed");
            }
            queue(slowLane, async != null).add(new Task(dueNanos, System.nanoTime(), slowLane, seq++, check, async));
            wake();
        } finally {
            lock.unlock();
        }
    }

    private PriorityQueue<Task> queue(boolean slowLane, boolean async) {
        return async ? (slowLane ? slowAsync : healthyAsync) : (slowLane ? slow : healthy);
    }

    /** Signals an idle thread, starting one if needed, when a queued task can start. Caller holds the lock. */
    private void wake() {
        final int startable = startable();
        if (startable == 0) {
            return;
        }
        if (idle > 0) {
            work.signal();
        }
        // Every thread not running a task (idle, signalled and not yet woken, or started and not yet waiting) will
        // take a queued task: start one more only when the tasks that could start now outnumber those threads.
        if (startable > workers.size() - inFlight - starting && workers.size() < concurrency) {
            final Thread t = threads.newThread(this::work);
            workers.add(t);
            t.start();
        }
    }

    /** Queued tasks that free threads, slots and the slow lanes' budgets would let start now. Caller holds the lock. */
    private int startable() {
        final int slowAllowed = Math.min(slow.size(), Math.max(0, slowBudget - slowInFlight));
        final int slowAsyncAllowed = Math.min(slowAsync.size(), Math.max(0, slowAsyncBudget - slowAsyncInFlight));
        final int asyncAllowed = Math.min(Math.min(healthyAsync.size() + slowAsyncAllowed,
            Math.max(0, asyncSlots - asyncInFlight)), Math.max(0, ASYNC_STARTERS - starting));
        return Math.max(0, Math.min(concurrency - inFlight - starting, healthy.size() + slowAllowed + asyncAllowed));
    }

    /** The next task allowed to start, removed from its queue, or null. Caller holds the lock. */
    private Task next() {
        if (inFlight + starting >= concurrency) {
            return null; // every thread's slot is busy (a retiring thread may still be counted)
        }
        Task t = null;
        final boolean asyncRoom = asyncInFlight < asyncSlots && starting < ASYNC_STARTERS;
        for (Task c : new Task[] {healthy.peek(), slowInFlight < slowBudget ? slow.peek() : null,
            asyncRoom ? healthyAsync.peek() : null,
            asyncRoom && slowAsyncInFlight < slowAsyncBudget ? slowAsync.peek() : null}) {
            if (c != null && (t == null || earlier(c, t) < 0)) {
                t = c;
            }
        }
        if (t == null) {
            return null;
        }
        queue(t.slow, t.async != null).poll();
        if (t.async != null) {
            starting++;
            asyncInFlight++;
            if (t.slow) {
                slowAsyncInFlight++;
            }
        } else {
            inFlight++;
            if (t.slow) {
                slowInFlight++;
            }
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
                    if (task.async != null) {
                        starting--; // its slot stays held until its future completes
                    } else {
                        inFlight--;
                        if (task.slow) {
                            slowInFlight--;
                        }
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
                if (idle > 0 && startable() > 0) {
                    work.signal(); // more to start: pass it on (a signal may have woken only this thread)
                }
                highWater.accumulateAndGet(inFlight + asyncInFlight, Math::max);
            } finally {
                lock.unlock();
            }
            final long start = System.nanoTime();
            queueWait.record(start - task.queuedAt, TimeUnit.NANOSECONDS);
            final long late = Math.max(0, start - task.dueNanos);
            lateness.record(late, TimeUnit.NANOSECONDS);
            (task.slow ? slowLateness : healthyLateness).record(late, TimeUnit.NANOSECONDS);
            try {
                if (task.async != null) {
                    startAsync(task, task.async);
                } else {
                    task.check.run();
                }
            } catch (RuntimeException | Error e) {
                // The check itself catches what a probe throws; this keeps a shared thread alive if that fails.
                LOG.error("check failed outside its probe", e);
            }
            Thread.interrupted(); // an interrupt meant for the check must not end the next one
        }
    }

    /**
     * Starts an asynchronous check on this worker and arranges for its slot to be released when its future
     * completes, however it completes; never throws, and the slot is released exactly once.
     */
    private <T> void startAsync(Task task, Async<T> async) {
        CompletableFuture<T> f;
        try {
            f = async.start().get();
            if (f == null) {
                f = CompletableFuture.failedFuture(new IllegalStateException("the probe returned no future"));
            }
        } catch (RuntimeException | Error e) {
            f = CompletableFuture.failedFuture(e);
        }
        final CompletableFuture<T> future = f;
        final boolean cancel;
        lock.lock();
        try {
            pending.add(future);
            cancel = closed; // stop() ran while this one was starting: it did not see this future
        } finally {
            lock.unlock();
        }
        final java.util.concurrent.atomic.AtomicReference<ScheduledFuture<?>> net =
            new java.util.concurrent.atomic.AtomicReference<>();
        future.whenComplete((v, e) -> {
            final ScheduledFuture<?> n = net.getAndSet(null);
            if (n != null) {
                n.cancel(false);
            }
            try {
                async.done().accept(v, e);
            } catch (RuntimeException | Error x) {
                LOG.error("handling a check's result failed", x);
            } finally {
                release(task, future);
            }
        });
        if (!future.isDone()) {
            try {
                net.set(safetyNet().schedule(() -> overdue(future, async.timeout()),
                    async.timeout().plus(SAFETY_GRACE).toNanos(), TimeUnit.NANOSECONDS));
                if (future.isDone()) {
                    final ScheduledFuture<?> n = net.getAndSet(null); // completed meanwhile: its timer is not needed
                    if (n != null) {
                        n.cancel(false);
                    }
                }
            } catch (RejectedExecutionException e) {
                future.cancel(false); // stopped meanwhile
            }
        }
        if (cancel) {
            future.cancel(false);
        }
    }

    /** The safety net: ends a check its probe did not end by its deadline (a probe defect), counted, logged once. */
    private void overdue(CompletableFuture<?> future, Duration timeout) {
        if (future.isDone()) {
            return;
        }
        // Counted before completing: completing runs the check's callbacks (its outcome, its slot's release), and
        // whoever sees those must see it counted.
        overdue.increment();
        if (!future.completeExceptionally(new TimeoutException("timeout: no result " + SAFETY_GRACE.toSeconds()
            + " s after the timeout of " + MonitorValidator.format(timeout) + " (ended by the probe executor)"))) {
            overdue.decrement(); // its probe ended it meanwhile
        } else if (overdue.sum() == 1) {
            LOG.warn("a non-blocking check was still open {} s after its timeout ({}): ended by the executor "
                + "(counted in spillway.monitor.checks.async.overdue, logged once)", SAFETY_GRACE.toSeconds(),
                MonitorValidator.format(timeout));
        }
    }

    /** Frees an asynchronous check's slot and lets a queued check take it. */
    private void release(Task task, CompletableFuture<?> future) {
        lock.lock();
        try {
            if (!pending.remove(future)) {
                return; // released already
            }
            asyncInFlight--;
            if (task.slow) {
                slowAsyncInFlight--;
            }
            if (pending.isEmpty()) {
                drained.signalAll();
            }
            if (!closed) {
                wake();
            }
        } finally {
            lock.unlock();
        }
    }

    /** The safety net's timer thread, started with the first asynchronous check. */
    private ScheduledThreadPoolExecutor safetyNet() {
        lock.lock();
        try {
            if (safetyNet == null) {
                safetyNet = new ScheduledThreadPoolExecutor(1, ServiceThreads.single("probe-safety-net"));
                safetyNet.setRemoveOnCancelPolicy(true);
            }
            return safetyNet;
        } finally {
            lock.unlock();
        }
    }

    /** Checks waiting for a slot. */
    int queued() {
        lock.lock();
        try {
            return healthy.size() + slow.size() + healthyAsync.size() + slowAsync.size();
        } finally {
            lock.unlock();
        }
    }

    /** Checks running: blocking ones plus asynchronous ones holding a slot. */
    int inFlight() {
        lock.lock();
        try {
            return inFlight + asyncInFlight;
        } finally {
            lock.unlock();
        }
    }

    /** Checks of slow monitors running (both kinds). */
    int slowInFlight() {
        lock.lock();
        try {
            return slowInFlight + slowAsyncInFlight;
        } finally {
            lock.unlock();
        }
    }

    /** Asynchronous checks holding a slot. */
    int asyncInFlight() {
        lock.lock();
        try {
            return asyncInFlight;
        } finally {
            lock.unlock();
        }
    }

    /** Threads that run checks or wait for one now. */
    int threads() {
        lock.lock();
        try {
            return workers.size();
        } finally {
            lock.unlock();
        }
    }

    /** The asynchronous slots (a fifth of them for the slow lane). */
    int asyncSlots() {
        return asyncSlots;
    }

    /** Asynchronous checks ended by the safety net instead of their probe. */
    long overdue() {
        return overdue.sum();
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

    /** Stops taking checks, interrupts running ones, cancels asynchronous ones and waits for them to end. */
    @Override
    public void close() {
        stop(Deadline.in(java.time.Duration.ofSeconds(10)));
    }

    /**
     * Stops taking checks, drops queued ones, interrupts running ones, cancels asynchronous ones (their
     * {@code done} gets a {@link CancellationException}, their probes close their connections) and waits for all to
     * end by the deadline.
     */
    boolean stop(Deadline deadline) {
        final List<Thread> running;
        final List<CompletableFuture<?>> open;
        final ScheduledThreadPoolExecutor net;
        lock.lock();
        try {
            closed = true;
            final int dropped = queued();
            healthy.clear();
            slow.clear();
            healthyAsync.clear();
            slowAsync.clear();
            open = new ArrayList<>(pending);
            net = safetyNet;
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
        for (CompletableFuture<?> f : open) {
            f.cancel(false); // runs its done and releases its slot, here
        }
        try {
            boolean ended = true;
            for (Thread t : running) {
                ended &= deadline.join(t);
            }
            // Futures of checks that were starting when stop began were cancelled by their worker (it saw closed).
            lock.lock();
            try {
                while (!pending.isEmpty()) {
                    final long left = deadline.remaining().toNanos();
                    if (left <= 0) {
                        LOG.warn("shutdown: {} non-blocking checks did not end in time", pending.size());
                        ended = false;
                        break;
                    }
                    drained.awaitNanos(left);
                }
            } finally {
                lock.unlock();
            }
            return ended;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } finally {
            if (net != null) {
                net.shutdownNow();
            }
        }
    }
}
