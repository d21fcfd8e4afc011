package dev.spillway.alerting;

import dev.spillway.runtime.db.SchemaMigrations;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.MutableClock;
import dev.spillway.uptime.schema.UptimeSchema;
import dev.spillway.uptime.transitions.Notification;
import dev.spillway.uptime.transitions.StateTransitions;
import dev.spillway.uptime.transitions.Transition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Maintenance windows: a recurring window (every day 02:00-02:30 in a named zone) holds announcements inside and
 * not outside, driven by a manual clock through the real transition listener and outbox on PostgreSQL; one-off
 * windows and snoozes; scopes; validation.
 */
class MaintenanceWindowTest {

    private static final ZoneId BERLIN = ZoneId.of("Europe/Berlin");
    private static TestDatabase db;

    @BeforeAll
    static void createDatabase() throws Exception {
        db = TestDatabase.create("maintenance");
        SchemaMigrations.apply(db.dataSource(), Stream.concat(UptimeSchema.migrations().stream(),
            AlertingSchema.migrations().stream()).toList());
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    @BeforeEach
    void fresh() {
        db.execute("TRUNCATE notification_outbox, notification_held, maintenance_windows, monitor_transitions");
    }

    private static Instant berlin(String localDateTime) {
        return ZonedDateTime.of(java.time.LocalDateTime.parse(localDateTime), BERLIN).toInstant();
    }

    private static MaintenanceWindow nightly(String scope, String target) {
        return new MaintenanceWindow("nightly", scope, target, null, null, "0 2 * * *", Duration.ofMinutes(30),
            BERLIN, "backup");
    }

    @Test
    void aDailyWindowIsOpenFrom0200To0230InItsZone() {
        final MaintenanceWindow w = nightly("all", null);
        assertFalse(w.activeAt(berlin("2026-07-01T01:59:59")));
        assertTrue(w.activeAt(berlin("2026-07-01T02:00:00")));
        assertTrue(w.activeAt(berlin("2026-07-01T02:29:59")));
        assertFalse(w.activeAt(berlin("2026-07-01T02:30:00")));
        assertFalse(w.activeAt(berlin("2026-07-01T14:15:00")));
        assertTrue(w.activeAt(berlin("2026-12-24T02:15:00")), "winter time too (UTC+1, not UTC+2)");
        assertFalse(w.activeAt(Instant.parse("2026-07-01T02:15:00Z")), "02:15 UTC is 04:15 in Berlin");
        assertEquals(berlin("2026-07-01T02:30:00"), w.endOfOpening(berlin("2026-07-01T02:10:00")));
        assertNull(w.endOfOpening(berlin("2026-07-01T03:00:00")));
    }

    @Test
    void insideTheWindowTransitionsAreRecordedAndHeldOutsideAnnounced() throws Exception {
        new Maintenance(db.dataSource()).put(nightly("monitor", "db-primary"));
        final MutableClock clock = new MutableClock(berlin("2026-07-01T01:59:00"));
        final StateTransitions transitions = new StateTransitions();
        transitions.addListener(new MonitorNotifications(clock, () -> { }));
        final Runnable flap = () -> {
            try (Connection c = db.connect()) {
                c.setAutoCommit(false);
                for (String m : List.of("db-primary", "web")) {
                    transitions.record(c, Transition.of(Transition.KIND_HTTP, m, "UP", "DOWN", clock.instant(), "x"));
                    transitions.record(c, Transition.of(Transition.KIND_HTTP, m, "DOWN", "UP", clock.instant(), null));
                }
                c.commit();
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        };
        flap.run(); // 01:59: before the window
        assertEquals(2, db.queryLong("SELECT count(*) FROM notification_outbox WHERE channel_id = 'log' "
            + "AND subject = 'db-primary'"), "announced before the window");
        clock.set(berlin("2026-07-01T02:00:00"));
        flap.run();
        clock.set(berlin("2026-07-01T02:29:00"));
        flap.run();
        assertEquals(2, db.queryLong("SELECT count(*) FROM notification_outbox WHERE subject = 'db-primary' "
            + "AND channel_id = 'log'"), "nothing more announced inside the window");
        assertEquals(4, db.queryLong("SELECT count(*) FROM notification_held WHERE subject = 'db-primary' "
            + "AND window_id = 'nightly'"), "held instead");
        assertEquals(6, db.queryLong("SELECT count(*) FROM notification_outbox WHERE subject = 'web' "
            + "AND channel_id = 'log'"), "a monitor the window does not cover is announced throughout");
        clock.set(berlin("2026-07-01T02:30:00"));
        flap.run();
        assertEquals(4, db.queryLong("SELECT count(*) FROM notification_outbox WHERE subject = 'db-primary' "
            + "AND channel_id = 'log'"), "announced again after the window");
        assertEquals(8, db.queryLong("SELECT count(*) FROM monitor_transitions WHERE monitor = 'db-primary'"),
            "every transition recorded, inside the window too");
    }

    @Test
    void aSnoozeAndScopes() throws Exception {
        final Maintenance store = new Maintenance(db.dataSource());
        final Instant t0 = Instant.parse("2026-01-01T00:00:00Z");
        store.put(new MaintenanceWindow("snooze-backup", "service", "backup", t0, t0.plus(Duration.ofHours(2)), null,
            null, null, "snoozed"));
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            final Notification down = new Notification("service.unavailable", "service", "backup", "available",
                "unavailable", t0, Map.of());
            assertEquals(0, Outbox.enqueue(c, down, t0.plus(Duration.ofMinutes(119))), "snoozed for 2 h");
            assertEquals(1, Outbox.enqueue(c, down, t0.plus(Duration.ofMinutes(120))), "not after");
            final Notification monitor = new Notification("monitor.down", "monitor", "backup", "up", "down", t0,
                Map.of());
            assertEquals(1, Outbox.enqueue(c, monitor, t0.plusSeconds(60)), "a monitor of the same name is not the service");
            c.commit();
        }
        assertEquals(1, store.held(10).size());
        assertEquals(List.of("snooze-backup"), store.open(t0.plusSeconds(1)).stream().map(MaintenanceWindow::id).toList());
        assertTrue(store.delete("snooze-backup"));
    }

    @Test
    void badWindowsNameTheField() {
        final IllegalArgumentException cron = assertThrows(IllegalArgumentException.class, () -> new MaintenanceWindow(
            "w", "all", null, null, null, "0 25 * * *", Duration.ofMinutes(5), BERLIN, null));
        assertTrue(cron.getMessage().startsWith("cron "), cron.getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new MaintenanceWindow("w", "all", null, null,
            null, "0 2 * * *", Duration.ofMinutes(5), null, null)).getMessage().startsWith("zone "));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new MaintenanceWindow("w", "monitor", null,
            null, null, "0 2 * * *", Duration.ofMinutes(5), BERLIN, null)).getMessage().startsWith("target "));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new MaintenanceWindow("w", "tag", "nokey",
            null, null, "0 2 * * *", Duration.ofMinutes(5), BERLIN, null)).getMessage().startsWith("target "));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new MaintenanceWindow("w", "all", null,
            Instant.EPOCH, null, null, null, null, null)).getMessage().startsWith("ends_at "));
        assertTrue(new MaintenanceWindow("w", "tag", "team=db", null, null, "0 2 * * *", Duration.ofMinutes(5),
            BERLIN, null).covers("monitor", "x", Map.of("team", "db")));
    }

    /**
     * A report's maintenance time: the openings of a recurring window across the change to summer time (02:00 Berlin
     * does not exist on 29 March: cron-utils skips that start, and so does activeAt, so the report counts what held
     * notifications), an opening that began before the range counts from the range's start, and startsAt/endsAt
     * clip as activeAt does.
     */
    @Test
    void openingsOverlappingARangeAcrossDaylightSavingTime() {
        final MaintenanceWindow nightly = new MaintenanceWindow("nightly", "all", null, null, null, "0 2 * * *",
            Duration.ofHours(1), BERLIN, null);
        final List<String> spring = nightly.openings(Instant.parse("2026-03-28T01:30:00Z"),
            Instant.parse("2026-03-31T00:00:00Z")).stream().map(w -> w[0] + ".." + w[1]).toList();
        for (String w : spring) {
            final Instant s = Instant.parse(w.substring(0, w.indexOf("..")));
            assertTrue(nightly.activeAt(s), "activeAt agrees at " + s);
            assertFalse(nightly.activeAt(Instant.parse(w.substring(w.indexOf("..") + 2))), "closed at end of " + w);
        }
        assertEquals(List.of("2026-03-28T01:30:00Z..2026-03-28T02:00:00Z", // began 01:00Z, before the range
            "2026-03-30T00:00:00Z..2026-03-30T01:00:00Z"), spring);

        assertFalse(nightly.activeAt(Instant.parse("2026-03-29T01:30:00Z")), "no opening the night 02:00 is skipped");

        final MaintenanceWindow bounded = new MaintenanceWindow("bounded", "all", null,
            Instant.parse("2026-11-02T01:30:00Z"), Instant.parse("2026-11-03T01:15:00Z"), "0 2 * * *",
            Duration.ofHours(1), BERLIN, null);
        assertEquals(List.of("2026-11-02T01:30:00Z..2026-11-02T02:00:00Z", "2026-11-03T01:00:00Z..2026-11-03T01:15:00Z"),
            bounded.openings(Instant.parse("2026-11-01T00:00:00Z"), Instant.parse("2026-11-05T00:00:00Z")).stream()
                .map(w -> w[0] + ".." + w[1]).toList());

        final MaintenanceWindow once = new MaintenanceWindow("once", "all", null, Instant.parse("2026-11-02T08:00:00Z"),
            Instant.parse("2026-11-02T09:30:00Z"), null, null, null, null);
        assertEquals(List.of(), once.openings(Instant.parse("2026-11-02T09:30:00Z"), Instant.parse("2026-11-03T00:00:00Z")));
        assertEquals(1, once.openings(Instant.parse("2026-11-02T09:00:00Z"), Instant.parse("2026-11-03T00:00:00Z")).size());

        // Overlapping openings merge: a minutely window lasting an hour is one stretch.
        final MaintenanceWindow minutely = new MaintenanceWindow("minutely", "all", null, null, null, "* * * * *",
            Duration.ofHours(1), ZoneId.of("UTC"), null);
        final Instant from = Instant.parse("2026-01-01T00:00:00Z");
        assertEquals(List.of(from + ".." + from.plus(Duration.ofDays(2))), minutely.openings(from,
            from.plus(Duration.ofDays(2))).stream().map(w -> w[0] + ".." + w[1]).toList());
        final MaintenanceWindow hourly = new MaintenanceWindow("hourly", "all", null, null, null, "30 * * * *",
            Duration.ofMinutes(10), ZoneId.of("UTC"), null);
        assertEquals(48, hourly.openings(from, from.plus(Duration.ofDays(2))).size());
    }
}
