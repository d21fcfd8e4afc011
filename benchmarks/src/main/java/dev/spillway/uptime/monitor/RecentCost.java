package dev.spillway.uptime.monitor;

import java.lang.management.ManagementFactory;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Locale;

/**
 * Issue #24's memory question for the results kept per monitor (a harness, not a test; in the monitor package to
 * reach {@link RecentErrors}): heap after GC per monitor of 10,000 monitors after 150 checks each, with the
 * last 100 {@link CheckResult}s kept in a deque (before 2026-12) or with {@link RecentErrors} (now), for monitors
 * that pass and for monitors that fail every check the same way.
 *
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar dev.spillway.uptime.monitor.RecentCost deque|errors-passing|errors-failing
 * </pre>
 */
public final class RecentCost {

    private RecentCost() {
    }

    private static long heapAfterGc() {
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    public static void main(String[] args) {
        final int n = 10_000;
        final String mode = args[0];
        final long before = heapAfterGc();
        final Object[] keep = new Object[n];
        for (int m = 0; m < n; m++) {
            if (mode.equals("deque")) {
                final ArrayDeque<CheckResult> d = new ArrayDeque<>();
                for (int i = 0; i < 150; i++) {
                    d.addLast(new CheckResult(Instant.now(), true, 200, 52.1, 0, 0.3, Double.NaN, 51.5, Double.NaN,
                        null));
                    if (d.size() > MonitorService.RECENT) {
                        d.removeFirst();
                    }
                }
                keep[m] = d;
            } else {
                final RecentErrors r = new RecentErrors(MonitorService.RECENT);
                final boolean failing = mode.equals("errors-failing");
                for (int i = 0; i < 150; i++) {
                    // a new String per check, as a probe makes it
                    r.add(Instant.now(), failing ? new StringBuilder("connect: Connection refused").toString() : null);
                }
                keep[m] = r;
            }
        }
        final long after = heapAfterGc();
        System.out.println(String.format(Locale.ROOT, "%s: %.0f bytes per monitor (%,d monitors, the last %d checks)",
            mode, (after - before) / (double) keep.length, keep.length, MonitorService.RECENT));
    }
}
