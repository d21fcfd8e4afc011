package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.LogCapture;
import dev.spillway.testkit.TargetServer;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Duties: a collector started with {@code --duties ingest} (what an edge runs by default) checks no monitor,
 * announces no heartbeat deadline and sends no notification, yet its APIs work; a collector with every duty on the
 * same database does that work, including for what was created and pinged through the first one. The start log
 * names the duties.
 */
class CollectorDutiesTest {

    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final ObjectMapper JSON = new ObjectMapper();

    private static JsonNode get(CollectorHarness h, String path) throws Exception {
        final HttpResponse<String> r = h.get(path);
        assertEquals(200, r.statusCode(), r.body());
        return JSON.readTree(r.body());
    }

    private static double metric(CollectorHarness h, String name) throws Exception {
        double sum = 0;
        for (String line : h.get("/metrics").body().split("\n")) {
            if (line.startsWith(name + "{") || line.startsWith(name + " ")) {
                sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return sum;
    }

    @Test
    void anIngestOnlyCollectorLeavesMonitorsHeartbeatsAndNotificationsToOneWithThoseDuties() throws Exception {
        try (TestDatabase db = TestDatabase.create("collector_duties");
             TargetServer target = TargetServer.http().on("/ok", TargetServer.Behaviour.ok("ok"));
             LogCapture log = LogCapture.of("dev.spillway.collector.Collector");
             CollectorHarness ingestOnly = CollectorHarness.start(db, "--duties", "ingest")) {
            assertTrue(log.messages().stream().anyMatch(m -> m.equals(
                "role standalone, duties: ingest (off: monitors, heartbeats, notifications)")), log.messages().toString());
            final JsonNode leases = get(ingestOnly, "/api/v1/status").get("leases");
            assertTrue(leases.get("collector").isNull(), leases.toString());

            // Its APIs work: a monitor and a heartbeat service created and pinged through it.
            assertEquals(201, ingestOnly.put("/api/v1/monitors/web", "{\"url\":\"" + target.url("/ok")
                + "\",\"interval\":\"1s\"}", "Content-Type", "application/json").statusCode());
            assertEquals(200, ingestOnly.put("/api/v1/services/backup", "{\"timeout\":\"1s\"}", "Content-Type",
                "application/json").statusCode());
            assertEquals(204, ingestOnly.get("/api/v1/services/backup/ping").statusCode());
            assertEquals(0, db.queryLong("SELECT count(*) FROM monitor_collectors"), "not among the monitor collectors");

            try (CollectorHarness all = CollectorHarness.start(db)) {
                assertTrue(log.messages().stream().anyMatch(m -> m.startsWith("role standalone, duties: ingest, "
                    + "monitors, heartbeats, notifications (off: none); monitors shared by lease as collector ")),
                    log.messages().toString());
                // The other collector checks the monitor; the ingest-only one shows its state from the database.
                Await.untilNoThrow(WAIT, () -> "UP".equals(get(ingestOnly, "/api/v1/monitors/web").get("status")
                    .get("state").asText()), "web is UP, seen through the ingest-only collector");
                // ... announces the missed heartbeat deadline ...
                Await.untilNoThrow(WAIT, () -> "down".equals(get(ingestOnly, "/api/v1/services/backup")
                    .get("state").asText()), "backup is unavailable");
                // ... and sends the notification (service unavailable; the first states, monitor up and service
                // available, are recorded, not announced).
                Await.untilNoThrow(WAIT, () -> db.queryLong("SELECT count(*) FROM notification_outbox WHERE "
                    + "state = 'sent' AND type = 'service.unavailable'") == 1 && db.queryLong("SELECT count(*) FROM notification_outbox WHERE "
                    + "state <> 'sent'") == 0, "notifications sent");
                assertEquals(0, metric(ingestOnly, "spillway_monitor_checks_total"));
                assertEquals(0, metric(ingestOnly, "spillway_heartbeat_unavailable_total"));
                assertEquals(0, metric(ingestOnly, "spillway_notify_sent_total"));
                assertTrue(metric(all, "spillway_monitor_checks_total") > 0);
                assertEquals(1, metric(all, "spillway_heartbeat_unavailable_total"));
                assertEquals(db.queryLong("SELECT count(*) FROM notification_outbox"),
                    (long) metric(all, "spillway_notify_sent_total"));
                assertEquals(1, db.queryLong("SELECT count(*) FROM monitor_collectors"));
            }
        }
    }
}
