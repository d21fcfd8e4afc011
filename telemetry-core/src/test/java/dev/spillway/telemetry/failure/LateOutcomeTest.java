package dev.spillway.telemetry.failure;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.SpoolConfig;
import dev.spillway.telemetry.failure.FailureKit.Handed;
import dev.spillway.telemetry.failure.FailureKit.HangingSink;
import dev.spillway.telemetry.failure.FailureKit.Recorder;
import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.RetryPolicy;
import dev.spillway.telemetry.sink.Sink;
import dev.spillway.telemetry.testsupport.Await;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.LongStream;

import static dev.spillway.telemetry.failure.FailureKit.assertExactAccount;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 19, item 4: a write that returns after the close deadline gave its batch up (it ignored the interrupt and
 * the abort). Its batch was abandoned (in doubt) or, with a spool, spooled; a late success is counted written late
 * (its own term of the account), logged once with the batch id, and never handed to the failed-batch handler; a
 * late failure of an abandoned batch is counted failed and handed over then.
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class LateOutcomeTest {

    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    /** The log lines of the worker pool at WARN and above. */
    private static final class PoolLog implements AutoCloseable {
        private final Logger logger = (Logger) LoggerFactory.getLogger("dev.spillway.telemetry.internal.WorkerPool");
        private final ListAppender<ILoggingEvent> appender = new ListAppender<>();

        PoolLog() {
            appender.start();
            logger.addAppender(appender);
        }

        List<String> matching(String text) {
            synchronized (appender.list) {
                return appender.list.stream().map(ILoggingEvent::getFormattedMessage).filter(m -> m.contains(text))
                    .collect(Collectors.toList());
            }
        }

        @Override
        public void close() {
            logger.detachAppender(appender);
        }
    }

    /** Ingests {@code events} events of source 1; returns the acknowledgement of the first batch's ten. */
    private static CompletableFuture<Boolean> ingest(Pipeline pipeline, int events) {
        long first = -1;
        long tenth = -1;
        for (int i = 0; i < events; i++) {
            final long ring = pipeline.ingestClaimed(i, 1, (short) 0, i, i);
            assertTrue(ring >= 0);
            first = i == 0 ? ring : first;
            tenth = i == 9 ? ring : tenth;
        }
        return pipeline.whenResolved(first, tenth);
    }

    @Test
    void aLateFailureOfAnAbandonedBatchIsCountedFailedAndHandedOverThen() throws Exception {
        final HangingSink sink = new HangingSink(new IOException("the database said no, late"));
        final Handed handed = new Handed();
        final Pipeline pipeline = Pipeline.builder().sink(sink).failedBatchHandler(handed).retryPolicy(RetryPolicy.none())
            .workers(1).batchSize(10).flushInterval(Duration.ofHours(1)).build();
        final CompletableFuture<Boolean> stuck = ingest(pipeline, 30);
        assertTrue(sink.entered.await(10, TimeUnit.SECONDS));
        final PipelineStats atClose = pipeline.close(Duration.ofMillis(300));
        assertEquals(10, atClose.abandoned(), atClose::toString);
        assertFalse(stuck.get(10, TimeUnit.SECONDS), "in doubt is not confirmed (ack=commit: 503)");
        assertEquals(20, atClose.failed(), atClose::toString);
        assertEquals(20, handed.distinct().size(), "the batch in doubt is not handed over");
        assertExactAccount(atClose, sink, handed);

        sink.release();
        // The late failure is counted, then handed over: wait for both before reading either.
        Await.until(WAIT, () -> pipeline.stats().abandoned() == 0 && handed.distinct().size() == 30,
            "the write returned and its batch was handed over: " + pipeline.stats());
        final PipelineStats late = pipeline.stats();
        assertEquals(30, late.failed(), late::toString);
        assertEquals(0, late.writtenLate());
        assertEquals(LongStream.range(0, 30).boxed().collect(Collectors.toSet()), handed.distinct(),
            "handed over once its failure was known");
        assertExactAccount(late, sink, handed);
    }

    /**
     * With a spool, the batch inside the hanging write is spooled at the deadline (with its ledger key), not
     * failed. Its write then succeeds: the events leave {@code spooled} for {@code writtenLate}, one log line names
     * the batch, the handler gets nothing; the next run replays all three records and a sink with a ledger (keyed
     * by run id and batch id, as TimescaleSink's) finds the late one committed: every event stored once.
     */
    @Test
    void aBatchSpooledWhileItsWriteRanOnIsCountedWrittenLateAndItsReplayIsANoOp() throws Exception {
        final Set<String> ledger = ConcurrentHashMap.newKeySet();
        final HangingSink first = new HangingSink() {
            @Override
            void beforeRecord(EventBatch batch) throws Exception {
                super.beforeRecord(batch);
                ledger.add(runId() + "/" + batch.batchId()); // committed with its key, as a ledger would be
            }

            @Override
            public String runId() {
                return "run-1";
            }
        };
        final Handed handed = new Handed();
        final SpoolConfig spool = SpoolConfig.builder(dir).segmentBytes(1L << 20).maxBytes(8L << 20).build();
        final PipelineStats atClose;
        final PipelineStats late;
        try (PoolLog log = new PoolLog()) {
            final Pipeline pipeline = Pipeline.builder().sink(first).failedBatchHandler(handed)
                .retryPolicy(RetryPolicy.none()).workers(1).batchSize(10).flushInterval(Duration.ofHours(1))
                .spool(spool).build();
            final CompletableFuture<Boolean> stuck = ingest(pipeline, 30);
            assertTrue(first.entered.await(10, TimeUnit.SECONDS));
            atClose = pipeline.close(Duration.ofMillis(300));
            assertTrue(stuck.get(10, TimeUnit.SECONDS), "spooled and fsynced at close: confirmed");
            assertTrue(atClose.isBalanced(), atClose::toString);
            assertEquals(30, atClose.spooled(), "the batch inside the write is spooled too: " + atClose);
            assertEquals(0, atClose.failed() + atClose.abandoned(), atClose::toString);

            first.release();
            // Counted, then logged: wait for both before reading either.
            Await.until(WAIT, () -> pipeline.stats().writtenLate() == 10
                && !log.matching("after the close deadline had given it up").isEmpty(),
                "the write returned and was logged: " + pipeline.stats());
            late = pipeline.stats();
            assertTrue(late.isBalanced(), late::toString);
            assertEquals(20, late.spooled(), late::toString);
            assertEquals(0, late.failed());
            assertEquals(0, handed.calls(), "nothing handed over as failed");
            assertEquals(1, log.matching("after the close deadline had given it up").size(),
                "logged once: " + log.matching("batch"));
            assertTrue(log.matching("after the close deadline had given it up").get(0).contains("batch 0 "),
                "with the batch id: " + log.matching("after the close deadline"));
        }

        final Recorder stored = new Recorder();
        stored.record(new EventsOf(first.sequences()));
        final Sink second = new Sink() {
            @Override
            public int write(EventBatch batch) {
                if (ledger.add(batch.runId() + "/" + batch.batchId())) {
                    stored.record(batch);
                }
                return batch.size();
            }
        };
        final Pipeline next = Pipeline.builder().sink(second).workers(1).batchSize(10).spool(spool).build();
        Await.until(WAIT, () -> next.stats().spooled() == 0 && next.stats().written() == 30,
            "the spool replays: " + next.stats());
        final PipelineStats replayed = next.close(Duration.ofSeconds(10));
        assertTrue(replayed.isBalanced(), replayed::toString);
        assertEquals(30, replayed.spoolRecovered());
        assertEquals(30, stored.sequences().size(), "every event stored once: " + stored.sequences());
        assertEquals(LongStream.range(0, 30).boxed().collect(Collectors.toSet()), stored.distinct());
    }

    /** A read-only batch of the given sequences (source 1), to put the first run's rows into the recorder. */
    private record EventsOf(List<Long> seqs) implements EventBatch {
        @Override
        public long batchId() {
            return -1;
        }

        @Override
        public int size() {
            return seqs.size();
        }

        @Override
        public long timestampNanos(int index) {
            return seqs.get(index);
        }

        @Override
        public int sourceId(int index) {
            return 1;
        }

        @Override
        public short kind(int index) {
            return 0;
        }

        @Override
        public double value(int index) {
            return seqs.get(index);
        }

        @Override
        public long sequence(int index) {
            return seqs.get(index);
        }

        @Override
        public long minTimestampNanos() {
            return 0;
        }

        @Override
        public long maxTimestampNanos() {
            return 0;
        }
    }
}
