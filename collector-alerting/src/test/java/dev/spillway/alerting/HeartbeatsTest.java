package dev.spillway.alerting;

import dev.spillway.uptime.heartbeat.Heartbeats;
import dev.spillway.uptime.heartbeat.ServiceSpec;
import dev.spillway.uptime.heartbeat.ServiceState;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import dev.spillway.uptime.schema.UptimeSchema;
import dev.spillway.runtime.db.SchemaMigrations;
import dev.spillway.testkit.MutableClock;
import dev.spillway.uptime.transitions.StateTransitions;
import dev.spillway.telemetry.testsupport.TestDatabase;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The heartbeat state machine against a real PostgreSQL with a manual clock: announcements on first ping,
 * status change, silence and return; batched ping persistence; restart across a deadline; two collectors.
 * The outbox's log channel shows what would be announced.
 */
class HeartbeatsTest {

    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
    private static TestDatabase db;

    private final List<Heartbeats> engines = new ArrayList<>();
    private MutableClock clock;

    @BeforeAll
    static void createDatabase() throws Exception {
        db = TestDatabase.create("heartbeats");
        SchemaMigrations.apply(db.dataSource(), Stream.concat(UptimeSchema.migrations().stream(), AlertingSchema.migrations().stream()).toList());
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    @BeforeEach
    void fresh() {
        db.execute("TRUNCATE notification_outbox, heartbeat_services, monitor_transitions");
        clock = new MutableClock(T0);
    }

    @AfterEach
    void closeEngines() {
        engines.forEach(Heartbeats::close);
        engines.clear();
    }

    /** A collector's heartbeat engine on its own connections; ticks are driven by the test. */
    private Heartbeats engine() throws Exception {
        final PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setURL(db.jdbcUrl());
        ds.setUser(db.user());
        ds.setPassword(db.password());
        final Heartbeats h = new Heartbeats(ds, new StateTransitions(), Outbox::enqueue, null, clock, Duration.ofHours(1), () -> { },
            new SimpleMeterRegistry());
        h.start();
        engines.add(h);
        return h;
    }

    private static ServiceSpec spec(String id) {
        return new ServiceSpec(id, Duration.ofSeconds(30), Duration.ofSeconds(5), List.of("ok", "degraded",
            "maintenance"));
    }

    /** Announcements on the log channel, oldest first, as "type old->new @epochSecond". */
    private static List<String> announced() throws Exception {
        final List<String> out = new ArrayList<>();
        try (Connection c = db.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT type, subject, old_state, new_state, "
                 + "extract(epoch FROM occurred_at)::bigint, details->>'status' FROM notification_outbox "
                 + "WHERE channel_id = 'log' ORDER BY id")) {
            while (rs.next()) {
                out.add(rs.getString(1) + " " + rs.getString(2) + " " + rs.getString(3) + "->" + rs.getString(4) + " @"
                    + (rs.getLong(5) - T0.getEpochSecond()) + " status=" + rs.getString(6));
            }
        }
        return out;
    }

    @Test
    void firstPingStatusChangesSilenceAndReturn() throws Exception {
        final Heartbeats h = engine();
        h.registered(h.store().put(spec("checkout")));
        h.tick();
        assertEquals(List.of(), announced(), "a registered service is silently unavailable");

        assertEquals(Heartbeats.Outcome.OK, h.ping("checkout", 0));
        clock.advance(Duration.ofSeconds(1));
        assertEquals(Heartbeats.Outcome.OK, h.ping("checkout", 0));
        assertEquals(List.of(), announced(), "the first ping (state ok) is recorded, not announced");

        clock.advance(Duration.ofSeconds(1));
        h.ping("checkout", 1);
        h.ping("checkout", 1);
        clock.advance(Duration.ofSeconds(1));
        h.ping("checkout", 0);
        assertEquals(List.of(
            "service.status checkout ok->degraded @2 status=degraded",
            "service.status checkout degraded->ok @3 status=ok"), announced());

        // Silence: due at last ping (3 s) + 30 s + 5 s = 38 s.
        clock.set(T0.plusSeconds(38));
        h.tick();
        assertEquals(2, announced().size(), "not before the deadline has passed");
        clock.set(T0.plusSeconds(38).plusMillis(1));
        h.tick();
        h.tick();
        assertEquals("service.unavailable checkout available->unavailable @38 status=ok", announced().get(2));
        assertEquals(3, announced().size(), "announced once");

        clock.advance(Duration.ofMinutes(5));
        h.ping("checkout", 0);
        assertEquals("service.available checkout unavailable->available @338 status=ok", announced().get(3));
        assertEquals(List.of("null->UP", "UP->DOWN", "DOWN->UP"), transitions("checkout"));
    }

    @Test
    void aFirstPingWithAStatusAnnouncesItAndBadPingsAreRefused() throws Exception {
        final Heartbeats h = engine();
        h.registered(h.store().put(spec("batch")));
        assertEquals(Heartbeats.Outcome.OK, h.ping("batch", 2));
        assertEquals(List.of("service.available batch null->available @0 status=maintenance"), announced());
        assertEquals(Heartbeats.Outcome.BAD_STATUS, h.ping("batch", 3));
        assertEquals(Heartbeats.Outcome.BAD_STATUS, h.ping("batch", -1));
        assertEquals(Heartbeats.Outcome.UNKNOWN_SERVICE, h.ping("nobody", 0));
        assertEquals(1, announced().size(), "a first state with a non-normal status is announced");
    }

    @Test
    void routinePingsStayInMemoryUntilTheTickButNeverCauseAFalseAlarm() throws Exception {
        final Heartbeats h = engine();
        h.registered(h.store().put(spec("api")));
        h.ping("api", 0);
        for (int i = 1; i <= 1000; i++) {
            clock.set(T0.plusMillis(i * 30));
            h.ping("api", 0);
        }
        assertEquals(T0, h.store().get("api").orElseThrow().lastPing(), "no database write per ping");
        // 30 s after the last ping the stored deadline (from the first ping) has passed, the real one has not.
        clock.set(T0.plusSeconds(40));
        h.tick();
        final ServiceState s = h.store().get("api").orElseThrow();
        assertEquals(T0.plusSeconds(30), s.lastPing(), "flushed before deadlines are checked");
        assertEquals(T0.plusSeconds(65), s.alertAfter());
        assertEquals("up", s.state());
        assertEquals(0, announced().size(), "no false alarm (and the quiet first ping)");
    }

    @Test
    void aDeadlinePassedWhileTheCollectorWasDownIsAnnouncedOnceAfterRestart() throws Exception {
        final Heartbeats first = engine();
        first.registered(first.store().put(spec("nightly")));
        first.ping("nightly", 0);
        clock.set(T0.plusSeconds(10));
        first.ping("nightly", 0); // fast path: only in memory until close() persists it
        first.close();
        engines.remove(first);

        clock.set(T0.plusSeconds(600)); // the collector was down across the deadline (10 + 35 s)
        final Heartbeats second = engine();
        second.tick();
        second.tick();
        assertEquals(List.of(
            "service.unavailable nightly available->unavailable @45 status=ok"), announced());
        second.close();
        engines.remove(second);

        clock.advance(Duration.ofSeconds(60));
        final Heartbeats third = engine();
        third.tick();
        assertEquals(1, announced().size(), "a second restart announces nothing again");
    }

    @Test
    void twoCollectorsOnOneDatabaseNeverBothAnnounceAFlip() throws Exception {
        final Heartbeats a = engine();
        final int services = 30;
        for (int i = 0; i < services; i++) {
            a.registered(a.store().put(spec("svc" + i)));
            a.ping("svc" + i, 0);
        }
        final Heartbeats b = engine();
        clock.set(T0.plusSeconds(36));
        final ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            final CountDownLatch go = new CountDownLatch(1);
            final List<Future<?>> runs = new ArrayList<>();
            for (Heartbeats h : List.of(a, b)) {
                runs.add(pool.submit(() -> {
                    go.await();
                    h.tick();
                    return null;
                }));
            }
            go.countDown();
            for (Future<?> f : runs) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(services, db.queryLong("SELECT count(*) FROM notification_outbox WHERE channel_id = 'log' "
            + "AND type = 'service.unavailable'"));
        assertEquals(services, db.queryLong("SELECT count(DISTINCT subject) FROM notification_outbox "
            + "WHERE channel_id = 'log' AND type = 'service.unavailable'"));
        assertEquals(services, db.queryLong("SELECT count(*) FROM monitor_transitions WHERE to_state = 'DOWN'"));
    }

    @Test
    void aCollectorWithStaleMemoryStillAnnouncesTheReturnAfterAnotherFlippedIt() throws Exception {
        final Heartbeats a = engine();
        a.registered(a.store().put(spec("worker")));
        a.ping("worker", 0);
        final Heartbeats b = engine();
        clock.set(T0.plusSeconds(36));
        b.tick(); // b flips; a still believes the service is available
        clock.advance(Duration.ofSeconds(1));
        a.ping("worker", 0); // fast path on a's stale memory
        a.tick();
        assertEquals(List.of(
            "service.unavailable worker available->unavailable @35 status=ok",
            "service.available worker unavailable->available @37 status=ok"), announced());
        assertEquals("up", a.store().get("worker").orElseThrow().state());
    }

    @Test
    void concurrentPingsWithChangingStatusesAnnounceAnUnbrokenChain() throws Exception {
        final Heartbeats h = engine();
        h.registered(h.store().put(spec("flappy")));
        h.ping("flappy", 0);
        final ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            final CountDownLatch go = new CountDownLatch(1);
            final List<Future<?>> runs = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                final int seed = t;
                runs.add(pool.submit(() -> {
                    go.await();
                    for (int i = 0; i < 40; i++) {
                        h.ping("flappy", (i * 7 + seed * 3) % 5 == 0 ? 1 : 0);
                    }
                    return null;
                }));
            }
            go.countDown();
            for (Future<?> f : runs) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        h.tick();
        // Every change is announced: each announcement starts where the previous one ended, and the last one is
        // the stored status.
        final List<String[]> chain = new ArrayList<>();
        try (Connection c = db.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT old_state, new_state FROM notification_outbox WHERE channel_id = "
                 + "'log' AND type = 'service.status' ORDER BY id")) {
            while (rs.next()) {
                chain.add(new String[] {rs.getString(1), rs.getString(2)});
            }
        }
        String current = "ok";
        for (String[] change : chain) {
            assertEquals(current, change[0], "a status change was not announced before this one");
            current = change[1];
        }
        final ServiceState stored = h.store().get("flappy").orElseThrow();
        assertEquals(current, stored.spec().statusName(stored.status()), "the last announcement is the stored status");
        final int before = announced().size();
        h.ping("flappy", stored.status());
        assertEquals(before, announced().size(), "memory agrees with the database: no announcement");
    }

    private static List<String> transitions(String subject) throws Exception {
        final List<String> out = new ArrayList<>();
        try (Connection c = db.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT from_state, to_state FROM monitor_transitions WHERE kind = "
                 + "'heartbeat' AND monitor = '" + subject + "' ORDER BY id")) {
            while (rs.next()) {
                out.add(rs.getString(1) + "->" + rs.getString(2));
            }
        }
        return out;
    }

    /**
     * Two collectors' engines flush the ping times of the same services at the same moment, having received the
     * pings in opposite orders. Each flush updates many rows in one implicit transaction; unless both lock them in
     * the same order, PostgreSQL finds a deadlock and aborts one flush (seen at shutdown under ping load).
     */
    @Test
    void concurrentFlushesOfTheSameServicesNeverDeadlock() throws Exception {
        final Heartbeats a = engine();
        final Heartbeats b = engine();
        final int services = 200;
        for (int i = 0; i < services; i++) {
            a.registered(a.store().put(spec("svc-" + i)));
        }
        for (int i = 0; i < services; i++) {
            assertEquals(Heartbeats.Outcome.OK, a.ping("svc-" + i, 0));
        }
        b.tick();
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        for (int round = 1; round <= 20 && failure.get() == null; round++) {
            clock.advance(Duration.ofMillis(100));
            for (int i = 0; i < services; i++) {
                a.ping("svc-" + i, 0);
                b.ping("svc-" + (services - 1 - i), 0);
            }
            final CountDownLatch go = new CountDownLatch(1);
            final List<Thread> flushes = new ArrayList<>();
            for (Heartbeats h : List.of(a, b)) {
                final Thread t = new Thread(() -> {
                    try {
                        go.await();
                        h.tick();
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    }
                });
                t.start();
                flushes.add(t);
            }
            go.countDown();
            for (Thread t : flushes) {
                t.join(TimeUnit.SECONDS.toMillis(60));
                assertFalse(t.isAlive(), "flush finished");
            }
        }
        assertNull(failure.get(), () -> "a flush failed: " + failure.get());
        assertEquals(0, db.queryLong("SELECT count(*) FROM heartbeat_services WHERE state <> 'up'"));
    }
}
