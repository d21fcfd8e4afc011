package dev.spillway.telemetry.timescale;

import dev.spillway.telemetry.OverflowPolicy;
import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.SourceHandle;
import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.RetryPolicy;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.DedicatedPostgres;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import java.util.stream.LongStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Faults 1 and 3: the database goes away under a running pipeline (a PostgreSQL server of the test's own, with a
 * fixed data directory and port, stopped with a fast shutdown and started again on the same directory and port).
 */
class DatabaseRestartFaultTest {

    private static final String DB = "restart";

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
        return sink(Duration.ofMillis(250));
    }

    private TimescaleSink sink(Duration connectionTimeout) throws Exception {
        return TimescaleSink.builder().jdbcUrl(url).username(pg.user()).password("").poolSize(2)
            .connectionTimeout(connectionTimeout).build();
    }

    /** True once the restarted server accepts a new session (a loaded machine can take a while to fork one). */
    private boolean acceptsConnections() {
        try (java.sql.Connection c = java.sql.DriverManager.getConnection(url, pg.user(), "")) {
            return c.isValid(1);
        } catch (java.sql.SQLException e) {
            return false;
        }
    }

    private static boolean poolGivesASession(TimescaleSink sink) {
        try (java.sql.Connection c = sink.dataSource().getConnection()) {
            return c.isValid(1);
        } catch (java.sql.SQLException e) {
            return false;
        }
    }

    private EventTable table() {
        return new EventTable(url, pg.user(), "", "telemetry_events");
    }

    /**
     * Fault 1: producers keep going while the server is stopped mid-stream and restarted. With a retry budget
     * longer than the outage nothing may be lost and, thanks to the ledger, nothing duplicated, even for a batch
     * whose commit raced with the shutdown.
     */
    @Test
    void serverRestartMidStreamLosesAndDuplicatesNothing() throws Exception {
        final RetryPolicy patient = RetryPolicy.builder().maxAttempts(1000).initialBackoff(Duration.ofMillis(20))
            .maxBackoff(Duration.ofMillis(200)).maxElapsed(Duration.ofSeconds(90)).build();
        final Pipeline pipeline = Pipeline.builder().name("restart").sink(sink()).workers(2).ringSize(8192)
            .batchSize(500).flushInterval(Duration.ofMillis(5)).overflowPolicy(OverflowPolicy.BLOCK)
            .retryPolicy(patient).closeTimeout(Duration.ofSeconds(60)).build();
        final AtomicBoolean produce = new AtomicBoolean(true);
        final Thread producer = new Thread(() -> {
            final SourceHandle[] sources = new SourceHandle[4];
            for (int s = 0; s < sources.length; s++) {
                sources[s] = pipeline.source(s);
            }
            for (long i = 0; produce.get(); i++) {
                sources[(int) (i % sources.length)].record((short) 1, i);
            }
        }, "producer");
        producer.start();
        Await.until(Duration.ofSeconds(30), () -> pipeline.stats().written() >= 20_000, "first rows written");
        pg.stop();
        final long retriesAtStop = pipeline.stats().retries();
        Await.until(Duration.ofSeconds(30), () -> pipeline.stats().retries() >= retriesAtStop + 3,
            "writes fail while the server is down");
        pg.startServer();
        final long writtenAtRestart = pipeline.stats().written();
        Await.until(Duration.ofSeconds(60), () -> pipeline.stats().written() >= writtenAtRestart + 20_000,
            "writing resumes after the restart: " + pipeline.stats());
        produce.set(false);
        producer.join(30_000);
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(60));

        assertTrue(stats.isBalanced(), stats.toString());
        assertEquals(0, stats.failed(), stats.toString());
        assertEquals(0, stats.overwritten());
        assertEquals(0, stats.rejected());
        assertEquals(stats.ingested(), stats.written());
        assertTrue(stats.retries() > retriesAtStop, stats.toString());
        table().assertExactlyOnce(stats.written());
        for (int s = 0; s < 4; s++) {
            final List<Long> seqs = table().sequences(s);
            assertEquals(LongStream.range(0, seqs.size()).boxed().collect(Collectors.toList()), seqs,
                "source " + s + " has every sequence from 0, once");
        }
    }

    /**
     * Fault 3: the server stays down longer than the retry budget. The batches written meanwhile fail, are counted
     * as failed and handed to the failed-batch handler; the pipeline keeps running and writes later events once
     * the server is back.
     */
    @Test
    void outageLongerThanRetryBudgetFailsThoseBatchesThenRecovers() throws Exception {
        final RetryPolicy brief = RetryPolicy.builder().maxAttempts(3).initialBackoff(Duration.ofMillis(10))
            .maxBackoff(Duration.ofMillis(50)).jitter(0).maxElapsed(Duration.ofSeconds(5)).build();
        final List<Long> handed = Collections.synchronizedList(new ArrayList<>());
        // A 1 s pool timeout: three attempts still exhaust the budget quickly during the outage, while a new
        // session on a loaded machine after the restart does not spuriously exhaust it.
        final TimescaleSink sink = sink(Duration.ofSeconds(1));
        final Pipeline pipeline = Pipeline.builder().name("outage").sink(sink).workers(1)
            .batchSize(100)
            .flushInterval(Duration.ofMillis(5)).overflowPolicy(OverflowPolicy.BLOCK).retryPolicy(brief)
            .failedBatchHandler((EventBatch batch, Throwable cause, int attempts) -> {
                for (int i = 0; i < batch.size(); i++) {
                    handed.add(batch.sequence(i)); // copied: the batch is recycled after the call
                }
            }).build();
        final SourceHandle source = pipeline.source(9);
        for (int i = 0; i < 200; i++) {
            source.record((short) 1, i);
        }
        Await.until(Duration.ofSeconds(20), () -> pipeline.stats().written() == 200, "before the outage");

        pg.stop();
        for (int i = 200; i < 500; i++) {
            source.record((short) 1, i);
        }
        Await.until(Duration.ofSeconds(60), () -> pipeline.stats().failed() == 300,
            "the outage's events fail: " + pipeline.stats());
        assertTrue(pipeline.isRunning());

        pg.startServer();
        Await.until(Duration.ofSeconds(30), this::acceptsConnections, "the restarted server accepts sessions");
        // And the sink's own pool holds a session again: on a loaded machine a new one can take longer than the
        // pool's 1 s timeout, so without this the first batches after the restart could exhaust their budget.
        Await.until(Duration.ofSeconds(30), () -> poolGivesASession(sink), "the sink's pool has a session again");
        for (int i = 500; i < 700; i++) {
            source.record((short) 1, i);
        }
        Await.until(Duration.ofSeconds(30), () -> pipeline.stats().written() == 400,
            "after the outage: " + pipeline.stats());
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(30));

        assertTrue(stats.isBalanced(), stats.toString());
        assertEquals(700, stats.ingested());
        assertEquals(400, stats.written());
        assertEquals(300, stats.failed());
        assertTrue(stats.batchesFailed() >= 3, "300 events in batches of at most 100: " + stats);
        assertEquals(0, stats.overwritten() + stats.rejected());
        final List<Long> handedSorted = new ArrayList<>(handed);
        Collections.sort(handedSorted);
        assertEquals(LongStream.range(200, 500).boxed().collect(Collectors.toList()), handedSorted,
            "the handler got exactly the outage's events, once each");
        table().assertExactlyOnce(stats.written());
        final List<Long> expected = LongStream.concat(LongStream.range(0, 200), LongStream.range(500, 700)).boxed()
            .collect(Collectors.toList());
        assertEquals(expected, table().sequences(9));
    }
}
