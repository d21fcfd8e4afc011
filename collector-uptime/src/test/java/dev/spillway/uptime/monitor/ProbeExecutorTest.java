package dev.spillway.uptime.monitor;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The probe executor's order and budgets, with checks that block on latches (no target needed: what is tested is
 * which check gets a slot, not what a check does). The end-to-end form with real hanging targets is
 * {@code MonitorSchedulingTest.hangingTargetsDoNotDelayHealthyMonitors} (collector-app).
 */
class ProbeExecutorTest {

    private static final long WAIT_S = 20;

    @Test
    void queuedChecksStartEarliestDueFirstNotInArrivalOrder() throws Exception {
        try (ProbeExecutor ex = new ProbeExecutor(1, new SimpleMeterRegistry())) {
            final CountDownLatch started = new CountDownLatch(1);
            final CountDownLatch release = new CountDownLatch(1);
            ex.submit(System.nanoTime(), false, () -> {
                started.countDown();
                await(release);
            });
            assertTrue(started.await(WAIT_S, TimeUnit.SECONDS), "the blocker runs");
            final long base = System.nanoTime();
            final List<Integer> order = Collections.synchronizedList(new ArrayList<>());
            final CountDownLatch done = new CountDownLatch(3);
            for (int due : new int[] {30, 10, 20}) {
                ex.submit(base + due, false, () -> {
                    order.add(due);
                    done.countDown();
                });
            }
            assertEquals(3, ex.queued());
            release.countDown();
            assertTrue(done.await(WAIT_S, TimeUnit.SECONDS), "the queued checks run");
            assertEquals(List.of(10, 20, 30), order);
        }
    }

    // Repeated: thread start-up and wake-up races (a waiter signalled but not yet awake) decide whether a healthy
    // check finds a thread; one run rarely hits them.
    @RepeatedTest(200)
    void slowChecksHoldAtMostTheirBudgetAndHealthyOnesStillGetSlots() throws Exception {
        final int concurrency = 5; // slow budget: 1
        assertEquals(1, ProbeExecutor.slowBudget(concurrency));
        try (ProbeExecutor ex = new ProbeExecutor(concurrency, new SimpleMeterRegistry())) {
            final CountDownLatch release = new CountDownLatch(1);
            final AtomicInteger slowStarted = new AtomicInteger();
            final CountDownLatch firstSlow = new CountDownLatch(1);
            final long due = System.nanoTime();
            for (int i = 0; i < 6; i++) { // more hanging checks than there are slots
                ex.submit(due, true, () -> {
                    slowStarted.incrementAndGet();
                    firstSlow.countDown();
                    await(release);
                });
            }
            assertTrue(firstSlow.await(WAIT_S, TimeUnit.SECONDS), "a slow check runs");
            // Healthy checks due later than every slow one still start at once, all four together.
            final CountDownLatch healthyRunning = new CountDownLatch(concurrency - 1);
            for (int i = 0; i < concurrency - 1; i++) {
                ex.submit(due + 1_000_000, false, () -> {
                    healthyRunning.countDown();
                    await(release);
                });
            }
            assertTrue(healthyRunning.await(WAIT_S, TimeUnit.SECONDS),
                "healthy checks got the free slots; running: " + ex.inFlight());
            assertEquals(1, slowStarted.get(), "slow checks beyond their budget wait");
            assertEquals(1, ex.slowInFlight());
            assertEquals(concurrency, ex.inFlight());
            assertEquals(5, ex.queued());
            release.countDown();
            dev.spillway.telemetry.testsupport.Await.until(java.time.Duration.ofSeconds(WAIT_S),
                () -> slowStarted.get() == 6 && ex.inFlight() == 0, "every slow check ran");
            assertTrue(ex.maxInFlight() <= concurrency, "never more than the concurrency: " + ex.maxInFlight());
        }
    }

    @Test
    void latenessIsRecordedPerLaneAndInTheMixedTimer() throws Exception {
        final SimpleMeterRegistry meters = new SimpleMeterRegistry();
        try (ProbeExecutor ex = new ProbeExecutor(4, meters)) {
            final CountDownLatch done = new CountDownLatch(5);
            final long now = System.nanoTime();
            // Slow checks due 2 s ago: at least 2 s late whenever they start. Healthy checks due in an hour start
            // at once, before their due time: lateness 0 (it is never negative).
            for (int i = 0; i < 2; i++) {
                ex.submit(now - TimeUnit.SECONDS.toNanos(2), true, done::countDown);
            }
            for (int i = 0; i < 3; i++) {
                ex.submit(now + TimeUnit.HOURS.toNanos(1), false, done::countDown);
            }
            assertTrue(done.await(WAIT_S, TimeUnit.SECONDS), "the checks ran");
            dev.spillway.telemetry.testsupport.Await.until(java.time.Duration.ofSeconds(WAIT_S),
                () -> ex.lateness().count() == 5, "every start recorded");
            assertEquals(3, ex.lateness(false).count());
            assertEquals(2, ex.lateness(true).count());
            assertEquals(0, ex.lateness(false).max(TimeUnit.MILLISECONDS));
            assertTrue(ex.lateness(true).max(TimeUnit.MILLISECONDS) >= 2000, "slow lane: "
                + ex.lateness(true).max(TimeUnit.MILLISECONDS));
            assertTrue(ex.lateness().max(TimeUnit.MILLISECONDS) >= 2000, "the mixed timer holds both lanes");
            assertEquals(3, meters.get("spillway.monitor.lane.lateness").tag("lane", "healthy").timer().count());
            assertEquals(2, meters.get("spillway.monitor.lane.lateness").tag("lane", "slow").timer().count());
        }
    }

    @Test
    void aCheckThatTookNearlyItsWholeTimeoutMarksItsMonitorSlow() {
        final MonitorSpec spec = new MonitorSpec("m", java.net.URI.create("http://127.0.0.1:1/"), "GET",
            java.util.Map.of(), null, java.time.Duration.ofSeconds(10), java.time.Duration.ofSeconds(5), null, null,
            false, false, true, 1, 1, true, java.util.Map.of());
        assertTrue(MonitorService.timedOut(spec, result(4_990)));
        assertTrue(!MonitorService.timedOut(spec, result(300)));
    }

    private static CheckResult result(double ms) {
        return new CheckResult(java.time.Instant.EPOCH, false, -1, ms, Double.NaN, Double.NaN, Double.NaN,
            Double.NaN, Double.NaN, "timeout");
    }

    private static void await(CountDownLatch l) {
        try {
            if (!l.await(WAIT_S, TimeUnit.SECONDS)) {
                throw new IllegalStateException("not released in time");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
