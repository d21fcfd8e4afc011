package dev.spillway.alerting;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.runtime.api.ApiResponse;
import dev.spillway.runtime.api.ApiRouter;
import dev.spillway.runtime.db.SchemaMigrations;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.FakeReceiver;
import dev.spillway.testkit.MutableClock;
import dev.spillway.uptime.schema.UptimeSchema;
import dev.spillway.uptime.transitions.Notification;
import dev.spillway.uptime.transitions.StateTransitions;
import dev.spillway.uptime.transitions.Transition;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Dependencies and the end of holds, through the real transition listener, outbox, relay and a real receiver on
 * loopback, on PostgreSQL, with a manual clock: children of a down parent are recorded and held, the parent's
 * message counts them, children still down when the parent recovers are announced once and a child that went down
 * and up meanwhile is not; a DOWN held by a maintenance window and still DOWN at its end is announced once then, and
 * a window holds reminders too.
 */
class DependenciesTest {

    private static final Instant T0 = Instant.parse("2026-07-01T00:00:00Z");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ZoneId BERLIN = ZoneId.of("Europe/Berlin");
    private static TestDatabase db;

    private final List<AutoCloseable> closeMe = new ArrayList<>();
    private FakeReceiver receiver;
    private MutableClock clock;
    private ApiRouter router;
    private StateTransitions transitions;

    @BeforeAll
    static void createDatabase() throws Exception {
        db = TestDatabase.create("notify_dependencies");
        SchemaMigrations.apply(db.dataSource(), Stream.concat(UptimeSchema.migrations().stream(),
            AlertingSchema.migrations().stream()).toList());
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    @BeforeEach
    void fresh() throws Exception {
        db.execute("TRUNCATE notification_outbox, notification_acks, notification_held, maintenance_windows, "
            + "monitor_transitions");
        db.execute("DELETE FROM notification_channels WHERE id <> 'log'");
        db.execute("DELETE FROM monitor_state");
        db.execute("DELETE FROM monitors");
        db.execute("DELETE FROM heartbeat_services");
        receiver = new FakeReceiver();
        closeMe.add(receiver);
        clock = new MutableClock(T0);
        router = new ApiRouter(1 << 20, 2, 16);
        closeMe.add(router::close);
        new NotifyApi(db.dataSource(), () -> { }, clock).register(router);
        transitions = new StateTransitions();
        transitions.addListener(new MonitorNotifications(clock, () -> { }));
    }

    @AfterEach
    void closeAll() throws Exception {
        for (int i = closeMe.size() - 1; i >= 0; i--) {
            closeMe.get(i).close();
        }
        closeMe.clear();
    }

    private OutboxRelay relay() {
        // A burst large enough that the manual clock never waits for the rate limit.
        final NotifySettings d = NotifySettings.defaults();
        final OutboxRelay r = new OutboxRelay(db.dataSource(), new Messages(null), new NotifySettings(Duration.ofDays(30),
            d.ratePerSecond(), 100, d.requestTimeout(), d.backoffBase(), d.backoffMax(), d.pollInterval()), clock,
            () -> 0.0, new SimpleMeterRegistry());
        closeMe.add(0, r);
        return r;
    }

    private static void drain(OutboxRelay relay) throws Exception {
        while (relay.drainOnce() > 0) {
            // until nothing is due
        }
    }

    private void hook(String repeat) throws Exception {
        final ApiResponse r = router.dispatch("PUT", "/api/v1/channels/hook", Map.of(),
            Map.of("content-type", "application/json"), ("{\"kind\":\"webhook\",\"url\":\"" + receiver.url("/hook")
                + "\",\"group_window\":\"0s\",\"repeat_interval\":\"" + repeat + "\"}").getBytes(StandardCharsets.UTF_8),
            true).get(10, TimeUnit.SECONDS);
        assertEquals(200, r.status(), new String(r.body(), StandardCharsets.UTF_8));
    }

    private static void monitor(String name, String parent, String tags) {
        db.execute("INSERT INTO monitors (name, url, parent, tags) VALUES ('" + name + "', 'http://127.0.0.1:9/', "
            + (parent == null ? "NULL" : "'" + parent + "'") + ", '" + tags + "')");
    }

    /** A confirmed change as the monitor side makes it: the state row and the transition in one transaction. */
    private void change(String name, String from, String to) throws Exception {
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            try (var ps = c.prepareStatement("INSERT INTO monitor_state (name, state, confirmed_state, since) "
                + "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state, "
                + "confirmed_state = EXCLUDED.confirmed_state, since = EXCLUDED.since")) {
                ps.setString(1, name);
                ps.setString(2, to);
                ps.setString(3, to);
                ps.setTimestamp(4, java.sql.Timestamp.from(clock.instant()));
                ps.executeUpdate();
            }
            transitions.record(c, Transition.of(Transition.KIND_HTTP, name, from, to, clock.instant(),
                "DOWN".equals(to) ? "HTTP 500" : null));
            c.commit();
        }
    }

    /** A heartbeat service's availability changing, as the heartbeat side announces it. */
    private void service(String id, String state, String from, String to) throws Exception {
        db.execute("UPDATE heartbeat_services SET state = '" + state + "', alert_after = '" + clock.instant()
            + "' WHERE id = '" + id + "'");
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            Outbox.enqueue(c, new Notification("service." + to, "service", id, from, to, clock.instant(), Map.of()),
                clock.instant());
            c.commit();
        }
    }

    /** What the receiver got: each message's text. */
    private List<String> texts() throws Exception {
        final List<String> out = new ArrayList<>();
        for (FakeReceiver.Received r : receiver.received("/hook")) {
            out.add(JSON.readTree(r.body()).get("text").asText());
        }
        return out;
    }

    private void at(Duration sinceT0) {
        clock.set(T0.plus(sinceT0));
    }

    @Test
    void childrenAreHeldWhileTheParentIsDownAndThoseStillDownAreAnnouncedOnceWhenItRecovers() throws Exception {
        hook("0s");
        monitor("db", null, "{}");
        for (String m : List.of("web1", "web2", "web3")) {
            monitor(m, "db", "{}");
        }
        db.execute("INSERT INTO heartbeat_services (id, timeout_ms, grace_ms, statuses, state, parent) VALUES "
            + "('backup', 60000, 0, '[\"ok\"]', 'up', 'db'), ('queue', 60000, 0, '[\"ok\"]', 'up', NULL)");
        monitor("consumer", "queue", "{}");
        for (String m : List.of("db", "web1", "web2", "web3", "consumer")) {
            change(m, null, "UP"); // first states: recorded, not announced
        }
        final OutboxRelay relay = relay();

        at(Duration.ofMinutes(1));
        change("db", "UP", "DOWN");
        at(Duration.ofMinutes(2));
        change("web1", "UP", "DOWN");
        change("web2", "UP", "DOWN");
        change("web3", "UP", "DOWN");
        service("backup", "down", "available", "unavailable");
        drain(relay);
        assertEquals(List.of("Monitor db is down (was up): HTTP 500\n4 notifications of dependent monitors or services "
            + "held (their parent is down)"), texts(), "the parent's DOWN counts the held children; no child's message");
        final JsonNode first = JSON.readTree(receiver.received("/hook").get(0).body());
        assertEquals("4", first.get("details").get("held_children").asText(), first.toString());

        at(Duration.ofMinutes(3));
        change("web3", "DOWN", "UP"); // down and up again while the parent is down
        at(Duration.ofMinutes(4));
        drain(relay);
        assertEquals(1, texts().size(), "still nothing about the children");
        assertEquals(5, db.queryLong("SELECT count(*) FROM notification_held WHERE parent = 'db' "
            + "AND released_at IS NULL"), "every child notification held, with its parent");
        assertEquals(0, db.queryLong("SELECT count(*) FROM notification_outbox WHERE subject IN ('web1', 'web2', "
            + "'web3', 'backup')"), "none of them in the outbox, the log channel's included");
        final List<Maintenance.Held> listed = new Maintenance(db.dataSource()).held(20);
        assertEquals(5, listed.size());
        assertTrue(listed.stream().allMatch(x -> "parent:db".equals(x.windowId())),
            "what the status page's held table reads: parent:db (MaintenancePanel shows 'parent db')");

        // A service parent holds a monitor child the same way.
        db.execute("UPDATE heartbeat_services SET state = 'down' WHERE id = 'queue'");
        change("consumer", "UP", "DOWN");
        assertEquals(1, db.queryLong("SELECT count(*) FROM notification_held WHERE subject = 'consumer' "
            + "AND parent_kind = 'service' AND parent = 'queue'"));

        at(Duration.ofMinutes(5));
        change("db", "DOWN", "UP");
        drain(relay);
        assertEquals(List.of(
            "Monitor db is down (was up): HTTP 500\n4 notifications of dependent monitors or services held (their "
                + "parent is down)",
            "Monitor db is up (was down)",
            "Monitor web1 is down (was up): HTTP 500",
            "Monitor web2 is down (was up): HTTP 500",
            "Service backup is unavailable (was available)"), texts(),
            "after the parent's recovery, each child still down once; web3 (down and up meanwhile) not at all");
        final JsonNode web1 = JSON.readTree(receiver.received("/hook").get(2).body());
        assertEquals("parent db", web1.get("details").get("held_by").asText(), web1.toString());
        assertEquals(T0.plus(Duration.ofMinutes(2)).toString(), web1.get("time").asText(), "dated when it happened");

        at(Duration.ofMinutes(6));
        drain(relay);
        change("web1", "DOWN", "UP");
        drain(relay);
        assertEquals(6, texts().size(), "nothing released twice; a later recovery is announced as usual");
        assertEquals("Monitor web1 is up (was down)", texts().get(5));
        assertEquals(0, db.queryLong("SELECT count(*) FROM notification_held WHERE parent = 'db' "
            + "AND released_at IS NULL"), "every hold of db's children released");
        assertEquals(1, db.queryLong("SELECT count(*) FROM notification_held WHERE subject = 'consumer' "
            + "AND released_at IS NULL"), "consumer's parent is still down: still held");
        assertEquals(13, db.queryLong("SELECT count(*) FROM monitor_transitions"), "every transition recorded");
    }

    @Test
    void aParentsRemindersCarryTheCountOfItsChildrensHeldNotifications() throws Exception {
        hook("10m");
        monitor("db", null, "{}");
        for (String m : List.of("web1", "web2", "web3")) {
            monitor(m, "db", "{}");
        }
        for (String m : List.of("db", "web1", "web2", "web3")) {
            change(m, null, "UP");
        }
        final OutboxRelay relay = relay();
        at(Duration.ofMinutes(1));
        change("db", "UP", "DOWN");
        drain(relay); // a lone DOWN goes out at once: no child has failed yet
        assertEquals(List.of("Monitor db is down (was up): HTTP 500"), texts());
        at(Duration.ofMinutes(2));
        change("web1", "UP", "DOWN");
        change("web2", "UP", "DOWN");
        drain(relay);
        assertEquals(1, texts().size(), "the children are held");

        at(Duration.ofMinutes(11)); // db's first reminder: 10 minutes after its incident began
        drain(relay);
        assertEquals(2, texts().size(), texts().toString());
        final JsonNode first = JSON.readTree(receiver.received("/hook").get(1).body());
        assertEquals("monitor.reminder", first.get("type").asText(), first.toString());
        assertEquals("2", first.get("details").get("held_children").asText(), first.toString());
        assertTrue(texts().get(1).endsWith("\n2 notifications of dependent monitors or services held (their parent "
            + "is down)"), texts().get(1));

        at(Duration.ofMinutes(12));
        change("web3", "UP", "DOWN");
        at(Duration.ofMinutes(21));
        drain(relay);
        assertEquals(3, texts().size(), texts().toString());
        final JsonNode second = JSON.readTree(receiver.received("/hook").get(2).body());
        assertEquals("2", second.get("details").get("reminder").asText(), second.toString());
        assertEquals("3", second.get("details").get("held_children").asText(),
            "counted from the incident's start until the reminder was sent");
    }

    @Test
    void threeRelaysOnOneDatabaseReleaseEachHeldChildOnce() throws Exception {
        hook("0s");
        monitor("db", null, "{}");
        final List<String> children = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            children.add(String.format("web%02d", i));
            monitor(children.get(i), "db", "{}");
        }
        change("db", null, "UP");
        for (String m : children) {
            change(m, null, "UP");
        }
        at(Duration.ofMinutes(1));
        change("db", "UP", "DOWN");
        at(Duration.ofMinutes(2));
        for (String m : children) {
            change(m, "UP", "DOWN");
        }
        at(Duration.ofMinutes(3));
        change("db", "DOWN", "UP");
        assertEquals(20, db.queryLong("SELECT count(*) FROM notification_held WHERE parent = 'db' "
            + "AND released_at IS NULL"));

        // Three relays, each on its own connection pool, run their pass at the same moment.
        final List<OutboxRelay> relays = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            final org.postgresql.ds.PGSimpleDataSource ds = new org.postgresql.ds.PGSimpleDataSource();
            ds.setURL(db.jdbcUrl());
            ds.setUser(db.user());
            ds.setPassword(db.password());
            final NotifySettings d = NotifySettings.defaults();
            final OutboxRelay r = new OutboxRelay(ds, new Messages(null), new NotifySettings(Duration.ofDays(30),
                d.ratePerSecond(), 100, d.requestTimeout(), d.backoffBase(), d.backoffMax(), d.pollInterval()), clock,
                () -> 0.0, new SimpleMeterRegistry());
            closeMe.add(0, r);
            relays.add(r);
        }
        final java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
        final java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(3);
        try {
            final List<java.util.concurrent.Future<?>> runs = new ArrayList<>();
            for (OutboxRelay r : relays) {
                runs.add(pool.submit(() -> {
                    go.await();
                    drain(r);
                    return null;
                }));
            }
            go.countDown();
            for (java.util.concurrent.Future<?> f : runs) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        for (OutboxRelay r : relays) {
            drain(r);
        }
        assertEquals(0, db.queryLong("SELECT count(*) FROM notification_held WHERE parent = 'db' "
            + "AND released_at IS NULL"), "every hold released");
        for (String m : children) {
            assertEquals(1, db.queryLong("SELECT count(*) FROM notification_outbox WHERE channel_id = 'hook' "
                + "AND subject = '" + m + "'"), m + ": one release message");
        }
        final List<String> got = texts();
        assertEquals(22, got.size(), got.toString());
        for (String m : children) {
            assertEquals(1, got.stream().filter(t -> t.equals("Monitor " + m + " is down (was up): HTTP 500")).count(),
                m + " announced exactly once: " + got);
        }
    }

    @Test
    void aDigestWithTheParentsDownCarriesTheHeldLine() throws Exception {
        final ApiResponse r = router.dispatch("PUT", "/api/v1/channels/grouped", Map.of(),
            Map.of("content-type", "application/json"), ("{\"kind\":\"webhook\",\"url\":\"" + receiver.url("/grouped")
                + "\",\"group_window\":\"30s\"}").getBytes(StandardCharsets.UTF_8), true).get(10, TimeUnit.SECONDS);
        assertEquals(200, r.status(), new String(r.body(), StandardCharsets.UTF_8));
        monitor("db", null, "{}");
        monitor("cache", null, "{}");
        monitor("web", "db", "{}");
        for (String m : List.of("db", "cache", "web")) {
            change(m, null, "UP");
        }
        at(Duration.ofMinutes(1));
        change("db", "UP", "DOWN");
        change("cache", "UP", "DOWN");
        change("web", "UP", "DOWN");
        drain(relay());
        final List<FakeReceiver.Received> got = receiver.received("/grouped");
        assertEquals(1, got.size(), got.toString());
        final JsonNode digest = JSON.readTree(got.get(0).body());
        assertEquals("digest", digest.get("type").asText(), digest.toString());
        assertEquals("2 monitors down: db, cache\n1 notification of dependent monitors or services held (their parent "
            + "is down)", digest.get("text").asText());
    }

    private static Instant berlin(String local) {
        return ZonedDateTime.of(LocalDateTime.parse(local), BERLIN).toInstant();
    }

    @Test
    void aDownHeldByAWindowIsAnnouncedOnceAtItsEndAndAWindowHoldsReminders() throws Exception {
        hook("10m");
        new Maintenance(db.dataSource()).put(new MaintenanceWindow("nightly", "tag", "team=db", null, null,
            "0 2 * * *", Duration.ofMinutes(30), BERLIN, "backup"));
        monitor("api", null, "{\"team\":\"db\"}");
        monitor("db", null, "{\"team\":\"db\"}");
        monitor("cache", null, "{\"team\":\"db\"}");
        monitor("web", null, "{}");
        clock.set(berlin("2026-07-01T01:00:00"));
        for (String m : List.of("api", "db", "cache", "web")) {
            change(m, null, "UP");
        }
        final OutboxRelay relay = relay();
        clock.set(berlin("2026-07-01T01:55:00"));
        change("api", "UP", "DOWN"); // before the window: announced
        drain(relay);
        assertEquals(List.of("Monitor api is down (was up): HTTP 500"), texts());

        clock.set(berlin("2026-07-01T02:05:00"));
        change("db", "UP", "DOWN");
        change("web", "UP", "DOWN"); // not covered
        clock.set(berlin("2026-07-01T02:10:00"));
        change("cache", "UP", "DOWN");
        drain(relay);
        clock.set(berlin("2026-07-01T02:20:00"));
        change("cache", "DOWN", "UP");
        drain(relay);
        clock.set(berlin("2026-07-01T02:29:59"));
        drain(relay);
        assertEquals(List.of("Monitor api is down (was up): HTTP 500", "Monitor web is down (was up): HTTP 500",
            "Monitor web is down, still, since " + berlin("2026-07-01T02:05:00") + " (reminder 1)",
            "Monitor web is down, still, since " + berlin("2026-07-01T02:05:00") + " (reminder 2)"), texts(),
            "inside the window: web (not covered) is announced and reminded of; api's reminders (due at 02:05, 02:15, "
                + "02:25) and db's DOWN are held");

        clock.set(berlin("2026-07-01T02:30:00"));
        drain(relay);
        assertEquals(List.of("Monitor db is down (was up): HTTP 500",
            "Monitor api is down, still, since " + berlin("2026-07-01T01:55:00") + " (reminder 3)"),
            texts().subList(4, texts().size()), "at the window's end: db, still DOWN, announced once; cache (down and "
                + "up inside) not at all; api's newest due reminder");
        final JsonNode released = JSON.readTree(receiver.received("/hook").get(4).body());
        assertEquals("maintenance window nightly", released.get("details").get("held_by").asText());
        assertEquals("monitor.down", released.get("type").asText());

        clock.set(berlin("2026-07-01T02:35:00"));
        drain(relay);
        assertEquals(List.of("Monitor web is down, still, since " + berlin("2026-07-01T02:05:00") + " (reminder 3)",
            "Monitor api is down, still, since " + berlin("2026-07-01T01:55:00") + " (reminder 4)"),
            texts().subList(6, texts().size()).stream().sorted(java.util.Comparator.reverseOrder()).toList(),
            "nothing twice; db's reminder (3, due since 02:35) waits one interval after its release");
        clock.set(berlin("2026-07-01T02:40:00"));
        drain(relay);
        assertEquals(List.of("Monitor db is down, still, since " + berlin("2026-07-01T02:05:00") + " (reminder 3)"),
            texts().subList(8, texts().size()), "reminders as usual after that");
        assertEquals(0, db.queryLong("SELECT count(*) FROM notification_held WHERE released_at IS NULL"));
        assertEquals(3, db.queryLong("SELECT count(*) FROM notification_held WHERE window_id = 'nightly'"),
            "db's DOWN, cache's DOWN and UP were held");
    }
}
