package dev.spillway.telemetry.timescale;

import dev.spillway.telemetry.OverflowPolicy;
import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.RetryPolicy;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.LongStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The TimescaleSink's failure paths against a real PostgreSQL: a bad-row split interrupted by a persistent
 * transient failure (the table must hold exactly the rows counted written), and writes stuck on a lock at the
 * close deadline (aborted, rolled back, never landing later).
 */
class SinkFailureTest {

    private static final long BASE = 1_700_000_000_000_000_000L;
    private static TestDatabase db;

    @BeforeAll
    static void createDatabase() {
        db = TestDatabase.create("sinkfail");
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    private static EventTable table(String name) {
        return new EventTable(db.jdbcUrl(), db.user(), db.password(), name);
    }

    /**
     * Defect 8: row 10 violates a CHECK constraint (the batch is split), and every part holding row 900 fails with
     * a transient error (a trigger raising 40001) until the retries are spent. The committed half is counted
     * written, the refused row invalid, and only the uncommitted rest failed and handed over: the table holds
     * exactly the rows counted written.
     */
    @Test
    void aSplitBatchGivenUpPartWayCountsItsCommittedRowsAsWritten() throws Exception {
        final String name = "split_partial";
        // the rows layout: its tests lock or constrain the events table itself
        final TimescaleSink sink = TimescaleSink.builder().storageLayout(StorageLayout.ROWS).jdbcUrl(db.jdbcUrl()).username(db.user())
            .password(db.password()).table(name).poolName("split-partial").build();
        db.execute("alter table " + name + " add constraint no_minus_one check (value <> -1)");
        db.execute("create function " + name + "_flaky() returns trigger language plpgsql as $$ begin "
            + "if new.value = -2 then raise exception 'simulated serialization failure' using errcode = '40001'; "
            + "end if; return new; end $$");
        db.execute("create trigger flaky before insert on " + name + " for each row execute function " + name
            + "_flaky()");
        final List<Long> handed = new ArrayList<>();
        final RetryPolicy brief = RetryPolicy.builder().maxAttempts(3).initialBackoff(Duration.ofMillis(5))
            .maxBackoff(Duration.ofMillis(20)).jitter(0).build();
        final Pipeline pipeline = Pipeline.builder().name("split-partial").sink(sink).workers(1).batchSize(1000)
            .flushInterval(Duration.ofHours(1)).retryPolicy(brief).overflowPolicy(OverflowPolicy.BLOCK)
            .failedBatchHandler((EventBatch batch, Throwable cause, int attempts) -> {
                synchronized (handed) {
                    for (int i = 0; i < batch.size(); i++) {
                        handed.add(batch.sequence(i));
                    }
                }
            }).build();
        for (int i = 0; i < 1000; i++) {
            final double value = i == 10 ? -1 : i == 900 ? -2 : i;
            assertTrue(pipeline.ingest(BASE + i * 1_000L, 1, (short) 0, value, i));
        }
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(30));
        assertTrue(stats.isBalanced(), stats::toString);
        assertEquals(1, stats.rejectedInvalid(), stats::toString);
        assertEquals(499, stats.written(), "the half [0, 500) minus row 10 committed: " + stats);
        assertEquals(500, stats.failed(), "only the half holding row 900 failed: " + stats);
        assertEquals(LongStream.range(500, 1000).boxed().collect(Collectors.toList()), handed,
            "the handler got exactly the uncommitted rows");
        final EventTable table = table(name);
        table.assertExactlyOnce(stats.written());
        final Set<Long> stored = new TreeSet<>(table.sequences(1));
        final Set<Long> expected = LongStream.range(0, 500).filter(i -> i != 10).boxed()
            .collect(Collectors.toCollection(TreeSet::new));
        assertEquals(expected, stored);
    }

    /**
     * Defect 4 with the real sink: the writes block on a table lock held elsewhere (a socket read that no interrupt
     * ends). At the close deadline the sink aborts their connections: close keeps its deadline, the batches are
     * failed and handed over, and once the lock is released nothing of them lands. The same with the batches
     * routed to the workers by source (eight sources over two lanes).
     */
    @ParameterizedTest(name = "routed by source: {0}")
    @ValueSource(booleans = {false, true})
    void writesStuckOnALockAreAbortedAtTheDeadlineAndNeverLandLater(boolean routeBySource) throws Exception {
        final String name = routeBySource ? "stuck_on_lock_routed" : "stuck_on_lock";
        final String poolName = name.replace('_', '-');
        // the rows layout: its tests lock or constrain the events table itself
        final TimescaleSink sink = TimescaleSink.builder().storageLayout(StorageLayout.ROWS).jdbcUrl(db.jdbcUrl()).username(db.user())
            .password(db.password()).table(name).poolName(poolName).build();
        final List<Long> handed = new ArrayList<>();
        try (Connection locker = db.connect()) {
            locker.setAutoCommit(false);
            try (Statement st = locker.createStatement()) {
                st.execute("lock table " + name + " in access exclusive mode");
            }
            final Pipeline pipeline = Pipeline.builder().name(poolName).sink(sink).workers(2).batchSize(50)
                .routeBySource(routeBySource).flushInterval(Duration.ofMillis(5)).failedBatchHandler((batch, cause, attempts) -> {
                    synchronized (handed) {
                        for (int i = 0; i < batch.size(); i++) {
                            handed.add(batch.sequence(i));
                        }
                    }
                }).build();
            for (int i = 0; i < 300; i++) {
                assertTrue(pipeline.ingest(BASE + i * 1_000L, i % 8, (short) 0, i, i));
            }
            Await.until(Duration.ofSeconds(20), () -> lockWaiters(name) == 2, "both writes wait on the lock");
            final Duration timeout = Duration.ofMillis(500);
            final long start = System.nanoTime();
            final PipelineStats stats = pipeline.close(timeout);
            final long took = System.nanoTime() - start;
            assertTrue(took < timeout.plus(Pipeline.CLOSE_SLACK).toNanos() + TimeUnit.SECONDS.toNanos(1),
                "close took " + TimeUnit.NANOSECONDS.toMillis(took) + " ms");
            assertTrue(stats.isBalanced(), stats::toString);
            assertEquals(300, stats.failed(), stats::toString);
            assertEquals(0, stats.written());
            synchronized (handed) {
                assertEquals(LongStream.range(0, 300).boxed().collect(Collectors.toSet()), new TreeSet<>(handed));
                assertEquals(300, handed.size(), "each event handed over once");
            }
            locker.commit(); // release the lock: an abandoned transaction that survived would now commit
        }
        Await.until(Duration.ofSeconds(20), () -> lockWaiters(name) == 0 && activeWriters(poolName) == 0,
            "the aborted backends are gone");
        assertEquals(0, table(name).count(), "nothing of the aborted writes landed");
        assertEquals(0, db.queryLong("select count(*) from " + name + "_batches"), "no ledger row either");
    }

    private static long lockWaiters(String table) {
        return db.queryLong("select count(*) from pg_locks l join pg_class c on c.oid = l.relation "
            + "where c.relname = '" + table + "' and not l.granted");
    }

    private static long activeWriters(String applicationName) {
        return db.queryLong("select count(*) from pg_stat_activity where application_name = '" + applicationName
            + "' and state <> 'idle'");
    }
}
