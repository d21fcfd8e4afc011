package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.testkit.FakeReceiver;
import dev.spillway.testkit.MutableClock;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The "done means", in process: register a service over the API, ping it (HTTP and line protocol), stop
 * pinging, and Slack-format messages arrive at a real webhook receiver on loopback; the outbox survives a
 * collector restart; a deadline missed while the collector was down is announced exactly once. The collector's
 * clock is moved by hand (timeout 30 s + grace 5 s pass without waiting).
 */
class HeartbeatNotificationTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String TOKEN = "s3cret";
    private static final String[] AUTH = {"Authorization", "Token " + TOKEN};
    private static final String SLACK_PATH = "/services/T0001/B0001/abcdefXYZ";

    private static TestDatabase db;

    @BeforeAll
    static void createDatabase() {
        db = TestDatabase.create("heartbeat_e2e");
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    private static CollectorHarness start(MutableClock clock, FakeReceiver slack) throws Exception {
        return CollectorHarness.start(db, clock, "--token", TOKEN, "--slack-webhook", slack.url(SLACK_PATH),
            "--notify-group-window", "0s",
            "--public-url", "https://status.example.org/");
    }

    private static List<String> slackTexts(FakeReceiver slack) {
        return slack.received(SLACK_PATH).stream().map(r -> {
            try {
                return JSON.readTree(r.body()).get("text").asText();
            } catch (Exception e) {
                throw new AssertionError(r.body(), e);
            }
        }).toList();
    }

    /** Outbox rows marked sent whose subject is {@code id}. */
    private static int sentAbout(CollectorHarness h, String id) throws Exception {
        int n = 0;
        for (JsonNode row : JSON.readTree(h.get("/api/v1/notifications?state=sent", AUTH).body())) {
            n += row.get("subject").get("id").asText().equals(id) ? 1 : 0;
        }
        return n;
    }

    @Test
    void registerPingFallSilentAndComeBack() throws Exception {
        final MutableClock clock = new MutableClock(Instant.now().truncatedTo(ChronoUnit.SECONDS));
        try (FakeReceiver slack = new FakeReceiver(); CollectorHarness h = start(clock, slack)) {
            final HttpResponse<String> put = h.put("/api/v1/services/checkout",
                "{\"timeout\":\"30s\",\"grace\":\"5s\",\"statuses\":[\"ok\",\"degraded\"]}", AUTH);
            assertEquals(200, put.statusCode(), put.body());
            final JsonNode registered = JSON.readTree(put.body());
            assertEquals("new", registered.get("state").asText());
            assertEquals("unavailable", registered.get("availability").asText());
            assertEquals(401, h.put("/api/v1/services/x", "{\"timeout\":\"30s\"}").statusCode(), "token required");
            final HttpResponse<String> invalid = h.put("/api/v1/services/bad", "{\"timeout\":\"0s\"}", AUTH);
            assertEquals(400, invalid.statusCode());
            assertEquals("timeout", JSON.readTree(invalid.body()).get("field").asText(), invalid.body());

            assertEquals(204, h.get("/api/v1/services/checkout/ping", AUTH).statusCode());
            assertEquals(204, h.post("/api/v1/services/checkout/ping?status=1", "", AUTH).statusCode());
            final HttpResponse<String> unknown = h.post("/api/v1/services/nobody/ping", "", AUTH);
            assertEquals(404, unknown.statusCode());
            assertEquals("not found", JSON.readTree(unknown.body()).get("code").asText());
            assertEquals(400, h.post("/api/v1/services/checkout/ping?status=2", "", AUTH).statusCode());
            assertEquals(400, h.post("/api/v1/services/checkout/ping?status=x", "", AUTH).statusCode());

            // The first ping (state ok) is recorded, not announced; the status change is.
            Await.until(Duration.ofSeconds(30), () -> slackTexts(slack).size() == 1, "the status message");
            assertEquals(List.of(":large_yellow_circle: Service checkout status is degraded (was ok)"),
                slackTexts(slack));
            final String blocks = JSON.readTree(slack.received(SLACK_PATH).get(0).body()).get("blocks").toString();
            assertTrue(blocks.contains("<https://status.example.org/|Open the status page>"), blocks);

            // Silence: the heartbeat thread flips it at its next tick once the clock passes timeout + grace.
            clock.advance(Duration.ofSeconds(36));
            Await.until(Duration.ofSeconds(30), () -> slackTexts(slack).size() == 2, "unavailable message");
            assertTrue(slackTexts(slack).get(1).equals(":red_circle: Service checkout is unavailable (was "
                + "available), status degraded: no ping within timeout + grace"), slackTexts(slack).get(1));

            // A line-protocol heartbeat is a ping too (and stored like any point).
            clock.advance(Duration.ofSeconds(5));
            assertEquals(204, h.post("/api/v2/write", "heartbeat,service=checkout status=1i", AUTH).statusCode());
            Await.until(Duration.ofSeconds(30), () -> slackTexts(slack).size() == 3, "available again");
            assertEquals(":large_yellow_circle: Service checkout is available (was unavailable), status degraded",
                slackTexts(slack).get(2));
            Await.until(Duration.ofSeconds(30), () -> h.count("measurement = 'heartbeat' AND tags->>'service' = "
                + "'checkout' AND field = 'status'") == 3, "every ping is a point: 2 over HTTP, 1 as line protocol");

            // The receiver sees a message just before the relay commits "sent" for it: wait for the outbox too.
            Await.untilNoThrow(Duration.ofSeconds(30), () -> sentAbout(h, "checkout") == 6,
                "3 to slack, 3 to the log, all marked sent");
            // Durations in notification details read as people write them, as registered: not PT30S.
            int unavailable = 0;
            for (JsonNode row : JSON.readTree(h.get("/api/v1/notifications?state=sent", AUTH).body())) {
                if (row.get("type").asText().equals("service.unavailable")
                    && row.get("subject").get("id").asText().equals("checkout")) {
                    assertEquals("30s", row.get("details").get("timeout").asText(), row.toString());
                    assertEquals("5s", row.get("details").get("grace").asText(), row.toString());
                    unavailable++;
                }
            }
            assertTrue(unavailable > 0, "no service.unavailable notification about checkout");
            assertEquals(400, h.get("/api/v1/notifications?state=bogus", AUTH).statusCode());
            final JsonNode channels = JSON.readTree(h.get("/api/v1/channels", AUTH).body());
            assertEquals("slack", channels.get(1).get("id").asText());
            assertFalse(channels.get(1).get("url").asText().contains("abcdefXYZ"), "webhook secret masked");
            final JsonNode service = JSON.readTree(h.get("/api/v1/services/checkout", AUTH).body());
            assertEquals("up", service.get("state").asText());
            assertEquals("degraded", service.get("status_name").asText());
        }
    }

    @Test
    void pendingNotificationsSurviveARestartAndAMissedDeadlineIsAnnouncedOnce() throws Exception {
        final MutableClock clock = new MutableClock(Instant.now().truncatedTo(ChronoUnit.SECONDS));
        try (FakeReceiver slack = new FakeReceiver()) {
            slack.always(FakeReceiver.Reply.status(503, "busy"));
            try (CollectorHarness h = start(clock, slack)) {
                assertEquals(200, h.put("/api/v1/services/nightly",
                    "{\"timeout\":\"60s\",\"statuses\":[\"ok\",\"degraded\"]}", AUTH).statusCode());
                // A first ping with a non-normal status is announced (an ok one would be recorded quietly).
                assertEquals(204, h.post("/api/v1/services/nightly/ping?status=1", "", AUTH).statusCode());
                Await.until(Duration.ofSeconds(30), () -> slack.received(SLACK_PATH).size() == 1, "first attempt");
            }
            // Down across the deadline (60 s), with the "available" message still undelivered.
            slack.always(FakeReceiver.Reply.ok());
            clock.advance(Duration.ofMinutes(10));
            try (CollectorHarness h = start(clock, slack)) {
                Await.until(Duration.ofSeconds(30), () -> slackTexts(slack).size() == 3, "retry and unavailable");
                assertEquals(List.of(":large_yellow_circle: Service nightly is available, status degraded",
                    ":large_yellow_circle: Service nightly is available, status degraded",
                    ":red_circle: Service nightly is unavailable (was available), status degraded: no ping within "
                        + "timeout + grace"),
                    slackTexts(slack));
                assertEquals(1, db.queryLong("SELECT count(*) FROM notification_outbox WHERE channel_id = 'slack' "
                    + "AND type = 'service.unavailable'"));
                // The log channel's rows are delivered by the same relay independently of Slack's: wait for them.
                Await.until(Duration.ofSeconds(30), () -> db.queryLong("SELECT count(*) FROM notification_outbox "
                    + "WHERE state <> 'sent'") == 0, "every row of every channel sent");
            }
            clock.advance(Duration.ofMinutes(1));
            try (CollectorHarness h = start(clock, slack)) {
                h.collector.uptime().heartbeats().tick();
                assertEquals(1, db.queryLong("SELECT count(*) FROM notification_outbox WHERE channel_id = 'slack' "
                    + "AND type = 'service.unavailable'"), "a second restart announces nothing");
            }
        }
    }

    @Test
    void monitorTransitionsReachAGenericWebhook() throws Exception {
        try (FakeReceiver receiver = new FakeReceiver(); CollectorHarness h = CollectorHarness.start(db, "--token",
            TOKEN)) {
            receiver.always("/target", FakeReceiver.Reply.status(500, "broken"));
            final HttpResponse<String> channel = h.put("/api/v1/channels/hook",
                "{\"kind\":\"webhook\",\"group_window\":\"0s\",\"url\":\""
                + receiver.url("/hook") + "\"}", AUTH);
            assertEquals(200, channel.statusCode(), channel.body());
            assertEquals(400, h.put("/api/v1/channels/bad", "{\"kind\":\"pager\",\"url\":\"http://x/\"}", AUTH)
                .statusCode());
            final HttpResponse<String> monitor = h.post("/api/v1/monitors", "{\"name\":\"shop\",\"url\":\""
                + receiver.url("/target") + "\",\"interval\":\"1s\",\"failure_threshold\":1}", AUTH[0], AUTH[1],
                "Content-Type", "application/json");
            assertTrue(monitor.statusCode() == 200 || monitor.statusCode() == 201, monitor.body());

            Await.until(Duration.ofSeconds(30), () -> receiver.received("/hook").size() == 1, "monitor.down");
            final JsonNode down = JSON.readTree(receiver.received("/hook").get(0).body());
            assertEquals("monitor.down", down.get("type").asText());
            assertEquals("shop", down.get("subject").get("id").asText());
            assertEquals("firing", down.get("status").asText());

            receiver.always("/target", FakeReceiver.Reply.ok());
            Await.until(Duration.ofSeconds(30), () -> receiver.received("/hook").size() == 2, "monitor.up");
            final JsonNode up = JSON.readTree(receiver.received("/hook").get(1).body());
            assertEquals("monitor.up", up.get("type").asText());
            assertEquals("down", up.get("old_state").asText());
            assertEquals("resolved", up.get("status").asText());
        }
    }
}
