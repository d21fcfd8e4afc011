package dev.spillway.telemetry.timescale;

import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.SpoolConfig;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
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
 * Issue 19, item 3: batches still inside a write at the close deadline are spooled when the spool is on, not
 * failed. The table is locked elsewhere (the writes wait on the lock, a socket read no interrupt ends); at the
 * deadline the sink aborts their connections, the workers spool their batches, and the next run replays them:
 * every acknowledged event is in the table once, with either acknowledgement.
 */
class CloseDeadlineSpoolTest {

    private static final long BASE = 1_700_000_000_000_000_000L;
    private static final int EVENTS = 300;
    private static TestDatabase db;

    @TempDir
    Path dir;

    @BeforeAll
    static void createDatabase() {
        db = TestDatabase.create("closespool");
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    private SpoolConfig spool() {
        return SpoolConfig.builder(dir.resolve("spool")).segmentBytes(1L << 20).maxBytes(8L << 20)
            .fsyncInterval(Duration.ofMillis(200)).build();
    }

    private static TimescaleSink sink(String table, String pool) throws Exception {
        // the rows layout: the test locks the events table itself
        return TimescaleSink.builder().storageLayout(StorageLayout.ROWS).jdbcUrl(db.jdbcUrl()).username(db.user()).password(db.password()).table(table)
            .poolName(pool).build();
    }

    /**
     * @param ack {@code accept}: acknowledged once {@code ingest} took the event; {@code commit}: once
     *     {@code whenResolved} confirmed it (one request per 50 events)
     */
    @ParameterizedTest(name = "ack={0}, routed by source: {1}")
    @CsvSource({"accept,false", "commit,false", "commit,true"})
    void writesStuckOnALockAtTheDeadlineAreSpooledAndLandOnceAfterRestart(String ack, boolean routeBySource)
        throws Exception {
        final String table = "locked_" + ack + (routeBySource ? "_routed" : "");
        final String pool = table.replace('_', '-');
        final List<Long> acknowledged = new ArrayList<>();
        final PipelineStats stats;
        try (Connection locker = db.connect()) {
            final TimescaleSink sink = sink(table, pool);
            locker.setAutoCommit(false);
            try (Statement st = locker.createStatement()) {
                st.execute("lock table " + table + " in access exclusive mode");
            }
            final Pipeline pipeline = Pipeline.builder().name(pool).sink(sink).workers(2).batchSize(50)
                .routeBySource(routeBySource).flushInterval(Duration.ofMillis(5)).spool(spool()).build();
            final List<CompletableFuture<Boolean>> requests = new ArrayList<>();
            final List<long[]> requestSeqs = new ArrayList<>();
            for (int r = 0; r < EVENTS / 50; r++) {
                long from = -1;
                long to = -1;
                for (int i = r * 50; i < (r + 1) * 50; i++) {
                    final long ring = pipeline.ingestClaimed(BASE + i * 1_000L, i % 8, (short) 0, i, i);
                    assertTrue(ring >= 0);
                    from = from < 0 ? ring : from;
                    to = ring;
                    if (ack.equals("accept")) {
                        acknowledged.add((long) i);
                    }
                }
                requests.add(pipeline.whenResolved(from, to));
                requestSeqs.add(new long[] {r * 50L, (r + 1) * 50L});
            }
            Await.until(Duration.ofSeconds(20), () -> lockWaiters(table) == 2, "both workers' writes wait on the lock");
            assertTrue(requests.stream().noneMatch(CompletableFuture::isDone), "nothing confirmed while locked");

            stats = pipeline.close(Duration.ofMillis(500));
            assertTrue(stats.isBalanced(), stats::toString);
            assertEquals(0, stats.failed(), "nothing inside a write at the deadline failed: " + stats);
            assertEquals(EVENTS, stats.spooled(), stats::toString);
            assertEquals(0, stats.written());
            for (int r = 0; r < requests.size(); r++) {
                final boolean durable = requests.get(r).get(10, TimeUnit.SECONDS);
                assertTrue(durable, "request " + r + ": spooled and fsynced at close, so confirmed");
                if (ack.equals("commit")) {
                    LongStream.range(requestSeqs.get(r)[0], requestSeqs.get(r)[1]).forEach(acknowledged::add);
                }
            }
            locker.rollback(); // the lock goes; a transaction the abort did not end would commit now
        }
        Await.until(Duration.ofSeconds(20), () -> lockWaiters(table) == 0 && activeWriters(pool) == 0,
            "the aborted backends are gone");
        assertEquals(0, db.queryLong("select count(*) from " + table), "the aborted writes rolled back");

        // The restart: a new sink (a new run id) on the same spool replays what the deadline spooled.
        final Pipeline next = Pipeline.builder().name(pool + "-2").sink(sink(table, pool + "-2")).workers(2)
            .batchSize(50).flushInterval(Duration.ofMillis(5)).spool(spool()).build();
        Await.until(Duration.ofSeconds(30), () -> next.stats().written() == EVENTS && next.stats().spooled() == 0,
            "the spool replays: " + next.stats());
        final PipelineStats after = next.close(Duration.ofSeconds(10));
        assertTrue(after.isBalanced(), after::toString);
        assertEquals(EVENTS, after.spoolRecovered());
        final EventTable rows = new EventTable(db.jdbcUrl(), db.user(), db.password(), table);
        rows.assertExactlyOnce(EVENTS);
        final List<Long> stored = new ArrayList<>();
        for (int s = 0; s < 8; s++) {
            stored.addAll(rows.sequences(s));
        }
        final List<Long> missing = acknowledged.stream().filter(seq -> !stored.contains(seq)).collect(Collectors.toList());
        assertEquals(List.of(), missing, "acknowledged events lost");
        assertEquals(EVENTS, acknowledged.size());
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
