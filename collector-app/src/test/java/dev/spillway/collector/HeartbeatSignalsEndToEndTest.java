package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;

import static dev.spillway.collector.MonitorsEndToEndTest.WAIT;
import static dev.spillway.collector.MonitorsEndToEndTest.json;
import static dev.spillway.collector.MonitorsEndToEndTest.send;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The heartbeat signals through the collector's HTTP API: a cron schedule registered, {@code /start},
 * {@code /{exit-status}}, {@code /fail}, {@code /log} with run ids and bodies, the events list, run durations as
 * telemetry, and the plain ping still working.
 */
class HeartbeatSignalsEndToEndTest {

    private TestDatabase db;

    @BeforeEach
    void start() {
        db = TestDatabase.create("collector_heartbeat_signals");
    }

    @AfterEach
    void stop() {
        db.close();
    }

    @Test
    void signalsRunIdsBodiesAndDurations() throws Exception {
        try (CollectorHarness h = CollectorHarness.start(db, "--token", "t0k3n")) {
            final HttpResponse<String> bad = send(h, "PUT", "/api/v1/services/backup",
                "{\"schedule\":\"*/5 * * *\",\"tz\":\"Europe/Berlin\"}");
            assertEquals(400, bad.statusCode());
            assertEquals("schedule", json(bad).get("field").asText());
            final HttpResponse<String> put = send(h, "PUT", "/api/v1/services/backup",
                "{\"schedule\":\"*/5 * * * *\",\"tz\":\"Europe/Berlin\",\"grace\":\"2m\",\"max_run\":\"1h\"}");
            assertEquals(200, put.statusCode(), put.body());
            assertEquals("*/5 * * * *", json(put).get("schedule").asText());
            assertEquals("Europe/Berlin", json(put).get("tz").asText());
            assertEquals("3600s", json(put).get("max_run").asText());

            assertEquals(204, send(h, "POST", "/api/v1/services/backup/start?rid=r-1", "starting").statusCode());
            assertEquals(204, send(h, "POST", "/api/v1/services/backup/log?rid=r-1", "50% done").statusCode());
            assertEquals(204, send(h, "POST", "/api/v1/services/backup/0?rid=r-1", "ok").statusCode());
            assertEquals("up", json(send(h, "GET", "/api/v1/services/backup", null)).get("state").asText());
            assertEquals(204, send(h, "GET", "/api/v1/services/backup/ping", null).statusCode(), "the plain ping");
            assertEquals(204, send(h, "POST", "/api/v1/services/backup/start?rid=r-2", null).statusCode());
            assertEquals(204, send(h, "POST", "/api/v1/services/backup/3?rid=r-2", "tar: error").statusCode());
            assertEquals("down", json(send(h, "GET", "/api/v1/services/backup", null)).get("state").asText());
            assertEquals(204, send(h, "POST", "/api/v1/services/backup/fail", null).statusCode());

            assertEquals("rid", json(send(h, "POST", "/api/v1/services/backup/start?rid=a%20b", null)).get("field")
                .asText());
            assertEquals("exit_status", json(send(h, "POST", "/api/v1/services/backup/256", null)).get("field")
                .asText());
            assertEquals(404, send(h, "POST", "/api/v1/services/backup/finish", null).statusCode());
            assertEquals(404, send(h, "POST", "/api/v1/services/nope/start", null).statusCode());

            final JsonNode events = json(send(h, "GET", "/api/v1/services/backup/events?limit=10", null)).get("events");
            assertEquals("fail fail start success log start", kinds(events), "a plain ping is not kept: " + events);
            assertEquals(3, events.get(1).get("exit_status").asInt());
            assertEquals("tar: error", events.get(1).get("body").asText());
            assertEquals("r-2", events.get(1).get("run_id").asText());
            assertTrue(events.get(1).get("duration_ms").asDouble() >= 0, events.toString());
            assertEquals("50% done", events.get(4).get("body").asText());
            assertEquals("limit", json(send(h, "GET", "/api/v1/services/backup/events?limit=0", null)).get("field")
                .asText());

            Await.until(WAIT, () -> h.count("measurement = 'heartbeat' AND tags->>'service' = 'backup' AND field = "
                + "'run_duration_ms'") == 2, "two run durations as telemetry");
            assertEquals(1, h.count("measurement = 'heartbeat' AND field = 'run_failed' AND value = 1"));
        }
    }

    private static String kinds(JsonNode events) {
        final StringBuilder sb = new StringBuilder();
        events.forEach(e -> sb.append(sb.length() == 0 ? "" : " ").append(e.get("kind").asText()));
        return sb.toString();
    }
}
