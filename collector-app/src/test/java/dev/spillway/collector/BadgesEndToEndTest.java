package dev.spillway.collector;

import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.TargetServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;

import static dev.spillway.collector.MonitorsEndToEndTest.WAIT;
import static dev.spillway.collector.MonitorsEndToEndTest.send;
import static dev.spillway.collector.MonitorsEndToEndTest.state;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SVG badges per monitor, tag and heartbeat service: as public as the status page (401 without the token, open with
 * {@code --public-status-page}), state colours, uptime that leaves unknown time out, and escaped labels.
 */
class BadgesEndToEndTest {

    private static final String AUTH = "Token t0k3n";
    private TestDatabase db;
    private TargetServer target;

    @BeforeEach
    void start() throws Exception {
        db = TestDatabase.create("collector_badges");
        target = TargetServer.http().on("/ok", TargetServer.Behaviour.ok("fine"));
    }

    @AfterEach
    void stop() {
        target.close();
        db.close();
    }

    @Test
    void badgesShowStateAndUptimeWhereThePageMayBeRead() throws Exception {
        try (CollectorHarness guarded = CollectorHarness.start(db, "--token", "t0k3n");
             CollectorHarness open = CollectorHarness.start(db, "--token", "t0k3n", "--public-status-page")) {
            assertEquals(201, send(guarded, "POST", "/api/v1/monitors", "{\"name\":\"web\",\"url\":\""
                + target.url("/ok") + "\",\"interval\":\"1s\",\"tags\":{\"team\":\"web\"}}").statusCode());
            assertEquals(201, send(guarded, "POST", "/api/v1/monitors", "{\"name\":\"idle\",\"url\":\""
                + target.url("/ok") + "\",\"enabled\":false,\"tags\":{\"team\":\"web\"}}").statusCode());
            assertEquals(200, send(guarded, "PUT", "/api/v1/services/backup", "{\"timeout\":\"1h\"}").statusCode());
            assertEquals(204, send(guarded, "POST", "/api/v1/services/backup/ping", null).statusCode());
            Await.untilNoThrow(WAIT, () -> state(guarded, "web").equals("UP"), "web is UP");

            assertEquals(401, guarded.get("/badges/monitors/web/status.svg").statusCode(), "the page is not public");
            final HttpResponse<String> withToken = guarded.get("/badges/monitors/web/status.svg", "Authorization", AUTH);
            assertEquals(200, withToken.statusCode());
            assertTrue(withToken.headers().firstValue("Content-Type").orElse("").startsWith("image/svg+xml"));
            assertTrue(withToken.body().contains("aria-label=\"web: up\"") && withToken.body().contains("#4c1"),
                withToken.body());

            final HttpResponse<String> pub = open.get("/badges/monitors/web/status.svg");
            assertEquals(200, pub.statusCode(), "public with --public-status-page");
            assertTrue(open.get("/badges/monitors/idle/status.svg").body().contains("aria-label=\"idle: paused\""));
            assertTrue(open.get("/badges/tags/team/web/status.svg").body().contains("aria-label=\"team:web: up\""),
                "the worst of up and paused is up");
            // Uptime from results with known times (a paused monitor, results written as line protocol): 11 checks a
            // minute apart 30 minutes ago, the 6th failed; each stands for 60 s, the last for 90 s (1.5 intervals),
            // the rest of the 7 days is unknown and left out: 630 s up of 690 s known = 91.30 %.
            assertEquals(201, send(guarded, "POST", "/api/v1/monitors", "{\"name\":\"batch\",\"url\":\""
                + target.url("/ok") + "\",\"interval\":\"60s\",\"enabled\":false,\"tags\":{\"team\":\"jobs\"}}")
                .statusCode());
            final long t0 = java.time.Instant.now().minusSeconds(1800).getEpochSecond();
            final StringBuilder lines = new StringBuilder();
            for (int i = 0; i < 11; i++) {
                lines.append("monitor,monitor=batch,team=jobs up=").append(i != 5).append(' ')
                    .append((t0 + 60L * i) * 1_000_000_000L).append('\n');
            }
            assertEquals(204, send(guarded, "POST", "/api/v2/write", lines.toString()).statusCode());
            Await.until(WAIT, () -> guarded.count("measurement = 'monitor' AND tags->>'monitor' = 'batch'") == 11,
                "results stored");
            final String uptime = open.get("/badges/monitors/batch/uptime.svg?days=7").body();
            assertTrue(uptime.contains("aria-label=\"uptime 7d: 91.3%\"") && uptime.contains("#e05d44"), uptime);
            assertTrue(open.get("/badges/tags/team/jobs/uptime.svg?label=jobs").body().contains("aria-label=\"jobs: "
                + "91.3%\""));
            // A maintenance window over the failed check's minute: that minute is maintenance, 630 s up of 630 s.
            assertEquals(2, send(guarded, "PUT", "/api/v1/maintenance/fix", "{\"scope\":\"monitor\",\"target\":"
                + "\"batch\",\"starts_at\":\"" + java.time.Instant.ofEpochSecond(t0 + 300) + "\",\"ends_at\":\""
                + java.time.Instant.ofEpochSecond(t0 + 360) + "\"}").statusCode() / 100);
            final String maintained = open.get("/badges/monitors/batch/uptime.svg?days=7").body();
            assertTrue(maintained.contains("aria-label=\"uptime 7d: 100%\"") && maintained.contains("#4c1"), maintained);
            assertTrue(open.get("/badges/services/backup/status.svg").body().contains("aria-label=\"backup: available\""));
            assertTrue(open.get("/badges/monitors/web/status.svg?label=%3Cb%3Eweb").body()
                .contains("aria-label=\"&lt;b&gt;web: up\""), "labels are escaped");

            assertEquals(404, open.get("/badges/monitors/nope/status.svg").statusCode());
            assertEquals(404, open.get("/badges/tags/team/none/status.svg").statusCode());
            assertEquals(400, open.get("/badges/monitors/web/uptime.svg?days=0").statusCode());
        }
    }
}
