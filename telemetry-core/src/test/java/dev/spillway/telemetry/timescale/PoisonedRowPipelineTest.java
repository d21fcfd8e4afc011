package dev.spillway.telemetry.timescale;

import dev.spillway.telemetry.OverflowPolicy;
import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fault 4: one row of a batch violates a CHECK constraint. The sink isolates it by splitting the batch; every
 * other row is written, and the pipeline counts exactly one event as rejected-invalid.
 */
class PoisonedRowPipelineTest {

    private static TestDatabase db;

    @BeforeAll
    static void createDatabase() {
        db = TestDatabase.create("poisoned");
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    @Test
    void onePoisonedRowIsRejectedAndTheRestCommits() throws Exception {
        // the rows layout: a CHECK constraint exists on a table, not on the blocks view
        final TimescaleSink sink = TimescaleSink.builder().storageLayout(StorageLayout.ROWS).jdbcUrl(db.jdbcUrl()).username(db.user())
            .password(db.password()).build();
        db.execute("alter table telemetry_events add constraint value_is_not_minus_one check (value <> -1)");
        final int sources = 4;
        final int perSource = 250;
        final PipelineStats stats;
        try (LogCapture log = new LogCapture(TimescaleSink.class)) {
            final Pipeline pipeline = Pipeline.builder().name("poisoned").sink(sink).batchSize(1000)
                .overflowPolicy(OverflowPolicy.BLOCK).retryPolicy(fastRetries()).build();
            for (int i = 0; i < perSource; i++) {
                for (int s = 0; s < sources; s++) {
                    final double value = s == 2 && i == 123 ? -1.0 : i; // the poisoned row: source 2, seq 123
                    assertTrue(pipeline.ingest(1_700_000_000_000_000_000L + i * 1_000_000L, s, (short) 1, value, i));
                }
            }
            stats = pipeline.close(Duration.ofSeconds(30));
            assertEquals(1, log.messages("WARN").stream().filter(m -> m.contains("rejected 1 of")
                && m.contains("source=2 seq=123") && m.contains("23514")).count(), log.messages("WARN").toString());
        }
        assertTrue(stats.isBalanced(), stats.toString());
        assertEquals(1000, stats.ingested());
        assertEquals(999, stats.written());
        assertEquals(1, stats.rejectedInvalid());
        assertEquals(0, stats.failed());
        assertEquals(0, stats.overwritten());
        final EventTable table = new EventTable(db.jdbcUrl(), db.user(), db.password(), "telemetry_events");
        table.assertExactlyOnce(stats.written());
        assertEquals(0, table.queryLong("select count(*) from telemetry_events where source_id = 2 and seq = 123"));
        assertEquals(perSource - 1, table.sequences(2).size());
    }

    static dev.spillway.telemetry.sink.RetryPolicy fastRetries() {
        return dev.spillway.telemetry.sink.RetryPolicy.builder().maxAttempts(5).initialBackoff(Duration.ofMillis(10))
            .maxBackoff(Duration.ofMillis(100)).jitter(0).maxElapsed(Duration.ofSeconds(20)).build();
    }
}
