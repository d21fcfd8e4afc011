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

    private static double queryDouble(String sql) throws Exception {
        try (Connection c = db.connect(); var st = c.createStatement(); var rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getDouble(1);
        }
    }
}
