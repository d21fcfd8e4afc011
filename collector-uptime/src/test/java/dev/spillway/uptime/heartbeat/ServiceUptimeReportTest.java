package dev.spillway.uptime.heartbeat;

import dev.spillway.runtime.db.SchemaMigrations;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.MutableClock;
import dev.spillway.uptime.monitor.UptimeReport;
import dev.spillway.uptime.schema.UptimeSchema;
import dev.spillway.uptime.transitions.StateTransitions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Uptime reports of heartbeat services from their state history (real PostgreSQL, manual clock): a service pinged
 * every minute by a collector that was stopped for 10 minutes (12:00-12:10) shows those minutes as unknown, not as
 * up or down; silence past the deadline is down; a maintenance window is maintenance; time before the first ping and
 * after the last collector stopped is unknown; every daily row adds up to its length.
 */
class ServiceUptimeReportTest {

    private static final Instant DAY = Instant.parse("2026-11-02T00:00:00Z");
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static TestDatabase db;

    @BeforeAll
    static void createDatabase() throws Exception {
        db = TestDatabase.create("service_reports");
        SchemaMigrations.apply(db.dataSource(), UptimeSchema.migrations());
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    private static Instant at(String hhmm) {
        return Instant.parse("2026-11-02T" + hhmm + ":00Z");
    }

    /** A collector with the heartbeats duty, started at the clock's time (its first tick has run when this returns). */
    private static Heartbeats collector(MutableClock clock) throws Exception {
        final long runs = db.queryLong("SELECT count(*) FROM heartbeat_watch");
        final Heartbeats h = new Heartbeats(db.dataSource(), new StateTransitions(), (c, n, now) -> { }, null, clock,
            Duration.ofHours(1), () -> { }, new SimpleMeterRegistry());
        h.start(true);
        Await.until(WAIT, () -> db.queryLong("SELECT count(*) FROM heartbeat_watch") == runs + 1,
            "the first tick recorded the run");
        return h;
    }

    /** Pings (and ticks) once a minute over {@code [from, to)}. */
    private static void pingEveryMinute(Heartbeats h, MutableClock clock, Instant from, Instant to) throws Exception {
        for (Instant t = from; t.isBefore(to); t = t.plusSeconds(60)) {
            clock.set(t);
            assertEquals(Heartbeats.Outcome.OK, h.ping("backup", 0));
            h.tick();
        }
    }

    @Test
    void stoppedCollectorIsUnknownSilenceIsDownWindowsAreMaintenance() throws Exception {
        final MutableClock clock = new MutableClock(at("06:00"));
        Heartbeats h = collector(clock);
        h.registered(h.store().put(new ServiceSpec("backup", Duration.ofMinutes(5), Duration.ZERO, List.of("ok"))));
        pingEveryMinute(h, clock, at("06:00"), at("12:00"));
        clock.set(at("12:00"));
        h.close(); // the collector stops at 12:00 ...
        clock.set(at("12:10"));
        h = collector(clock); // ... and starts again at 12:10: its first tick flips the service (deadline 12:04)
        assertEquals("down", h.store().get("backup").orElseThrow().state());
        pingEveryMinute(h, clock, at("12:10"), at("15:00"));
        for (Instant t = at("15:00"); t.isBefore(at("15:20")); t = t.plusSeconds(60)) {
            clock.set(t); // silence: the deadline 14:59 + 5 m passes at 15:04
            h.tick();
        }
        assertEquals("down", h.store().get("backup").orElseThrow().state());
        pingEveryMinute(h, clock, at("15:20"), at("18:00"));
        clock.set(at("18:00"));
        h.close();

        final UptimeReport.Maintenance window = new UptimeReport.Maintenance() {
            @Override
            public List<Instant[]> windows(String monitor, Instant from, Instant to) {
                throw new AssertionError("a service report asks for service windows only");
            }

            @Override
            public List<Instant[]> serviceWindows(String service, Instant from, Instant to) {
                return List.<Instant[]>of(new Instant[] {at("16:00"), at("16:30")});
            }
        };
        final UptimeReport.Report r = UptimeReport.computeServices(db.dataSource(), List.of("backup"),
            DAY.minus(Duration.ofDays(1)), DAY.plus(Duration.ofDays(1)), ZoneOffset.UTC, window);
        assertEquals(2, r.rows().size());
        assertEquals("2026-11-01 backup up=0 down=0 maint=0 unknown=86400", text(r.rows().get(0)),
            "before the service existed: unknown");
        // up 06:00-12:00, 12:10-15:04, 15:20-18:00 less the window 16:00-16:30; down 15:04-15:20;
        // unknown 00:00-06:00 (no collector, no ping yet), 12:00-12:10 (stopped), 18:00-24:00 (stopped).
        assertEquals("2026-11-02 backup up=" + (21_600 + 10_440 + 7_800) + " down=960 maint=1800 unknown="
            + (21_600 + 600 + 21_600), text(r.rows().get(1)));
        for (UptimeReport.Row row : r.rows()) {
            assertEquals(86_400_000L, row.upMs() + row.downMs() + row.maintenanceMs() + row.unknownMs(),
                row.toString());
        }
        assertEquals(100.0 * 39_840 / (39_840 + 960), r.total().uptimePercent(), 1e-9);

        // Cut in Berlin days (UTC+1 in November), every row still adds up to its length.
        final UptimeReport.Report berlin = UptimeReport.computeServices(db.dataSource(), List.of("backup"), DAY,
            DAY.plus(Duration.ofDays(1)), ZoneId.of("Europe/Berlin"), UptimeReport.Maintenance.NONE);
        assertEquals(2, berlin.rows().size());
        assertEquals(82_800_000L, sum(berlin.rows().get(0)), "00:00Z-23:00Z is the rest of Berlin's Nov 2");
        assertEquals(3_600_000L, sum(berlin.rows().get(1)));
        assertEquals(600_000L + 21_600_000L + 21_600_000L, berlin.total().unknownMs());
        assertEquals(1_800_000L, berlin.total().upMs() - r.total().upMs(), "without the window, its 30 min are up");
    }

    private static long sum(UptimeReport.Row row) {
        return row.upMs() + row.downMs() + row.maintenanceMs() + row.unknownMs();
    }

    private static String text(UptimeReport.Row r) {
        return r.day() + " " + r.monitor() + " up=" + r.upMs() / 1000 + " down=" + r.downMs() / 1000 + " maint="
            + r.maintenanceMs() / 1000 + " unknown=" + r.unknownMs() / 1000;
    }
}
