package dev.spillway.alerting;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import dev.spillway.runtime.db.SchemaMigrations;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.FakeReceiver;
import dev.spillway.testkit.FakeReceiver.Reply;
import dev.spillway.testkit.MutableClock;
import dev.spillway.uptime.schema.UptimeSchema;
import dev.spillway.uptime.transitions.Notification;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Delivery lanes against a real PostgreSQL and real receivers on loopback: a dead channel delays nobody, the POST
 * runs with no transaction open, {@code sent_at} and {@code Retry-After} count from the answer, and the webhook
 * body pairs firing and resolved the way Alertmanager receivers expect.
 */
class DeliveryLanesTest {

    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static TestDatabase db;

    private final List<AutoCloseable> closeMe = new ArrayList<>();
    private MutableClock clock;

    @BeforeAll
    static void createDatabase() throws Exception {
        db = TestDatabase.create("delivery_lanes");
        SchemaMigrations.apply(db.dataSource(), Stream.concat(UptimeSchema.migrations().stream(),
            AlertingSchema.migrations().stream()).toList());
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    @BeforeEach
    void fresh() {
        db.execute("TRUNCATE notification_outbox");
        db.execute("DELETE FROM notification_channels WHERE id <> 'log'");
        clock = new MutableClock(T0);
    }

    @AfterEach
    void closeAll() throws Exception {
        for (int i = closeMe.size() - 1; i >= 0; i--) {
            closeMe.get(i).close();
        }
        closeMe.clear();
    }

    private OutboxRelay relay(Duration requestTimeout) {
        final OutboxRelay r = new OutboxRelay(db.dataSource(), new Messages(null), new NotifySettings(
            Duration.ofHours(1), 10_000, 10_000, requestTimeout, Duration.ofSeconds(5), Duration.ofSeconds(20),
            Duration.ofMillis(50)), clock, () -> 0.0, new SimpleMeterRegistry());
        closeMe.add(r);
        return r;
    }

    private static Notification down(String subject, int i) {
        return new Notification("monitor.down", "monitor", subject, "up", "down", T0.plusSeconds(i),
            Map.of("reason", "HTTP 500"));
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

    private static Instant instant(String sql) throws Exception {
        try (Connection c = db.connect(); java.sql.Statement st = c.createStatement();
             java.sql.ResultSet rs = st.executeQuery(sql)) {
            assertTrue(rs.next(), sql);
            return rs.getTimestamp(1).toInstant();
        }
    }

    @Test
    void aDeadChannelDelaysNobody() throws Exception {
        final OutboxRelay relay = relay(Duration.ofMinutes(5));
        // Closed before the relay (reverse order): the hanging exchange ends, the relay stops at once.
        final FakeReceiver receiver = new FakeReceiver();
        closeMe.add(receiver);
        receiver.always("/dead", Reply.hang()); // accepts the connection and the request, never answers
        final ChannelStore store = new ChannelStore(db.dataSource());
        store.put("dead", ChannelKind.WEBHOOK, receiver.url("/dead"), Duration.ZERO);
        // The healthy receiver notes when each message arrives (by its notification id), as it arrives.
        final Map<Long, Long> arrived = new java.util.concurrent.ConcurrentHashMap<>();
        final HttpServer healthy = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
        healthy.createContext("/healthy", ex -> {
            try (ex) {
                final long at = System.nanoTime();
                ex.getRequestBody().readAllBytes();
                arrived.putIfAbsent(Long.parseLong(ex.getRequestHeaders().getFirst("X-Spillway-Notification-Id")), at);
                ex.sendResponseHeaders(200, 2);
                ex.getResponseBody().write("ok".getBytes(StandardCharsets.UTF_8));
            }
        });
        healthy.start();
        closeMe.add(() -> healthy.stop(0));
        store.put("healthy", ChannelKind.SLACK, "http://127.0.0.1:" + healthy.getAddress().getPort() + "/healthy",
            Duration.ZERO);
        relay.start();
        final Map<Long, Long> enqueuedAt = new java.util.LinkedHashMap<>();
        for (int i = 0; i < 10; i++) {
            enqueue(down("m" + i, i));
            enqueuedAt.put(db.queryLong("SELECT max(id) FROM notification_outbox WHERE channel_id = 'healthy'"),
                System.nanoTime());
            relay.wakeup();
        }
        Await.until(Duration.ofSeconds(60), () -> arrived.size() == 10, "the healthy channel gets every message");
        assertEquals(enqueuedAt.keySet(), arrived.keySet(), "each healthy row arrived once, by its id");
        // The goal's figure (each healthy message within 2 s), printed, not asserted: per message, from the commit
        // of its row to its arrival at the healthy receiver.
        final List<Long> latencies = new ArrayList<>();
        enqueuedAt.forEach((id, t) -> latencies.add(java.util.concurrent.TimeUnit.NANOSECONDS.toMillis(
            arrived.get(id) - t)));
        System.out.printf("dead channel hanging: healthy channel per-message delivery latency (enqueue commit to "
            + "arrival) max %d ms, each %s ms%n", latencies.stream().mapToLong(Long::longValue).max().orElseThrow(),
            latencies);
        // ... while the dead channel's first message is still in flight: its lane holds the lease, nothing else.
        assertEquals(1, receiver.received("/dead").size(), "the dead channel got its first message only");
        assertEquals(0, receiver.received("/healthy").size(), "the healthy channel is served by its own server");
        final long firstDead = db.queryLong("SELECT min(id) FROM notification_outbox WHERE channel_id = 'dead'");
        assertEquals(firstDead, receiver.received("/dead").get(0).notificationId());
        assertEquals(1, db.queryLong("SELECT count(*) FROM notification_outbox WHERE id = " + firstDead
            + " AND state = 'pending' AND attempts = 0 AND lease_owner IS NOT NULL"), "still leased, unanswered");
        Await.until(Duration.ofSeconds(30), () -> db.queryLong("SELECT count(*) FROM notification_outbox "
            + "WHERE channel_id = 'healthy' AND state = 'sent'") == 10, "healthy rows recorded as sent");
        // The POST runs with no transaction open: the row in flight is not locked (NOWAIT would fail if it were).
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            try (java.sql.Statement st = c.createStatement();
                 java.sql.ResultSet rs = st.executeQuery("SELECT id FROM notification_outbox WHERE id = " + firstDead
                     + " FOR UPDATE NOWAIT")) {
                assertTrue(rs.next(), "the row in flight is not locked by the lane sending it");
            }
            c.rollback();
        }
    }

    @Test
    void sentAtIsTheDeliveryTimeAndRetryAfterCountsFromTheAnswer() throws Exception {
        // A receiver that takes 3 s (by the test's clock) to answer: 429 Retry-After 7 first, then 200.
        final HttpServer slow = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 8);
        final List<Integer> replies = new ArrayList<>(List.of(429, 200));
        slow.createContext("/", ex -> {
            try (ex) {
                ex.getRequestBody().readAllBytes();
                clock.advance(Duration.ofSeconds(3));
                final int status;
                synchronized (replies) {
                    status = replies.isEmpty() ? 200 : replies.remove(0);
                }
                if (status == 429) {
                    ex.getResponseHeaders().add("Retry-After", "7");
                }
                final byte[] body = "ok".getBytes(StandardCharsets.UTF_8);
                ex.sendResponseHeaders(status, body.length);
                ex.getResponseBody().write(body);
            }
        });
        slow.start();
        closeMe.add(() -> slow.stop(0));
        new ChannelStore(db.dataSource()).put("hook", ChannelKind.WEBHOOK,
            "http://127.0.0.1:" + slow.getAddress().getPort() + "/hook", Duration.ZERO);
        final OutboxRelay relay = relay(Duration.ofSeconds(10));
        enqueue(down("web", 1));
        relay.drainOnce(); // starts at T0, answered 429 at T0+3 s
        assertEquals(T0.plusSeconds(10), instant("SELECT next_attempt_at FROM notification_outbox WHERE "
            + "channel_id = 'hook'"), "Retry-After 7 counted from the answer (T0 + 3 s), not from the round");
        clock.set(T0.plusSeconds(10));
        relay.drainOnce(); // starts at T0+10 s, answered 200 at T0+13 s
        assertEquals(T0.plusSeconds(13), instant("SELECT sent_at FROM notification_outbox WHERE "
            + "channel_id = 'hook' AND state = 'sent'"), "sent_at is when the receiver accepted it");
    }

    @Test
    void webhookFiringAndResolvedShareAlertnameLabelsAndFingerprint() throws Exception {
        final Messages m = new Messages("https://status.example.org/");
        final JsonNode firing = JSON.readTree(m.webhook(new Notification("monitor.down", "monitor", "shop", "up",
            "down", T0, Map.of("reason", "HTTP 500")), 41));
        final JsonNode resolved = JSON.readTree(m.webhook(new Notification("monitor.up", "monitor", "shop", "down",
            "up", T0.plusSeconds(90), Map.of()), 42));
        assertEquals("firing", firing.get("status").asText());
        assertEquals("resolved", resolved.get("status").asText());
        final JsonNode a = firing.get("alerts").get(0);
        final JsonNode b = resolved.get("alerts").get(0);
        assertEquals("SpillwayMonitorDown", a.get("labels").get("alertname").asText());
        assertEquals(a.get("labels"), b.get("labels"), "same identity for firing and resolved");
        assertEquals(a.get("fingerprint"), b.get("fingerprint"));
        assertEquals(16, a.get("fingerprint").asText().length());
        assertEquals(firing.get("groupKey"), resolved.get("groupKey"));
        assertEquals("0001-01-01T00:00:00Z", a.get("endsAt").asText());
        assertEquals("2026-01-01T00:01:30Z", b.get("endsAt").asText());
        assertEquals(0, firing.get("truncatedAlerts").asInt());
        final JsonNode other = JSON.readTree(m.webhook(new Notification("monitor.down", "monitor", "cart", "up",
            "down", T0, Map.of()), 43));
        assertNotEquals(a.get("fingerprint"), other.get("alerts").get(0).get("fingerprint"));
        // Services pair as SpillwayServiceUnavailable.
        final JsonNode svc = JSON.readTree(m.webhook(new Notification("service.available", "service", "backup",
            "unavailable", "available", T0, Map.of("unavailable_since", "2025-12-31T23:00:00Z")), 44));
        assertEquals("SpillwayServiceUnavailable", svc.get("alerts").get(0).get("labels").get("alertname").asText());
        assertEquals("2025-12-31T23:00:00Z", svc.get("alerts").get(0).get("startsAt").asText());
        assertTrue(svc.get("alerts").get(0).get("annotations").get("summary").asText().contains("backup"));
    }
}
