package dev.spillway.telemetry.timescale;

import dev.spillway.telemetry.OverflowPolicy;
import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.SourceHandle;
import dev.spillway.telemetry.SpoolConfig;
import dev.spillway.telemetry.sink.RetryPolicy;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.DedicatedPostgres;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Collectors;
import java.util.stream.LongStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The spool against a real PostgreSQL that goes away: a server of the test's own is stopped under load and
 * started again on the same data directory and port. The "5 minutes" outage is scaled down to the few
 * seconds it takes the spool to hold tens of thousands of events: what is asserted does not depend on the length.
 */
class SpoolOutageFaultTest {

    private static final String DB = "spool";
    /** Give up quickly so the spool, not the retry loop, carries the outage. */
    private static final RetryPolicy BRIEF = RetryPolicy.builder().maxAttempts(3).initialBackoff(Duration.ofMillis(10))
        .maxBackoff(Duration.ofMillis(50)).maxElapsed(Duration.ofSeconds(1)).build();

    @TempDir
    Path dir;
    private DedicatedPostgres pg;
    private String url;

    @BeforeEach
    void startServer() {
        pg = TestDatabase.dedicated(dir.resolve("data"), TestDatabase.freePort());
        pg.createDatabase(DB);
        url = pg.jdbcUrl(DB);
    }

    @AfterEach
    void stopServer() {
        pg.close();
    }

    private TimescaleSink sink() throws Exception {
        return TimescaleSink.builder().jdbcUrl(url).username(pg.user()).password("").poolSize(2)
            .connectionTimeout(Duration.ofMillis(250)).build();
    }

    private EventTable table() {
        return new EventTable(url, pg.user(), "", "telemetry_events");
    }

    private SpoolConfig spool() {
        return SpoolConfig.builder(dir.resolve("spool")).segmentBytes(1L << 20).maxBytes(256L << 20)
            .fsyncInterval(Duration.ofMillis(50)).build();
    }

    private Pipeline pipeline(String name) throws Exception {
        return Pipeline.builder().name(name).sink(sink()).workers(2).ringSize(8192).batchSize(500)
            .flushInterval(Duration.ofMillis(5)).overflowPolicy(OverflowPolicy.BLOCK).retryPolicy(BRIEF)
            .spool(spool()).closeTimeout(Duration.ofSeconds(60)).build();
    }

    private void assertEverySequenceOnce(int sources) {
        for (int s = 0; s < sources; s++) {
            final List<Long> seqs = table().sequences(s);
            assertEquals(LongStream.range(0, seqs.size()).boxed().collect(Collectors.toList()), seqs,
                "source " + s + " has every sequence from 0, once");
        }
    }

    @Test
    void databaseStoppedUnderLoadSpoolsGrowsThenDrainsToZeroWithEveryEventOnce() throws Exception {
        final Pipeline pipeline = pipeline("outage");
        final AtomicBoolean produce = new AtomicBoolean(true);
        final AtomicBoolean paused = new AtomicBoolean();
        final Thread producer = new Thread(() -> {
            final SourceHandle[] sources = new SourceHandle[4];
            for (int s = 0; s < sources.length; s++) {
                sources[s] = pipeline.source(s);
            }
            for (long i = 0; produce.get(); i++) {
                while (paused.get() && produce.get()) {
                    LockSupport.parkNanos(100_000);
                }
                sources[(int) (i % sources.length)].record((short) 1, i);
                if (i % 500 == 0) {
                    LockSupport.parkNanos(20_000_000); // paced: about 25k events/s at most
                }
            }
        }, "producer");
        producer.start();
        Await.until(Duration.ofSeconds(30), () -> pipeline.stats().written() >= 5_000, "first rows written");

        pg.stop();
        Await.until(Duration.ofSeconds(60), () -> pipeline.stats().spooled() >= 20_000,
            "the spool grows while the database is down: " + pipeline.stats());
        // A quiescent point in the middle of the outage: producers paused, everything resolved.
        paused.set(true);
        Await.until(Duration.ofSeconds(30), () -> pipeline.stats().pending() == 0, "resolved: " + pipeline.stats());
        final PipelineStats during = pipeline.stats();
        assertTrue(during.isBalanced(), during.toString());
        assertEquals(0, during.failed(), "nothing failed: it is on disk " + during);
        assertTrue(during.spooled() >= 20_000, during.toString());
        paused.set(false);

        pg.startServer();
        final long writtenAtRestart = pipeline.stats().written();
        Await.until(Duration.ofSeconds(120), () -> pipeline.stats().spooled() == 0
                && pipeline.stats().written() >= writtenAtRestart + during.spooled() + 5_000,
            "the spool drains to zero while live traffic goes on: " + pipeline.stats());
        produce.set(false);
        producer.join(30_000);
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(60));

        assertTrue(stats.isBalanced(), stats.toString());
        assertEquals(0, stats.failed() + stats.overwritten() + stats.rejected(), stats.toString());
        assertEquals(0, stats.spooled());
        assertEquals(stats.ingested(), stats.written());
        assertTrue(stats.batchesReplayed() > 0 && stats.batchesReplayed() == stats.batchesSpooled(), stats.toString());
        table().assertExactlyOnce(stats.written());
        assertEverySequenceOnce(4);
    }

    /**
     * A run that ends during the outage leaves its batches in the spool; the next run (a new sink, so a new run
     * id) replays them under the first run's ledger keys. A torn tail (a crash mid-append, simulated by cutting the
     * last segment at a random byte) loses only the torn batch: it is skipped and counted, the rest replays once.
     */
    @Test
    void aSpoolLeftByACrashedRunReplaysAfterRestartSkippingTheTornTailWithoutDuplicates() throws Exception {
        final TimescaleSink firstSink = sink();
        final Pipeline first = Pipeline.builder().name("first").sink(firstSink).workers(1).batchSize(100)
            .flushInterval(Duration.ofMillis(5)).overflowPolicy(OverflowPolicy.BLOCK).retryPolicy(BRIEF)
            .spool(spool()).build();
        final SourceHandle source = first.source(7);
        pg.stop();
        for (int i = 0; i < 1_000; i++) {
            source.record((short) 1, i);
        }
        final PipelineStats firstStats = first.close(Duration.ofSeconds(30));
        assertTrue(firstStats.isBalanced(), firstStats.toString());
        assertEquals(1_000, firstStats.spooled(), firstStats.toString());

        // The crash: the last record of the segment is cut at a random byte.
        final Path segment;
        try (Stream<Path> s = Files.list(dir.resolve("spool"))) {
            segment = s.filter(p -> p.toString().endsWith(".seg")).sorted().reduce((a, b) -> b).orElseThrow();
        }
        final long size = Files.size(segment);
        final long lastRecord = 8 + 8 + 8 + 1 + firstSink.runId().length() + 8 + 4 + 1 + 30L * 100;
        final long cut = size - lastRecord + 1 + new Random(13).nextInt((int) lastRecord - 1);
        try (FileChannel ch = FileChannel.open(segment, StandardOpenOption.WRITE)) {
            ch.truncate(cut);
        }

        pg.startServer();
        final Pipeline second = pipeline("second");
        Await.until(Duration.ofSeconds(60), () -> second.stats().spooled() == 0 && second.stats().written() == 900,
            "the spool left by the first run is replayed: " + second.stats());
        final PipelineStats stats = second.close(Duration.ofSeconds(30));
        assertTrue(stats.isBalanced(), stats.toString());
        assertEquals(900, stats.spoolRecovered(), "the torn batch of 100 is not recovered");
        assertEquals(900, stats.written());
        table().assertExactlyOnce(900);
        assertEquals(LongStream.range(0, 900).boxed().collect(Collectors.toList()), table().sequences(7),
            "everything before the torn record, in order, once");
        // Batches that never reached the sink replay in groups, one ledger row (the group's first key) each.
        final long ledgerRows = table().queryLong("select count(*) from telemetry_events_batches where run_id = '"
            + firstSink.runId() + "'");
        assertTrue(ledgerRows >= 1 && ledgerRows <= 9, "replayed under the first run's ledger keys: " + ledgerRows);
    }
}
