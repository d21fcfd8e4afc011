package dev.spillway.telemetry.timescale;

import dev.spillway.telemetry.OverflowPolicy;
import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.SourceHandle;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.PgCommitCuttingProxy;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fault 2: the connection dies after the server committed a batch but before the client got the acknowledgement
 * (a proxy swallows the server's CommandComplete for COMMIT and closes both sides). The client sees SQLSTATE 08006,
 * an unknown outcome; the pipeline retries the same batch, and the ledger must turn that retry into a no-op.
 */
class CommitCutFaultTest {

    private static TestDatabase db;
    private static PgCommitCuttingProxy proxy;

    @BeforeAll
    static void start() throws Exception {
        db = TestDatabase.create("commitcut");
        proxy = PgCommitCuttingProxy.start(db.host(), db.port());
    }

    @AfterAll
    static void stop() throws Exception {
        proxy.close();
        db.close();
    }

    @Test
    void retryAfterLostCommitAckDoesNotDuplicate() throws Exception {
        final TimescaleSink sink = TimescaleSink.builder().jdbcUrl(proxy.jdbcUrl(db.name())).username(db.user())
            .password(db.password()).poolSize(1).connectionTimeout(Duration.ofSeconds(2)).build();
        final PipelineStats stats;
        try (LogCapture log = new LogCapture(TimescaleSink.class)) {
            final Pipeline pipeline = Pipeline.builder().name("commitcut").sink(sink).workers(1).batchSize(500)
                .overflowPolicy(OverflowPolicy.BLOCK).retryPolicy(PoisonedRowPipelineTest.fastRetries()).build();
            final SourceHandle[] sources = {pipeline.source(1), pipeline.source(2)};
            // Warm-up batch: written normally, so the cut below hits a steady-state connection.
            for (int i = 0; i < 100; i++) {
                sources[i % 2].record((short) 1, i);
            }
            Await.until(Duration.ofSeconds(20), () -> pipeline.stats().written() == 100, "warm-up written");
            proxy.cutNextCommit();
            for (int i = 0; i < 1000; i++) {
                sources[i % 2].record((short) 1, i);
            }
            Await.until(Duration.ofSeconds(30), () -> pipeline.stats().written() == 1100,
                "all events written despite the cut: " + pipeline.stats());
            stats = pipeline.close(Duration.ofSeconds(30));
            assertEquals(1, proxy.cuts(), "exactly one commit acknowledgement was cut");
            assertTrue(log.messages("DEBUG").stream().anyMatch(m -> m.contains("committed by an earlier attempt")),
                "the retry found the batch in the ledger: " + log.messages("DEBUG"));
        }
        assertTrue(stats.isBalanced(), stats.toString());
        assertEquals(1100, stats.ingested());
        assertEquals(1100, stats.written());
        assertEquals(0, stats.failed());
        assertEquals(0, stats.rejected());
        assertTrue(stats.retries() >= 1, "the cut batch was retried: " + stats);
        final EventTable table = new EventTable(db.jdbcUrl(), db.user(), db.password(), "telemetry_events");
        table.assertExactlyOnce(stats.written());
        assertEquals(550, table.sequences(1).size());
        assertEquals(stats.batchesWritten(), table.queryLong("select count(*) from telemetry_events_batches"
            + " where run_id = '" + sink.runId() + "'"), "one ledger row per written batch");
    }
}
