package dev.spillway.runtime.lifecycle;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The one lifecycle: reverse order, teardown that always completes, one stop per service. */
class ServiceStackTest {

    private static final Duration BUDGET = Duration.ofMillis(200);

    @Test
    void stopsInReverseStartOrderOnceEvenWhenCalledTwice() {
        final List<String> stopped = new CopyOnWriteArrayList<>();
        final ServiceStack stack = new ServiceStack();
        for (String name : List.of("database", "pipeline", "listeners")) {
            stack.push(Service.of(name, d -> stopped.add(name)), BUDGET);
        }
        stack.stopAll();
        stack.close();
        assertEquals(List.of("listeners", "pipeline", "database"), stopped);
    }

    @Test
    void aStuckOrThrowingServiceDoesNotKeepTheOthersOpen() throws Exception {
        final List<String> stopped = new CopyOnWriteArrayList<>();
        final CountDownLatch never = new CountDownLatch(1);
        final ServiceStack stack = new ServiceStack();
        stack.push(Service.of("database", d -> stopped.add("database")), BUDGET);
        stack.push(Service.of("stuck", d -> {
            // Ignores its deadline: the stack must move on after budget + grace, not wait for it.
            never.await(1, TimeUnit.HOURS);
            return true;
        }), BUDGET);
        stack.push(Service.of("throws", d -> {
            throw new IllegalStateException("broken stop");
        }), BUDGET);
        stack.push(Service.of("late", d -> false), BUDGET);
        stack.stopAll();
        assertEquals(List.of("database"), stopped, "the database was stopped after the stuck and the broken one");
        never.countDown();
    }

    @Test
    void stopReportsWhetherTheServiceEndedInTime() {
        assertTrue(ServiceStack.stop(Service.closing("closes", () -> { }), BUDGET));
        assertFalse(ServiceStack.stop(Service.of("gives up", d -> false), BUDGET));
        assertFalse(ServiceStack.stop(Service.of("throws", d -> {
            throw new java.io.IOException("disk");
        }), BUDGET));
    }

    @Test
    void aServicePushedAfterTheStackStoppedIsRefusedNotLeaked() {
        final ServiceStack stack = new ServiceStack();
        stack.stopAll();
        final IllegalStateException e = assertThrows(IllegalStateException.class,
            () -> stack.push(Service.of("late starter", d -> true), BUDGET));
        assertTrue(e.getMessage().contains("late starter"), e.getMessage());
    }

    @Test
    void deadlineJoinWaitsAtMostItsBudget() throws Exception {
        final CountDownLatch release = new CountDownLatch(1);
        final Thread t = ServiceThreads.start("blocked", () -> {
            try {
                release.await(1, TimeUnit.HOURS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        assertTrue(t.isDaemon(), "service threads never keep the JVM alive");
        assertEquals("blocked", t.getName());
        assertFalse(Deadline.in(BUDGET).join(t), "a thread that does not end is reported, not waited for");
        release.countDown();
        assertTrue(Deadline.in(Duration.ofSeconds(30)).join(t));
    }
}
