package dev.spillway.uptime.monitor;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;

/**
 * Asynchronous checks of one monitor submitted at once to a {@link ProbeExecutor}, with their results collected: the
 * "many checks in flight on few threads" harness of the non-blocking probes' tests.
 */
final class AsyncChecks {

    /** Each check's result (a failure of the future as a DOWN result saying so), in completion order. */
    final ConcurrentLinkedQueue<CheckResult> results = new ConcurrentLinkedQueue<>();
    /** Counted down once per check that ended. */
    final CountDownLatch done;

    /** Submits {@code n} checks of {@code spec}, all due at {@code due} ({@link System#nanoTime}). */
    AsyncChecks(ProbeExecutor ex, Probes probes, MonitorSpec spec, int n, long due) {
        done = new CountDownLatch(n);
        for (int i = 0; i < n; i++) {
            ex.submitAsync(due, false, spec.timeout(), () -> probes.start(spec), (r, e) -> {
                results.add(r != null ? r : new CheckResult(null, false, -1, 0, 0, 0, 0, 0, 0, "failed: " + e));
                done.countDown();
            });
        }
    }
}
