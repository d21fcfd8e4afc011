package dev.spillway.telemetry.timescale;

import dev.spillway.telemetry.OverflowPolicy;
import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.SpoolConfig;
import dev.spillway.telemetry.sink.RetryPolicy;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.DedicatedPostgres;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.LongStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * With the default retry budget (8 attempts, 60 s), a batch whose write finds the database unreachable goes to the
 * spool at once instead of spending the budget: before, the first batches of an outage held the workers for a
 * minute while the ring filled, and commit-acknowledged requests timed out (503) although the spool had room.
 * A real PostgreSQL of the test's own is stopped; commit-acknowledged requests made while it is down are confirmed
 * (durably spooled) without a single retry; after it is back the spool replays in order, every event once.
 */
class SpoolOnUnreachableDatabaseTest {

    private static final String DB = "unreachable";
    private static final int SOURCES = 4;
    private static final int REQUEST = 250;

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

    @ParameterizedTest(name = "routed by source: {0}")
    @ValueSource(booleans = {false, true})
    void withTheDefaultRetryBudgetAnUnreachableDatabaseSendsBatchesToTheSpoolAtOnce(boolean routeBySource)
        throws Exception {
        final TimescaleSink sink = TimescaleSink.builder().jdbcUrl(url).username(pg.user()).password("").poolSize(2)
            .connectionTimeout(Duration.ofMillis(500)).build();
        final Pipeline pipeline = Pipeline.builder().name("unreachable").sink(sink).workers(2)
            .routeBySource(routeBySource).ringSize(8192).batchSize(500).flushInterval(Duration.ofMillis(5))
            .overflowPolicy(OverflowPolicy.BLOCK).retryPolicy(RetryPolicy.defaults())
            .spool(SpoolConfig.builder(dir.resolve("spool")).segmentBytes(1L << 20).maxBytes(64L << 20)
                .fsyncInterval(Duration.ofMillis(20)).build())
            .closeTimeout(Duration.ofSeconds(30)).build();
        final long[] next = new long[SOURCES];
        assertTrue(request(pipeline, next).get(30, TimeUnit.SECONDS), "written while the database is up");

        pg.stop();
        final List<CompletableFuture<Boolean>> answers = new ArrayList<>();
        for (int r = 0; r < 40; r++) {
            answers.add(request(pipeline, next));
        }
        for (CompletableFuture<Boolean> answer : answers) {
            // The default budget would hold the first batches for a minute; the spool confirms them long before.
            assertTrue(answer.get(30, TimeUnit.SECONDS), "confirmed while the database is down: "
                + pipeline.stats());
        }
        final PipelineStats down = pipeline.stats();
        assertEquals(0, down.retries(), "no batch spent the retry budget on an unreachable database: " + down);
        assertEquals(0, down.failed(), down.toString());
        assertEquals(40L * REQUEST, down.spooled(), "every request made during the outage is in the spool: " + down);

        pg.startServer();
        Await.until(Duration.ofSeconds(120), () -> pipeline.stats().spooled() == 0,
            "the spool replays once the database is back: " + pipeline.stats());
        assertTrue(request(pipeline, next).get(30, TimeUnit.SECONDS), "written after the outage");
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(30));
        assertTrue(stats.isBalanced(), stats.toString());
        assertEquals(0, stats.failed() + stats.overwritten() + stats.rejected(), stats.toString());
        assertEquals(42L * REQUEST, stats.written(), stats.toString());
        final EventTable table = new EventTable(url, pg.user(), "", "telemetry_events");
        table.assertExactlyOnce(stats.written());
        for (int s = 0; s < SOURCES; s++) {
            final List<Long> seqs = table.sequences(s);
            assertEquals(LongStream.range(0, next[s]).boxed().collect(Collectors.toList()), seqs,
                "source " + s + " has every sequence once");
        }
    }

    /** A commit-acknowledged request of {@value #REQUEST} events over the sources, as the collector makes one. */
    private static CompletableFuture<Boolean> request(Pipeline pipeline, long[] next) {
        final long scope = pipeline.openAckScope();
        long from = -1;
        long to = -1;
        for (int i = 0; i < REQUEST; i++) {
            final int source = i % SOURCES;
            final long seq = next[source]++;
            final long claimed = pipeline.ingestClaimed(1_700_000_000_000_000_000L + seq * 1_000L + source, source,
                (short) 1, seq, seq);
            from = from < 0 ? claimed : from;
            to = claimed;
        }
        return pipeline.whenResolved(from, to).whenComplete((ok, e) -> pipeline.closeAckScope(scope));
    }
}
