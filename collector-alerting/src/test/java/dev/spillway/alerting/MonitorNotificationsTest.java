package dev.spillway.alerting;

import java.util.stream.Stream;
import dev.spillway.uptime.schema.UptimeSchema;
import dev.spillway.testkit.MutableClock;
import dev.spillway.runtime.db.SchemaMigrations;
import dev.spillway.uptime.transitions.StateTransitions;
import dev.spillway.uptime.transitions.Transition;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Monitor transitions reach the outbox in the transaction of the state change, and roll back with it. */
class MonitorNotificationsTest {

    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
    private static TestDatabase db;

    @BeforeAll
    static void createDatabase() throws Exception {
        db = TestDatabase.create("monitor_notify");
        SchemaMigrations.apply(db.dataSource(), Stream.concat(UptimeSchema.migrations().stream(), AlertingSchema.migrations().stream()).toList());
        new ChannelStore(db.dataSource()).put("hook", ChannelKind.WEBHOOK, "http://127.0.0.1:9/hook");
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    @Test
    void confirmedTransitionsBecomeOutboxRowsAtomically() throws Exception {
        final StateTransitions transitions = new StateTransitions();
        final AtomicInteger wakeups = new AtomicInteger();
        transitions.addListener(new MonitorNotifications(new MutableClock(T0), wakeups::incrementAndGet));

        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            transitions.record(c, Transition.of(Transition.KIND_HTTP, "example", "UP", "DOWN", T0.minusSeconds(90),
                "connect: Connection refused"));
            c.commit();
        }
        assertEquals(2, db.queryLong("SELECT count(*) FROM notification_outbox WHERE type = 'monitor.down' AND "
            + "subject_kind = 'monitor' AND subject = 'example' AND old_state = 'up' AND new_state = 'down' AND "
            + "occurred_at = '2025-12-31T23:58:30Z' AND details->>'reason' = 'connect: Connection refused'"),
            "one row per channel (log and hook), dated at the first failing check");

        // A state change that rolls back takes its notification with it.
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            transitions.record(c, Transition.of(Transition.KIND_HTTP, "example", "DOWN", "UP", T0, null));
            c.rollback();
        }
        assertEquals(0, db.queryLong("SELECT count(*) FROM notification_outbox WHERE type = 'monitor.up'"));

        // Heartbeat transitions are announced by the heartbeat side itself (with statuses), not twice.
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            transitions.record(c, Transition.of(Transition.KIND_HEARTBEAT, "svc", "UP", "DOWN", T0, "no ping"));
            c.commit();
        }
        assertEquals(0, db.queryLong("SELECT count(*) FROM notification_outbox WHERE subject = 'svc'"));
        assertEquals(2, wakeups.get(), "the relay is woken for monitor transitions (also one that later rolls back)");

        // Without the outbox table the state change fails as a whole (the listener throws inside it).
        final TestDatabase bare = TestDatabase.create("monitor_notify_bare");
        try {
            SchemaMigrations.apply(bare.dataSource(), UptimeSchema.migrations().stream()
                .filter(m -> m.version() == 101).toList());
            try (Connection c = bare.connect()) {
                c.setAutoCommit(false);
                assertThrows(SQLException.class, () -> transitions.record(c, Transition.of(Transition.KIND_HTTP,
                    "example", null, "DOWN", T0, null)));
                c.rollback();
            }
            assertEquals(0, bare.queryLong("SELECT count(*) FROM monitor_transitions"));
        } finally {
            bare.close();
        }
    }

    @Test
    void firstStatesAreRecordedNotAnnouncedUnlessDown() throws Exception {
        db.execute("TRUNCATE notification_outbox");
        final StateTransitions transitions = new StateTransitions();
        final AtomicInteger wakeups = new AtomicInteger();
        transitions.addListener(new MonitorNotifications(new MutableClock(T0), wakeups::incrementAndGet));
        // 1,000 monitors created at once: each first result is recorded, none is announced.
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            for (int i = 0; i < 1000; i++) {
                transitions.record(c, Transition.of(Transition.KIND_HTTP, "bulk-" + i, null, "UP", T0, "first check"));
            }
            c.commit();
        }
        assertEquals(1000, db.queryLong("SELECT count(*) FROM monitor_transitions WHERE monitor LIKE 'bulk-%' "
            + "AND from_state IS NULL AND to_state = 'UP'"), "every first state recorded");
        assertEquals(0, db.queryLong("SELECT count(*) FROM notification_outbox"), "no 'up' message");
        assertEquals(0, wakeups.get(), "nothing to send, nobody woken");

        // A first result of DOWN is news: a new monitor that never worked is announced.
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            transitions.record(c, Transition.of(Transition.KIND_HTTP, "broken-new", null, "DOWN", T0, "HTTP 500"));
            c.commit();
        }
        assertEquals(2, db.queryLong("SELECT count(*) FROM notification_outbox WHERE subject = 'broken-new' "
            + "AND type = 'monitor.down' AND old_state IS NULL"), "log and hook");

        // A service's first ping (the heartbeat side's own notification) is quiet too; a later return is not.
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            assertEquals(0, Outbox.enqueue(c, new dev.spillway.uptime.transitions.Notification("service.available",
                "service", "backup", null, "available", T0, java.util.Map.of()), T0));
            assertEquals(2, Outbox.enqueue(c, new dev.spillway.uptime.transitions.Notification("service.available",
                "service", "backup", "unavailable", "available", T0, java.util.Map.of()), T0));
            c.commit();
        }
    }
}
