package dev.spillway.alerting;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.runtime.api.ApiResponse;
import dev.spillway.runtime.api.ApiRouter;
import dev.spillway.runtime.db.SchemaMigrations;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.FakeReceiver;
import dev.spillway.testkit.MutableClock;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Reminders while a monitor stays DOWN or a service stays unavailable, one per channel and interval; recovery and
 * acknowledgement end them; a new incident reminds again; several relays on one database write each reminder once.
 * Real PostgreSQL, a real receiver on loopback, a manual clock.
 */
class RemindersTest {

    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static TestDatabase db;

    private final List<AutoCloseable> closeMe = new ArrayList<>();
    private FakeReceiver receiver;
    private MutableClock clock;
    private ApiRouter router;

    @BeforeAll
    static void createDatabase() throws Exception {
        db = TestDatabase.create("notify_reminders");
        SchemaMigrations.apply(db.dataSource(), Stream.concat(
            dev.spillway.uptime.schema.UptimeSchema.migrations().stream(), AlertingSchema.migrations().stream()).toList());
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    @BeforeEach
    void fresh() throws Exception {
        db.execute("TRUNCATE notification_outbox, notification_acks");
        db.execute("DELETE FROM notification_channels WHERE id <> 'log'");
        db.execute("DELETE FROM monitors");
        db.execute("DELETE FROM heartbeat_services");
        receiver = new FakeReceiver();
        closeMe.add(receiver);
        clock = new MutableClock(T0);
        router = new ApiRouter(1 << 20, 2, 16);
        closeMe.add(router::close);
        new NotifyApi(db.dataSource(), () -> { }, clock).register(router);
    }

    @AfterEach
    void closeAll() throws Exception {
        for (int i = closeMe.size() - 1; i >= 0; i--) {
            closeMe.get(i).close();
        }
        closeMe.clear();
    }

    private OutboxRelay relay(javax.sql.DataSource ds) {
        final OutboxRelay r = new OutboxRelay(ds, new Messages(null), NotifySettings.defaults().withMaxAge(
            Duration.ofDays(30)), clock, () -> 0.0, new SimpleMeterRegistry());
        closeMe.add(0, r);
        return r;
    }

    private static void drain(OutboxRelay relay) throws Exception {
        while (relay.drainOnce() > 0) {
            // until nothing is due
        }
    }

    private ApiResponse call(String method, String path, String body) throws Exception {
        return router.dispatch(method, path, Map.of(), Map.of("content-type", "application/json"),
            body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8), true).get(10, TimeUnit.SECONDS);
    }

    private void hook(String repeat) throws Exception {
        final ApiResponse r = call("PUT", "/api/v1/channels/hook", "{\"kind\":\"webhook\",\"url\":\""
            + receiver.url("/hook") + "\",\"group_window\":\"0s\",\"repeat_interval\":\"" + repeat + "\"}");
        assertEquals(200, r.status(), new String(r.body(), StandardCharsets.UTF_8));
    }

    /** Monitor state as the monitor side leaves it: confirmed DOWN since the incident's first failing check. */
    private static void monitorDown(String name, Instant since) throws Exception {
        db.execute("INSERT INTO monitors (name, url) VALUES ('" + name + "', 'http://127.0.0.1:9/') "
            + "ON CONFLICT DO NOTHING");
        db.execute("INSERT INTO monitor_state (name, state, confirmed_state, since) VALUES ('" + name + "', 'DOWN', "
            + "'DOWN', '" + since + "') ON CONFLICT (name) DO UPDATE SET state = 'DOWN', confirmed_state = 'DOWN', "
            + "since = EXCLUDED.since");
    }

    private static void monitorUp(String name, Instant since) throws Exception {
        db.execute("UPDATE monitor_state SET state = 'UP', confirmed_state = 'UP', since = '" + since
            + "' WHERE name = '" + name + "'");
    }

    /** The reminders the receiver got, as "subject#number". */
    private List<String> reminders() throws Exception {
        final List<String> out = new ArrayList<>();
        for (FakeReceiver.Received r : receiver.received("/hook")) {
            final JsonNode b = JSON.readTree(r.body());
            assertTrue(b.get("type").asText().endsWith(".reminder"), b.toString());
            assertEquals("firing", b.get("status").asText(), "a reminder is a firing alert");
            out.add(b.get("subject").get("id").asText() + "#" + b.get("details").get("reminder").asText());
        }
        return out;
    }

    private void at(Duration sinceT0, OutboxRelay relay) throws Exception {
        clock.set(T0.plus(sinceT0));
        drain(relay);
    }

    @Test
    void remindsEveryIntervalWhileDownNotAfterRecoveryAndAgainForANewIncident() throws Exception {
        hook("4h");
        monitorDown("web", T0);
        monitorDown("paused", T0);
        db.execute("UPDATE monitor_state SET state = 'PAUSED' WHERE name = 'paused'");
        final OutboxRelay relay = relay(db.dataSource());
        at(Duration.ofHours(1), relay);
        assertEquals(List.of(), reminders(), "nothing before the first interval");
        at(Duration.ofHours(4), relay);
        assertEquals(List.of("web#1"), reminders(), "a paused monitor is not reminded of");
        at(Duration.ofHours(7), relay);
        assertEquals(List.of("web#1"), reminders(), "one reminder per interval");
        at(Duration.ofHours(8), relay);
        assertEquals(List.of("web#1", "web#2"), reminders());
        final JsonNode body = JSON.readTree(receiver.received("/hook").get(1).body());
        assertEquals("Monitor web is down, still, since 2026-01-01T00:00:00Z (reminder 2)", body.get("text").asText());
        assertEquals("SpillwayMonitorDown", body.get("commonLabels").get("alertname").asText(),
            "the same alert as the DOWN it repeats");
        assertEquals(Messages.fingerprint(new dev.spillway.uptime.transitions.Notification("monitor.down", "monitor",
            "web", "up", "down", T0, Map.of())), body.get("alerts").get(0).get("fingerprint").asText(),
            "the same fingerprint as the DOWN it repeats");
        // Recovery ends reminders.
        monitorUp("web", T0.plus(Duration.ofHours(9)));
        at(Duration.ofHours(12), relay);
        at(Duration.ofHours(16), relay);
        assertEquals(List.of("web#1", "web#2"), reminders(), "no reminder after recovery");
        // A new incident reminds again, counted from its own start.
        monitorDown("web", T0.plus(Duration.ofHours(17)));
        at(Duration.ofHours(20), relay);
        assertEquals(List.of("web#1", "web#2"), reminders());
        at(Duration.ofHours(21), relay);
        assertEquals(List.of("web#1", "web#2", "web#1"), reminders());
        assertEquals(0, db.queryLong("SELECT count(*) FROM notification_outbox WHERE type LIKE '%.reminder' "
            + "AND channel_id = 'log'"), "the log channel has no repeat interval");
        assertEquals(3, db.queryLong("SELECT count(*) FROM notification_outbox WHERE type = 'monitor.reminder' "
            + "AND channel_id = 'hook' AND state = 'sent'"), "each reminder an outbox row, sent");
    }

    @Test
    void acknowledgingStopsRemindersForTheCurrentIncidentOnly() throws Exception {
        hook("1h");
        db.execute("INSERT INTO heartbeat_services (id, timeout_ms, grace_ms, statuses, state, alert_after) VALUES "
            + "('backup', 60000, 0, '[\"ok\"]', 'down', '" + T0 + "')");
        monitorDown("web", T0);
        db.execute("INSERT INTO monitors (name, url) VALUES ('fine', 'http://127.0.0.1:9/')");
        final OutboxRelay relay = relay(db.dataSource());
        at(Duration.ofHours(1), relay);
        assertEquals(List.of("backup#1", "web#1"), reminders().stream().sorted().toList());

        assertEquals(404, call("POST", "/api/v1/monitors/nope/ack", null).status());
        assertEquals(404, call("POST", "/api/v1/services/nope/ack", null).status());
        assertEquals(409, call("POST", "/api/v1/monitors/fine/ack", null).status(), "not down: nothing to ack");
        assertEquals(401, router.dispatch("POST", "/api/v1/monitors/web/ack", Map.of(), Map.of(), new byte[0], false)
            .get(10, TimeUnit.SECONDS).status(), "admin credentials");
        assertEquals(200, call("POST", "/api/v1/monitors/web/ack", null).status());
        assertEquals(200, call("POST", "/api/v1/monitors/web/ack", null).status(), "idempotent");
        assertEquals(200, call("POST", "/api/v1/services/backup/ack", null).status());
        at(Duration.ofHours(2), relay);
        at(Duration.ofHours(3), relay);
        assertEquals(List.of("backup#1", "web#1"), reminders().stream().sorted().toList(),
            "no reminders after the acknowledgement");
        // The next incident reminds again.
        monitorUp("web", T0.plus(Duration.ofHours(3)));
        monitorDown("web", T0.plus(Duration.ofHours(4)));
        at(Duration.ofHours(5), relay);
        assertEquals(List.of("backup#1", "web#1", "web#1"), reminders().stream().sorted().toList());
    }

    @Test
    void aChannelWithRoutesIsRemindedOnlyOfWhatTheyMatch() throws Exception {
        final ApiResponse put = call("PUT", "/api/v1/channels/hook", "{\"kind\":\"webhook\",\"url\":\""
            + receiver.url("/hook") + "\",\"group_window\":\"0s\",\"repeat_interval\":\"1h\","
            + "\"routes\":[{\"scope\":\"monitor\",\"target\":\"web\"}]}");
        assertEquals(200, put.status(), new String(put.body(), StandardCharsets.UTF_8));
        monitorDown("web", T0);
        monitorDown("db", T0);
        at(Duration.ofHours(1), relay(db.dataSource()));
        assertEquals(List.of("web#1"), reminders());
    }

    @Test
    void theChannelApiValidatesAndShowsTheRepeatInterval() throws Exception {
        hook("4h");
        final JsonNode got = JSON.readTree(call("GET", "/api/v1/channels/hook", null).body());
        assertEquals("4h", got.get("repeat_interval").asText());
        for (String bad : List.of("\"soon\"", "\"10s\"", "\"8d\"", "\"-1h\"", "5")) {
            final ApiResponse r = call("PUT", "/api/v1/channels/hook", "{\"kind\":\"webhook\",\"url\":\""
                + receiver.url("/hook") + "\",\"repeat_interval\":" + bad + "}");
            assertEquals(400, r.status(), bad);
            assertTrue(new String(r.body(), StandardCharsets.UTF_8).contains("repeat_interval"), bad);
        }
        // Absent: off (a PUT replaces the channel).
        call("PUT", "/api/v1/channels/hook", "{\"kind\":\"webhook\",\"url\":\"" + receiver.url("/hook") + "\"}");
        assertEquals("0s", JSON.readTree(call("GET", "/api/v1/channels/hook", null).body()).get("repeat_interval")
            .asText());
    }

    @Test
    void twoRelaysOnOneDatabaseWriteEachReminderOnce() throws Exception {
        hook("1h");
        for (int i = 0; i < 50; i++) {
            monitorDown("web-" + i, T0);
        }
        final List<OutboxRelay> relays = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            final PGSimpleDataSource ds = new PGSimpleDataSource();
            ds.setURL(db.jdbcUrl());
            ds.setUser(db.user());
            ds.setPassword(db.password());
            relays.add(relay(ds));
        }
        final ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            for (int hour = 1; hour <= 3; hour++) {
                clock.set(T0.plus(Duration.ofHours(hour)));
                final CountDownLatch go = new CountDownLatch(1);
                final List<Future<?>> runs = new ArrayList<>();
                for (OutboxRelay r : relays) {
                    runs.add(pool.submit(() -> {
                        go.await();
                        drain(r);
                        return null;
                    }));
                }
                go.countDown();
                for (Future<?> f : runs) {
                    f.get(60, TimeUnit.SECONDS);
                }
                assertEquals(50L * hour, db.queryLong("SELECT count(*) FROM notification_outbox WHERE "
                    + "type = 'monitor.reminder' AND channel_id = 'hook'"), "each reminder written once");
            }
            // The channel sends about one message a second (its token bucket runs on the manual clock): let the
            // clock run until every reminder row is delivered, bounded.
            for (int s = 0; s < 1000 && db.queryLong("SELECT count(*) FROM notification_outbox WHERE "
                + "channel_id = 'hook' AND state <> 'sent'") > 0; s++) {
                clock.advance(Duration.ofSeconds(1));
                relays.get(s % 2).drainOnce();
            }
        } finally {
            pool.shutdownNow();
        }
        final List<String> got = reminders();
        assertEquals(150, got.size(), "each reminder delivered once");
        assertEquals(150, got.stream().distinct().count(), "no reminder twice: 50 monitors x reminders 1, 2, 3");
    }
}
