package dev.spillway.telemetry.failure;

import dev.spillway.telemetry.OverflowPolicy;
import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.failure.FailureKit.Handed;
import dev.spillway.telemetry.failure.FailureKit.HangingSink;
import dev.spillway.telemetry.failure.FailureKit.ScriptedSink;
import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.RetryPolicy;
import dev.spillway.telemetry.testsupport.Await;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import java.util.stream.LongStream;
import java.util.stream.Stream;

import static dev.spillway.telemetry.failure.FailureKit.assertExactAccount;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Failure injection against the public API, as a user embedding the library would: own sinks that throw
 * anything or hang, throwing classifiers and handlers, interrupted and concurrent closers. Every test asserts
 * the exact account, that written and failed events are each delivered exactly once, and the close deadline.
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // a hang is a failure, not a stuck build
class FailureInjectionTest {

    private static final Duration WAIT = Duration.ofSeconds(20);
    /** Close must return within its timeout plus Pipeline.CLOSE_SLACK; this margin absorbs a loaded CI machine. */
    private static final long SCHEDULING_MARGIN_NANOS = TimeUnit.SECONDS.toNanos(1);

    static Stream<Arguments> throwables() {
        return Stream.of(
            Arguments.of("RuntimeException", (Supplier<Throwable>) () -> new IllegalStateException("sink bug")),
            Arguments.of("Error", (Supplier<Throwable>) () -> new AssertionError("sink assertion")),
            Arguments.of("OutOfMemoryError", (Supplier<Throwable>) () -> new OutOfMemoryError("Java heap space")),
            Arguments.of("StackOverflowError (real)", (Supplier<Throwable>) FailureInjectionTest::realStackOverflow));
    }

    /** The same throwables, with batches routed to the workers by source (several sources, so several lanes). */
    static Stream<Arguments> throwablesRouted() {
        return throwables().map(a -> Arguments.of(a.get()[0] + ", routed by source", a.get()[1]));
    }

    private static Throwable realStackOverflow() {
        try {
            recurse(0);
            throw new AssertionError("unreachable");
        } catch (StackOverflowError e) {
            return e;
        }
    }

    private static long recurse(long depth) {
        return recurse(depth + 1) + 1;
    }

    private static Pipeline.Builder builder(ScriptedSink sink, Handed handed) {
        return Pipeline.builder().sink(sink).failedBatchHandler(handed).retryPolicy(RetryPolicy.none())
            .flushInterval(Duration.ofHours(1));
    }

    /** Defect 2: more failing batches than workers; every worker survives and writes the rest. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("throwables")
    void aSinkThrowingAnythingNeverKillsAWorker(String kind, Supplier<Throwable> failure) {
        final ScriptedSink sink = new ScriptedSink(n -> n < 4 ? failure.get() : null);
        final Handed handed = new Handed();
        final Pipeline pipeline = builder(sink, handed).workers(2).batchSize(10).overflowPolicy(OverflowPolicy.BLOCK)
            .build();
        for (int i = 0; i < 80; i++) {
            assertTrue(pipeline.ingest(i, 1, (short) 0, i, i));
        }
        Await.until(WAIT, () -> pipeline.stats().batchesWritten() == 4 && pipeline.stats().batchesFailed() == 4,
            "four batches failed, then two workers wrote four more");
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(10));
        assertEquals(80, stats.ingested());
        assertEquals(40, stats.written(), stats::toString);
        assertEquals(40, stats.failed(), stats::toString);
        assertExactAccount(stats, sink, handed);
        final Set<Long> all = new TreeSet<>(sink.distinct());
        all.addAll(handed.distinct());
        assertEquals(LongStream.range(0, 80).boxed().collect(TreeSet::new, Set::add, Set::addAll), all);
        assertEquals(1, sink.closes.get());
    }

    /**
     * Routed by source (issue #14): the first four writes throw, over two lanes whose batches are cut in rounds;
     * every event is written or handed over exactly once, and both workers go on.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("throwablesRouted")
    void aSinkThrowingAnythingNeverKillsARoutedWorker(String kind, Supplier<Throwable> failure) {
        final ScriptedSink sink = new ScriptedSink(n -> n < 4 ? failure.get() : null);
        final Handed handed = new Handed();
        final Pipeline pipeline = builder(sink, handed).workers(2).routeBySource(true).batchSize(10)
            .overflowPolicy(OverflowPolicy.BLOCK).build();
        for (int i = 0; i < 200; i++) {
            assertTrue(pipeline.ingest(i, i % 16, (short) 0, i, i));
        }
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(10));
        assertEquals(200, stats.ingested());
        assertEquals(4, stats.batchesFailed(), stats::toString);
        assertEquals(200, stats.written() + stats.failed(), stats::toString);
        assertTrue(stats.failed() > 0 && stats.written() > 0, stats::toString);
        assertExactAccount(stats, sink, handed);
        final Set<Long> all = new TreeSet<>(sink.distinct());
        all.addAll(handed.distinct());
        assertEquals(LongStream.range(0, 200).boxed().collect(TreeSet::new, Set::add, Set::addAll), all);
        assertEquals(1, sink.closes.get());
    }

    /**
     * Routed by source (issue #14): one worker's writes hang (every batch holding source 0). The other worker goes
     * on writing its lane until the shared pool of batches is used up; then the pump stops reading, the ring laps
     * and counts what it overwrites, nothing deadlocks, and once the stuck write returns everything flows again. The
     * account is exact throughout, and source 0 is never written out of order.
     */
    @Test
    void aStuckRoutedWorkerHoldsItsLaneThenThePoolAndRecoversWithoutLoss() throws Exception {
        final CountDownLatch release = new CountDownLatch(1);
        final CountDownLatch stuck = new CountDownLatch(1);
        final ScriptedSink sink = new ScriptedSink(n -> null) {
            @Override
            void beforeRecord(EventBatch batch) throws InterruptedException {
                for (int i = 0; i < batch.size(); i++) {
                    if (batch.sourceId(i) == 0) {
                        stuck.countDown();
                        release.await();
                        return;
                    }
                }
            }
        };
        final Handed handed = new Handed();
        final Pipeline pipeline = builder(sink, handed).workers(2).routeBySource(true).batchSize(16).ringSize(64)
            .flushInterval(Duration.ofMillis(2)).closeTimeout(Duration.ofSeconds(20)).build();
        long seq = 0;
        for (; seq < 64; seq++) {
            pipeline.ingest(seq, (int) (seq % 16), (short) 0, seq, seq);
        }
        assertTrue(stuck.await(10, TimeUnit.SECONDS), "the write holding source 0 started");
        Await.until(WAIT, () -> pipeline.stats().written() > 0, "the other lane is written while source 0's hangs");
        final long writtenWhileStuck = pipeline.stats().written();
        assertTrue(sink.sequences().stream().noneMatch(s -> s % 16 == 0), "source 0 is not written past its stuck batch");
        // Keep producing: the stuck lane collects the pool's batches, then the pump stops and the ring laps.
        while (pipeline.stats().overwritten() == 0 && seq < 1_000_000) {
            pipeline.ingest(seq, (int) (seq % 16), (short) 0, seq, seq);
            seq++;
        }
        assertTrue(pipeline.stats().overwritten() > 0, "the ring lapped (counted) while the pool waits for the "
            + "stuck worker: " + pipeline.stats());
        assertTrue(pipeline.isRunning());
        release.countDown();
        final long before = seq;
        for (; seq < before + 64; seq++) {
            pipeline.ingest(seq, (int) (seq % 16), (short) 0, seq, seq);
        }
        final long last = seq - 1;
        Await.until(WAIT, () -> sink.distinct().contains(last), "the pipeline flows again after the write returned");
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(10));
        assertEquals(seq, stats.ingested());
        assertEquals(0, stats.failed(), stats::toString);
        assertEquals(seq, stats.written() + stats.overwritten(), stats::toString);
        assertTrue(stats.written() > writtenWhileStuck, stats::toString);
        assertExactAccount(stats, sink, handed);
        long lastOfSourceZero = -1;
        for (long s : sink.sequences()) { // in the order the sink recorded them
            if (s % 16 == 0) {
                assertTrue(s > lastOfSourceZero, "source 0 written in order: " + s + " after " + lastOfSourceZero);
                lastOfSourceZero = s;
            }
        }
    }

    /** Defect 3: a classifier that throws fails its batch (once, handed over) instead of losing it. */
    @Test
    void aThrowingRetryClassifierFailsTheBatchAndTheWorkerCarriesOn() {
        final ScriptedSink sink = new ScriptedSink(n -> n < 3 ? new IOException("transient?") : null);
        final Handed handed = new Handed();
        final RetryPolicy badClassifier = RetryPolicy.builder().maxAttempts(5).retryIf(t -> {
            throw new IllegalStateException("classifier bug");
        }).build();
        final Pipeline pipeline = builder(sink, handed).retryPolicy(badClassifier).workers(1).batchSize(5).build();
        for (int i = 0; i < 25; i++) {
            pipeline.ingest(i, 1, (short) 0, i, i);
        }
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(10));
        assertEquals(15, stats.failed(), stats::toString);
        assertEquals(10, stats.written(), stats::toString);
        assertEquals(0, stats.retries());
        assertExactAccount(stats, sink, handed);
    }

    /** Defect 3: the sink's own classifier (used when the policy has none) throwing an Error. */
    @Test
    void aSinkWhoseIsRetryableThrowsAnErrorStillHasItsBatchesAccounted() {
        final ScriptedSink sink = new ScriptedSink(n -> n % 2 == 0 ? new IOException("flaky") : null) {
            @Override
            public boolean isRetryable(Throwable failure) {
                throw new AssertionError("isRetryable bug");
            }
        };
        final Handed handed = new Handed();
        final Pipeline pipeline = builder(sink, handed).retryPolicy(RetryPolicy.defaults()).workers(1).batchSize(5)
            .build();
        for (int i = 0; i < 20; i++) {
            pipeline.ingest(i, 1, (short) 0, i, i);
        }
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(10));
        assertEquals(10, stats.failed(), stats::toString);
        assertEquals(10, stats.written(), stats::toString);
        assertExactAccount(stats, sink, handed);
    }

    /**
     * Defect 3: a failed-batch handler that throws an Error does not kill the worker; close still closes the sink
     * and returns, and a second close returns the same account at once.
     */
    @Test
    void aHandlerThrowingAnErrorKillsNothingAndCloseStillCompletes() {
        final ScriptedSink sink = new ScriptedSink(n -> n < 3 ? new IllegalArgumentException("bad data") : null);
        final Handed handed = new Handed(() -> {
            throw new OutOfMemoryError("handler ran out");
        });
        final Pipeline pipeline = builder(sink, handed).workers(1).batchSize(5).build();
        for (int i = 0; i < 25; i++) {
            pipeline.ingest(i, 1, (short) 0, i, i);
        }
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(10));
        assertEquals(15, stats.failed(), stats::toString);
        assertEquals(10, stats.written(), stats::toString);
        assertExactAccount(stats, sink, handed);
        assertEquals(1, sink.closes.get(), "the sink was closed");
        final long start = System.nanoTime();
        assertEquals(stats, pipeline.close(Duration.ofSeconds(10)), "a second close returns the same account");
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(5), "and does not block");
    }

    /**
     * Defect 4: a write that ignores interrupts. close keeps its deadline, every event is resolved (the batches
     * still inside a write abandoned: in doubt, not handed over; the others failed and handed over), the sink is not
     * closed under the running write but after it returns. Issue 19, item 4: the write's late success moves its
     * events from abandoned to written-late (logged once with the batch id), and nothing of it reaches the
     * handler.
     */
    @ParameterizedTest(name = "routed by source: {0}")
    @ValueSource(booleans = {false, true})
    void aWriteIgnoringInterruptsCannotStretchTheCloseDeadlineNorReopenTheAccount(boolean routeBySource)
        throws Exception {
        final HangingSink sink = new HangingSink();
        final Handed handed = new Handed();
        final Pipeline pipeline = builder(sink, handed).workers(2).routeBySource(routeBySource).batchSize(32)
            .ringSize(1024).build();
        for (int i = 0; i < 200; i++) {
            assertTrue(pipeline.ingest(i, i % 7, (short) 0, i, i));
        }
        assertTrue(sink.entered.await(10, TimeUnit.SECONDS));
        final Duration timeout = Duration.ofMillis(500);
        final long start = System.nanoTime();
        final PipelineStats stats = pipeline.close(timeout);
        final long took = System.nanoTime() - start;
        assertTrue(took < timeout.plus(Pipeline.CLOSE_SLACK).toNanos() + SCHEDULING_MARGIN_NANOS,
            "close took " + TimeUnit.NANOSECONDS.toMillis(took) + " ms");
        assertEquals(200, stats.ingested());
        assertEquals(0, stats.written());
        assertTrue(stats.abandoned() > 0 && stats.abandoned() <= 64, "the two batches inside a write: " + stats);
        assertEquals(200, stats.failed() + stats.abandoned(), stats::toString);
        assertExactAccount(stats, sink, handed);
        assertTrue(sink.interruptsIgnored.get() > 0, "the workers were interrupted");
        assertEquals(0, sink.closes.get(), "not closed while a write is running");

        sink.release();
        Await.until(WAIT, () -> sink.closes.get() == 1, "the sink is closed once the last write returned");
        assertEquals(0, sink.closedWhileWriting.get());
        final PipelineStats late = pipeline.stats();
        assertEquals(0, late.abandoned(), late::toString);
        assertEquals(stats.abandoned(), late.writtenLate(), "the late successes are counted as such: " + late);
        assertEquals(stats.failed(), late.failed(), "and not as failed");
        assertEquals(0, late.written());
        assertExactAccount(late, sink, handed);
    }

    /**
     * Defect 5: events still in the ring at the deadline go to the handler exactly once; under OVERWRITE_OLDEST,
     * events lapped before anyone could read them are overwritten, not failed.
     */
    @Test
    void eventsLeftInTheRingAtTheDeadlineReachTheHandlerAndLappedOnesAreNotCountedFailed() throws Exception {
        final HangingSink sink = new HangingSink();
        final Handed handed = new Handed();
        final Pipeline pipeline = builder(sink, handed).workers(1).batchSize(10).ringSize(1024).build();
        for (int i = 0; i < 3000; i++) {
            assertTrue(pipeline.ingest(i, 1, (short) 0, i, i));
        }
        assertTrue(sink.entered.await(10, TimeUnit.SECONDS));
        final PipelineStats stats = pipeline.close(Duration.ofMillis(300));
        assertEquals(3000, stats.ingested());
        assertEquals(0, stats.written());
        assertTrue(stats.failed() <= 1024 + 30, "at most a ring plus the three pooled batches can fail: " + stats);
        assertEquals(10, stats.abandoned(), "the batch inside the hanging write: " + stats);
        assertEquals(3000, stats.failed() + stats.abandoned() + stats.overwritten(), stats::toString);
        assertExactAccount(stats, sink, handed);
        final List<Long> handedSorted = new ArrayList<>(handed.distinct());
        assertEquals(2999L, handedSorted.get(handedSorted.size() - 1), "the newest event reached the handler");
        sink.release();
    }

    /** Defect 4 and 9: an interrupted closer closes at once, balanced, keeps its interrupt status and caches it. */
    @Test
    void anInterruptedCloserClosesAtOnceWithABalancedAccount() throws Exception {
        final HangingSink sink = new HangingSink();
        final Handed handed = new Handed();
        final Pipeline pipeline = builder(sink, handed).workers(1).batchSize(10).build();
        for (int i = 0; i < 100; i++) {
            pipeline.ingest(i, 1, (short) 0, i, i);
        }
        assertTrue(sink.entered.await(10, TimeUnit.SECONDS));
        final AtomicReference<PipelineStats> result = new AtomicReference<>();
        final AtomicReference<Boolean> stillInterrupted = new AtomicReference<>();
        final CountDownLatch closeCalled = new CountDownLatch(1);
        final Thread closer = new Thread(() -> {
            closeCalled.countDown();
            result.set(pipeline.close(Duration.ofMinutes(10)));
            stillInterrupted.set(Thread.currentThread().isInterrupted());
        });
        closer.start();
        closeCalled.await();
        Await.until(WAIT, () -> !pipeline.isRunning(), "close started");
        final long start = System.nanoTime();
        closer.interrupt();
        closer.join(TimeUnit.SECONDS.toMillis(20));
        assertFalse(closer.isAlive(), "an interrupted close does not wait out its 10 minutes");
        assertTrue(System.nanoTime() - start < Pipeline.CLOSE_SLACK.toNanos() + SCHEDULING_MARGIN_NANOS);
        assertTrue(stillInterrupted.get(), "the interrupt status is kept");
        final PipelineStats stats = result.get();
        assertEquals(90, stats.failed(), stats::toString);
        assertEquals(10, stats.abandoned(), "the batch inside the hanging write is in doubt: " + stats);
        assertExactAccount(stats, sink, handed);
        assertEquals(stats, pipeline.close(Duration.ofSeconds(1)), "the cached account is the balanced one");
        sink.release();
    }

    /** Defect 9: concurrent closers all get the first close's account, within the deadline; the sink closes once. */
    @Test
    void concurrentClosersShareOneCloseAndOneAccount() throws Exception {
        final HangingSink sink = new HangingSink();
        final Handed handed = new Handed();
        final Pipeline pipeline = builder(sink, handed).workers(2).batchSize(10).build();
        for (int i = 0; i < 100; i++) {
            pipeline.ingest(i, 1, (short) 0, i, i);
        }
        assertTrue(sink.entered.await(10, TimeUnit.SECONDS));
        final Duration timeout = Duration.ofMillis(400);
        final List<Thread> closers = new ArrayList<>();
        final List<PipelineStats> results = new java.util.concurrent.CopyOnWriteArrayList<>();
        final CountDownLatch go = new CountDownLatch(1);
        for (int i = 0; i < 4; i++) {
            final Thread t = new Thread(() -> {
                try {
                    go.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
                results.add(pipeline.close(timeout));
            });
            t.start();
            closers.add(t);
        }
        final long start = System.nanoTime();
        go.countDown();
        for (Thread t : closers) {
            t.join(TimeUnit.SECONDS.toMillis(20));
        }
        assertTrue(System.nanoTime() - start < timeout.plus(Pipeline.CLOSE_SLACK).toNanos() + SCHEDULING_MARGIN_NANOS);
        assertEquals(4, results.size());
        for (PipelineStats r : results) {
            assertEquals(results.get(0), r);
        }
        assertExactAccount(results.get(0), sink, handed);
        sink.release();
        Await.until(WAIT, () -> sink.closes.get() == 1, "closed once, after the writes returned");
    }

    /** Defect 9: close() from inside Sink.write closes at once instead of waiting out its timeout. */
    @Test
    void closeFromInsideTheSinkDoesNotWaitItsTimeout() {
        final Handed handed = new Handed();
        final AtomicReference<Pipeline> self = new AtomicReference<>();
        final AtomicReference<PipelineStats> fromInside = new AtomicReference<>();
        final CountDownLatch allIngested = new CountDownLatch(1);
        final ScriptedSink sink = new ScriptedSink(n -> null) {
            @Override
            void beforeRecord(EventBatch batch) throws InterruptedException {
                if (fromInside.get() == null) {
                    allIngested.await(); // else a descheduled test thread sees its last events refused as closed
                    fromInside.set(self.get().close(Duration.ofMinutes(10)));
                }
            }
        };
        final Pipeline pipeline = builder(sink, handed).workers(1).batchSize(10).build();
        self.set(pipeline);
        final long start = System.nanoTime();
        for (int i = 0; i < 50; i++) {
            assertTrue(pipeline.ingest(i, 1, (short) 0, i, i));
        }
        allIngested.countDown();
        Await.until(WAIT, () -> fromInside.get() != null, "the sink closed its pipeline");
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(10), "no 10-minute wait");
        final PipelineStats stats = fromInside.get();
        assertEquals(50, stats.ingested());
        assertTrue(stats.isBalanced(), stats::toString);
        assertEquals(10, stats.abandoned(), "the closing write's own batch cannot be known written yet: " + stats);
        assertEquals(40, stats.failed(), stats::toString);
        assertEquals(stats, pipeline.close(Duration.ofSeconds(1)));
        // The closing write then returns written: counted written late, never handed over as failed.
        Await.until(WAIT, () -> pipeline.stats().writtenLate() == 10, "the write returned: " + pipeline.stats());
        final PipelineStats late = pipeline.stats();
        assertEquals(0, late.abandoned());
        assertEquals(40, handed.distinct().size());
        assertExactAccount(late, sink, handed);
    }
}
