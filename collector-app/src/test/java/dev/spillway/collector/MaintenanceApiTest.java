package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.FakeReceiver;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Maintenance windows through the whole collector: a snooze of a monitor via the API holds its DOWN (recorded,
 * listed as held, nothing sent to the channel) while another monitor's DOWN is sent; bad windows are 400 naming
 * the field.
 */
class MaintenanceApiTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] AUTH = {"Authorization", "Token s3cret", "Content-Type", "application/json"};

    @Test
    void aSnoozedMonitorsDownIsHeldAndAnotherIsSent() throws Exception {
        try (TestDatabase db = TestDatabase.create("maintenance_api"); FakeReceiver receiver = new FakeReceiver();
             CollectorHarness h = CollectorHarness.start(db, "--token", "s3cret")) {
            receiver.always("/target", FakeReceiver.Reply.status(500, "broken"));
            assertEquals(200, h.put("/api/v1/channels/hook", "{\"kind\":\"webhook\",\"group_window\":\"0s\","
                + "\"url\":\"" + receiver.url("/hook") + "\"}", AUTH).statusCode());
            final HttpResponse<String> snooze = h.put("/api/v1/maintenance/snooze-quiet",
                "{\"scope\":\"monitor\",\"target\":\"quiet\",\"for\":\"2h\",\"reason\":\"deploy\"}", AUTH);
            assertEquals(200, snooze.statusCode(), snooze.body());
            final JsonNode w = JSON.readTree(snooze.body());
            assertTrue(w.get("open").asBoolean(), snooze.body());
            assertTrue(w.get("open_until").isTextual(), snooze.body());

            for (String m : new String[] {"quiet", "loud"}) {
                final HttpResponse<String> r = h.put("/api/v1/monitors/" + m, "{\"url\":\"" + receiver.url("/target")
                    + "\",\"interval\":\"1s\",\"failure_threshold\":1}", AUTH);
                assertTrue(r.statusCode() == 200 || r.statusCode() == 201, r.body());
            }
            Await.untilNoThrow(Duration.ofSeconds(30), () -> db.queryLong("SELECT count(*) FROM monitor_transitions "
                + "WHERE to_state = 'DOWN'") == 2, "both monitors DOWN (first results, announced unless held)");
            Await.untilNoThrow(Duration.ofSeconds(30), () -> receiver.received("/hook").size() == 1, "loud sent");
            assertEquals("loud", JSON.readTree(receiver.received("/hook").get(0).body()).get("subject").get("id")
                .asText());
            final JsonNode held = JSON.readTree(h.get("/api/v1/maintenance-held", AUTH).body());
            assertEquals(1, held.size(), held.toString());
            assertEquals("quiet", held.get(0).get("subject").get("id").asText());
            assertEquals("snooze-quiet", held.get(0).get("window").asText());
            assertEquals(0, db.queryLong("SELECT count(*) FROM notification_outbox WHERE subject = 'quiet'"));

            // Routes on a channel: shown back; bad ones are 400 naming the field.
            final HttpResponse<String> routed = h.put("/api/v1/channels/db", "{\"kind\":\"webhook\",\"url\":\""
                + receiver.url("/db") + "\",\"routes\":[{\"scope\":\"tag\",\"target\":\"team=db\"}]}", AUTH);
            assertEquals(200, routed.statusCode(), routed.body());
            assertEquals("team=db", JSON.readTree(h.get("/api/v1/channels/db", AUTH).body()).get("routes").get(0)
                .get("target").asText());
            final HttpResponse<String> badRoute = h.put("/api/v1/channels/db", "{\"kind\":\"webhook\",\"url\":\""
                + receiver.url("/db") + "\",\"routes\":[{\"scope\":\"team\",\"target\":\"x\"}]}", AUTH);
            assertEquals(400, badRoute.statusCode(), badRoute.body());
            assertEquals("routes", JSON.readTree(badRoute.body()).get("field").asText());

            // Recurring windows and bad input.
            final HttpResponse<String> nightly = h.put("/api/v1/maintenance/nightly", "{\"scope\":\"tag\","
                + "\"target\":\"team=db\",\"cron\":\"0 2 * * *\",\"duration\":\"30m\",\"zone\":\"Europe/Berlin\"}",
                AUTH);
            assertEquals(200, nightly.statusCode(), nightly.body());
            assertEquals(2, JSON.readTree(h.get("/api/v1/maintenance", AUTH).body()).size());
            for (String[] bad : new String[][] {
                {"{\"scope\":\"all\",\"cron\":\"0 25 * * *\",\"duration\":\"30m\",\"zone\":\"UTC\"}", "cron"},
                {"{\"scope\":\"all\",\"cron\":\"0 2 * * *\",\"duration\":\"30m\",\"zone\":\"Mars/Base\"}", "zone"},
                {"{\"scope\":\"monitor\",\"for\":\"2h\"}", "target"},
                {"{\"scope\":\"all\",\"for\":\"soon\"}", "for"},
                {"{\"scope\":\"all\",\"starts_at\":\"yesterday\",\"for\":\"1h\"}", "starts_at"},
                {"{\"scope\":\"everything\",\"for\":\"1h\"}", "scope"}}) {
                final HttpResponse<String> r = h.put("/api/v1/maintenance/bad", bad[0], AUTH);
                assertEquals(400, r.statusCode(), bad[0] + " -> " + r.body());
                assertEquals(bad[1], JSON.readTree(r.body()).get("field").asText(), bad[0] + " -> " + r.body());
            }
        }
    }
}
