package dev.spillway.alerting;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.spillway.runtime.api.ApiResponse;
import dev.spillway.runtime.api.ApiRouter;
import dev.spillway.runtime.db.SchemaMigrations;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.LogCapture;
import dev.spillway.testkit.MutableClock;
import dev.spillway.testkit.SmtpServer;
import dev.spillway.testkit.TargetServer;
import dev.spillway.uptime.schema.UptimeSchema;
import dev.spillway.uptime.transitions.Notification;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Discord, Teams, Telegram, PagerDuty, ntfy and email channels against a real PostgreSQL and real receivers on
 * loopback (a JDK HTTP server; a real SMTP server with STARTTLS and AUTH): exact payloads and headers, PagerDuty's
 * trigger/resolve pairing, permanent and transient receiver errors, secrets masked in answers and logs, 400s naming
 * the field, and a dead receiver of a new kind delaying nobody.
 */
class ChannelKindsTest {

    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String BOT_TOKEN = "123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4Kra0";
    private static final String ROUTING_KEY = "R0123456789abcdefghijklmnopqrstu";
    private static final String NTFY_TOKEN = "tk_ntfysecret0123456789";
    private static final String SMTP_PASSWORD = "s3cret-pass-9";
    private static final String RED = "\uD83D\uDD34";
    private static TestDatabase db;

    @TempDir
    static Path certs;

    private final List<AutoCloseable> closeMe = new ArrayList<>();
    private MutableClock clock;
    private ApiRouter router;
    private Hub hub;

    @BeforeAll
    static void createDatabase() throws Exception {
        db = TestDatabase.create("channel_kinds");
        SchemaMigrations.apply(db.dataSource(), Stream.concat(UptimeSchema.migrations().stream(),
            AlertingSchema.migrations().stream()).toList());
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    @BeforeEach
    void fresh() throws Exception {
        db.execute("TRUNCATE notification_outbox");
        db.execute("DELETE FROM notification_channels WHERE id <> 'log'");
        clock = new MutableClock(T0);
        router = new ApiRouter(1 << 20, 2, 16);
        closeMe.add(router::close);
        new NotifyApi(db.dataSource(), () -> { }, clock).register(router);
        hub = new Hub();
        closeMe.add(hub);
    }

    @AfterEach
    void closeAll() throws Exception {
        for (int i = closeMe.size() - 1; i >= 0; i--) {
            closeMe.get(i).close();
        }
        closeMe.clear();
    }

    // ---- the receivers -----------------------------------------------------------------------------------------

    /** One request as the receiver saw it; header names lower-case. */
    record Req(String method, String path, Map<String, String> headers, String body) {
        JsonNode json() throws IOException {
            return JSON.readTree(body);
        }
    }

    /** A JDK HTTP server on loopback: records requests, answers per path from a script, then 200; may hang. */
    static final class Hub implements AutoCloseable {
        private final HttpServer server;
        private final ExecutorService executor = Executors.newFixedThreadPool(8);
        private final List<Req> received = new ArrayList<>();
        private final Map<String, Deque<int[]>> scripts = new ConcurrentHashMap<>();
        private final Map<String, String> bodies = new ConcurrentHashMap<>();
        private final Map<String, Boolean> hanging = new ConcurrentHashMap<>();
        private final CountDownLatch closing = new CountDownLatch(1);

        Hub() throws IOException {
            server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
            server.createContext("/", this::handle);
            server.setExecutor(executor);
            server.start();
        }

        String url(String path) {
            return "http://127.0.0.1:" + server.getAddress().getPort() + path;
        }

        /** Answers these statuses on the path first ({status, retryAfterSeconds or -1}), with this body. */
        Hub script(String path, String body, int[]... replies) {
            scripts.computeIfAbsent(path, p -> new ArrayDeque<>()).addAll(List.of(replies));
            bodies.put(path, body);
            return this;
        }

        Hub hang(String path) {
            hanging.put(path, true);
            return this;
        }

        synchronized List<Req> received(String path) {
            return received.stream().filter(r -> r.path.equals(path)).toList();
        }

        private void handle(HttpExchange ex) throws IOException {
            try (ex) {
                final String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
                final Map<String, String> headers = new java.util.TreeMap<>();
                ex.getRequestHeaders().forEach((k, v) -> headers.put(k.toLowerCase(java.util.Locale.ROOT), v.get(0)));
                final String path = ex.getRequestURI().getPath();
                synchronized (this) {
                    received.add(new Req(ex.getRequestMethod(), path, headers, body));
                }
                if (hanging.containsKey(path)) {
                    try {
                        closing.await(60, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    return;
                }
                final Deque<int[]> script = scripts.get(path);
                final int[] reply = script == null || script.isEmpty() ? new int[] {200, -1} : script.pollFirst();
                if (reply[1] >= 0) {
                    ex.getResponseHeaders().add("Retry-After", Integer.toString(reply[1]));
                }
                final byte[] out = (reply[0] == 200 || reply[0] == 202 ? "{\"ok\":true}"
                    : bodies.getOrDefault(path, "")).getBytes(StandardCharsets.UTF_8);
                ex.sendResponseHeaders(reply[0], out.length == 0 ? -1 : out.length);
                if (out.length > 0) {
                    ex.getResponseBody().write(out);
                }
            }
        }

        @Override
        public void close() {
            closing.countDown();
            server.stop(0);
            executor.shutdownNow();
        }
    }

    // ---- helpers -----------------------------------------------------------------------------------------------

    private OutboxRelay relay(Duration requestTimeout) {
        final OutboxRelay r = new OutboxRelay(db.dataSource(), new Messages(null), new NotifySettings(
            Duration.ofHours(1), 10_000, 10_000, requestTimeout, Duration.ofSeconds(5), Duration.ofSeconds(20),
            Duration.ofMillis(50)), clock, () -> 0.0, new SimpleMeterRegistry());
        closeMe.add(r);
        return r;
    }

    private static Notification down(String subject) {
        return new Notification("monitor.down", "monitor", subject, "up", "down", T0, Map.of("reason", "HTTP 500"));
    }

    private static Notification up(String subject) {
        return new Notification("monitor.up", "monitor", subject, "down", "up", T0.plusSeconds(90), Map.of());
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

    private ApiResponse call(String method, String path, String body) throws Exception {
        return router.dispatch(method, path, Map.of(), Map.of("content-type", "application/json"),
            body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8), true).get(10, TimeUnit.SECONDS);
    }

    private JsonNode put(String id, ObjectNode body) throws Exception {
        final ApiResponse r = call("PUT", "/api/v1/channels/" + id, JSON.writeValueAsString(body));
        assertEquals(200, r.status(), new String(r.body(), StandardCharsets.UTF_8));
        return JSON.readTree(r.body());
    }

    private static ObjectNode channel(String kind) {
        return JSON.createObjectNode().put("kind", kind).put("group_window", "0s");
    }

    private ObjectNode telegram() {
        return channel("telegram").put("url", hub.url("/tg")).put("bot_token", BOT_TOKEN)
            .put("chat_id", "-1001234567890");
    }

    private ObjectNode pagerduty() {
        final ObjectNode c = channel("pagerduty").put("url", hub.url("/pd")).put("routing_key", ROUTING_KEY);
        c.remove("group_window"); // the default window, 30 s, as for every kind
        return c;
    }

    private ObjectNode ntfy() {
        return channel("ntfy").put("url", hub.url("/spillway-alerts-x7")).put("token", NTFY_TOKEN);
    }

    private ObjectNode email(int port, String pem) {
        final ObjectNode c = channel("email").put("host", "127.0.0.1").put("port", port).put("username", "alerts")
            .put("password", SMTP_PASSWORD).put("from", "spillway@example.org");
        c.putArray("to").add("ops@example.org").add("oncall@example.org");
        if (pem != null) {
            c.put("ca_cert", pem);
        }
        return c;
    }

    private long rowId(String channel) {
        return db.queryLong("SELECT max(id) FROM notification_outbox WHERE channel_id = '" + channel + "'");
    }

    private String rowText(String column, long id) throws Exception {
        try (Connection c = db.connect(); java.sql.Statement st = c.createStatement();
             java.sql.ResultSet rs = st.executeQuery("SELECT " + column + " FROM notification_outbox WHERE id = " + id)) {
            assertTrue(rs.next());
            return rs.getString(1);
        }
    }

    private static Instant instant(String sql) throws Exception {
        try (Connection c = db.connect(); java.sql.Statement st = c.createStatement();
             java.sql.ResultSet rs = st.executeQuery(sql)) {
            assertTrue(rs.next(), sql);
            return rs.getTimestamp(1).toInstant();
        }
    }

    // ---- payloads ----------------------------------------------------------------------------------------------

    @Test
    void discordTeamsTelegramNtfyAndPagerDutyGetTheirPayloads() throws Exception {
        put("discord", channel("discord").put("url", hub.url("/api/webhooks/1/discordsecret")));
        put("teams", channel("teams").put("url", hub.url("/workflows/teams")));
        put("telegram", telegram());
        put("ntfy", ntfy());
        put("pagerduty", pagerduty());
        final OutboxRelay relay = relay(Duration.ofSeconds(10));
        enqueue(down("shop"));
        relay.drainOnce();
        final String sentence = "Monitor shop is down (was up): HTTP 500";

        final Req discord = hub.received("/api/webhooks/1/discordsecret").get(0);
        assertEquals("POST", discord.method());
        assertTrue(discord.headers().get("content-type").startsWith("application/json"));
        final JsonNode d = discord.json();
        assertEquals(RED + " " + sentence, d.get("content").asText());
        assertEquals(0, d.get("allowed_mentions").get("parse").size(), "no @everyone from a monitor's name");
        final JsonNode embed = d.get("embeds").get(0);
        assertEquals("Monitor shop is down", embed.get("title").asText());
        assertEquals(0xD93025, embed.get("color").asInt());
        assertEquals("2026-01-01T00:00:00Z", embed.get("timestamp").asText());
        assertEquals("up → down", embed.get("fields").get(1).get("value").asText());
        assertEquals("spillway · monitor.down · notification " + rowId("discord"),
            embed.get("footer").get("text").asText());

        final JsonNode t = hub.received("/workflows/teams").get(0).json();
        assertEquals("message", t.get("type").asText());
        final JsonNode attachment = t.get("attachments").get(0);
        assertEquals("application/vnd.microsoft.card.adaptive", attachment.get("contentType").asText());
        final JsonNode card = attachment.get("content");
        assertEquals("AdaptiveCard", card.get("type").asText());
        assertEquals("1.4", card.get("version").asText());
        assertEquals(RED + " Monitor shop is down", card.get("body").get(0).get("text").asText());
        assertEquals("Attention", card.get("body").get(0).get("color").asText());
        assertEquals(sentence, card.get("body").get(1).get("text").asText());
        final JsonNode facts = card.get("body").get(2).get("facts");
        assertEquals("State", facts.get(1).get("title").asText());
        assertEquals("up → down", facts.get(1).get("value").asText());

        final List<Req> tg = hub.received("/tg/bot" + BOT_TOKEN + "/sendMessage");
        assertEquals(1, tg.size(), "Bot API sendMessage with the token in the path");
        final JsonNode tj = tg.get(0).json();
        assertEquals("-1001234567890", tj.get("chat_id").asText());
        assertEquals(RED + " " + sentence, tj.get("text").asText());
        assertTrue(tj.get("disable_web_page_preview").asBoolean());
        assertNull(tj.get("parse_mode"), "plain text: names need no escaping");

        final Req n = hub.received("/spillway-alerts-x7").get(0);
        assertEquals(sentence, n.body());
        assertEquals("Monitor shop is down", n.headers().get("title"));
        assertEquals("5", n.headers().get("priority"));
        assertEquals("rotating_light,monitor", n.headers().get("tags"));
        assertEquals("Bearer " + NTFY_TOKEN, n.headers().get("authorization"));
        assertTrue(n.headers().get("content-type").startsWith("text/plain"));

        final JsonNode p = hub.received("/pd/v2/enqueue").get(0).json();
        assertEquals(ROUTING_KEY, p.get("routing_key").asText());
        assertEquals("trigger", p.get("event_action").asText());
        assertTrue(p.get("dedup_key").asText().matches("spillway-[0-9a-f]{16}"), p.toString());
        assertEquals(sentence, p.get("payload").get("summary").asText());
        assertEquals("shop", p.get("payload").get("source").asText());
        assertEquals("critical", p.get("payload").get("severity").asText());
        assertEquals("SpillwayMonitorDown", p.get("payload").get("class").asText());
        assertEquals("HTTP 500", p.get("payload").get("custom_details").get("reason").asText());

        assertEquals(6, db.queryLong("SELECT count(*) FROM notification_outbox WHERE state = 'sent' "
            + "AND sent_at IS NOT NULL"), "five new kinds and the log, each sent once");

        // The recovery: PagerDuty resolves the same dedup key; the others say it in green.
        clock.advance(Duration.ofSeconds(90));
        enqueue(up("shop"), down("cart"));
        relay.drainOnce();
        final List<Req> pd = hub.received("/pd/v2/enqueue");
        assertEquals(3, pd.size());
        final JsonNode resolve = pd.get(1).json();
        assertEquals("resolve", resolve.get("event_action").asText());
        assertEquals(p.get("dedup_key"), resolve.get("dedup_key"), "trigger and resolve pair up");
        assertEquals(ROUTING_KEY, resolve.get("routing_key").asText());
        assertNull(resolve.get("payload"), "a resolve carries no payload");
        final JsonNode other = pd.get(2).json();
        assertEquals("trigger", other.get("event_action").asText());
        assertNotEquals(p.get("dedup_key"), other.get("dedup_key"), "another monitor is another incident");
        assertEquals("3", hub.received("/spillway-alerts-x7").get(1).headers().get("priority"));
        assertEquals("white_check_mark,monitor", hub.received("/spillway-alerts-x7").get(1).headers().get("tags"));
        assertEquals(0x1E8E3E, hub.received("/api/webhooks/1/discordsecret").get(1).json().get("embeds").get(0)
            .get("color").asInt());
    }

    @Test
    void aDigestToDiscordTelegramAndNtfyNamesTheCount() throws Exception {
        put("discord", channel("discord").put("url", hub.url("/discord")).put("group_window", "30s"));
        put("telegram", telegram().put("group_window", "30s"));
        put("ntfy", ntfy().put("group_window", "30s"));
        final OutboxRelay relay = relay(Duration.ofSeconds(10));
        enqueue(down("a"));
        relay.drainOnce(); // a lone change goes out at once
        enqueue(down("b"), down("c"), down("d"));
        clock.advance(Duration.ofSeconds(31));
        relay.drainOnce();
        final JsonNode d = hub.received("/discord").get(1).json();
        assertEquals(RED + " 3 monitors down: b, c, d", d.get("content").asText());
        assertEquals("3 changes", d.get("embeds").get(0).get("title").asText());
        final String text = hub.received("/tg/bot" + BOT_TOKEN + "/sendMessage").get(1).json().get("text").asText();
        assertTrue(text.startsWith(RED + " 3 monitors down: b, c, d\n\n"), text);
        assertTrue(text.contains("Monitor c is down (was up): HTTP 500"), text);
        final Req n = hub.received("/spillway-alerts-x7").get(1);
        assertEquals("3 monitors down: b, c, d", n.headers().get("title"));
        assertEquals("rotating_light,digest", n.headers().get("tags"));
    }

    // ---- receiver errors ---------------------------------------------------------------------------------------

    @Test
    void pagerDutyIsRetriedWithTheSameDedupKeyAndRetryAfterCountsFromTheAnswer() throws Exception {
        put("pagerduty", pagerduty());
        hub.script("/pd/v2/enqueue", "{\"status\":\"throttled\"}", new int[] {500, -1}, new int[] {429, 7},
            new int[] {202, -1});
        final OutboxRelay relay = relay(Duration.ofSeconds(10));
        enqueue(down("shop"));
        relay.drainOnce(); // 500: backoff (5 s, equal jitter with 0: 2.5 s)
        final long id = rowId("pagerduty");
        assertEquals(T0.plusMillis(2500), instant("SELECT next_attempt_at FROM notification_outbox WHERE id = " + id));
        clock.advance(Duration.ofSeconds(3));
        relay.drainOnce(); // 429 Retry-After: 7
        assertEquals(T0.plusSeconds(10), instant("SELECT next_attempt_at FROM notification_outbox WHERE id = " + id),
            "Retry-After counted from the answer");
        clock.set(T0.plusSeconds(9));
        relay.drainOnce();
        assertEquals(2, hub.received("/pd/v2/enqueue").size(), "not before Retry-After has passed");
        clock.set(T0.plusSeconds(10));
        relay.drainOnce();
        final List<Req> pd = hub.received("/pd/v2/enqueue");
        assertEquals(3, pd.size());
        assertEquals(1, pd.stream().map(r -> {
            try {
                return r.json().get("dedup_key").asText();
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }).distinct().count(), "every retry carries the same dedup key");
        assertEquals("sent", rowText("state", id));
        assertEquals("3", rowText("attempts", id));
        assertEquals("202", rowText("last_status", id));
    }

    @Test
    void telegramsAndDiscordsRetryAfterInThe429BodyIsWaitedForWhenThereIsNoHeader() throws Exception {
        put("telegram", telegram());
        put("discord", channel("discord").put("url", hub.url("/discord")));
        put("header", channel("discord").put("url", hub.url("/both")));
        // Telegram's Bot API: the wait in seconds under parameters; Discord: seconds with fractions at the top.
        hub.script("/tg/bot" + BOT_TOKEN + "/sendMessage", "{\"ok\":false,\"error_code\":429,\"description\":"
            + "\"Too Many Requests: retry after 35\",\"parameters\":{\"retry_after\":35}}", new int[] {429, -1});
        hub.script("/discord", "{\"message\":\"You are being rate limited.\",\"retry_after\":2.345,"
            + "\"global\":false}", new int[] {429, -1});
        // Both: the header wins.
        hub.script("/both", "{\"retry_after\":60}", new int[] {429, 4});
        final OutboxRelay relay = relay(Duration.ofSeconds(10));
        enqueue(down("shop"));
        relay.drainOnce();
        final long tg = rowId("telegram");
        final long discord = rowId("discord");
        assertEquals(T0.plusSeconds(35), instant("SELECT next_attempt_at FROM notification_outbox WHERE id = " + tg),
            "Telegram's parameters.retry_after, counted from the answer");
        assertEquals(T0.plusMillis(2345), instant("SELECT next_attempt_at FROM notification_outbox WHERE id = "
            + discord), "Discord's retry_after, fractions kept");
        assertEquals(T0.plusSeconds(4), instant("SELECT next_attempt_at FROM notification_outbox WHERE id = "
            + rowId("header")), "the Retry-After header before the body");
        clock.set(T0.plusSeconds(34));
        relay.drainOnce();
        assertEquals(1, hub.received("/tg/bot" + BOT_TOKEN + "/sendMessage").size(), "not before 35 s");
        assertEquals(2, hub.received("/discord").size(), "Discord's 2.345 s have passed");
        clock.set(T0.plusSeconds(35));
        relay.drainOnce();
        assertEquals(2, hub.received("/tg/bot" + BOT_TOKEN + "/sendMessage").size());
        assertEquals("sent", rowText("state", tg));
        assertEquals("sent", rowText("state", discord));
    }

    @Test
    void permanentReceiverErrorsFailTheMessageOnceAndAreLoggedOnce() throws Exception {
        put("discord", channel("discord").put("url", hub.url("/discord")));
        put("telegram", telegram());
        hub.script("/discord", "{\"message\":\"Cannot send an empty message\",\"code\":50006}", new int[] {400, -1});
        hub.script("/tg/bot" + BOT_TOKEN + "/sendMessage",
            "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: chat not found\"}", new int[] {400, -1});
        final OutboxRelay relay = relay(Duration.ofSeconds(10));
        try (LogCapture log = LogCapture.of("dev.spillway.alerting")) {
            enqueue(down("shop"));
            relay.drainOnce();
            for (int i = 0; i < 5; i++) {
                clock.advance(Duration.ofMinutes(10));
                relay.drainOnce();
            }
            assertEquals(1, hub.received("/discord").size(), "a 400 is not retried");
            assertEquals(1, hub.received("/tg/bot" + BOT_TOKEN + "/sendMessage").size());
            assertEquals("failed", rowText("state", rowId("discord")));
            assertEquals("1", rowText("attempts", rowId("discord")));
            assertTrue(rowText("last_error", rowId("telegram")).contains("chat not found"));
            assertEquals(2, relay.failedCount());
            assertEquals(1, log.count("notification " + rowId("discord") + " to channel 'discord' refused"),
                log.messages().toString());
            assertEquals(1, log.count("to channel 'telegram' refused"));
            assertTrue(new ChannelStore(db.dataSource()).get("discord").orElseThrow().enabled(),
                "one refused message does not disable the channel");
            assertTrue(log.messages().stream().noneMatch(m -> m.contains(BOT_TOKEN.substring(10))),
                "no log line holds the bot token");
        }
    }

    // ---- secrets -----------------------------------------------------------------------------------------------

    @Test
    void secretsAreMaskedInEveryAnswerAndLogLine() throws Exception {
        final String pem = TargetServer.selfSignedCertificatePem(certs, 30);
        try (LogCapture log = LogCapture.of("dev.spillway.alerting")) {
            final List<String> answers = new ArrayList<>();
            answers.add(put("telegram", telegram()).toString());
            answers.add(put("pagerduty", pagerduty()).toString());
            answers.add(put("ntfy", ntfy()).toString());
            answers.add(put("email", email(2525, pem)).toString());
            final ApiResponse list = call("GET", "/api/v1/channels", null);
            assertEquals(200, list.status());
            answers.add(new String(list.body(), StandardCharsets.UTF_8));
            answers.add(new String(call("GET", "/api/v1/channels/email", null).body(), StandardCharsets.UTF_8));
            for (String a : answers) {
                for (String secret : List.of(BOT_TOKEN.substring(10), ROUTING_KEY, NTFY_TOKEN, SMTP_PASSWORD,
                    "spillway-alerts-x7")) {
                    assertFalse(a.contains(secret), "an answer holds a secret: " + a);
                }
            }
            final JsonNode channels = JSON.readTree(list.body());
            final Map<String, JsonNode> byId = new java.util.HashMap<>();
            channels.forEach(c -> byId.put(c.get("id").asText(), c));
            assertEquals("***", byId.get("telegram").get("bot_token").asText());
            assertEquals("-1001234567890", byId.get("telegram").get("chat_id").asText());
            assertEquals("***", byId.get("pagerduty").get("routing_key").asText());
            assertEquals("***", byId.get("ntfy").get("token").asText());
            assertEquals(hub.url("/***"), byId.get("ntfy").get("url").asText(), "an ntfy topic is a secret");
            final JsonNode mail = byId.get("email");
            assertEquals("***", mail.get("password").asText());
            assertEquals("alerts", mail.get("username").asText());
            assertEquals(2525, mail.get("port").asInt());
            assertEquals(List.of("ops@example.org", "oncall@example.org"),
                JSON.convertValue(mail.get("to"), List.class));
            assertEquals("0s", byId.get("telegram").get("group_window").asText());
            assertEquals("30s", byId.get("pagerduty").get("group_window").asText(), "pagerduty groups by default too");

            // A GET body sent back ("***") keeps the stored secret.
            final ObjectNode back = (ObjectNode) byId.get("telegram").deepCopy();
            back.remove(List.of("id", "enabled", "disabled_reason", "disabled_at"));
            back.put("url", hub.url("/tg"));
            put("telegram", back);
            assertEquals(BOT_TOKEN, new ChannelStore(db.dataSource()).get("telegram").orElseThrow().option("bot_token"));
            assertFalse(new ChannelStore(db.dataSource()).get("telegram").orElseThrow().toString()
                .contains(BOT_TOKEN.substring(10)));

            // A revoked bot token (401) and a revoked ntfy token (403) disable their channels: logged masked.
            call("DELETE", "/api/v1/channels/email", null);
            hub.script("/tg/bot" + BOT_TOKEN + "/sendMessage", "{\"ok\":false,\"error_code\":401,"
                + "\"description\":\"Unauthorized\"}", new int[] {401, -1});
            hub.script("/spillway-alerts-x7", "{\"code\":40301,\"error\":\"forbidden\"}", new int[] {403, -1});
            final OutboxRelay relay = relay(Duration.ofSeconds(10));
            enqueue(down("shop"));
            relay.drainOnce();
            final ChannelStore store = new ChannelStore(db.dataSource());
            assertFalse(store.get("telegram").orElseThrow().enabled());
            assertTrue(store.get("telegram").orElseThrow().disabledReason().startsWith("HTTP 401"));
            assertFalse(store.get("ntfy").orElseThrow().enabled());
            assertEquals(2, log.count("disabled"), log.messages().toString());
            for (String line : log.messages()) {
                for (String secret : List.of(BOT_TOKEN.substring(10), ROUTING_KEY, NTFY_TOKEN, SMTP_PASSWORD,
                    "spillway-alerts-x7")) {
                    assertFalse(line.contains(secret), "a log line holds a secret: " + line);
                }
            }
            final String disabled = new String(call("GET", "/api/v1/channels/telegram", null).body(),
                StandardCharsets.UTF_8);
            assertFalse(disabled.contains(BOT_TOKEN.substring(10)), disabled);

            // No answer at all (nothing listens): the error names no token either.
            put("telegram-closed", telegram().put("url", "http://127.0.0.1:9"));
            enqueue(down("cart"));
            relay.drainOnce();
            final String error = rowText("last_error", rowId("telegram-closed"));
            assertTrue(error.startsWith("connection failed"), error);
            assertFalse(error.contains(BOT_TOKEN.substring(10)), error);
        }
    }

    @Test
    void badSettingsAreA400NamingTheField() throws Exception {
        final Map<String, ObjectNode> cases = new java.util.LinkedHashMap<>();
        cases.put("chat_id", (ObjectNode) telegram().without("chat_id"));
        cases.put("bot_token", telegram().put("bot_token", "not-a-token-secretvalue"));
        cases.put("routing_key", pagerduty().put("routing_key", "short"));
        cases.put("group_window", pagerduty().put("group_window", "2h"));
        cases.put("port", email(70000, null));
        cases.put("to", (ObjectNode) email(25, null).set("to", JSON.createArrayNode().add("not-an-address")));
        cases.put("from", email(25, null).put("from", "Spillway <x@example.org>"));
        cases.put("host", (ObjectNode) email(25, null).without("host"));
        cases.put("password", (ObjectNode) email(25, null).without("password"));
        cases.put("starttls", email(25, null).put("starttls", "never"));
        cases.put("tls", email(25, null).put("tls", "ssl"));
        final ObjectNode implicitWithStarttls = email(465, null).put("tls", "implicit").put("starttls", "optional");
        final Map<String, ObjectNode> more = Map.of("starttls", implicitWithStarttls);
        cases.put("ca_cert", email(25, null).put("ca_cert", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"));
        cases.put("url", channel("discord"));
        cases.put("token", ntfy().put("token", "has space"));
        cases.put("kind", channel("sms").put("url", hub.url("/x")));
        final ObjectNode discordWithChat = channel("discord").put("url", hub.url("/d")).put("chat_id", "1");
        for (Map.Entry<String, ObjectNode> c : Stream.concat(cases.entrySet().stream(), more.entrySet().stream())
            .toList()) {
            final ApiResponse r = call("PUT", "/api/v1/channels/bad", JSON.writeValueAsString(c.getValue()));
            final String body = new String(r.body(), StandardCharsets.UTF_8);
            assertEquals(400, r.status(), c.getKey() + ": " + body);
            assertEquals(c.getKey(), JSON.readTree(body).path("field").asText(JSON.readTree(body).toString()), body);
            assertFalse(body.contains("secretvalue"), "a 400 does not repeat a secret: " + body);
        }
        final ApiResponse r = call("PUT", "/api/v1/channels/bad", JSON.writeValueAsString(discordWithChat));
        assertEquals(400, r.status());
        assertTrue(new String(r.body(), StandardCharsets.UTF_8).contains("chat_id"));
        final ApiResponse masked = call("PUT", "/api/v1/channels/fresh", JSON.writeValueAsString(
            telegram().put("bot_token", "***")));
        assertEquals(400, masked.status(), "*** keeps a stored secret; a new channel has none");
        assertEquals(0, db.queryLong("SELECT count(*) FROM notification_channels WHERE id IN ('bad', 'fresh')"));
    }

    // ---- email -------------------------------------------------------------------------------------------------

    private SmtpServer smtp(boolean tls) throws Exception {
        final SmtpServer s = new SmtpServer(tls ? TargetServer.selfSigned(certs, 30) : null);
        closeMe.add(s);
        return s;
    }

    @Test
    void emailArrivesAfterStartTlsAndAuthWithAMessageIdFromTheOutboxRow() throws Exception {
        final String pem = TargetServer.selfSignedCertificatePem(certs, 30);
        final SmtpServer plain = smtp(true).requireAuth("alerts", SMTP_PASSWORD);
        final SmtpServer loginOnly = smtp(true).requireAuth("alerts", SMTP_PASSWORD).offerAuth("LOGIN");
        put("mail", email(plain.port(), pem));
        put("mail-login", email(loginOnly.port(), pem));
        final OutboxRelay relay = relay(Duration.ofSeconds(10));
        enqueue(down("shop"));
        relay.drainOnce();

        assertEquals(1, plain.messages().size());
        final SmtpServer.Message m = plain.messages().get(0);
        assertTrue(m.tls(), "sent after STARTTLS");
        assertEquals("alerts", m.authUser());
        assertEquals("PLAIN", m.authMechanism());
        assertEquals("spillway@example.org", m.from());
        assertEquals(List.of("ops@example.org", "oncall@example.org"), m.to());
        assertEquals("[spillway] Monitor shop is down (was up): HTTP 500", m.header("Subject"));
        assertEquals("<spillway-notification-" + rowId("mail") + "@example.org>", m.header("Message-ID"));
        assertEquals("spillway@example.org", m.header("From"));
        assertEquals("ops@example.org, oncall@example.org", m.header("To"));
        assertEquals("auto-generated", m.header("Auto-Submitted"));
        assertTrue(m.body().startsWith("Monitor shop is down (was up): HTTP 500\n\nMonitor: shop\nState: up -> down\n"),
            m.body());
        assertEquals(List.of("EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"),
            plain.commands());
        assertEquals("sent", rowText("state", rowId("mail")));
        assertEquals("250", rowText("last_status", rowId("mail")));

        final SmtpServer.Message viaLogin = loginOnly.messages().get(0);
        assertEquals("LOGIN", viaLogin.authMechanism());
        assertTrue(viaLogin.tls());
        assertEquals("<spillway-notification-" + rowId("mail-login") + "@example.org>", viaLogin.header("Message-ID"));
    }

    @Test
    void aRecipientRefusedWith5xxFailsTheMessageAnd4xxIsRetriedWithTheSameMessageId() throws Exception {
        final String pem = TargetServer.selfSignedCertificatePem(certs, 30);
        final SmtpServer server = smtp(true).requireAuth("alerts", SMTP_PASSWORD);
        final ObjectNode refused = email(server.port(), pem);
        refused.putArray("to").add("nobody@example.org");
        put("refused", refused);
        final ObjectNode later = email(server.port(), pem);
        later.putArray("to").add("busy@example.org");
        put("later", later);
        server.rcptReply("nobody@example.org", "550 5.1.1 no such user");
        server.rcptReply("busy@example.org", "451 4.2.1 mailbox busy, try again later");
        final OutboxRelay relay = relay(Duration.ofSeconds(10));
        enqueue(down("shop"));
        relay.drainOnce();

        assertEquals(0, server.messages().size());
        assertFalse(server.commands().contains("DATA"), "no DATA without a recipient");
        final long refusedId = rowId("refused");
        assertEquals("failed", rowText("state", refusedId), "5xx is permanent");
        assertEquals("1", rowText("attempts", refusedId));
        assertEquals("550", rowText("last_status", refusedId));
        assertTrue(rowText("last_error", refusedId).contains("SMTP 550"), rowText("last_error", refusedId));
        final long laterId = rowId("later");
        assertEquals("pending", rowText("state", laterId), "4xx is retried");
        assertEquals("451", rowText("last_status", laterId));
        assertEquals(T0.plusMillis(2500), instant("SELECT next_attempt_at FROM notification_outbox WHERE id = "
            + laterId));
        assertTrue(new ChannelStore(db.dataSource()).get("refused").orElseThrow().enabled());

        server.rcptReply("busy@example.org", null);
        clock.advance(Duration.ofSeconds(3));
        relay.drainOnce();
        assertEquals(1, server.messages().size());
        assertEquals(List.of("busy@example.org"), server.messages().get(0).to());
        assertEquals("<spillway-notification-" + laterId + "@example.org>", server.messages().get(0).header("Message-ID"));
        assertEquals("sent", rowText("state", laterId));
        assertEquals("failed", rowText("state", refusedId), "not tried again");
    }

    @Test
    void aMailWithOneRefusedRecipientGoesToTheOthersAndTheRefusalIsLoggedOnce() throws Exception {
        final String pem = TargetServer.selfSignedCertificatePem(certs, 30);
        final SmtpServer server = smtp(true).requireAuth("alerts", SMTP_PASSWORD);
        final ObjectNode mixed = email(server.port(), pem);
        mixed.putArray("to").add("ops@example.org").add("nobody@example.org");
        put("mixed", mixed);
        server.rcptReply("nobody@example.org", "550 5.1.1 no such user");
        final OutboxRelay relay = relay(Duration.ofSeconds(10));
        try (LogCapture log = LogCapture.of("dev.spillway.alerting")) {
            enqueue(down("shop"));
            relay.drainOnce();
            assertEquals(1, server.messages().size());
            assertEquals(List.of("ops@example.org"), server.messages().get(0).to());
            assertEquals("ops@example.org, nobody@example.org", server.messages().get(0).header("To"));
            assertEquals("sent", rowText("state", rowId("mixed")));
            assertEquals(1, log.count("refused recipients nobody@example.org (550)"), log.messages().toString());
        }
    }

    @Test
    void noPasswordWithoutTlsAndNoTlsWithAnUntrustedCertificate() throws Exception {
        final SmtpServer noTls = smtp(false).requireAuth("alerts", SMTP_PASSWORD);
        final SmtpServer tls = smtp(true).requireAuth("alerts", SMTP_PASSWORD);
        put("no-tls", email(noTls.port(), null));
        put("optional", email(noTls.port(), null).put("starttls", "optional"));
        put("untrusted", email(tls.port(), null)); // the system's trust store does not know the test certificate
        final OutboxRelay relay = relay(Duration.ofSeconds(10));
        enqueue(down("shop"));
        relay.drainOnce();
        final ChannelStore store = new ChannelStore(db.dataSource());
        assertFalse(store.get("no-tls").orElseThrow().enabled(), "starttls required, the server offers none");
        assertTrue(store.get("no-tls").orElseThrow().disabledReason().startsWith("SMTP 530"));
        assertFalse(store.get("optional").orElseThrow().enabled(), "no password in clear");
        assertTrue(store.get("optional").orElseThrow().disabledReason().startsWith("SMTP 538"));
        assertFalse(noTls.commands().contains("AUTH"));
        assertEquals(0, noTls.messages().size());
        assertEquals("pending", rowText("state", rowId("untrusted")));
        assertTrue(rowText("last_error", rowId("untrusted")).startsWith("TLS failed"),
            rowText("last_error", rowId("untrusted")));
        assertFalse(tls.commands().contains("AUTH"));
    }

    // ---- lanes -------------------------------------------------------------------------------------------------

    @Test
    void aDeadMailServerDelaysNobody() throws Exception {
        final OutboxRelay relay = relay(Duration.ofMinutes(5));
        // Closed before the relay (reverse order): the hanging exchange ends, the relay stops at once.
        final SmtpServer dead = smtp(false).hang(); // accepts the connection, never says a word
        put("mail", email(dead.port(), null).put("starttls", "optional"));
        put("ntfy", ntfy());
        relay.start();
        for (int i = 0; i < 10; i++) {
            enqueue(down("m" + i));
            relay.wakeup();
        }
        Await.until(Duration.ofSeconds(60), () -> hub.received("/spillway-alerts-x7").size() == 10,
            "the healthy channel gets every message");
        assertEquals(1, dead.connections(), "the dead channel's first message only");
        final long first = db.queryLong("SELECT min(id) FROM notification_outbox WHERE channel_id = 'mail'");
        assertEquals(1, db.queryLong("SELECT count(*) FROM notification_outbox WHERE id = " + first
            + " AND state = 'pending' AND attempts = 0 AND lease_owner IS NOT NULL"), "still leased, unanswered");
        assertNotNull(new ChannelStore(db.dataSource()).get("mail").orElseThrow());
    }
}
