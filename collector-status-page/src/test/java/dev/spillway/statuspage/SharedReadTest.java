package dev.spillway.statuspage;

import dev.spillway.telemetry.testsupport.Await;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.sql.SQLException;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The overview's shared read: who waits for a read, and for how long. */
class SharedReadTest {

    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final long MAX_AGE = TimeUnit.SECONDS.toNanos(15);
    private static final long LONG_WAIT = TimeUnit.SECONDS.toNanos(30);

    private final ExecutorService executor = Executors.newFixedThreadPool(2);
    private final AtomicLong clock = new AtomicLong(1_000_000_000L);
    private final AtomicInteger loads = new AtomicInteger();
    /** Each read waits for this latch when set (then the read "is slow" for as long as the test likes). */
    private final AtomicReference<CountDownLatch> gate = new AtomicReference<>();
    private final CountDownLatch secondStarted = new CountDownLatch(1);
    private final AtomicReference<SQLException> failWith = new AtomicReference<>();

    private final SharedRead<String> read = new SharedRead<>(() -> {
        final int n = loads.incrementAndGet();
        if (n == 2) {
            secondStarted.countDown();
        }
        final CountDownLatch g = gate.get();
        if (g != null) {
            try {
                g.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new SQLException("interrupted", e);
            }
        }
        final SQLException fail = failWith.get();
        if (fail != null) {
            throw fail;
        }
        return "v" + n;
    }, executor, clock::get);

    @AfterEach
    void stop() {
        final CountDownLatch g = gate.get();
        if (g != null) {
            g.countDown();
        }
        executor.shutdownNow();
    }

    @Test
    void requestDuringARefreshIsAnsweredFromThePreviousSnapshot() throws Exception {
        assertEquals("v1", read.get(MAX_AGE, 0), "the first read is waited for in full");
        gate.set(new CountDownLatch(1)); // the next read hangs until released
        clock.addAndGet(MAX_AGE + 1);

        assertEquals("v1", read.get(MAX_AGE, 0), "too old: a re-read starts, the request gets the previous value");
        assertTrue(secondStarted.await(WAIT.toSeconds(), TimeUnit.SECONDS), "the re-read started");
        assertEquals("v1", read.get(MAX_AGE, TimeUnit.MILLISECONDS.toNanos(20)),
            "while it runs, later requests are answered from the previous value after their bounded wait");
        assertEquals(2, loads.get(), "they joined the running re-read instead of starting more");

        gate.get().countDown();
        Await.until(WAIT, () -> read.held() != null && "v2".equals(read.held().value()), "the re-read ends");
        assertEquals("v2", read.get(MAX_AGE, 0), "once it ended, its value");
        assertEquals(2, loads.get());
    }

    @Test
    void freshValueIsAnsweredWithoutARead() throws Exception {
        assertEquals("v1", read.get(MAX_AGE, 0));
        clock.addAndGet(MAX_AGE - 1);
        assertEquals("v1", read.get(MAX_AGE, 0));
        assertEquals(1, loads.get(), "younger than the age asked for: no read");
    }

    @Test
    void readersWithoutAValueShareOneRead() throws Exception {
        gate.set(new CountDownLatch(1));
        final AtomicReference<Object> a = new AtomicReference<>();
        final AtomicReference<Object> b = new AtomicReference<>();
        final Thread ta = reader(a);
        Await.until(WAIT, () -> loads.get() == 1, "the first reader's read started");
        final Thread tb = reader(b);
        Await.until(WAIT, () -> tb.getState() == Thread.State.WAITING, "the second reader waits");
        assertEquals(Thread.State.WAITING, ta.getState(), "without a value the first reader waits in full");
        gate.get().countDown();
        ta.join(WAIT.toMillis());
        tb.join(WAIT.toMillis());
        assertEquals("v1", a.get());
        assertEquals("v1", b.get());
        assertEquals(1, loads.get(), "one read for both");
    }

    @Test
    void failedReadReachesTheReaderWhoWaitedForIt() throws Exception {
        failWith.set(new SQLException("database gone", "08006"));
        final SQLException first = assertThrows(SQLException.class, () -> read.get(MAX_AGE, 0));
        assertSame(failWith.get(), first, "the read's own exception, for the outage page");
        assertNull(read.held());

        failWith.set(null);
        assertEquals("v2", read.get(MAX_AGE, 0), "the next reader reads again");
        clock.addAndGet(MAX_AGE + 1);
        failWith.set(new SQLException("database gone again", "08006"));
        assertThrows(SQLException.class, () -> read.get(MAX_AGE, LONG_WAIT),
            "a failure within the reader's wait is the answer, not the older value");
        assertEquals("v2", read.held().value(), "the older value stays for readers who do not wait");
    }

    @Test
    void forgottenValueIsReadAgain() throws Exception {
        assertEquals("v1", read.get(MAX_AGE, 0));
        read.forget();
        assertEquals("v2", read.get(MAX_AGE, 0), "no value held: the reader waits for a read of its own");
    }

    @Test
    void abandonedReadEndsItsWaitersWithAnError() throws Exception {
        gate.set(new CountDownLatch(1));
        final AtomicReference<Object> a = new AtomicReference<>();
        final Thread ta = reader(a);
        Await.until(WAIT, () -> ta.getState() == Thread.State.WAITING && loads.get() == 1, "the reader waits");
        read.abandon();
        ta.join(WAIT.toMillis());
        assertTrue(a.get() instanceof SQLException, String.valueOf(a.get()));
        gate.get().countDown();
        Await.until(WAIT, () -> read.held() != null, "the read itself still ends and keeps its value");
        assertEquals("v1", read.held().value());
    }

    /** A read in two stages: "early-N" at once, then "whole-N" once {@link #stageTwo} is released. */
    private final CountDownLatch stageTwo = new CountDownLatch(1);
    private final AtomicReference<SQLException> stageTwoFails = new AtomicReference<>();
    private final SharedRead<String> staged = new SharedRead<String>(early -> {
        final int n = loads.incrementAndGet();
        early.accept("early-" + n);
        try {
            if (!stageTwo.await(WAIT.toSeconds(), TimeUnit.SECONDS)) {
                throw new SQLException("stage two never released");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SQLException("interrupted", e);
        }
        final SQLException fail = stageTwoFails.get();
        if (fail != null) {
            throw fail;
        }
        return "whole-" + n;
    }, executor, clock::get);

    @Test
    void manyFirstReadersAreAnsweredFromOneReadsEarlyValueAndTheWholeOneFollows() throws Exception {
        final int readers = 8;
        final CountDownLatch go = new CountDownLatch(1);
        final java.util.List<AtomicReference<Object>> answers = new java.util.ArrayList<>();
        final java.util.List<Thread> threads = new java.util.ArrayList<>();
        for (int i = 0; i < readers; i++) {
            final AtomicReference<Object> into = new AtomicReference<>();
            answers.add(into);
            final Thread t = new Thread(() -> {
                try {
                    go.await();
                    into.set(staged.get(MAX_AGE, 0, LONG_WAIT));
                } catch (SQLException | RuntimeException e) {
                    into.set(e);
                } catch (InterruptedException e) {
                    into.set(e);
                }
            }, "shared-read-test-first-" + i);
            t.start();
            threads.add(t);
        }
        go.countDown(); // all at once, as visitors arriving the moment a collector is up
        for (Thread t : threads) {
            t.join(WAIT.toMillis());
        }
        for (AtomicReference<Object> a : answers) {
            assertEquals("early-1", a.get(), "answered from the first stage, before the second ended");
        }
        assertEquals(1, loads.get(), "one read for all of them");
        assertEquals("early-1", staged.get(MAX_AGE, TimeUnit.SECONDS.toNanos(30)),
            "while the second stage runs: its early value at once, no new read and no wait");
        assertEquals(1, loads.get());
        stageTwo.countDown();
        Await.until(WAIT, () -> "whole-1".equals(staged.held().value()), "the second stage ends");
        assertTrue(staged.held().whole());
        assertEquals("whole-1", staged.get(MAX_AGE, 0, LONG_WAIT));
        assertEquals(1, loads.get());
    }

    @Test
    void failedSecondStageKeepsTheEarlyValueAndTheNextReaderReadsAgain() throws Exception {
        stageTwoFails.set(new SQLException("minutes unreadable"));
        final java.util.concurrent.CompletableFuture<SharedRead.Held<String>> first = staged.refresh();
        // Answered while the read runs (stage two held back): released before this, the read could already have
        // failed, and this reader would start a second read of its own, still running at the last assertions.
        assertEquals("early-1", staged.get(MAX_AGE, 0, LONG_WAIT), "the first stage answers");
        stageTwo.countDown();
        assertThrows(SQLException.class, () -> SharedRead.join(first), "the second stage failed");
        assertEquals("early-1", staged.held().value(), "the early value stays for readers meanwhile");
        assertFalse(staged.held().whole());

        stageTwoFails.set(null);
        assertEquals("whole-2", staged.get(MAX_AGE, LONG_WAIT, LONG_WAIT),
            "no read runs: the next reader starts one and waits for its whole value (within its wait)");
        assertEquals(2, loads.get());
    }

    @Test
    void firstReaderWaitsAtMostItsBoundThenGetsATransientFailureAndTheReadGoesOn() throws Exception {
        gate.set(new CountDownLatch(1)); // the read hangs until released (a database slower than any timeout)
        final long t0 = System.nanoTime();
        final SQLException e = assertThrows(SQLException.class,
            () -> read.get(MAX_AGE, 0, TimeUnit.MILLISECONDS.toNanos(200)));
        final long waitedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertTrue(e instanceof java.sql.SQLTimeoutException, e.toString());
        assertTrue(waitedMillis >= 200 && waitedMillis < 5_000, "bounded: " + waitedMillis + " ms");
        assertTrue(dev.spillway.runtime.api.DatabaseOutage.describe(e) != null,
            "a transient failure: the page answers 503 with Retry-After, not 500");
        assertThrows(java.sql.SQLTimeoutException.class, () -> read.get(MAX_AGE, 0, 0),
            "a second visitor meanwhile: the same bound, the same read");
        assertEquals(1, loads.get(), "waiters that gave up started no read of their own");
        gate.get().countDown();
        Await.until(WAIT, () -> read.held() != null, "the read goes on and ends");
        assertEquals("v1", read.get(MAX_AGE, 0, 0));
        assertEquals(1, loads.get());
    }

    private Thread reader(AtomicReference<Object> into) {
        final Thread t = new Thread(() -> {
            try {
                into.set(read.get(MAX_AGE, 0));
            } catch (SQLException | RuntimeException e) {
                into.set(e);
            }
        }, "shared-read-test-reader");
        t.start();
        return t;
    }
}
