package dev.spillway.statuspage;

import dev.spillway.telemetry.OverflowPolicy;
import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.SpoolConfig;
import dev.spillway.telemetry.sink.RetryPolicy;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.DedicatedPostgres;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.telemetry.timescale.StorageLayout;
import dev.spillway.telemetry.timescale.TimescaleSink;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.postgresql.ds.PGSimpleDataSource;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Results replayed from the spool after a database outage count in the rollups, however old their times: a real
 * PostgreSQL of the test's own is stopped while a monitor's checks of an hour three hours back are ingested (they go
 * to the pipeline's spool), started again, and the spool replays them. Before, the plain-PostgreSQL rollups only
 * redid the last 5 minutes and such results were never counted; now the batch ledger's event-time range of each
 * replayed batch marks their minutes, and the next refresh recomputes those minutes, the hour and the day. For both
 * storage layouts (rows, and blocks read from the blocks and rows tables).
 */
class RollupSpoolReplayTest {

    private static final double EPS = 1e-9;

    @TempDir
    Path dir;
    private DedicatedPostgres pg;
    private Pipeline pipeline;

    @AfterEach
    void stop() {
        if (pipeline != null) {
            pipeline.close(Duration.ofSeconds(30));
        }
        if (pg != null) {
            pg.close();
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(StorageLayout.class)
    void checksReplayedFromTheSpoolAfterAnOutageAreFoldedIn(StorageLayout layout) throws Exception {
        pg = TestDatabase.dedicated(dir.resolve("data"), TestDatabase.freePort());
        pg.createDatabase("replay");
        final PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setUrl(pg.jdbcUrl("replay"));
        ds.setUser(pg.user());
        final TimescaleSink sink = TimescaleSink.builder().jdbcUrl(pg.jdbcUrl("replay")).username(pg.user())
            .password("").poolSize(2).connectionTimeout(Duration.ofMillis(500)).table(CheckSeeder.EVENTS)
            .storageLayout(layout).build();
        CheckSeeder.createSchema(ds);
        final Instant now = Instant.now().truncatedTo(ChronoUnit.MINUTES);
        final Instant hour = now.truncatedTo(ChronoUnit.HOURS).minus(3, ChronoUnit.HOURS);
        final int up;
        final int duration;
        try (Connection c = ds.getConnection()) {
            CheckSeeder.monitor(c, "replayed", 60_000, true, "UP", hour, null, null);
            up = CheckSeeder.source(c, "replayed", "up");
            duration = CheckSeeder.source(c, "replayed", "duration_ms");
        }
        pipeline = Pipeline.builder().name("replay").sink(sink).workers(1).ringSize(4096).batchSize(500)
            .flushInterval(Duration.ofMillis(5)).overflowPolicy(OverflowPolicy.BLOCK).retryPolicy(RetryPolicy.defaults())
            .spool(SpoolConfig.builder(dir.resolve("spool")).segmentBytes(1L << 20).maxBytes(16L << 20)
                .fsyncInterval(Duration.ofMillis(20)).build())
            .closeTimeout(Duration.ofSeconds(30)).build();
        final CheckRollups rollups = new CheckRollups(ds, CheckSeeder.EVENTS, () -> now);

        // The first half hour: 30 checks (durations 1..30 ms), written while the database is up.
        final long[] seq = new long[2];
        ingest(hour, 0, 30, up, duration, seq);
        // And a check of the current minute: the rollups are current, a look-back would not reach 3 hours back.
        assertTrue(pipeline.ingest(now.toEpochMilli() * 1_000_000L, up, (short) 4, 1, seq[0]++));
        assertTrue(pipeline.ingest(now.toEpochMilli() * 1_000_000L, duration, (short) 1, 5, seq[1]++));
        Await.until(Duration.ofSeconds(60), () -> pipeline.stats().written() == 62, "written: " + pipeline.stats());
        rollups.refreshAll();
        assertEquals(30, hourChecks(ds, hour), "the first half hour counted");
        assertEquals(null, rollups.takeOldestLate(), "a first start marks everything; nothing is late yet");
        final UptimeRuns runs = new UptimeRuns(ds, () -> now);
        runs.refresh();
        final StatusQueries queries = new StatusQueries(ds, CheckSeeder.EVENTS);
        final long upBefore = queries.uptime("replayed", StatusQueries.Range.DAY, now).upMs();

        // The database goes away; the second half hour of that (long closed) hour goes to the spool.
        pg.stop();
        ingest(hour, 30, 60, up, duration, seq);
        Await.until(Duration.ofSeconds(60), () -> pipeline.stats().spooled() == 60, "spooled: " + pipeline.stats());
        pg.startServer();
        Await.until(Duration.ofSeconds(120), () -> pipeline.stats().spooled() == 0 && pipeline.stats().written() == 122,
            "the spool replays: " + pipeline.stats());
        assertEquals(30, hourChecks(ds, hour), "not counted before the next refresh");

        runs.refresh();
        assertEquals(upBefore, queries.uptime("replayed", StatusQueries.Range.DAY, now).upMs(),
            "the uptime runs alone do not see results stored 3 hours late");
        rollups.refreshAll();
        assertEquals(60, hourChecks(ds, hour), "the replayed checks count, 3 hours after their time");
        final Instant late = rollups.takeOldestLate();
        assertEquals(hour.plus(Duration.ofMinutes(30)), late, "the replayed batches' oldest time");
        runs.rewind(late);
        runs.refresh();
        assertEquals(upBefore + 30 * 60_000L, queries.uptime("replayed", StatusQueries.Range.DAY, now).upMs(),
            "and in the uptime figures: 30 more minutes up");
        assertEquals(61, query(ds, "SELECT sum(checks) FROM " + CheckRollups.MINUTE + " WHERE monitor = 'replayed'"),
            "the hour's 60 minutes and the current one");
        assertEquals(60, query(ds, "SELECT sum(checks) FROM " + CheckRollups.DAY + " WHERE monitor = 'replayed' AND "
            + "bucket = '" + hour.truncatedTo(ChronoUnit.DAYS) + "'"));
        // Durations 1..60 ms over the hour: percentile_cont 0.95 = 57.05, 0.5 = 30.5, exactly as from raw rows.
        assertEquals(57.05, query(ds, "SELECT p95_ms FROM " + CheckRollups.HOUR + " WHERE monitor = 'replayed'"), EPS);
        assertEquals(30.5, query(ds, "SELECT p50_ms FROM " + CheckRollups.HOUR + " WHERE monitor = 'replayed'"), EPS);
        assertEquals(query(ds, "SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY e.value) FROM "
            + CheckSeeder.EVENTS + " e WHERE e.source_id = " + duration + " AND e.time < '" + hour.plus(1, ChronoUnit.HOURS)
            + "'"), query(ds, "SELECT p95_ms FROM "
            + CheckRollups.HOUR + " WHERE monitor = 'replayed'"), EPS, "the same as over the raw rows");
        rollups.refreshAll();
        assertEquals(60, hourChecks(ds, hour), "a further refresh counts nothing twice");
        assertTrue(pipeline.close(Duration.ofSeconds(30)).isBalanced());
        pipeline = null;
    }

    /** Checks at minutes {@code [from, to)} of {@code hour}, good, with durations {@code minute + 1} ms. */
    private void ingest(Instant hour, int from, int to, int up, int duration, long[] seq) {
        for (int i = from; i < to; i++) {
            final long t = hour.plus(Duration.ofMinutes(i)).toEpochMilli() * 1_000_000L;
            assertTrue(pipeline.ingest(t, up, (short) 4, 1, seq[0]++));
            assertTrue(pipeline.ingest(t, duration, (short) 1, i + 1, seq[1]++));
        }
    }

    private static long hourChecks(PGSimpleDataSource ds, Instant hour) throws Exception {
        return (long) query(ds, "SELECT coalesce(sum(checks), 0) FROM " + CheckRollups.HOUR
            + " WHERE monitor = 'replayed' AND bucket = '" + hour + "'");
    }

    private static double query(PGSimpleDataSource ds, String sql) throws Exception {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getDouble(1);
        }
    }
}
