package dev.spillway.statuspage;

import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.telemetry.timescale.StorageLayout;
import dev.spillway.telemetry.timescale.TimescaleSink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.sql.DataSource;
import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link StatusQueriesContract} on plain PostgreSQL, where the collector keeps the rollup tables itself. */
class StatusQueriesPostgresTest extends StatusQueriesContract {

    private static TestDatabase db;
    private static final AtomicReference<Instant> CLOCK = new AtomicReference<>(NOW);
    /** One instance, as the collector keeps one (it remembers the ledger parts it has seen, hours half done). */
    private static CheckRollups rollups;

    @BeforeAll
    static void start() throws Exception {
        db = TestDatabase.create("status_queries");
        try (TimescaleSink sink = TimescaleSink.builder().dataSource(db.dataSource()).table(CheckSeeder.EVENTS)
            // Seeded by INSERT (CheckSeeder), which needs the rows layout; the blocks layout: RollupSpoolReplayTest.
            .storageLayout(StorageLayout.ROWS).build()) {
            assertFalse(sink.isTimescale(), "plain PostgreSQL");
        }
        CheckSeeder.createSchema(db.dataSource());
        // One monitor per chunk: every hour and day is recomputed in several steps, as at 10,000 monitors.
        rollups = new CheckRollups(db.dataSource(), CheckSeeder.EVENTS, CLOCK::get, 1);
        try (Connection c = db.connect()) {
            seed(c);
        }
        new CheckRollups(db.dataSource(), CheckSeeder.EVENTS, CLOCK::get).refreshAll();
        refreshRuns(db.dataSource());
    }

    @AfterAll
    static void stop() {
        if (db != null) {
            db.close();
        }
    }

    @Override
    DataSource dataSource() {
        return db.dataSource();
    }

    @Override
    void refreshRollups() throws Exception {
        rollups.refreshAll();
        refreshRuns(db.dataSource());
    }

    @Test
    void rollupsAreTablesTheCollectorKeepsAndRefreshIsIdempotentAndFoldsInLateBatches() throws Exception {
        assertTrue(rollups.collectorMaintained());
        refreshRollups();
        assertEquals(time(300, 960, Duration.ofDays(7)), queries().uptime("gamma", StatusQueries.Range.WEEK, NOW),
            "a second refresh counts nothing twice");
        assertEquals(1, db.queryLong("SELECT count(*) FROM " + CheckRollups.DIRTY + " WHERE level = 'h' AND bucket = '"
            + NOW.truncatedTo(java.time.temporal.ChronoUnit.HOURS) + "'"), "the open hour waits for its end");
        assertEquals(1, db.queryLong("SELECT count(*) FROM " + CheckRollups.DIRTY), "nothing else left to do");
        final String lateHour = "SELECT coalesce(sum(checks), 0) FROM " + CheckRollups.HOUR + " WHERE monitor = 'late'";
        final String lateMinutes = "SELECT coalesce(sum(checks), 0) FROM " + CheckRollups.MINUTE
            + " WHERE monitor = 'late'";
        // A batch committed now whose checks are 3 days old (past the minutes' retention: hours from raw rows)
        // and 20 minutes old, with its ledger row in the same transaction, as the sink writes it.
        final Instant old = NOW.minus(Duration.ofDays(3)).truncatedTo(java.time.temporal.ChronoUnit.HOURS);
        final Instant recent = NOW.minus(Duration.ofMinutes(20)).truncatedTo(java.time.temporal.ChronoUnit.MINUTES);
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            CheckSeeder.monitor(c, "late", 60_000, true, "UP", old, null, null);
            for (int i = 0; i < 3; i++) {
                CheckSeeder.check(c, "late", old.plus(Duration.ofMinutes(i)), true, 10 + i);
                CheckSeeder.check(c, "late", recent.plus(Duration.ofMinutes(i)), i != 1, 20 + i);
            }
            try (var ps = c.prepareStatement("INSERT INTO " + CheckSeeder.EVENTS + "_batches (run_id, batch_id, "
                + "time_min, time_max) VALUES ('test', 1, ?, ?)")) {
                ps.setTimestamp(1, java.sql.Timestamp.from(old));
                ps.setTimestamp(2, java.sql.Timestamp.from(recent.plus(Duration.ofMinutes(2))));
                ps.executeUpdate();
            }
            c.commit();
        }
        assertEquals(0, db.queryLong(lateHour));
        refreshRollups();
        assertEquals(3, db.queryLong(lateMinutes), "the recent minutes, from their raw rows");
        assertEquals(3, db.queryLong(lateHour + " AND bucket = '" + old + "'"), "a closed hour 3 days back, from raw");
        assertEquals(3, db.queryLong("SELECT sum(checks) FROM " + CheckRollups.DAY + " WHERE monitor = 'late'"));
        assertEquals(11.9, queryDouble("SELECT p95_ms FROM " + CheckRollups.HOUR + " WHERE monitor = 'late'"),
            EPS, "exact percentile_cont of 10, 11, 12");
        refreshRollups();
        assertEquals(3, db.queryLong(lateMinutes), "the same batch is not counted twice");
        // Retention: a minute bucket older than two days goes.
        assertEquals(0, db.queryLong("SELECT count(*) FROM " + CheckRollups.MINUTE + " WHERE bucket < '"
            + NOW.minus(Duration.ofDays(2)) + "'"));
        assertEquals(10, db.queryLong("SELECT sum(checks) FROM " + CheckRollups.HOUR + " WHERE monitor = 'gamma' AND "
            + "bucket < '" + NOW.minus(Duration.ofDays(19)) + "'"), "hour buckets are kept for 400 days");
    }

    @Test
    void aRedoneBucketWhoseValuesDidNotChangeIsNotWrittenAgainAndANewCheckStillIs() throws Exception {
        refreshRollups();
        // A closed minute (in a closed hour of today) that already has rows; a ledger row about it with no new rows
        // (a batch of other series, say) makes the refresh redo it; its hour and day are marked too.
        final Instant minute = Instant.parse(queryString("SELECT to_char(max(bucket) AT TIME ZONE 'UTC', "
            + "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM " + CheckRollups.MINUTE + " WHERE monitor = 'alpha' AND bucket < '"
            + NOW.truncatedTo(java.time.temporal.ChronoUnit.HOURS) + "'"));
        final Instant hour = minute.truncatedTo(java.time.temporal.ChronoUnit.HOURS);
        final Instant day = minute.truncatedTo(java.time.temporal.ChronoUnit.DAYS);
        final String versions = "SELECT (SELECT string_agg(monitor || '@' || bucket || ':' || xmin::text, ',' ORDER BY "
            + "monitor, bucket) FROM " + CheckRollups.MINUTE + ") || '|' || (SELECT string_agg(monitor || '@' || bucket "
            + "|| ':' || xmin::text, ',' ORDER BY monitor, bucket) FROM " + CheckRollups.HOUR + ") || '|' || (SELECT "
            + "string_agg(monitor || '@' || bucket || ':' || xmin::text, ',' ORDER BY monitor, bucket) FROM "
            + CheckRollups.DAY + ")";
        final String before = queryString(versions);
        final long minuteRows = db.queryLong("SELECT count(*) FROM " + CheckRollups.MINUTE + " WHERE bucket = '"
            + minute + "'");
        assertTrue(minuteRows > 0);
        ledger("unchanged", minute, minute.plusSeconds(30));
        try (Connection c = db.connect(); var st = c.createStatement()) {
            st.execute("INSERT INTO " + CheckRollups.DIRTY + " (level, bucket) VALUES ('h', '" + hour + "'), ('d', '"
                + day + "') ON CONFLICT DO NOTHING");
        }
        refreshRollups();
        assertEquals(0, db.queryLong("SELECT count(*) FROM " + CheckRollups.DIRTY + " WHERE bucket IN ('" + minute
            + "', '" + hour + "', '" + day + "')"), "the minute, its hour and its day were redone");
        assertEquals(before, queryString(versions), "no rollup row got a new version: the values were the same");

        // One more check of alpha in that minute, committed late with its ledger row: its minute, hour and day
        // rows change (and get new versions), the other monitors' rows do not.
        final long minuteChecks = db.queryLong("SELECT checks FROM " + CheckRollups.MINUTE + " WHERE monitor = 'alpha' "
            + "AND bucket = '" + minute + "'");
        final long hourChecks = db.queryLong("SELECT checks FROM " + CheckRollups.HOUR + " WHERE monitor = 'alpha' "
            + "AND bucket = '" + hour + "'");
        final long dayChecks = db.queryLong("SELECT checks FROM " + CheckRollups.DAY + " WHERE monitor = 'alpha' "
            + "AND bucket = '" + day + "'");
        try (Connection c = db.connect()) {
            CheckSeeder.check(c, "alpha", minute.plusSeconds(59), true, 5);
        }
        ledger("one-more", minute.plusSeconds(59), minute.plusSeconds(59));
        refreshRollups();
        assertEquals(minuteChecks + 1, db.queryLong("SELECT checks FROM " + CheckRollups.MINUTE + " WHERE monitor = "
            + "'alpha' AND bucket = '" + minute + "'"), "the late check counted in its minute");
        assertEquals(hourChecks + 1, db.queryLong("SELECT checks FROM " + CheckRollups.HOUR + " WHERE monitor = "
            + "'alpha' AND bucket = '" + hour + "'"), "and in its closed hour");
        assertEquals(dayChecks + 1, db.queryLong("SELECT checks FROM " + CheckRollups.DAY + " WHERE monitor = "
            + "'alpha' AND bucket = '" + day + "'"), "and in its day");
        final String after = queryString(versions);
        final java.util.Set<String> changed = new java.util.TreeSet<>(java.util.Arrays.asList(after.split("[,|]")));
        changed.removeAll(java.util.Arrays.asList(before.split("[,|]")));
        assertEquals(3, changed.size(), "alpha's minute, hour and day rows only: " + changed);
        assertTrue(changed.stream().allMatch(v -> v.startsWith("alpha@")), changed.toString());
    }

    private static void ledger(String run, Instant min, Instant max) throws Exception {
        try (Connection c = db.connect(); var ps = c.prepareStatement("INSERT INTO " + CheckSeeder.EVENTS
            + "_batches (run_id, batch_id, time_min, time_max) VALUES (?, 1, ?, ?)")) {
            ps.setString(1, run);
            ps.setTimestamp(2, java.sql.Timestamp.from(min));
            ps.setTimestamp(3, java.sql.Timestamp.from(max));
            ps.executeUpdate();
        }
    }

    private static String queryString(String sql) throws Exception {
        try (Connection c = db.connect(); var st = c.createStatement(); var rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static double queryDouble(String sql) throws Exception {
        try (Connection c = db.connect(); var st = c.createStatement(); var rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getDouble(1);
        }
    }

    /**
     * The overview's sparkline keeps its closed 30-minute points between reads and reads the minutes of the open
     * ones (and of the first, cut by the 24 h window) each time; every {@link StatusQueries#SPARK_REREAD} the whole
     * day again. Minute rows of a monitor of its own, two days after the contract's data (no other test reads them).
     */
    @Test
    void sparklineKeepsClosedPointsRereadsOpenOnesAndTheWholeDayEveryFewMinutes() throws Exception {
        final String[] names = {"spark-cache"};
        // now 12:20: points ending 12:15 or earlier are closed (SPARK_SETTLE), the one from 12:00 is open.
        final Instant now = Instant.parse("2026-03-12T12:20:00Z");
        db.execute("INSERT INTO " + CheckRollups.MINUTE + " (bucket, monitor, checks, up_checks, p50_ms, p95_ms, "
            + "max_ms) SELECT TIMESTAMPTZ '2026-03-12 09:30:00+00' + n * INTERVAL '1 minute', 'spark-cache', 1, 1, "
            + "n, n + 0.5, n + 0.5 FROM generate_series(0, 179) n");
        // The first point of the window: yesterday 12:00-12:29, cut by the window (from 12:20, then 12:21).
        db.execute("INSERT INTO " + CheckRollups.MINUTE + " (bucket, monitor, checks, up_checks, p50_ms, p95_ms, "
            + "max_ms) SELECT TIMESTAMPTZ '2026-03-11 12:00:00+00' + n * INTERVAL '1 minute', 'spark-cache', 1, 1, "
            + "1000 + n, 1000 + n, 1000 + n FROM generate_series(0, 29) n");
        try (Connection c = db.connect()) {
            final StatusQueries q = queries();
            final StatusQueries.Series first = q.sparklines(c, names, now.minus(Duration.ofHours(24)), now)
                .get("spark-cache");
            assertEquals(7, first.t().size(), "yesterday 12:00 (cut) and 09:30..12:00 today");
            assertEquals(59.5, first.p95().get(2), 1e-9, "10:00-10:29: minutes 30..59");

            db.execute("UPDATE " + CheckRollups.MINUTE + " SET p95_ms = 5000 WHERE monitor = 'spark-cache' AND bucket "
                + "IN ('2026-03-12 10:05:00+00', '2026-03-12 12:10:00+00', '2026-03-11 12:25:00+00')");
            final Instant later = now.plus(Duration.ofMinutes(1));
            final StatusQueries.Series kept = q.sparklines(c, names, later.minus(Duration.ofHours(24)), later)
                .get("spark-cache");
            final StatusQueries.Series fresh = queries().sparklines(c, names, later.minus(Duration.ofHours(24)),
                later).get("spark-cache");
            assertEquals(5000, fresh.p95().get(2), 1e-9, "a new reader sees the changed closed minute");
            assertEquals(59.5, kept.p95().get(2), 1e-9, "the closed 10:00 point is kept");
            assertEquals(5000, kept.p95().get(6), 1e-9, "the open 12:00 point is read again");
            assertEquals(5000, kept.p95().get(0), 1e-9, "the first point, cut by the window, is read again");
            assertEquals(fresh.t(), kept.t());
            assertEquals(fresh.p50(), kept.p50(), "the cut first point's median is over 12:21..12:29 only");

            final Instant reread = now.plus(StatusQueries.SPARK_REREAD).plus(Duration.ofMinutes(1));
            assertEquals(queries().sparklines(c, names, reread.minus(Duration.ofHours(24)), reread),
                q.sparklines(c, names, reread.minus(Duration.ofHours(24)), reread),
                "after SPARK_REREAD the whole day is read again");
        } finally {
            db.execute("DELETE FROM " + CheckRollups.MINUTE + " WHERE monitor = 'spark-cache'");
        }
    }

    /**
     * A statement of the page's read that runs past its timeout is cancelled by PostgreSQL (here: it waits for a
     * lock another session holds), and the page answers it as a transient failure (503 with Retry-After), not 500.
     */
    @Test
    void aReadPastItsStatementTimeoutIsCancelledAndIsATransientFailure() throws Exception {
        final StatusQueries q = new StatusQueries(db.dataSource(), CheckSeeder.EVENTS, StatusQueries.PAGE_SIZE,
            dev.spillway.uptime.monitor.UptimeReport.Maintenance.NONE, 1);
        final java.sql.SQLException e;
        final long tookMillis;
        try (Connection locker = db.connect()) {
            locker.setAutoCommit(false);
            try (java.sql.Statement st = locker.createStatement()) {
                st.execute("LOCK TABLE " + dev.spillway.uptime.schema.UptimeSchema.MONITORS
                    + " IN ACCESS EXCLUSIVE MODE");
            }
            final long t0 = System.nanoTime();
            e = org.junit.jupiter.api.Assertions.assertThrows(java.sql.SQLException.class,
                () -> q.page(1, NOW, new ReadTimes()));
            tookMillis = (System.nanoTime() - t0) / 1_000_000;
            locker.rollback();
        }
        assertEquals("57014", e.getSQLState(), "query_canceled: " + e);
        assertTrue(tookMillis >= 900 && tookMillis < 8_000, "cancelled after its 1 s timeout: " + tookMillis + " ms");
        final java.sql.SQLException answered = StatusQueries.timedOut(e);
        assertTrue(answered instanceof java.sql.SQLTimeoutException, answered.toString());
        org.junit.jupiter.api.Assertions.assertNotNull(dev.spillway.runtime.api.DatabaseOutage.describe(answered),
            "a transient failure: 503 with Retry-After");
        assertEquals(3, q.page(1, NOW, new ReadTimes()).total(), "the lock gone, the same read answers");
    }

    /** Schema step 305: the page finds a monitor's series by name through an index, with statistics for it. */
    @Test
    void monitorSeriesAreIndexedByMonitorName() throws Exception {
        try (Connection c = db.connect(); java.sql.Statement st = c.createStatement();
             java.sql.ResultSet rs = st.executeQuery("SELECT indexdef FROM pg_indexes WHERE indexname = '"
                 + dev.spillway.ingest.series.SeriesSchema.SOURCES + "_monitor_name_idx'")) {
            assertTrue(rs.next(), "the index exists");
            assertTrue(rs.getString(1).contains("(tags ->> 'monitor'::text)"), rs.getString(1));
            assertFalse(rs.getString(1).contains("WHERE"), "not partial: PostgreSQL keeps its statistics");
        }
    }
}
