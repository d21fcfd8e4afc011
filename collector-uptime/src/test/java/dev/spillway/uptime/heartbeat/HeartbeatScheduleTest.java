package dev.spillway.uptime.heartbeat;

import dev.spillway.runtime.db.SchemaMigrations;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.MutableClock;
import dev.spillway.uptime.schema.UptimeSchema;
import dev.spillway.uptime.transitions.Notification;
import dev.spillway.uptime.transitions.StateTransitions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The goal of issue 23: a cron heartbeat ({@code *}{@code /5 * * * *}, Europe/Berlin, grace 2 m) driven by a
 * manual clock across both daylight-saving changes of 2026 goes DOWN exactly when Healthchecks would announce it.
 *
 * <p>The expected instants, from Healthchecks' documented semantics: a cron check is expected at the schedule's
 * first time after the last ping (cronsim, evaluated in the check's time zone, from the minute after the ping) and
 * is down once that time plus the grace has passed. cronsim follows Debian's cron through DST: a job whose minute
 * and hour fields are wildcards or steps runs at every matching wall-clock time as it happens, so through the
 * repeated hour of October it runs in both passes and through the missing hour of March it goes straight on; and
 * since Berlin's offsets are whole hours, {@code *}{@code /5} then means every 5 real minutes: the next UTC
 * multiple of 5 minutes strictly after the ping's minute. Every expected instant below is written out in UTC and in
 * Berlin time.
 */
class HeartbeatScheduleTest {

    private static TestDatabase db;
    private MutableClock clock;
    private Heartbeats heartbeats;
    private final List<Notification> announced = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void createDatabase() throws Exception {
        db = TestDatabase.create("heartbeat_schedules");
        SchemaMigrations.apply(db.dataSource(), UptimeSchema.migrations());
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    @BeforeEach
    void engine() throws Exception {
        db.execute("TRUNCATE heartbeat_services, monitor_transitions");
        // Before every instant the tests set: the engine's own first tick (on its thread, at start) reads the clock
        // at some point, and time only moves forward from there. Ticks are driven by the test (the engine's own
        // runs once at start, then hourly).
        clock = new MutableClock(Instant.parse("2026-01-01T00:00:00Z"));
        heartbeats = new Heartbeats(db.dataSource(), new StateTransitions(), (c, n, now) -> announced.add(n), null,
            clock, Duration.ofHours(1), () -> { }, new SimpleMeterRegistry());
        heartbeats.start();
    }

    @AfterEach
    void close() {
        heartbeats.close();
    }

    private ServiceState register(String id) throws Exception {
        final ServiceState s = heartbeats.store().put(new ServiceSpec(id, null, Duration.ofMinutes(2), List.of("ok"),
            "*/5 * * * *", "Europe/Berlin"));
        heartbeats.registered(s);
        return s;
    }

    private String state(String id) throws Exception {
        return heartbeats.store().get(id).orElseThrow().state();
    }

    /** Pings at {@code ping}, then checks UP just before {@code down} and DOWN just after it. */
    private void expectDownAt(String id, String ping, String down) throws Exception {
        clock.set(Instant.parse(ping));
        assertEquals(Heartbeats.Outcome.OK, heartbeats.ping(id, 0));
        heartbeats.tick();
        assertEquals(Instant.parse(down), heartbeats.store().get(id).orElseThrow().alertAfter(), "after a ping at "
            + ping);
        clock.set(Instant.parse(down).minusMillis(1));
        heartbeats.tick();
        assertEquals(ServiceState.UP, state(id), "1 ms before " + down);
        clock.set(Instant.parse(down).plusMillis(1));
        heartbeats.tick();
        assertEquals(ServiceState.DOWN, state(id), "1 ms after " + down);
        assertEquals("service.unavailable", announced.get(announced.size() - 1).type());
    }

    @Test
    void autumnChangeTheRepeatedHourIsCheckedInBothPasses() throws Exception {
        register("backup");
        // 2026-10-25: 03:00 CEST (01:00Z) becomes 02:00 CET; 02:00-02:59 Berlin happens twice.
        // Ping 02:52:30 CEST -> due 02:55 CEST (00:55Z) -> DOWN after 02:57 CEST (00:57Z).
        expectDownAt("backup", "2026-10-25T00:52:30Z", "2026-10-25T00:57:00Z");
        // Ping 02:58:10 CEST -> due 02:00 CET (01:00Z, the first time of the repeated hour) -> DOWN after 02:02 CET.
        expectDownAt("backup", "2026-10-25T00:58:10Z", "2026-10-25T01:02:00Z");
        // Ping 02:30:00 CET, exactly on a schedule time -> due the next one, 02:35 CET (01:35Z) -> 01:37Z.
        expectDownAt("backup", "2026-10-25T01:30:00Z", "2026-10-25T01:37:00Z");
        // Ping 02:57:30 CET (second pass) -> due 03:00 CET (02:00Z) -> DOWN after 03:02 CET (02:02Z).
        expectDownAt("backup", "2026-10-25T01:57:30Z", "2026-10-25T02:02:00Z");
    }

    @Test
    void springChangeTheMissingHourIsSkippedWithoutAGap() throws Exception {
        register("backup");
        // 2026-03-29: 02:00 CET (01:00Z) becomes 03:00 CEST; 02:00-02:59 Berlin does not exist.
        // Ping 01:58 CET (00:58Z) -> due 03:00 CEST (01:00Z) -> DOWN after 03:02 CEST (01:02Z).
        expectDownAt("backup", "2026-03-29T00:58:00Z", "2026-03-29T01:02:00Z");
        // Ping 03:01:59 CEST (01:01:59Z) -> due 03:05 CEST (01:05Z) -> 01:07Z.
        expectDownAt("backup", "2026-03-29T01:01:59Z", "2026-03-29T01:07:00Z");
    }

    @Test
    void aServiceBackAfterDownIsExpectedByTheScheduleAgain() throws Exception {
        register("job");
        expectDownAt("job", "2026-10-25T00:12:00Z", "2026-10-25T00:17:00Z");
        clock.set(Instant.parse("2026-10-25T00:21:00Z"));
        heartbeats.ping("job", 0);
        assertEquals(ServiceState.UP, state("job"));
        assertEquals("service.available", announced.get(announced.size() - 1).type());
        assertEquals(Instant.parse("2026-10-25T00:27:00Z"), heartbeats.store().get("job").orElseThrow().alertAfter());
    }

    @Test
    void changingTheScheduleRecomputesTheDeadlineAndBadSchedulesNameTheField() throws Exception {
        register("job");
        clock.set(Instant.parse("2026-10-25T00:12:00Z"));
        heartbeats.ping("job", 0);
        final ServiceState hourly = heartbeats.store().put(new ServiceSpec("job", null, Duration.ofMinutes(2),
            List.of("ok"), "0 * * * *", "Europe/Berlin"));
        assertEquals(Instant.parse("2026-10-25T01:02:00Z"), hourly.alertAfter());
        final ServiceState period = heartbeats.store().put(new ServiceSpec("job", Duration.ofMinutes(10),
            Duration.ofMinutes(1), List.of("ok")));
        assertEquals(Instant.parse("2026-10-25T00:23:00Z"), period.alertAfter(), "back to the fixed period");

        final IllegalArgumentException cron = assertThrows(IllegalArgumentException.class, () -> new ServiceSpec("x",
            null, Duration.ZERO, List.of("ok"), "*/5 * * *", null));
        assertTrue(cron.getMessage().startsWith("schedule: '*/5 * * *' is not a five-field cron expression"),
            cron.getMessage());
        final IllegalArgumentException tz = assertThrows(IllegalArgumentException.class, () -> new ServiceSpec("x",
            null, Duration.ZERO, List.of("ok"), "*/5 * * * *", "Mars/Olympus"));
        assertTrue(tz.getMessage().startsWith("tz: unknown time zone 'Mars/Olympus'"), tz.getMessage());
        final IllegalArgumentException both = assertThrows(IllegalArgumentException.class, () -> new ServiceSpec("x",
            Duration.ofMinutes(5), Duration.ZERO, List.of("ok"), "*/5 * * * *", null));
        assertTrue(both.getMessage().startsWith("timeout: not used with a schedule"), both.getMessage());
    }
}
