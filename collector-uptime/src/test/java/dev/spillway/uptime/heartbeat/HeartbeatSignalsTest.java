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

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * Healthchecks-style signals against a real PostgreSQL with a manual clock: start and success paired (by run id,
 * or the newest start without one), overlapping runs, runs longer than max_run, fail and exit statuses, and log
 * bodies cut at 10,000 bytes.
 */
class HeartbeatSignalsTest {

    private static final Instant T0 = Instant.parse("2026-06-01T12:00:00Z");
    private static TestDatabase db;
    private MutableClock clock;
    private Heartbeats heartbeats;
    private HeartbeatRuns runs;
    private final List<Notification> announced = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void createDatabase() throws Exception {
        db = TestDatabase.create("heartbeat_signals");
        SchemaMigrations.apply(db.dataSource(), UptimeSchema.migrations());
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    @BeforeEach
    void engine() throws Exception {
        db.execute("TRUNCATE heartbeat_services, heartbeat_events, monitor_transitions");
        clock = new MutableClock(T0);
        heartbeats = new Heartbeats(db.dataSource(), new StateTransitions(), (c, n, now) -> announced.add(n), null,
            clock, Duration.ofHours(1), () -> { }, new SimpleMeterRegistry());
        heartbeats.start();
        runs = new HeartbeatRuns(heartbeats, db.dataSource());
        heartbeats.registered(heartbeats.store().put(new ServiceSpec("job", Duration.ofHours(1), Duration.ZERO,
            List.of("ok"), null, null, Duration.ofMinutes(10))));
    }

    @AfterEach
    void close() {
        heartbeats.close();
    }

    private String state() throws Exception {
        return heartbeats.store().get("job").orElseThrow().state();
    }

    private static String lastReason() throws Exception {
        try (Connection c = db.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT to_state || ': ' || reason FROM monitor_transitions "
                 + "WHERE kind = 'heartbeat' ORDER BY id DESC LIMIT 1")) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    private void at(long seconds) {
        clock.set(T0.plusSeconds(seconds));
    }

    @Test
    void aStartIsEndedByTheNextPlainPingAndItsDurationKept() throws Exception {
        assertEquals(Heartbeats.Outcome.OK, runs.start("job", null, null));
        assertEquals(ServiceState.NEW, state(), "a start alone does not make a service available");
        at(90);
        assertEquals(Heartbeats.Outcome.OK, runs.success("job", null, 0, null));
        assertEquals(ServiceState.UP, state());
        final List<HeartbeatRuns.Event> events = runs.events("job", 10);
        assertEquals(List.of("success", "start"), events.stream().map(HeartbeatRuns.Event::kind).toList());
        assertEquals(90_000.0, events.get(0).durationMs());
        at(100);
        runs.success("job", null, 0, null);
        assertEquals(2, runs.events("job", 10).size(), "a plain ping with no run open is not kept (fast path)");
        assertEquals(Heartbeats.Outcome.UNKNOWN_SERVICE, runs.start("nope", null, null));
        assertEquals(Heartbeats.Outcome.UNKNOWN_SERVICE, runs.fail("nope", null, 1, null));
    }

    @Test
    void overlappingRunsArePairedByTheirRunIds() throws Exception {
        runs.success("job", null, 0, null);
        runs.start("job", "a", null);
        at(10);
        runs.start("job", "b", null);
        at(30);
        runs.success("job", "a", 0, "done a".getBytes(StandardCharsets.UTF_8));
        at(45);
        runs.fail("job", "b", 2, "disk full".getBytes(StandardCharsets.UTF_8));
        final List<HeartbeatRuns.Event> e = runs.events("job", 10);
        assertEquals("fail b 35000.0 2 disk full", e.get(0).kind() + " " + e.get(0).runId() + " " + e.get(0).durationMs()
            + " " + e.get(0).exitStatus() + " " + e.get(0).body());
        assertEquals("success a 30000.0 done a", e.get(1).kind() + " " + e.get(1).runId() + " " + e.get(1).durationMs()
            + " " + e.get(1).body());
        assertEquals(ServiceState.DOWN, state(), "a failure is announced at once");
        assertEquals("DOWN: exit status 2 (run b)", lastReason());
        assertEquals("service.unavailable", announced.get(announced.size() - 1).type());
        at(60);
        runs.success("job", null, 0, null);
        assertEquals(ServiceState.UP, state());
        assertEquals("service.available", announced.get(announced.size() - 1).type());
    }

    @Test
    void aRunLongerThanMaxRunMakesTheServiceUnavailable() throws Exception {
        runs.success("job", null, 0, null);
        at(60);
        runs.start("job", "x", null);
        assertEquals(T0.plusSeconds(60 + 600), heartbeats.store().get("job").orElseThrow().alertAfter(),
            "due by start + max_run, before the hourly ping");
        clock.set(T0.plusSeconds(660).minusMillis(1));
        heartbeats.tick();
        assertEquals(ServiceState.UP, state());
        clock.set(T0.plusSeconds(660).plusMillis(1));
        heartbeats.tick();
        assertEquals(ServiceState.DOWN, state());
        assertEquals("DOWN: run x started at 2026-06-01T12:01:00Z took longer than max_run 10m", lastReason());
        at(700);
        runs.success("job", null, 0, null);
        assertEquals(ServiceState.UP, state());
        assertEquals(T0.plusSeconds(700 + 3600), heartbeats.store().get("job").orElseThrow().alertAfter(),
            "the overrun run no longer holds the deadline");
        at(1500);
        heartbeats.tick();
        assertEquals(ServiceState.UP, state());
        // A run that ends in time gives the deadline back to the pings.
        runs.start("job", "y", null);
        at(1560);
        runs.success("job", "y", 0, null);
        heartbeats.tick();
        assertEquals(T0.plusSeconds(1560 + 3600), heartbeats.store().get("job").orElseThrow().alertAfter());
    }

    @Test
    void logBodiesAreKeptAndCutAt10000Bytes() throws Exception {
        runs.log("job", null, "x".repeat(12_000).getBytes(StandardCharsets.UTF_8));
        assertEquals(10_000, runs.events("job", 1).get(0).body().length());
        runs.log("job", "r1", ("x".repeat(9_999) + "é").getBytes(StandardCharsets.UTF_8));
        final HeartbeatRuns.Event e = runs.events("job", 1).get(0);
        assertEquals("x".repeat(9_999), e.body(), "a character is not split");
        assertEquals("r1", e.runId());
        assertEquals(ServiceState.NEW, state(), "a log changes no state");
        runs.log("job", null, new byte[0]);
        assertNull(runs.events("job", 1).get(0).body());
    }
}
