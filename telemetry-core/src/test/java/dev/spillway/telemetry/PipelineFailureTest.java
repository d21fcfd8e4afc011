package dev.spillway.telemetry;

import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.RetryPolicy;
import dev.spillway.telemetry.sink.Sink;
import dev.spillway.telemetry.testsupport.Await;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Retries, give-ups, sink-reported rejections and the close deadline, each checked against the account. */
class PipelineFailureTest {

    private static final RetryPolicy FAST_RETRIES = RetryPolicy.builder()
        .maxAttempts(4).initialBackoff(Duration.ofMillis(1)).maxBackoff(Duration.ofMillis(5)).build();

    @Test
    void transientFailuresAreRetriedUntilTheyPass() {
        final AtomicInteger failuresLeft = new AtomicInteger(2);
        final RecordingSink delegate = new RecordingSink();
        final Sink flaky = batch -> {
            if (failuresLeft.getAndDecrement() > 0) {
                throw new IOException("connection reset");
            }
            return delegate.write(batch);
        };
        final Pipeline pipeline = Pipeline.builder().sink(flaky).workers(1).retryPolicy(FAST_RETRIES).build();
        for (int i = 0; i < 10; i++) {
            assertTrue(pipeline.ingest(i, 1, (short) 0, i, i));
        }
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(10));
        assertEquals(10, stats.written(), stats::toString);
        assertEquals(2, stats.retries());
        assertEquals(0, stats.failed());
        assertEquals(10, delegate.events().size());
        assertTrue(stats.isBalanced(), stats::toString);
    }

    @Test
    void exhaustedRetriesFailTheBatchHandItOverAndKeepTheWorkerAlive() {
        final AtomicInteger calls = new AtomicInteger();
        final RecordingSink delegate = new RecordingSink();
        final Sink downThenUp = batch -> {
            if (calls.incrementAndGet() <= 4) {
                throw new IOException("database down");
            }
            return delegate.write(batch);
        };
        final List<Long> handedOver = new CopyOnWriteArrayList<>();
        final Pipeline pipeline = Pipeline.builder().sink(downThenUp).workers(1).retryPolicy(FAST_RETRIES)
            .failedBatchHandler((batch, cause, attempts) -> {
                assertEquals(4, attempts);
                for (int i = 0; i < batch.size(); i++) {
                    handedOver.add(batch.sequence(i));
                }
            })
            .build();
        for (int i = 0; i < 5; i++) {
            pipeline.ingest(i, 1, (short) 0, i, i);
        }
        Await.until(Duration.ofSeconds(10), () -> pipeline.stats().batchesFailed() == 1, "first batch given up");
        for (int i = 5; i < 8; i++) {
            pipeline.ingest(i, 1, (short) 0, i, i);
        }
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(10));
        assertEquals(List.of(0L, 1L, 2L, 3L, 4L), handedOver);
        assertEquals(5, stats.failed(), stats::toString);
        assertEquals(3, stats.written(), "the same worker recovered");
        assertEquals(3, stats.retries());
        assertTrue(stats.isBalanced(), stats::toString);
    }

    @Test
    void permanentFailuresAreNotRetried() {
        final Sink broken = batch -> {
            throw new IllegalArgumentException("value out of range");
        };
        final Pipeline pipeline = Pipeline.builder().sink(broken).retryPolicy(FAST_RETRIES).build();
        pipeline.ingest(1, 1, (short) 0, 1, 1);
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(10));
        assertEquals(0, stats.retries());
        assertEquals(1, stats.failed());
        assertTrue(stats.isBalanced(), stats::toString);
    }

    @Test
    void retryPolicyClassifierOverridesTheSinks() {
        final AtomicInteger calls = new AtomicInteger();
        final Sink sink = batch -> {
            calls.incrementAndGet();
            throw new IOException("never worth retrying here");
        };
        final Pipeline pipeline = Pipeline.builder().sink(sink)
            .retryPolicy(RetryPolicy.builder().maxAttempts(5).retryIf(t -> false).build()).build();
        pipeline.ingest(1, 1, (short) 0, 1, 1);
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(10));
        assertEquals(1, calls.get());
        assertEquals(1, stats.failed());
    }

    @Test
    void eventsTheSinkRejectsAsInvalidAreCountedAndTheRestWritten() {
        final Sink oneBad = batch -> batch.size() - 1;
        final Pipeline pipeline = Pipeline.builder().sink(oneBad).workers(1).batchSize(10).build();
        for (int i = 0; i < 10; i++) {
            pipeline.ingest(i, 1, (short) 0, i, i);
        }
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(10));
        assertEquals(9, stats.written());
        assertEquals(1, stats.rejectedInvalid());
        assertTrue(stats.isBalanced(), stats::toString);
    }

    @Test
    void aSinkReportingAnImpossibleCountFailsTheBatchInsteadOfCorruptingTheAccount() {
        final Pipeline pipeline = Pipeline.builder().sink(batch -> batch.size() + 1)
            .retryPolicy(RetryPolicy.none()).build();
        pipeline.ingest(1, 1, (short) 0, 1, 1);
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(10));
        assertEquals(1, stats.failed());
        assertEquals(0, stats.written());
        assertTrue(stats.isBalanced(), stats::toString);
    }

    @Test
    void closeDrainsTheRingAndThePartialBatch() throws Exception {
        final Semaphore permits = new Semaphore(0);
        final RecordingSink sink = new RecordingSink(permits);
        final Pipeline pipeline = Pipeline.builder().sink(sink).ringSize(1 << 14).batchSize(1000).workers(1)
            .flushInterval(Duration.ofHours(1)).build();
        for (int i = 0; i < 10_500; i++) {
            assertTrue(pipeline.ingest(i, 1, (short) 0, i, i));
        }
        Await.until(Duration.ofSeconds(10), () -> pipeline.stats().batchesInFlight() >= 1, "a batch reached the worker");
        final CountDownLatch closed = new CountDownLatch(1);
        final Thread closer = new Thread(() -> {
            pipeline.close(Duration.ofSeconds(30));
            closed.countDown();
        });
        closer.start();
        Await.until(Duration.ofSeconds(10), () -> !pipeline.isRunning(), "close started");
        assertTrue(!pipeline.ingest(1, 1, (short) 0, 1, 1), "refused while closing");
        permits.release(Integer.MAX_VALUE / 2);
        closed.await();
        final PipelineStats stats = pipeline.stats();
        assertEquals(10_500, sink.events().size(), "ring and the partial batch of 500 drained");
        assertEquals(10_500, stats.written());
        assertEquals(1, stats.rejectedClosed());
        assertEquals(10_501, stats.ingested());
        assertTrue(stats.isBalanced(), stats::toString);
    }

    @Test
    void whatCannotBeWrittenByTheCloseDeadlineIsCountedAsFailed() {
        final Semaphore never = new Semaphore(0);
        final List<Integer> handedOver = new CopyOnWriteArrayList<>();
        final Pipeline pipeline = Pipeline.builder().sink(new RecordingSink(never)).ringSize(1024).batchSize(10)
            .workers(1).failedBatchHandler((batch, cause, attempts) -> handedOver.add(batch.size())).build();
        for (int i = 0; i < 500; i++) {
            pipeline.ingest(i, 1, (short) 0, i, i);
        }
        final PipelineStats stats = pipeline.close(Duration.ofMillis(300));
        assertEquals(500, stats.ingested());
        assertEquals(0, stats.written());
        assertEquals(500, stats.failed(), stats::toString);
        assertTrue(stats.isBalanced(), stats::toString);
        assertTrue(handedOver.stream().mapToInt(Integer::intValue).sum() > 0, "queued batches reach the handler");
    }
}
