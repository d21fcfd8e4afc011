package dev.spillway.benchmarks.monitor;

import org.agrona.DeadlineTimerWheel;

import java.util.Arrays;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * The floor under {@link MonitorBench}'s lateness figure: the same number of periodic timers at the same interval
 * on the scheduler's kind of timer (Agrona's {@link DeadlineTimerWheel}, ~4.2 ms ticks, one thread), each expiry
 * handed to a pool of the same 500 threads, where the "check" does nothing but note how late it started (due time
 * to start, hand-off included). What the collector adds on top of this is its own work: leases, probes, results.
 *
 * <pre>java -cp benchmarks/target/benchmarks.jar dev.spillway.benchmarks.monitor.EmptyCheckLoop 100000 60 120</pre>
 */
public final class EmptyCheckLoop {

    private static final long TICK_NANOS = 1L << 22; // as MonitorScheduler
    private static final int TICKS_PER_WHEEL = 1024;
    private static final int THREADS = 500; // the default probe concurrency

    /** What one run measured. */
    public record Result(double checksPerSecond, double p50Ms, double p99Ms, double maxMs, long samples) {
    }

    private EmptyCheckLoop() {
    }

    public static void main(String[] args) throws Exception {
        final int monitors = args.length > 0 ? Integer.parseInt(args[0]) : 100_000;
        final int interval = args.length > 1 ? Integer.parseInt(args[1]) : 60;
        final int window = args.length > 2 ? Integer.parseInt(args[2]) : 2 * interval;
        final Result r = run(monitors, interval, window);
        System.out.printf(java.util.Locale.ROOT, "empty check loop, %,d timers @ %d s: %.1f checks/s, lateness p50 "
            + "%.2f ms p99 %.2f ms max %.2f ms (%,d checks)%n", monitors, interval, r.checksPerSecond, r.p50Ms, r.p99Ms,
            r.maxMs, r.samples);
    }

    /**
     * Runs {@code monitors} periodic timers at {@code intervalSeconds}, first due times spread over one interval,
     * and measures {@code windowSeconds} after that first interval.
     */
    public static Result run(int monitors, int intervalSeconds, int windowSeconds) throws InterruptedException {
        final long interval = TimeUnit.SECONDS.toNanos(intervalSeconds);
        final long start = System.nanoTime();
        final DeadlineTimerWheel wheel = new DeadlineTimerWheel(TimeUnit.NANOSECONDS, start, TICK_NANOS,
            TICKS_PER_WHEEL);
        final long[] due = new long[monitors];
        final BlockingQueue<long[]> handOff = new ArrayBlockingQueue<>(monitors + 1);
        final long measureFrom = start + interval;
        final long measureTo = measureFrom + TimeUnit.SECONDS.toNanos(windowSeconds);
        // Lateness in microseconds, log-free: one slot per check in the window (at most monitors * window / interval
        // plus one per monitor).
        final int capacity = (int) Math.min(Integer.MAX_VALUE - 8,
            (long) monitors * (windowSeconds / intervalSeconds + 2));
        final AtomicLongArray lateness = new AtomicLongArray(capacity);
        final AtomicInteger recorded = new AtomicInteger();
        final AtomicBoolean stop = new AtomicBoolean();
        final Thread[] pool = new Thread[THREADS];
        for (int i = 0; i < THREADS; i++) {
            pool[i] = new Thread(null, () -> {
                try {
                    while (!stop.get()) {
                        final long[] task = handOff.poll(100, TimeUnit.MILLISECONDS);
                        if (task == null) {
                            continue;
                        }
                        final long started = System.nanoTime();
                        if (task[0] - measureFrom >= 0 && task[0] - measureTo < 0) {
                            final int slot = recorded.getAndIncrement();
                            if (slot < capacity) {
                                lateness.set(slot, started - task[0]);
                            }
                        }
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "empty-check-" + i, 256 * 1024);
            pool[i].setDaemon(true);
            pool[i].start();
        }
        for (int i = 0; i < monitors; i++) {
            due[i] = start + ThreadLocalRandom.current().nextLong(interval);
        }
        final long[] ids = new long[monitors];
        final java.util.HashMap<Long, Integer> byTimer = new java.util.HashMap<>(monitors * 2);
        for (int i = 0; i < monitors; i++) {
            ids[i] = wheel.scheduleTimer(due[i]);
            byTimer.put(ids[i], i);
        }
        final CountDownLatch done = new CountDownLatch(1);
        final Thread timer = new Thread(() -> {
            final DeadlineTimerWheel.TimerHandler handler = (unit, now, timerId) -> {
                final int m = byTimer.remove(timerId);
                final long d = due[m];
                handOff.offer(new long[] {d});
                due[m] = d + interval;
                final long next = wheel.scheduleTimer(due[m]);
                byTimer.put(next, m);
                return true;
            };
            while (System.nanoTime() - measureTo < 0) {
                if (wheel.poll(System.nanoTime(), handler, Integer.MAX_VALUE) == 0) {
                    LockSupport.parkNanos(TICK_NANOS / 2);
                }
            }
            done.countDown();
        }, "empty-check-timer");
        timer.start();
        done.await();
        stop.set(true);
        for (Thread t : pool) {
            t.join(1_000);
        }
        final int n = Math.min(recorded.get(), capacity);
        final long[] l = new long[n];
        for (int i = 0; i < n; i++) {
            l[i] = lateness.get(i);
        }
        Arrays.sort(l);
        if (n == 0) {
            return new Result(0, Double.NaN, Double.NaN, Double.NaN, 0);
        }
        return new Result(n / (double) windowSeconds, l[n / 2] / 1e6,
            l[(int) Math.min(n - 1, Math.ceil(n * 0.99) - 1)] / 1e6, l[n - 1] / 1e6, n);
    }
}
