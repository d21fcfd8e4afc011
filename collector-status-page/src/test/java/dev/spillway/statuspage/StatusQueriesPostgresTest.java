package dev.spillway.statuspage;

import dev.spillway.telemetry.testsupport.TestDatabase;
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

    @BeforeAll
    static void start() throws Exception {
        db = TestDatabase.create("status_queries");
        try (TimescaleSink sink = TimescaleSink.builder().dataSource(db.dataSource()).table(CheckSeeder.EVENTS).build()) {
            assertFalse(sink.isTimescale(), "plain PostgreSQL");
        }
        CheckSeeder.createSchema(db.dataSource());
        try (Connection c = db.connect()) {
            seed(c);
        }
        new CheckRollups(db.dataSource(), CheckSeeder.EVENTS, CLOCK::get).refresh();
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
        new CheckRollups(db.dataSource(), CheckSeeder.EVENTS, CLOCK::get).refresh();
        refreshRuns(db.dataSource());
    }

    @Test
    void rollupsAreTablesTheCollectorKeepsAndRefreshIsIdempotentAndFoldsInNewChecks() throws Exception {
        final CheckRollups rollups = new CheckRollups(db.dataSource(), CheckSeeder.EVENTS, CLOCK::get);
        assertTrue(rollups.collectorMaintained());
        refreshRollups();
        assertEquals(time(300, 960, Duration.ofDays(7)), queries().uptime("gamma", StatusQueries.Range.WEEK, NOW),
            "a second refresh counts nothing twice");
        final String hourRows = "SELECT count(*) FROM " + CheckRollups.HOUR;
        final long before = db.queryLong(hourRows);
        try (Connection c = db.connect()) {
            CheckSeeder.check(c, "late", NOW.minus(Duration.ofMinutes(5)), true, 7);
        }
        refreshRollups();
        assertEquals(before + 1, db.queryLong(hourRows), "a check within the look-back is folded in");
        // Retention: a minute bucket older than two days goes.
        assertEquals(0, db.queryLong("SELECT count(*) FROM " + CheckRollups.MINUTE + " WHERE bucket < '"
            + NOW.minus(Duration.ofDays(2)) + "'"));
        assertEquals(10, db.queryLong("SELECT sum(checks) FROM " + CheckRollups.HOUR + " WHERE monitor = 'gamma' AND "
            + "bucket < '" + NOW.minus(Duration.ofDays(19)) + "'"), "hour buckets are kept for 400 days");
    }
}
