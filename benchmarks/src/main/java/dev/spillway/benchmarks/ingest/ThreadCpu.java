package dev.spillway.benchmarks.ingest;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.List;

/** CPU time of given threads, via {@link ThreadMXBean}; a thread that ended counts its last observed value. */
final class ThreadCpu {

    private static final ThreadMXBean MX = ManagementFactory.getThreadMXBean();

    private ThreadCpu() {
    }

    static long nanos(Thread t) {
        final long n = MX.getThreadCpuTime(t.getId());
        return Math.max(0, n);
    }

    /** Live threads whose name starts with {@code prefix}. */
    static List<Thread> named(String prefix) {
        final List<Thread> out = new ArrayList<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().startsWith(prefix)) {
                out.add(t);
            }
        }
        return out;
    }
}
