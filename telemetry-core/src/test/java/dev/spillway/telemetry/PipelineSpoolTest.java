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

    /** A spool of two 64 KiB segments: about 40 batches of 100 events. */
    private SpoolConfig tinySpool() {
        return SpoolConfig.builder(dir).segmentBytes(64 << 10).maxBytes(128 << 10).fsyncInterval(Duration.ofMillis(5))
            .build();
    }

    /** One commit-acknowledged request of 100 events from {@code source}: true when confirmed durable. */
    private static boolean commitRequest(Pipeline pipeline, int source, long firstSeq) throws Exception {
        final long scope = pipeline.openAckScope();
        long from = -1;
        long to = -1;
        for (int i = 0; i < 100; i++) {
            final long ring = pipeline.ingestClaimed(firstSeq + i, source, (short) 0, i, firstSeq + i);
            assertTrue(ring >= 0);
            from = from < 0 ? ring : from;
            to = ring;
        }
        final CompletableFuture<Boolean> answer = pipeline.whenResolved(from, to);
        answer.whenComplete((ok, err) -> pipeline.closeAckScope(scope));
        return answer.get(20, TimeUnit.SECONDS);
    }

    /**
     * Issue 19, item 1: the database is down and commit-acknowledged requests fill the spool (default policy,
     * drop-oldest-segment). Nothing a request was confirmed for is dropped to make room: the spool refuses new
     * batches (their requests are not confirmed, and the pipeline reports the spool full), and once the database is
     * back every event of every confirmed request is written, once.
     */
    @Test
    void aSpoolFullOfCommitAcknowledgedBatchesRefusesNewOnesAndLosesNoConfirmedEvent() throws Exception {
        final SwitchableSink sink = new SwitchableSink("run-1");
        sink.up.set(false);
        final SimpleMeterRegistry registry = new SimpleMeterRegistry();
        final Pipeline pipeline = Pipeline.builder().name("full").sink(sink).workers(2).batchSize(100)
            .flushInterval(Duration.ofMillis(2)).retryPolicy(FAST).spool(tinySpool()).meterRegistry(registry).build();
        final List<Long> confirmed = new ArrayList<>();
        int refusedInARow = 0;
        int requests = 0;
        for (long seq = 0; refusedInARow < 5; seq += 100) {
            assertTrue(requests++ < 1_000, "the spool never filled: " + pipeline.stats());
            if (commitRequest(pipeline, 1, seq)) {
                assertEquals(0, refusedInARow, "confirmed again while the spool is full and the sink down");
                for (long i = seq; i < seq + 100; i++) {
                    confirmed.add((1L << 40) | i);
                }
            } else {
                refusedInARow++;
            }
        }
        // An answer completes when the range resolves, a moment before the worker counts the batch: settle first.
        Await.until(Duration.ofSeconds(10), () -> pipeline.stats().pending() == 0, "resolved: " + pipeline.stats());
        final PipelineStats full = pipeline.stats();
        assertTrue(full.spoolFull(), full::toString);
        assertEquals(1.0, registry.get("spillway.spool.full").gauge().value());
        assertEquals(0, full.droppedSpoolFull(), "nothing a client was confirmed for is dropped: " + full);
        assertTrue(confirmed.size() >= 3_000, "the spool took batches until it was full: " + confirmed.size());
        assertTrue(full.failed() >= 500, "the refused batches fail, not confirmed: " + full);
        assertTrue(full.isBalanced(), full::toString);

        sink.up.set(true);
        Await.until(Duration.ofSeconds(20), () -> pipeline.stats().spooled() == 0, "replayed: " + pipeline.stats());
        assertFalse(pipeline.stats().spoolFull(), "room again");
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(10));
        assertTrue(stats.isBalanced(), stats.toString());
        assertEquals(0, stats.droppedSpoolFull());
        final Set<Long> written = new HashSet<>(sink.keys());
        assertEquals(sink.keys().size(), written.size(), "no duplicates");
        final List<Long> lost = confirmed.stream().filter(k -> !written.contains(k)).toList();
        assertEquals(List.of(), lost, "confirmed events missing");
    }

    /**
     * A full spool stops reporting itself full as soon as the sink takes batches again, not once replay has freed a
     * whole segment: the collector answers every write 503 while the spool reports itself full, and new batches go
     * to the sink then, not to the spool. Replay is held after its first batch, so no segment is freed meanwhile.
     */
    @Test
    void aFullSpoolIsNotFullAnyMoreOnceTheSinkTakesBatchesBeforeAnySegmentIsFreed() throws Exception {
        final AtomicBoolean up = new AtomicBoolean(false);
        final java.util.concurrent.CountDownLatch replayGate = new java.util.concurrent.CountDownLatch(1);
        final AtomicInteger replays = new AtomicInteger();
        final List<Long> keys = new ArrayList<>();
        final Sink sink = new Sink() {
            @Override
            public int write(EventBatch batch) throws Exception {
                if (!up.get()) {
                    throw new IOException("database down");
                }
                if (batch.runId() != null && replays.incrementAndGet() > 1
                    && !replayGate.await(30, TimeUnit.SECONDS)) {
                    throw new IOException("replay gate not opened");
                }
                synchronized (keys) {
                    for (int i = 0; i < batch.size(); i++) {
                        keys.add(((long) batch.sourceId(i) << 40) | batch.sequence(i));
                    }
                }
                return batch.size();
            }

            @Override
            public String runId() {
                return "run-1";
            }
        };
        final SimpleMeterRegistry registry = new SimpleMeterRegistry();
        final Pipeline pipeline = Pipeline.builder().name("room").sink(sink).workers(2).batchSize(100)
            .flushInterval(Duration.ofMillis(2)).overflowPolicy(OverflowPolicy.BLOCK).retryPolicy(FAST)
            .spool(SpoolConfig.builder(dir).segmentBytes(64 << 10).maxBytes(128 << 10)
                .fsyncInterval(Duration.ofMillis(5)).fullPolicy(SpoolConfig.FullPolicy.REFUSE).build())
            .meterRegistry(registry).build();
        final SourceHandle source = pipeline.source(1);
        long seq = 0;
        while (!pipeline.stats().spoolFull()) {
            assertTrue(seq < 1_000_000, "the spool never filled: " + pipeline.stats());
            for (int i = 0; i < 100; i++) {
                source.record((short) 1, seq++);
            }
            final long upTo = seq;
            Await.until(Duration.ofSeconds(10), () -> pipeline.stats().pending() == 0
                && pipeline.stats().ingested() == upTo, "resolved: " + pipeline.stats());
        }
        final Gauge bytes = registry.get("spillway.spool.bytes").gauge();
        final double bytesWhenFull = bytes.value();
        final long spooledWhenFull = pipeline.stats().spooled();
        assertEquals(1.0, registry.get("spillway.spool.full").gauge().value());

        up.set(true);
        Await.until(Duration.ofSeconds(20), () -> !pipeline.stats().spoolFull(),
            "not full once the sink takes a batch: " + pipeline.stats());
        assertEquals(0.0, registry.get("spillway.spool.full").gauge().value());
        assertEquals(bytesWhenFull, bytes.value(), "no segment freed yet: the room is the sink's");
        assertTrue(pipeline.stats().spooled() >= spooledWhenFull - 100, "one batch replayed at most: "
            + pipeline.stats());
        for (int i = 0; i < 100; i++) {
            source.record((short) 1, seq++); // taken: written live
        }
        replayGate.countDown();
        final long ingested = seq;
        Await.until(Duration.ofSeconds(20), () -> pipeline.stats().spooled() == 0
            && pipeline.stats().pending() == 0 && pipeline.stats().ingested() == ingested, "replayed: "
            + pipeline.stats());
        assertEquals(0.0, bytes.value(), "replayed to the end");
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(10));
        assertTrue(stats.isBalanced(), stats.toString());
        assertTrue(stats.failed() > 0, "the refused batches failed: " + stats);
        synchronized (keys) {
            assertEquals(keys.size(), new HashSet<>(keys).size(), "no duplicates");
            assertEquals(stats.written(), keys.size());
        }
        assertEquals(seq, stats.written() + stats.failed(), stats.toString());
    }

    /**
     * Without any acknowledgement scope (every producer was promised acceptance only), drop-oldest-segment still
     * makes room by dropping the oldest segments; their events are counted as dropped, reason spool_full.
     */
    @Test
    void withoutCommitAcknowledgementsAFullSpoolDropsItsOldestSegmentsAndCountsThem() {
        final SwitchableSink sink = new SwitchableSink("run-1");
        sink.up.set(false);
        final SimpleMeterRegistry registry = new SimpleMeterRegistry();
        final Pipeline pipeline = Pipeline.builder().name("drop").sink(sink).workers(1).batchSize(100)
            .flushInterval(Duration.ofMillis(2)).overflowPolicy(OverflowPolicy.BLOCK).retryPolicy(FAST)
            .spool(tinySpool()).meterRegistry(registry).build();
        final SourceHandle source = pipeline.source(1);
        for (int i = 0; i < 20_000; i++) {
            source.record((short) 1, i);
        }
        Await.until(Duration.ofSeconds(20), () -> pipeline.stats().pending() == 0, "resolved: " + pipeline.stats());
        final PipelineStats stats = pipeline.stats();
        assertTrue(stats.isBalanced(), stats::toString);
        assertTrue(stats.droppedSpoolFull() > 0, stats::toString);
        assertEquals(0, stats.failed(), "dropping made room: nothing refused " + stats);
        assertFalse(stats.spoolFull());
        assertEquals(20_000, stats.spooled() + stats.droppedSpoolFull(), stats::toString);
        assertEquals((double) stats.droppedSpoolFull(), registry.get("spillway.events.dropped")
            .tag("reason", "spool_full").functionCounter().count());
        pipeline.close(Duration.ofSeconds(5));
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
