package dev.spillway.telemetry;

import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.RetryPolicy;
import dev.spillway.telemetry.sink.Sink;
import dev.spillway.telemetry.testsupport.Await;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The spool inside a pipeline: outage, replay interleaved with live traffic, restart, acknowledgements. */
class PipelineSpoolTest {

    private static final RetryPolicy FAST = RetryPolicy.builder().maxAttempts(3).initialBackoff(Duration.ofMillis(1))
        .maxBackoff(Duration.ofMillis(5)).maxElapsed(Duration.ofSeconds(2)).build();

    @TempDir
    Path dir;

    /** A sink that can be switched off (every write throws a transient error) and records (source, seq) pairs. */
    static final class SwitchableSink implements Sink {
        final AtomicBoolean up = new AtomicBoolean(true);
        final List<Long> keys = new ArrayList<>();
        final List<String> runIds = new ArrayList<>();
        final AtomicInteger liveWrites = new AtomicInteger();
        final AtomicInteger replayWrites = new AtomicInteger();
        private final String runId;

        SwitchableSink(String runId) {
            this.runId = runId;
        }

        @Override
        public int write(EventBatch batch) throws IOException {
            if (!up.get()) {
                throw new IOException("database down");
            }
            synchronized (keys) {
                (batch.runId() == null ? liveWrites : replayWrites).incrementAndGet();
                runIds.add(batch.runId());
                for (int i = 0; i < batch.size(); i++) {
                    keys.add(((long) batch.sourceId(i) << 40) | batch.sequence(i));
                }
            }
            return batch.size();
        }

        @Override
        public String runId() {
            return runId;
        }

        List<Long> keys() {
            synchronized (keys) {
                return new ArrayList<>(keys);
            }
        }
    }

    private SpoolConfig spool() {
        return SpoolConfig.builder(dir).segmentBytes(256 << 10).maxBytes(64L << 20).fsyncInterval(Duration.ofMillis(5))
            .build();
    }

    private static void assertExactlyOnce(List<Long> keys, long expected) {
        final Set<Long> unique = new HashSet<>(keys);
        assertEquals(keys.size(), unique.size(), "no duplicates");
        assertEquals(expected, keys.size());
    }

    @Test
    void anOutageSpoolsInsteadOfFailingAndTheSpoolDrainsOnceTheSinkIsBack() {
        final SwitchableSink sink = new SwitchableSink("run-1");
        final SimpleMeterRegistry registry = new SimpleMeterRegistry();
        final Pipeline pipeline = Pipeline.builder().name("spool").sink(sink).workers(2).batchSize(100)
            .flushInterval(Duration.ofMillis(2)).overflowPolicy(OverflowPolicy.BLOCK).retryPolicy(FAST)
            .spool(spool()).meterRegistry(registry).build();
        final Gauge spoolBytes = registry.get("spillway.spool.bytes").gauge();
        final SourceHandle source = pipeline.source(1);
        for (int i = 0; i < 1_000; i++) {
            source.record((short) 1, i);
        }
        Await.until(Duration.ofSeconds(10), () -> pipeline.stats().written() == 1_000, "before the outage");
        sink.up.set(false);
        for (int i = 0; i < 5_000; i++) {
            source.record((short) 1, i);
        }
        Await.until(Duration.ofSeconds(20), () -> pipeline.stats().spooled() == 5_000,
            "the outage's events are spooled: " + pipeline.stats());
        PipelineStats during = pipeline.stats();
        assertEquals(0, during.failed(), during.toString());
        assertTrue(spoolBytes.value() > 0, "the outage's batches take room on disk");
        assertTrue(during.isBalanced(), "balanced while spooled: " + during);

        sink.up.set(true);
        for (int i = 0; i < 3_000; i++) {
            source.record((short) 1, i); // live traffic while the spool drains
        }
        Await.until(Duration.ofSeconds(20), () -> pipeline.stats().spooled() == 0 && pipeline.stats().written() == 9_000,
            "the spool drains: " + pipeline.stats());
        assertEquals(0.0, spoolBytes.value(), "replayed to the end: every segment deleted, the last one too");
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(10));
        assertTrue(stats.isBalanced(), stats.toString());
        assertEquals(9_000, stats.written());
        assertEquals(0, stats.failed());
        assertTrue(stats.batchesReplayed() >= 50 && stats.batchesReplayed() == stats.batchesSpooled(), stats.toString());
        assertExactlyOnce(sink.keys(), 9_000);
        assertTrue(sink.runIds.contains("run-1"), "replayed batches carry the run id they were first tried under");
    }

    @Test
    void aSpoolLeftByAnEarlierRunIsReplayedWithItsOriginalLedgerKeys() {
        final SwitchableSink first = new SwitchableSink("run-1");
        first.up.set(false);
        final Pipeline one = Pipeline.builder().name("one").sink(first).workers(1).batchSize(100)
            .flushInterval(Duration.ofMillis(2)).retryPolicy(FAST).spool(spool()).build();
        for (int i = 0; i < 1_000; i++) {
            one.ingest(i, 2, (short) 0, i, i);
        }
        final PipelineStats closed = one.close(Duration.ofSeconds(10));
        assertTrue(closed.isBalanced(), closed.toString());
        assertEquals(1_000, closed.spooled(), "nothing failed: it waits on disk " + closed);

        final SwitchableSink second = new SwitchableSink("run-2");
        final Pipeline two = Pipeline.builder().name("two").sink(second).workers(1).batchSize(100)
            .flushInterval(Duration.ofMillis(2)).retryPolicy(FAST).spool(spool()).build();
        Await.until(Duration.ofSeconds(10), () -> two.stats().written() == 1_000, "replayed: " + two.stats());
        final PipelineStats stats = two.close(Duration.ofSeconds(10));
        assertTrue(stats.isBalanced(), stats.toString());
        assertEquals(1_000, stats.spoolRecovered());
        assertEquals(1_000, stats.ingested(), "recovered events enter this run's account");
        assertEquals(0, stats.spooled());
        assertExactlyOnce(second.keys(), 1_000);
        assertTrue(second.runIds.stream().allMatch("run-1"::equals), "keyed by the first run: " + second.runIds);
    }

    /** Routed by source, a round's range is cut into one batch per worker: acknowledged when all parts are. */
    @ParameterizedTest(name = "routed by source over two workers: {0}")
    @ValueSource(booleans = {false, true})
    void acknowledgementsCompleteWhenWrittenOrDurablySpooledAndReportLosses(boolean routeBySource) throws Exception {
        final SwitchableSink sink = new SwitchableSink("run-1");
        final Pipeline pipeline = Pipeline.builder().name("ack").sink(sink).workers(routeBySource ? 2 : 1)
            .routeBySource(routeBySource).batchSize(10)
            .flushInterval(Duration.ofMillis(2)).retryPolicy(FAST).spool(spool()).build();
        long from = -1;
        long to = -1;
        for (int i = 0; i < 25; i++) {
            final long seq = pipeline.ingestClaimed(i, i % 8, (short) 0, i, i);
            from = from < 0 ? seq : from;
            to = seq;
        }
        assertTrue(pipeline.whenResolved(from, to).get(10, TimeUnit.SECONDS), "written");

        sink.up.set(false);
        from = -1;
        for (int i = 25; i < 50; i++) {
            final long seq = pipeline.ingestClaimed(i, i % 8, (short) 0, i, i);
            from = from < 0 ? seq : from;
            to = seq;
        }
        final CompletableFuture<Boolean> spooled = pipeline.whenResolved(from, to);
        assertTrue(spooled.get(10, TimeUnit.SECONDS), "durably spooled counts as resolved");
        assertEquals(25, pipeline.stats().spooled());
        sink.up.set(true);
        pipeline.close(Duration.ofSeconds(10));

        // Without a spool, a failed batch answers false.
        final SwitchableSink down = new SwitchableSink("run-2");
        down.up.set(false);
        final Pipeline noSpool = Pipeline.builder().name("nospool").sink(down).workers(routeBySource ? 2 : 1)
            .routeBySource(routeBySource).batchSize(10).flushInterval(Duration.ofMillis(2)).retryPolicy(FAST).build();
        final long a = noSpool.ingestClaimed(1, 1, (short) 0, 1, 1);
        final long b = noSpool.ingestClaimed(2, 2, (short) 0, 2, 2);
        assertFalse(noSpool.whenResolved(a, b).get(10, TimeUnit.SECONDS), "lost: not confirmed");
        final PipelineStats stats = noSpool.close(Duration.ofSeconds(10));
        assertEquals(2, stats.failed());
    }
}
