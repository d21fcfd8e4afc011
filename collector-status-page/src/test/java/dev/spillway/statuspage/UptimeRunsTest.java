package dev.spillway.statuspage;

import dev.spillway.alerting.Maintenance;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.telemetry.timescale.StorageLayout;
import dev.spillway.telemetry.timescale.TimescaleSink;
import dev.spillway.uptime.monitor.UptimeReport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The page's uptime figures equal the uptime report's for the same data (real PostgreSQL, fixed clock): a monitor
 * checked every minute for 20 hours with the collector stopped for 10 minutes, 5 failed checks and a maintenance
 * window (a real window row, read through the alerting module's hook as the collector does), and a flapping monitor
 * checked every 30 s. The runs are built by three refreshes as time goes on (the second and third each redo the
 * last minutes and join what continues), and stay a handful of rows per monitor.
 */
class UptimeRunsTest {

    private static final Instant NOW = Instant.parse("2026-03-10T12:30:00Z");
    private static final Instant FIRST = NOW.minus(Duration.ofHours(20));
    private static final AtomicReference<Instant> CLOCK = new AtomicReference<>();
    private static TestDatabase db;

    @BeforeAll
    static void seed() throws Exception {
        db = TestDatabase.create("uptime_runs");
        try (TimescaleSink sink = TimescaleSink.builder().dataSource(db.dataSource()).table(CheckSeeder.EVENTS)
            // Seeded by INSERT (CheckSeeder), which needs the rows layout; the blocks layout: RollupSpoolReplayTest.
            .storageLayout(StorageLayout.ROWS).build()) {
            assertEquals(CheckSeeder.EVENTS, sink.table()); // building the sink creates the events table
        }
        CheckSeeder.createSchema(db.dataSource());
        try (Connection c = db.connect()) {
            CheckSeeder.monitor(c, "web", 60_000, true, "UP", FIRST, null, null);
            CheckSeeder.monitor(c, "flappy", 30_000, true, "UP", FIRST, null, null);
            // Minutes 0..599, then the collector is stopped for 10 minutes, then 610..1199; 700..704 failed.
            CheckSeeder.checks(c, "web", FIRST, 60, 600, "1", "5");
            CheckSeeder.checks(c, "web", FIRST.plus(Duration.ofMinutes(610)), 60, 590, "CASE WHEN i >= 90 AND i < 95 THEN 0 ELSE 1 END", "5");
            // Every 30 s over the last 3 hours: down every third check.
            CheckSeeder.checks(c, "flappy", NOW.minus(Duration.ofHours(3)), 30, 360, "CASE WHEN i % 3 = 0 THEN 0 ELSE 1 END", "5");
        }
        db.execute("INSERT INTO maintenance_windows (id, scope, target, starts_at, ends_at) VALUES ('upgrade', "
            + "'monitor', 'web', '" + NOW.minus(Duration.ofHours(5)) + "', '" + NOW.minus(Duration.ofMinutes(270))
            + "')");
        final UptimeRuns runs = new UptimeRuns(db.dataSource(), CLOCK::get);
        for (Instant t : new Instant[] {NOW.minus(Duration.ofHours(10)), NOW.minus(Duration.ofMinutes(62)), NOW}) {
            CLOCK.set(t);
            runs.refresh();
        }
    }

    @AfterAll
    static void drop() {
        db.close();
    }

    private static StatusQueries.Uptime report(String monitor, Duration interval, Duration window) throws Exception {
        final Map<String, Duration> m = new LinkedHashMap<>();
        m.put(monitor, interval);
        return StatusQueries.Uptime.of(UptimeReport.compute(db.dataSource(), m, NOW.minus(window), NOW,
            ZoneOffset.UTC, new Maintenance(db.dataSource()).forReports()).total());
    }

    @Test
    void thePageCountsAsTheReportDoes() throws Exception {
        final StatusQueries queries = new StatusQueries(db.dataSource(), CheckSeeder.EVENTS, StatusQueries.PAGE_SIZE,
            new Maintenance(db.dataSource()).forReports());
        final Map<String, StatusQueries.MonitorRow> rows = new LinkedHashMap<>();
        queries.monitors(NOW).forEach(r -> rows.put(r.name(), r));
        for (String[] m : new String[][] {{"web", "60"}, {"flappy", "30"}}) {
            final Duration interval = Duration.ofSeconds(Long.parseLong(m[1]));
            final StatusQueries.MonitorRow row = rows.get(m[0]);
            assertEquals(report(m[0], interval, Duration.ofHours(24)), row.day(), m[0] + " 24 h");
            assertEquals(report(m[0], interval, Duration.ofDays(7)), row.week(), m[0] + " 7 d");
            assertEquals(report(m[0], interval, Duration.ofDays(30)), row.month(), m[0] + " 30 d");
            for (StatusQueries.Range r : StatusQueries.Range.values()) {
                assertEquals(report(m[0], interval, r.length), queries.uptime(m[0], r, NOW), m[0] + " " + r.label);
            }
        }
        // And the figures are what the data says: the stop is unknown (minute 599's result stands for 90 s, so
        // 570 s), the window is maintenance, the failures are down, the 4 hours before the first result unknown.
        final StatusQueries.Uptime web = rows.get("web").day();
        assertEquals(300_000, web.downMs());
        assertEquals(1_800_000, web.maintenanceMs());
        assertEquals(4 * 3_600_000 + 570_000, web.unknownMs());
        assertEquals(86_400_000L, web.upMs() + web.downMs() + web.maintenanceMs() + web.unknownMs());
        assertEquals(120 * 30_000, rows.get("flappy").day().downMs(), "every third 30 s check down");
        assertTrue(db.queryLong("SELECT count(*) FROM " + UptimeRuns.TABLE + " WHERE monitor = 'web'") <= 4,
            "runs of one state, joined across refreshes: up, (gap), up, down, up");
    }
}
