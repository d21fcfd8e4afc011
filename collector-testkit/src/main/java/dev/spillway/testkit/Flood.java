package dev.spillway.testkit;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs one action from many threads released together by a latch, for floods and races. */
public final class Flood {

    private Flood() {
    }

    /** Runs {@code action} {@code perThread} times on each of {@code threads} threads started together. */
    public static void run(int threads, int perThread, Runnable action) throws InterruptedException {
        final CountDownLatch go = new CountDownLatch(1);
        final List<Thread> started = new ArrayList<>();
        final AtomicLong failures = new AtomicLong();
        for (int t = 0; t < threads; t++) {
            final Thread th = new Thread(() -> {
                try {
                    go.await();
                    for (int i = 0; i < perThread; i++) {
                        action.run();
                    }
                } catch (InterruptedException | RuntimeException e) {
                    failures.incrementAndGet();
                }
            });
            th.start();
            started.add(th);
        }
        go.countDown();
        for (Thread th : started) {
            th.join(TimeUnit.SECONDS.toMillis(60));
            assertTrue(!th.isAlive(), "flood thread finished");
        }
        assertEquals(0, failures.get(), "no flood thread failed");
    }
}
