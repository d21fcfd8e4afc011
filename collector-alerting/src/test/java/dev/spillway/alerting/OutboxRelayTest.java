package dev.spillway.alerting;

import dev.spillway.testkit.FakeReceiver;
import java.util.stream.Stream;
import dev.spillway.uptime.schema.UptimeSchema;
import dev.spillway.testkit.MutableClock;
import dev.spillway.uptime.transitions.Notification;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.runtime.db.SchemaMigrations;
import dev.spillway.testkit.FakeReceiver.Reply;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The outbox relay against a real PostgreSQL and a real HTTP receiver on loopback, with a manual clock: rate
 * limit, Retry-After, bounded retries, timeouts, permanent failures, restart, and two relays on one database.
 */
class OutboxRelayTest {

    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static TestDatabase db;

    private final List<AutoCloseable> closeMe = new ArrayList<>();
    private FakeReceiver receiver;
    private MutableClock clock;

    @BeforeAll
    static void createDatabase() throws Exception {
        db = TestDatabase.create("notify_relay");
        SchemaMigrations.apply(db.dataSource(), Stream.concat(UptimeSchema.migrations().stream(), AlertingSchema.migrations().stream()).toList());
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    @BeforeEach
    void fresh() throws Exception {
        db.execute("TRUNCATE notification_outbox");
        db.execute("DELETE FROM notification_channels WHERE id <> 'log'");
        receiver = new FakeReceiver();
        closeMe.add(receiver);
        clock = new MutableClock(T0);
    }

    @AfterEach
    void closeAll() throws Exception {
        for (int i = closeMe.size() - 1; i >= 0; i--) {
            closeMe.get(i).close();
        }
        closeMe.clear();
    }

    private static NotifySettings settings(double rate, int burst) {
        return new NotifySettings(Duration.ofMinutes(2), rate, burst, Duration.ofSeconds(2), Duration.ofSeconds(5),
            Duration.ofSeconds(20), Duration.ofMillis(20));
    }

    private OutboxRelay relay(NotifySettings s) {
        final OutboxRelay r = new OutboxRelay(db.dataSource(), new Messages("https://status.example.org/"), s, clock,
            () -> 0.0, new SimpleMeterRegistry());
        closeMe.add(r);
        return r;
    }

    private static Notification event(String subject, int i) {
        return new Notification("service.unavailable", "service", subject, "available", "unavailable",
            T0.plusSeconds(i), Map.of("seq", Integer.toString(i), "last_ping", T0.toString()));
    }

    private void enqueue(Notification... events) throws Exception {
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            for (Notification n : events) {
                Outbox.enqueue(c, n, clock.instant());
            }
            c.commit();
        }
    }

    private Map<String, Object> row(long id) throws Exception {
        try (Connection c = db.connect();
             PreparedStatement ps = c.prepareStatement("SELECT state, attempts, next_attempt_at, last_status, "
                 + "last_error FROM notification_outbox WHERE id = ?")) {
            ps.setLong(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                assertTrue(rs.next(), "row " + id);
                final Map<String, Object> m = new HashMap<>();
                m.put("state", rs.getString(1));
                m.put("attempts", rs.getInt(2));
                m.put("next", rs.getTimestamp(3).toInstant());
                m.put("status", rs.getObject(4));
                m.put("error", rs.getString(5));
                return m;
            }
        }
    }

    private long onlyRowOf(String channel) {
        return db.queryLong("SELECT max(id) FROM notification_outbox WHERE channel_id = '" + channel + "'");
    }

    @Test
    void slackWebhookAndLogEachGetTheirFormat() throws Exception {
        final ChannelStore store = new ChannelStore(db.dataSource());
        store.put("slack", ChannelKind.SLACK, receiver.url("/services/T1/B1/secret"), Duration.ZERO);
        store.put("hook", ChannelKind.WEBHOOK, receiver.url("/hook"), Duration.ZERO);
        final OutboxRelay relay = relay(settings(1, 3));
        enqueue(event("checkout", 1));
        assertEquals(3, db.queryLong("SELECT count(*) FROM notification_outbox"), "one row per channel incl. log");

        relay.drainOnce();

        final JsonNode slack = JSON.readTree(receiver.received("/services/T1/B1/secret").get(0).body());
        assertTrue(slack.get("text").asText().contains("Service checkout is unavailable (was available)"),
            slack.toString());
        assertEquals("section", slack.get("blocks").get(0).get("type").asText());
        final String blocks = slack.get("blocks").toString();
        assertTrue(blocks.contains("available → unavailable"), blocks);
        assertTrue(blocks.contains("<https://status.example.org/|Open the status page>"), blocks);
        assertTrue(blocks.contains("<!date^" + T0.plusSeconds(1).getEpochSecond()), blocks);

        final JsonNode hook = JSON.readTree(receiver.received("/hook").get(0).body());
        assertEquals("service.unavailable", hook.get("type").asText());
        assertEquals("checkout", hook.get("subject").get("id").asText());
        assertEquals("available", hook.get("old_state").asText());
        assertEquals("unavailable", hook.get("new_state").asText());
        assertEquals("2026-01-01T00:00:01Z", hook.get("time").asText());
        assertEquals("firing", hook.get("status").asText());
        assertEquals("checkout", hook.get("alerts").get(0).get("labels").get("service").asText());
        assertEquals(onlyRowOf("hook"), hook.get("id").asLong());
        assertEquals(onlyRowOf("hook"), receiver.received("/hook").get(0).notificationId());

        assertEquals(3, db.queryLong("SELECT count(*) FROM notification_outbox WHERE state = 'sent' "
            + "AND sent_at IS NOT NULL AND attempts = 1"));
        assertEquals(3, relay.sentCount());
        assertEquals(0.0, relay.oldestPendingSeconds());
    }

    @Test
    void rateLimitAllowsABurstThenOnePerSecond() throws Exception {
        new ChannelStore(db.dataSource()).put("slack", ChannelKind.SLACK, receiver.url("/slack"), Duration.ZERO);
        final OutboxRelay relay = relay(settings(1, 3));
        for (int i = 0; i < 10; i++) {
            enqueue(event("svc", i));
        }
        relay.drainOnce();
        assertEquals(3, receiver.received("/slack").size(), "burst of 3");
        relay.drainOnce();
        relay.drainOnce();
        assertEquals(3, receiver.received("/slack").size(), "no token without time passing");
        clock.advance(Duration.ofMillis(999));
        relay.drainOnce();
        assertEquals(3, receiver.received("/slack").size(), "a token takes a full second");
        clock.advance(Duration.ofMillis(1));
        relay.drainOnce();
        assertEquals(4, receiver.received("/slack").size());
        clock.advance(Duration.ofMillis(2500));
        relay.drainOnce();
        assertEquals(6, receiver.received("/slack").size(), "2.5 s more: two more tokens");
        clock.advance(Duration.ofSeconds(60));
        relay.drainOnce();
        assertEquals(9, receiver.received("/slack").size(), "bucket holds at most the burst");
        // Order per channel is the order of the transitions.
        final List<Long> ids = receiver.received("/slack").stream().map(FakeReceiver.Received::notificationId).toList();
        assertEquals(ids.stream().sorted().toList(), ids);
        assertEquals(10, db.queryLong("SELECT count(*) FROM notification_outbox WHERE channel_id = 'log' "
            + "AND state = 'sent'"), "the log is not rate limited");
    }

    @Test
    void retryAfterIsHonouredAndHoldsBackLaterMessages() throws Exception {
        new ChannelStore(db.dataSource()).put("slack", ChannelKind.SLACK, receiver.url("/slack"), Duration.ZERO);
        receiver.then(Reply.rateLimited("7"));
        final OutboxRelay relay = relay(settings(100, 100));
        enqueue(event("svc", 1), event("svc", 2));
        relay.drainOnce();
        assertEquals(1, receiver.received("/slack").size());
        final long first = receiver.received("/slack").get(0).notificationId();
        final Map<String, Object> r = row(first);
        assertEquals("pending", r.get("state"));
        assertEquals(429, r.get("status"));
        assertEquals(T0.plusSeconds(7), r.get("next"));
        assertEquals(1, relay.retriedCount());

        clock.advance(Duration.ofMillis(6999));
        relay.drainOnce();
        assertEquals(1, receiver.received("/slack").size(), "nothing before Retry-After, not even the next message");
        clock.advance(Duration.ofMillis(1));
        relay.drainOnce();
        final List<Long> ids = receiver.received("/slack").stream().map(FakeReceiver.Received::notificationId).toList();
        assertEquals(List.of(first, first, onlyRowOf("slack")), ids, "the first again, then the second");
        assertEquals("sent", row(first).get("state"));
        assertEquals(2, row(first).get("attempts"));
    }

    @Test
    void serverErrorsAreRetriedWithBackoffUntilTheMaximumAgeThenGivenUp() throws Exception {
        new ChannelStore(db.dataSource()).put("hook", ChannelKind.WEBHOOK, receiver.url("/hook"), Duration.ZERO);
        receiver.always(Reply.status(500, "oops"));
        // Max age 1 min, backoff 5 s doubling to 20 s, jitter 0.
        final OutboxRelay relay = relay(settings(100, 100).withMaxAge(Duration.ofMinutes(1)));
        enqueue(event("svc", 1));
        final long id = onlyRowOf("hook");
        final List<Instant> attemptsAt = new ArrayList<>();
        for (int guard = 0; guard < 50 && "pending".equals(row(id).get("state")); guard++) {
            clock.set((Instant) row(id).get("next"));
            final int before = receiver.received("/hook").size();
            relay.drainOnce();
            if (receiver.received("/hook").size() > before) {
                attemptsAt.add(clock.instant());
            }
        }
        final Map<String, Object> r = row(id);
        assertEquals("failed", r.get("state"));
        // Delays with jitter 0 are half the doubled base: 2.5, 5, 10, 10, 10 ... until the next would pass 1 min.
        final List<Long> gaps = new ArrayList<>();
        for (int i = 1; i < attemptsAt.size(); i++) {
            gaps.add(Duration.between(attemptsAt.get(i - 1), attemptsAt.get(i)).toMillis());
        }
        assertEquals(List.of(2500L, 5000L, 10000L, 10000L, 10000L, 10000L, 10000L), gaps);
        final Duration lastAttemptAge = Duration.between(T0, attemptsAt.get(attemptsAt.size() - 1));
        assertTrue(lastAttemptAge.plusSeconds(10).compareTo(Duration.ofMinutes(1)) > 0, "gave up only when the "
            + "next attempt would pass the max age: " + lastAttemptAge);
        assertEquals(attemptsAt.size(), receiver.received("/hook").size(), "bounded: one request per attempt");
        assertEquals(attemptsAt.size(), r.get("attempts"));
        assertTrue(((String) r.get("error")).startsWith("gave up after " + attemptsAt.size() + " attempts"),
            (String) r.get("error"));
        assertTrue(((String) r.get("error")).contains("HTTP 500 oops"), (String) r.get("error"));
        assertEquals(1, relay.failedCount());
        assertEquals(attemptsAt.size() - 1, relay.retriedCount());
    }

    @Test
    void aHangingReceiverOrBodyTimesOutAndIsRetried() throws Exception {
        new ChannelStore(db.dataSource()).put("slack", ChannelKind.SLACK, receiver.url("/slack"), Duration.ZERO);
        receiver.then(Reply.hang(), Reply.stalledBody());
        final OutboxRelay relay = relay(settings(100, 100));
        enqueue(event("svc", 1));
        final long id = onlyRowOf("slack");
        relay.drainOnce();
        final Map<String, Object> r = row(id);
        assertEquals("pending", r.get("state"));
        assertEquals(null, r.get("status"));
        assertTrue(((String) r.get("error")).contains("no answer within 2000 ms"), (String) r.get("error"));
        assertEquals(T0.plusMillis(2500), r.get("next"));
        // Headers, then a body that never ends: bounded as well.
        clock.set(T0.plusMillis(2500));
        relay.drainOnce();
        assertEquals("pending", row(id).get("state"));
        assertTrue(((String) row(id).get("error")).contains("no answer within 2000 ms"));
        clock.set((Instant) row(id).get("next"));
        relay.drainOnce();
        assertEquals("sent", row(id).get("state"));
        assertEquals(3, receiver.received("/slack").size());
    }

    @Test
    void permanentFailuresDisableTheChannelWithAVisibleReason() throws Exception {
        final ChannelStore store = new ChannelStore(db.dataSource());
        store.put("gone", ChannelKind.SLACK, receiver.url("/gone"), Duration.ZERO);
        store.put("revoked", ChannelKind.SLACK, receiver.url("/revoked"), Duration.ZERO);
        store.put("deleted", ChannelKind.WEBHOOK, receiver.url("/deleted"), Duration.ZERO);
        store.put("fine", ChannelKind.SLACK, receiver.url("/fine"), Duration.ZERO);
        receiver.always("/gone", Reply.status(404, "no_service"))
            .always("/revoked", Reply.status(400, "invalid_token"))
            .always("/deleted", Reply.status(410, "gone"));
        final OutboxRelay relay = relay(settings(100, 100));
        enqueue(event("svc", 1), event("svc", 2));
        relay.drainOnce();

        final Channel gone = store.get("gone").orElseThrow();
        assertFalse(gone.enabled());
        assertEquals("HTTP 404 no_service", gone.disabledReason());
        assertNotNull(gone.disabledAt());
        assertEquals("HTTP 400 invalid_token", store.get("revoked").orElseThrow().disabledReason());
        assertEquals("HTTP 410 gone", store.get("deleted").orElseThrow().disabledReason());
        assertTrue(store.get("fine").orElseThrow().enabled());
        assertEquals(2, receiver.received("/fine").size());
        assertEquals(1, receiver.received("/gone").size(), "no second message to a disabled channel");

        clock.advance(Duration.ofSeconds(30));
        enqueue(event("svc", 3));
        relay.drainOnce();
        assertEquals(1, receiver.received("/gone").size(), "still nothing to a disabled channel");
        assertEquals(0, db.queryLong("SELECT count(*) FROM notification_outbox WHERE channel_id = 'gone' "
            + "AND (details->>'seq') = '3'"), "disabled channels get no new rows");
        assertEquals(2, db.queryLong("SELECT count(*) FROM notification_outbox WHERE channel_id = 'gone' "
            + "AND state = 'pending'"), "rows already queued wait for the channel");

        // The user fixes it: PUT re-enables, and the queued messages go out in order.
        receiver.always("/gone", Reply.ok());
        store.put("gone", ChannelKind.SLACK, receiver.url("/gone"), Duration.ZERO);
        relay.drainOnce();
        assertEquals(3, receiver.received("/gone").size());
        assertEquals(0, db.queryLong("SELECT count(*) FROM notification_outbox WHERE channel_id = 'gone' "
            + "AND state = 'pending'"));
    }

    @Test
    void pendingRowsBehindADisabledChannelExpireAfterTheMaximumAge() throws Exception {
        final ChannelStore store = new ChannelStore(db.dataSource());
        store.put("gone", ChannelKind.SLACK, receiver.url("/gone"), Duration.ZERO);
        receiver.always(Reply.status(404, "no_service"));
        final OutboxRelay relay = relay(settings(100, 100));
        enqueue(event("svc", 1), event("svc", 2));
        relay.drainOnce();
        assertFalse(store.get("gone").orElseThrow().enabled());
        assertTrue(relay.oldestPendingSeconds() >= 0.0);
        clock.advance(Duration.ofMinutes(1));
        relay.drainOnce();
        assertEquals(60.0, relay.oldestPendingSeconds(), "outbox age gauge");
        clock.advance(Duration.ofMinutes(1).plusMillis(1));
        relay.drainOnce();
        assertEquals(2, db.queryLong("SELECT count(*) FROM notification_outbox WHERE channel_id = 'gone' "
            + "AND state = 'failed' AND last_error LIKE 'expired: not delivered within 2m%'"));
        assertEquals(2, relay.failedCount());
    }

    @Test
    void nothingIsLostWhenTheRelayRestartsWithAPendingOutbox() throws Exception {
        new ChannelStore(db.dataSource()).put("hook", ChannelKind.WEBHOOK, receiver.url("/hook"), Duration.ZERO);
        receiver.then(Reply.status(503, "busy"));
        final OutboxRelay first = relay(settings(100, 100));
        enqueue(event("a", 1), event("b", 2), event("c", 3));
        first.drainOnce();
        assertEquals(1, receiver.received("/hook").size());
        first.close();

        // A new process: a new relay, a new pool, the same database.
        final PGSimpleDataSource fresh = new PGSimpleDataSource();
        fresh.setURL(db.jdbcUrl());
        fresh.setUser(db.user());
        fresh.setPassword(db.password());
        clock.advance(Duration.ofSeconds(3));
        final OutboxRelay second = new OutboxRelay(fresh, new Messages(null), settings(100, 100), clock, () -> 0.0,
            new SimpleMeterRegistry());
        closeMe.add(second);
        second.drainOnce();
        final List<String> subjects = receiver.received("/hook").stream()
            .map(r -> r.body().replaceAll(".*\"subject\":\\{\"kind\":\"service\",\"id\":\"([a-z])\".*", "$1"))
            .toList();
        assertEquals(List.of("a", "a", "b", "c"), subjects);
        assertEquals(0, db.queryLong("SELECT count(*) FROM notification_outbox WHERE state <> 'sent'"));
    }

    @Test
    void twoRelaysOnOneDatabaseSendEachMessageOnce() throws Exception {
        final ChannelStore store = new ChannelStore(db.dataSource());
        store.put("one", ChannelKind.SLACK, receiver.url("/one"), Duration.ZERO);
        store.put("two", ChannelKind.WEBHOOK, receiver.url("/two"), Duration.ZERO);
        final int n = 20;
        final NotifySettings fast = settings(10_000, 10_000);
        final List<OutboxRelay> relays = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            final PGSimpleDataSource ds = new PGSimpleDataSource();
            ds.setURL(db.jdbcUrl());
            ds.setUser(db.user());
            ds.setPassword(db.password());
            final OutboxRelay r = new OutboxRelay(ds, new Messages(null), fast, clock, () -> 0.0,
                new SimpleMeterRegistry());
            closeMe.add(r);
            relays.add(r);
        }
        relays.forEach(OutboxRelay::start);
        for (int i = 0; i < n; i++) {
            enqueue(event("svc", i));
            relays.get(i % 2).wakeup();
        }
        Await.until(Duration.ofSeconds(30), () -> db.queryLong("SELECT count(*) FROM notification_outbox "
            + "WHERE state = 'sent'") == 3L * n, "all rows sent");
        for (String path : List.of("/one", "/two")) {
            final List<Long> ids = receiver.received(path).stream().map(FakeReceiver.Received::notificationId).toList();
            assertEquals(n, ids.size(), path + ": each message exactly once");
            assertEquals(ids.stream().distinct().count(), ids.size(), path + " duplicates: " + ids);
            assertEquals(ids.stream().sorted().toList(), ids, path + ": in order");
        }
        final Map<Boolean, Long> bothWorked = relays.stream().collect(Collectors.partitioningBy(
            r -> r.sentCount() > 0, Collectors.counting()));
        assertEquals(3L * n, relays.get(0).sentCount() + relays.get(1).sentCount(), "sent counters add up: "
            + bothWorked);
    }
}
