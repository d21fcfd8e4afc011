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
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
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

    // ---- asynchronous (non-blocking) checks ------------------------------------------------------------------

    /** What an asynchronous check's done callback got. */
    private record Outcome(String result, Throwable failure) {
    }

    private static final java.time.Duration LONG = java.time.Duration.ofMinutes(5);

    @Test
    void anAsyncSlotIsHeldUntilItsFutureCompletesNotWhileAThreadRunsIt() throws Exception {
        try (ProbeExecutor ex = new ProbeExecutor(1, 100, new SimpleMeterRegistry())) {
            final List<java.util.concurrent.CompletableFuture<String>> futures =
                Collections.synchronizedList(new ArrayList<>());
            final java.util.concurrent.ConcurrentLinkedQueue<Outcome> outcomes =
                new java.util.concurrent.ConcurrentLinkedQueue<>();
            final long due = System.nanoTime();
            for (int i = 0; i < 10; i++) { // ten checks in flight on one thread
                ex.submitAsync(due, false, LONG, () -> {
                    final java.util.concurrent.CompletableFuture<String> f = new java.util.concurrent.CompletableFuture<>();
                    futures.add(f);
                    return f;
                }, (r, e) -> outcomes.add(new Outcome(r, e)));
            }
            dev.spillway.telemetry.testsupport.Await.until(java.time.Duration.ofSeconds(WAIT_S),
                () -> ex.asyncInFlight() == 10 && futures.size() == 10, "all ten started on one thread: " + ex.asyncInFlight());
            assertEquals(10, ex.inFlight());
            assertEquals(1, ex.threads());
            assertTrue(outcomes.isEmpty(), "nothing ended yet");
            // The thread is free: a blocking check runs while the ten wait.
            final CountDownLatch ran = new CountDownLatch(1);
            ex.submit(due, false, ran::countDown);
            assertTrue(ran.await(WAIT_S, TimeUnit.SECONDS), "a blocking check ran beside ten async ones");
            futures.get(3).complete("up");
            dev.spillway.telemetry.testsupport.Await.until(java.time.Duration.ofSeconds(WAIT_S),
                () -> ex.asyncInFlight() == 9, "one slot released when its future completed");
            assertEquals(List.of(new Outcome("up", null)), List.copyOf(outcomes));
            for (var f : futures) {
                f.complete("up");
            }
            assertEquals(0, ex.asyncInFlight());
            assertEquals(10, outcomes.size(), "done ran once per check");
            assertTrue(ex.maxInFlight() >= 10, "in flight: " + ex.maxInFlight());
        }
    }

    @Test
    void aBurstOfAsyncChecksIsStartedByAFewThreadsNotOnePerCheck() throws Exception {
        // 500 threads allowed; 2,000 non-blocking checks due at once, each start taking a moment (as a real one does).
        try (ProbeExecutor ex = new ProbeExecutor(500, 5_000, new SimpleMeterRegistry())) {
            final List<java.util.concurrent.CompletableFuture<String>> futures =
                Collections.synchronizedList(new ArrayList<>());
            final java.util.concurrent.atomic.AtomicInteger startingNow = new java.util.concurrent.atomic.AtomicInteger();
            final java.util.concurrent.atomic.AtomicInteger mostStartingAtOnce = new java.util.concurrent.atomic.AtomicInteger();
            final long due = System.nanoTime();
            for (int i = 0; i < 2_000; i++) {
                ex.submitAsync(due, false, LONG, () -> {
                    mostStartingAtOnce.accumulateAndGet(startingNow.incrementAndGet(), Math::max);
                    java.util.concurrent.locks.LockSupport.parkNanos(20_000);
                    startingNow.decrementAndGet();
                    final java.util.concurrent.CompletableFuture<String> f = new java.util.concurrent.CompletableFuture<>();
                    futures.add(f);
                    return f;
                }, (r, e) -> { });
            }
            dev.spillway.telemetry.testsupport.Await.until(java.time.Duration.ofSeconds(WAIT_S),
                () -> ex.asyncInFlight() == 2_000 && futures.size() == 2_000, "all started: " + ex.asyncInFlight());
            assertTrue(mostStartingAtOnce.get() <= ProbeExecutor.ASYNC_STARTERS,
                "starting at once: " + mostStartingAtOnce.get());
            assertTrue(ex.threads() <= ProbeExecutor.ASYNC_STARTERS, "threads: " + ex.threads());
            // Blocking checks still get threads of their own beside them.
            final CountDownLatch ran = new CountDownLatch(20);
            final CountDownLatch release = new CountDownLatch(1);
            for (int i = 0; i < 20; i++) {
                ex.submit(due, false, () -> {
                    ran.countDown();
                    await(release);
                });
            }
            assertTrue(ran.await(WAIT_S, TimeUnit.SECONDS), "20 blocking checks running at once beside 2,000 async ones");
            release.countDown();
            for (var f : futures) {
                f.complete("up");
            }
            assertEquals(0, ex.asyncInFlight());
        }
    }

    @Test
    void anAsyncSlotIsReleasedWhenTheStartThrowsOrTheFutureFails() throws Exception {
        try (ProbeExecutor ex = new ProbeExecutor(2, 100, new SimpleMeterRegistry())) {
            final java.util.concurrent.LinkedBlockingQueue<Outcome> outcomes =
                new java.util.concurrent.LinkedBlockingQueue<>();
            ex.<String>submitAsync(System.nanoTime(), false, LONG, () -> {
                throw new IllegalStateException("start broke");
            }, (r, e) -> outcomes.add(new Outcome(r, e)));
            final Outcome thrown = outcomes.poll(WAIT_S, TimeUnit.SECONDS);
            assertTrue(thrown != null && thrown.failure() instanceof IllegalStateException, "" + thrown);
            final java.util.concurrent.CompletableFuture<String> f = new java.util.concurrent.CompletableFuture<>();
            ex.submitAsync(System.nanoTime(), true, LONG, () -> f, (r, e) -> outcomes.add(new Outcome(r, e)));
            dev.spillway.telemetry.testsupport.Await.until(java.time.Duration.ofSeconds(WAIT_S),
                () -> ex.asyncInFlight() == 1 && ex.slowInFlight() == 1, "the slow one started");
            f.completeExceptionally(new java.io.IOException("broken"));
            final Outcome failed = outcomes.poll(WAIT_S, TimeUnit.SECONDS);
            assertTrue(failed != null && failed.failure() instanceof java.io.IOException, "" + failed);
            dev.spillway.telemetry.testsupport.Await.until(java.time.Duration.ofSeconds(WAIT_S),
                () -> ex.asyncInFlight() == 0 && ex.slowInFlight() == 0, "both slots released");
        }
    }

    @Test
    void asyncChecksHaveTheirOwnBudgetAndTheSlowLaneAFifthOfIt() throws Exception {
        final int slots = 5; // slow budget: 1
        try (ProbeExecutor ex = new ProbeExecutor(2, slots, new SimpleMeterRegistry())) {
            final java.util.concurrent.ConcurrentHashMap<Integer, java.util.concurrent.CompletableFuture<String>> started =
                new java.util.concurrent.ConcurrentHashMap<>();
            final long due = System.nanoTime();
            for (int i = 0; i < 3; i++) { // slow, due first
                final int id = i;
                ex.submitAsync(due + i, true, LONG, () -> started.computeIfAbsent(id,
                    k -> new java.util.concurrent.CompletableFuture<>()), (r, e) -> { });
            }
            for (int i = 10; i < 16; i++) { // six healthy, for four free slots
                final int id = i;
                ex.submitAsync(due + i, false, LONG, () -> started.computeIfAbsent(id,
                    k -> new java.util.concurrent.CompletableFuture<>()), (r, e) -> { });
            }
            dev.spillway.telemetry.testsupport.Await.until(java.time.Duration.ofSeconds(WAIT_S),
                // A slot is counted when a worker takes the check, before it calls the start function: wait for both.
                () -> ex.asyncInFlight() == slots && started.size() == slots,
                "every slot taken: " + ex.asyncInFlight() + ", started " + started.keySet());
            assertEquals(java.util.Set.of(0, 10, 11, 12, 13), started.keySet(),
                "one slow check (its budget), then healthy ones by due time");
            assertEquals(1, ex.slowInFlight());
            assertEquals(4, ex.queued());
            started.get(11).complete("up"); // a healthy slot frees: the earliest queued healthy check takes it
            dev.spillway.telemetry.testsupport.Await.until(java.time.Duration.ofSeconds(WAIT_S),
                () -> started.containsKey(14), "the next healthy check started");
            assertFalse(started.containsKey(1), "the slow lane is still at its budget");
            started.get(0).complete("down"); // the slow slot frees: the next slow check takes it
            dev.spillway.telemetry.testsupport.Await.until(java.time.Duration.ofSeconds(WAIT_S),
                () -> started.containsKey(1), "the next slow check started");
            assertEquals(slots, ex.asyncInFlight());
            assertTrue(ex.maxInFlight() <= slots, "never more than the slots: " + ex.maxInFlight());
        }
    }

    @Test
    void stopCancelsOpenAsyncChecksAndReleasesTheirSlots() throws Exception {
        final ProbeExecutor ex = new ProbeExecutor(2, 100, new SimpleMeterRegistry());
        final List<java.util.concurrent.CompletableFuture<String>> futures =
            Collections.synchronizedList(new ArrayList<>());
        final java.util.concurrent.ConcurrentLinkedQueue<Outcome> outcomes =
            new java.util.concurrent.ConcurrentLinkedQueue<>();
        for (int i = 0; i < 20; i++) {
            ex.submitAsync(System.nanoTime(), i % 2 == 0, LONG, () -> {
                final java.util.concurrent.CompletableFuture<String> f = new java.util.concurrent.CompletableFuture<>();
                futures.add(f);
                return f;
            }, (r, e) -> outcomes.add(new Outcome(r, e)));
        }
        dev.spillway.telemetry.testsupport.Await.until(java.time.Duration.ofSeconds(WAIT_S),
            () -> ex.asyncInFlight() == 20 && futures.size() == 20, "all started"); // slot counted before start
        assertTrue(ex.stop(dev.spillway.runtime.lifecycle.Deadline.in(java.time.Duration.ofSeconds(WAIT_S))),
            "stopped by the deadline");
        assertEquals(0, ex.asyncInFlight());
        assertEquals(0, ex.slowInFlight());
        assertEquals(20, outcomes.size());
        for (Outcome o : outcomes) {
            assertTrue(o.failure() instanceof java.util.concurrent.CancellationException, "" + o);
        }
        for (var f : futures) {
            assertTrue(f.isCancelled(), "the probe's own future was cancelled (so it closes its connection)");
        }
        assertThrows(java.util.concurrent.RejectedExecutionException.class,
            () -> ex.submitAsync(System.nanoTime(), false, LONG, () -> null, (r, e) -> { }));
    }

    @Test
    void theSafetyNetEndsAnAsyncCheckItsProbeForgotAfterItsTimeout() throws Exception {
        final SimpleMeterRegistry meters = new SimpleMeterRegistry();
        try (ProbeExecutor ex = new ProbeExecutor(1, 10, meters)) {
            final java.util.concurrent.LinkedBlockingQueue<Outcome> outcomes =
                new java.util.concurrent.LinkedBlockingQueue<>();
            final java.util.concurrent.CompletableFuture<String> never = new java.util.concurrent.CompletableFuture<>();
            ex.submitAsync(System.nanoTime(), false, java.time.Duration.ofMillis(100), () -> never,
                (r, e) -> outcomes.add(new Outcome(r, e)));
            final Outcome o = outcomes.poll(WAIT_S, TimeUnit.SECONDS);
            assertTrue(o != null && o.failure() instanceof java.util.concurrent.TimeoutException, "" + o);
            assertTrue(o.failure().getMessage().startsWith("timeout: no result 2 s after the timeout of 100ms"),
                o.failure().getMessage());
            assertTrue(never.isCompletedExceptionally(), "the probe's future was ended (so it closes its connection)");
            dev.spillway.telemetry.testsupport.Await.until(java.time.Duration.ofSeconds(WAIT_S),
                () -> ex.asyncInFlight() == 0, "its slot was released");
            assertEquals(1, ex.overdue());
            assertEquals(1.0, meters.get("spillway.monitor.checks.async.overdue").functionCounter().count());
        }
    }

    @Test
    void asyncSlotsAreValidated() {
        final IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> new ProbeExecutor(1, 0, new SimpleMeterRegistry()));
        assertEquals("asynchronous slots must be at least 1: 0", e.getMessage());
        try (ProbeExecutor ex = new ProbeExecutor(500, new SimpleMeterRegistry())) {
            assertEquals(ProbeExecutor.DEFAULT_ASYNC_SLOTS, ex.asyncSlots());
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
