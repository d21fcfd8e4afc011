package dev.spillway.benchmarks.monitor;

import org.agrona.DeadlineTimerWheel;

import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The measurement behind the monitor scheduler's timer choice: N timers due at random times within a few
 * seconds, in Agrona's {@link DeadlineTimerWheel} driven by one thread with the scheduler's tick (2^22 ns), and
 * in a one-thread {@link ScheduledThreadPoolExecutor}. Reports the cost of scheduling one timer, the heap held
 * per pending timer, and how late timers fire (p50/p99/max).
 *
 * <pre>java -Xmx2g -cp benchmarks/target/benchmarks.jar dev.spillway.benchmarks.monitor.TimerChoice [N]</pre>
 */
public final class TimerChoice {

    private static final long SPREAD_NANOS = TimeUnit.SECONDS.toNanos(3);

    private TimerChoice() {
    }

    public static void main(String[] args) throws Exception {
        final int n = args.length > 0 ? Integer.parseInt(args[0]) : 100_000;
        for (int round = 0; round < 3; round++) {
            final boolean print = round == 2; // the first two rounds warm up the JIT
            report(print, "DeadlineTimerWheel", wheel(n));
            report(print, "ScheduledThreadPoolExecutor", stpe(n));
        }
    }

    private record Run(double scheduleNs, double bytesPerTimer, long[] lateness) {
    }

    private static void report(boolean print, String name, Run r) {
        if (!print) {
            return;
        }
        final long[] l = r.lateness;
        Arrays.sort(l);
        System.out.printf(Locale.ROOT, "%-28s schedule %6.0f ns/timer, %5.0f B/pending timer, lateness p50 %.2f ms "
                + "p99 %.2f ms max %.2f ms (%,d timers)%n", name, r.scheduleNs, r.bytesPerTimer,
            l[l.length / 2] / 1e6, l[(int) (l.length * 0.99)] / 1e6, l[l.length - 1] / 1e6, l.length);
    }

    private static long heapUsed() {
        System.gc();
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    private static Run wheel(int n) throws Exception {
        final long[] deadlines = deadlines(n);
        final long[] lateness = new long[n];
        final int[] fired = {0};
        final long heapBefore = heapUsed();
        final DeadlineTimerWheel wheel = new DeadlineTimerWheel(TimeUnit.NANOSECONDS, System.nanoTime(), 1L << 22,
            1024);
        final long base = System.nanoTime();
        final long t0 = System.nanoTime();
        final org.agrona.collections.Long2LongHashMap idToDeadline = new org.agrona.collections.Long2LongHashMap(-1);
        for (int i = 0; i < n; i++) {
            final long d = base + deadlines[i];
            idToDeadline.put(wheel.scheduleTimer(d), d);
        }
        final double scheduleNs = (double) (System.nanoTime() - t0) / n;
        final double bytes = (double) (heapUsed() - heapBefore) / n;
        final DeadlineTimerWheel.TimerHandler handler = (unit, now, id) -> {
            lateness[fired[0]++] = now - idToDeadline.get(id);
            return true;
        };
        while (fired[0] < n) {
            final long now = System.nanoTime();
            while (wheel.currentTickTime() <= now) {
                wheel.poll(now, handler, Integer.MAX_VALUE);
            }
            LockSupport.parkNanos(Math.max(wheel.currentTickTime() - System.nanoTime(), 100_000));
        }
        return new Run(scheduleNs, bytes, lateness);
    }

    private static Run stpe(int n) throws Exception {
        final long[] deadlines = deadlines(n);
        final long[] lateness = new long[n];
        final CountDownLatch done = new CountDownLatch(n);
        final ScheduledThreadPoolExecutor ex = new ScheduledThreadPoolExecutor(1);
        final java.util.concurrent.atomic.AtomicInteger idx = new java.util.concurrent.atomic.AtomicInteger();
        final long heapBefore = heapUsed();
        final long base = System.nanoTime();
        final long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            final long d = base + deadlines[i];
            ex.schedule(() -> {
                lateness[idx.getAndIncrement()] = System.nanoTime() - d;
                done.countDown();
            }, d - System.nanoTime(), TimeUnit.NANOSECONDS);
        }
        final double scheduleNs = (double) (System.nanoTime() - t0) / n;
        final double bytes = (double) (heapUsed() - heapBefore) / n;
        done.await();
        ex.shutdown();
        return new Run(scheduleNs, bytes, lateness);
    }

    private static long[] deadlines(int n) {
        final long[] d = new long[n];
        for (int i = 0; i < n; i++) {
            d[i] = TimeUnit.MILLISECONDS.toNanos(500) + ThreadLocalRandom.current().nextLong(SPREAD_NANOS);
        }
        return d;
    }
}
