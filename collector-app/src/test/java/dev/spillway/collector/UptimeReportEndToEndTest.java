package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.time.Instant;

import static dev.spillway.collector.MonitorsEndToEndTest.WAIT;
import static dev.spillway.collector.MonitorsEndToEndTest.json;
import static dev.spillway.collector.MonitorsEndToEndTest.send;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The goal of issue 23 for reports: a day of once-a-minute results written with their real timestamps, with the
 * collector stopped for 10 minutes (no results 12:00-12:09) and 5 failed checks; the report shows the stop as
 * unknown time, never as up, and every row's up + down + maintenance + unknown is exactly its length.
 */
class UptimeReportEndToEndTest {

    private static final Instant DAY = Instant.parse("2026-11-02T00:00:00Z");
    private TestDatabase db;

    @BeforeEach
    void start() {
        db = TestDatabase.create("collector_reports");
    }

    @AfterEach
    void stop() {
        db.close();
    }

    @Test
    void unknownTimeForAStoppedCollectorAndRowsThatAddUp() throws Exception {
        try (CollectorHarness h = CollectorHarness.start(db, "--token", "t0k3n")) {
            for (String m : new String[] {"web", "api"}) {
                assertEquals(201, send(h, "POST", "/api/v1/monitors", "{\"name\":\"" + m + "\",\"url\":"
                    + "\"http://127.0.0.1:9/\",\"interval\":\"60s\",\"enabled\":false,\"tags\":{\"team\":\"" + m
                    + "\"}}").statusCode());
            }
            final StringBuilder lines = new StringBuilder();
            int written = 0;
            for (int minute = 0; minute < 1440; minute++) {
                if (minute >= 720 && minute < 730) {
                    continue; // the collector was stopped 12:00-12:09
                }
                final boolean up = minute < 900 || minute >= 905; // 15:00-15:04 failed
                final long ns = DAY.plusSeconds(60L * minute).toEpochMilli() * 1_000_000L;
                lines.append("monitor,monitor=web,team=web up=").append(up).append(' ').append(ns).append('\n');
                written++;
            }
            assertEquals(204, send(h, "POST", "/api/v2/write", lines.toString()).statusCode());
            final int expected = written;
            Await.until(WAIT, () -> h.count("measurement = 'monitor' AND field = 'up'") == expected, "results stored");

            final JsonNode r = json(send(h, "GET", "/api/v1/reports/uptime?monitor=web&from=2026-11-01&to=2026-11-03",
                null));
            final JsonNode rows = r.get("rows");
            assertEquals(2, rows.size(), r.toString());
            assertEquals("2026-11-01 up=0.0 down=0.0 maint=0.0 unknown=86400.0", row(rows.get(0)),
                "no results yet: all unknown, none of it up");
            // 11:59's result stands for 90 s (1.5 intervals): unknown from 12:00:30 to 12:10:00 = 570 s.
            assertEquals("2026-11-02 up=85530.0 down=300.0 maint=0.0 unknown=570.0", row(rows.get(1)));
            assertEquals(99.65, rows.get(1).get("uptime_percent").asDouble(), 0.001);
            for (JsonNode row : rows) {
                assertEquals(86_400.0, sum(row), 1e-9, row.toString());
            }
            assertEquals(86_970.0, r.get("totals").get(0).get("unknown_s").asDouble());
            assertEquals(2 * 86_400.0, sum(r.get("total")), 1e-9);

            final JsonNode berlin = json(send(h, "GET", "/api/v1/reports/uptime?from=2026-11-01&to=2026-11-03"
                + "&tz=Europe/Berlin", null));
            assertEquals(4, berlin.get("rows").size(), "two monitors, two Berlin days");
            for (JsonNode row : berlin.get("rows")) {
                assertEquals(86_400.0, sum(row), 1e-9, row.toString());
            }
            assertEquals("2026-10-31T23:00:00Z", berlin.get("from").asText());

            final JsonNode api = json(send(h, "GET", "/api/v1/reports/uptime?tag=team:api&from=2026-11-02"
                + "&to=2026-11-03", null));
            assertEquals(1, api.get("rows").size());
            assertEquals("api", api.get("rows").get(0).get("monitor").asText());
            assertTrue(api.get("rows").get(0).get("uptime_percent").isNull(), "nothing known: no uptime figure");

            final HttpResponse<String> csv = send(h, "GET", "/api/v1/reports/uptime?monitor=web&from=2026-11-02"
                + "&to=2026-11-03&format=csv", null);
            assertEquals(200, csv.statusCode());
            assertTrue(csv.headers().firstValue("Content-Type").orElse("").startsWith("text/csv"));
            assertEquals("day,monitor,up_s,down_s,maintenance_s,unknown_s,uptime_percent\n"
                + "2026-11-02,web,85530.0,300.0,0.0,570.0,99.65\n"
                + "total,web,85530.0,300.0,0.0,570.0,99.65\n"
                + "total,,85530.0,300.0,0.0,570.0,99.65\n", csv.body());

            assertEquals("tz", json(send(h, "GET", "/api/v1/reports/uptime?tz=Mars/Base", null)).get("field").asText());
            assertEquals("tag", json(send(h, "GET", "/api/v1/reports/uptime?tag=team", null)).get("field").asText());
            assertEquals("from", json(send(h, "GET", "/api/v1/reports/uptime?from=2026-11-03&to=2026-11-02", null))
                .get("field").asText());
            assertEquals(404, send(h, "GET", "/api/v1/reports/uptime?monitor=nope", null).statusCode());
        }
    }

    /**
     * Maintenance time comes from the alerting module's windows: a one-off window on the monitor (08:00-09:30 UTC)
     * and a recurring daily one on its tag (02:00 Europe/Berlin for 1 h, i.e. 01:00-02:00 UTC in November) count as
     * maintenance, not up, and a window covering another monitor or a heartbeat service does not count at all.
     */
    @Test
    void maintenanceTimeFromTheWindows() throws Exception {
        try (CollectorHarness h = CollectorHarness.start(db, "--token", "t0k3n")) {
            assertEquals(201, send(h, "POST", "/api/v1/monitors", "{\"name\":\"web\",\"url\":"
                + "\"http://127.0.0.1:9/\",\"interval\":\"60s\",\"enabled\":false,\"tags\":{\"team\":\"web\"}}")
                .statusCode());
            final StringBuilder lines = new StringBuilder();
            for (int minute = 0; minute < 1440; minute++) {
                final boolean up = minute < 900 || minute >= 905; // 15:00-15:04 failed
                final long ns = DAY.plusSeconds(60L * minute).toEpochMilli() * 1_000_000L;
                lines.append("monitor,monitor=web,team=web up=").append(up).append(' ').append(ns).append('\n');
            }
            assertEquals(204, send(h, "POST", "/api/v2/write", lines.toString()).statusCode());
            Await.until(WAIT, () -> h.count("measurement = 'monitor' AND field = 'up'") == 1440, "results stored");
            assertEquals(200, send(h, "PUT", "/api/v1/maintenance/upgrade", "{\"scope\":\"monitor\",\"target\":"
                + "\"web\",\"starts_at\":\"2026-11-02T08:00:00Z\",\"ends_at\":\"2026-11-02T09:30:00Z\"}")
                .statusCode() / 100 * 100);
            assertEquals(200, send(h, "PUT", "/api/v1/maintenance/nightly", "{\"scope\":\"tag\",\"target\":"
                + "\"team=web\",\"cron\":\"0 2 * * *\",\"duration\":\"1h\",\"zone\":\"Europe/Berlin\"}")
                .statusCode() / 100 * 100);
            assertEquals(200, send(h, "PUT", "/api/v1/maintenance/other", "{\"scope\":\"monitor\",\"target\":"
                + "\"api\",\"starts_at\":\"2026-11-02T12:00:00Z\",\"ends_at\":\"2026-11-02T13:00:00Z\"}")
                .statusCode() / 100 * 100);
            assertEquals(200, send(h, "PUT", "/api/v1/maintenance/backups", "{\"scope\":\"service\",\"target\":"
                + "\"web\",\"starts_at\":\"2026-11-02T16:00:00Z\",\"ends_at\":\"2026-11-02T17:00:00Z\"}")
                .statusCode() / 100 * 100);

            final JsonNode r = json(send(h, "GET", "/api/v1/reports/uptime?monitor=web&from=2026-11-01&to=2026-11-03",
                null));
            final JsonNode rows = r.get("rows");
            assertEquals(2, rows.size(), r.toString());
            assertEquals("2026-11-01 up=0.0 down=0.0 maint=3600.0 unknown=82800.0", row(rows.get(0)),
                "the nightly window before the first result is maintenance, the rest unknown");
            // 1 h nightly + 1.5 h upgrade = 9000 s maintenance; the 300 s failure stays down.
            assertEquals("2026-11-02 up=77100.0 down=300.0 maint=9000.0 unknown=0.0", row(rows.get(1)));
            for (JsonNode row : rows) {
                assertEquals(86_400.0, sum(row), 1e-9, row.toString());
            }
            assertEquals(12_600.0, r.get("totals").get(0).get("maintenance_s").asDouble());
            assertEquals(2 * 86_400.0, sum(r.get("total")), 1e-9);

            // A range starting inside the nightly opening counts only its part in the range.
            final JsonNode part = json(send(h, "GET", "/api/v1/reports/uptime?monitor=web"
                + "&from=2026-11-02T01:30:00Z&to=2026-11-02T08:45:00Z", null));
            assertEquals("2026-11-02 up=21600.0 down=0.0 maint=4500.0 unknown=0.0", row(part.get("rows").get(0)));
            assertEquals(26_100.0, sum(part.get("rows").get(0)), 1e-9);
        }
    }

    /**
     * Heartbeat services through the same API: {@code service=backup} (JSON and CSV, {@code service} instead of
     * {@code monitor}), time before the collector started watching is unknown, a service maintenance window (from
     * the alerting module's windows) is maintenance, the service's uptime badge counts the same way; unknown
     * services are 404 and a service with a monitor 400.
     */
    @Test
    void heartbeatServicesInReportsAndBadges() throws Exception {
        final Instant before = Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
        try (CollectorHarness h = CollectorHarness.start(db, "--token", "t0k3n")) {
            assertEquals(200, send(h, "PUT", "/api/v1/services/backup", "{\"timeout\":\"1h\"}").statusCode());
            assertEquals(200, send(h, "PUT", "/api/v1/maintenance/backups", "{\"scope\":\"service\",\"target\":"
                + "\"backup\",\"starts_at\":\"" + before.minusSeconds(1800) + "\",\"ends_at\":\""
                + before.minusSeconds(1200) + "\"}").statusCode() / 100 * 100);
            assertEquals(204, send(h, "POST", "/api/v1/services/backup/ping", null).statusCode());
            Await.until(WAIT, () -> h.count("measurement = 'heartbeat'") >= 1, "ping stored");
            final Instant to = Instant.now().plusSeconds(1).truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
            final String range = "&from=" + before.minusSeconds(3600) + "&to=" + to;
            final JsonNode r = json(send(h, "GET", "/api/v1/reports/uptime?service=backup" + range, null));
            final JsonNode total = r.get("totals").get(0);
            assertEquals("backup", total.get("service").asText(), r.toString());
            assertEquals(600.0, total.get("maintenance_s").asDouble(), r.toString());
            assertTrue(total.get("unknown_s").asDouble() >= 3000.0, "before the collector watched: unknown " + r);
            assertTrue(total.get("up_s").asDouble() > 0, r.toString());
            assertEquals(0.0, total.get("down_s").asDouble(), r.toString());
            assertEquals(100.0, total.get("uptime_percent").asDouble(), r.toString());
            assertEquals(3600.0 + (to.getEpochSecond() - before.getEpochSecond()), sum(total), 1e-9);
            for (JsonNode row : r.get("rows")) {
                assertEquals("backup", row.get("service").asText());
            }
            final HttpResponse<String> csv = send(h, "GET", "/api/v1/reports/uptime?service=backup&format=csv" + range,
                null);
            assertEquals(200, csv.statusCode());
            assertTrue(csv.body().startsWith("day,service,up_s,down_s,maintenance_s,unknown_s,uptime_percent\n"),
                csv.body());
            assertTrue(csv.body().contains("\ntotal,backup,"), csv.body());
            final JsonNode all = json(send(h, "GET", "/api/v1/reports/uptime?service=*" + range, null));
            assertEquals(1, all.get("totals").size());
            assertEquals(404, send(h, "GET", "/api/v1/reports/uptime?service=nope", null).statusCode());
            assertEquals("service", json(send(h, "GET", "/api/v1/reports/uptime?service=backup&monitor=web", null))
                .get("field").asText());
            final HttpResponse<String> badge = send(h, "GET", "/badges/services/backup/uptime.svg?days=1", null);
            assertEquals(200, badge.statusCode());
            assertTrue(badge.body().contains("aria-label=\"uptime 1d: 100%\""), badge.body());
            assertEquals(404, send(h, "GET", "/badges/services/nope/uptime.svg", null).statusCode());
        }
    }

    private static String row(JsonNode r) {
        return r.get("day").asText() + " up=" + r.get("up_s").asDouble() + " down=" + r.get("down_s").asDouble()
            + " maint=" + r.get("maintenance_s").asDouble() + " unknown=" + r.get("unknown_s").asDouble();
    }

    private static double sum(JsonNode r) {
        return r.get("up_s").asDouble() + r.get("down_s").asDouble() + r.get("maintenance_s").asDouble()
            + r.get("unknown_s").asDouble();
    }
}
