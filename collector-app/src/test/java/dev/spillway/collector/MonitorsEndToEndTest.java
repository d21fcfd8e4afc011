package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.collector.config.CollectorOptions;
import dev.spillway.runtime.config.ConfigException;
import dev.spillway.testkit.TargetServer;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Monitors through the collector: the API, results as telemetry, transitions, restart, reload, files. */
class MonitorsEndToEndTest {

    static final Duration WAIT = Duration.ofSeconds(20);
    static final ObjectMapper JSON = new ObjectMapper();
    static final String TOKEN = "Token t0k3n";

    private TestDatabase db;
    private TargetServer target;

    @BeforeEach
    void start() throws Exception {
        db = TestDatabase.create("collector_monitors");
        target = TargetServer.http()
            .on("/ok", TargetServer.Behaviour.ok("hello monitor"))
            .on("/other", TargetServer.Behaviour.ok("other"))
            .on("/flaky", TargetServer.Behaviour.status(500));
    }

    @AfterEach
    void stop() {
        target.close();
        db.close();
    }

    static HttpResponse<String> send(CollectorHarness h, String method, String path, String body) throws Exception {
        final HttpRequest.Builder b = HttpRequest.newBuilder(h.uri(path)).header("Authorization", TOKEN)
            .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            b.header("Content-Type", "application/json");
        }
        return h.http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static JsonNode json(HttpResponse<String> r) throws Exception {
        return JSON.readTree(r.body());
    }

    static String state(CollectorHarness h, String name) throws Exception {
        final HttpResponse<String> r = send(h, "GET", "/api/v1/monitors/" + name, null);
        return r.statusCode() == 200 ? json(r).get("status").get("state").asText() : "HTTP " + r.statusCode();
    }

    @Test
    void newUserCreatesAMonitorAndSeesResultsStateAndCounters() throws Exception {
        try (CollectorHarness h = CollectorHarness.start(db, "--token", "t0k3n")) {
            assertEquals(401, h.get("/api/v1/monitors").statusCode());
            final HttpResponse<String> bad = send(h, "POST", "/api/v1/monitors",
                "{\"name\":\"example\",\"url\":\"" + target.url("/ok") + "\",\"interval\":\"500ms\"}");
            assertEquals(400, bad.statusCode());
            assertEquals("interval", json(bad).get("field").asText());
            assertEquals("invalid", json(bad).get("code").asText());
            assertTrue(json(bad).get("message").asText().contains("between 1s and 24h"), bad.body());
            final HttpResponse<String> ftp = send(h, "POST", "/api/v1/monitors", "{\"name\":\"x\",\"url\":\"ftp://a/\"}");
            assertEquals("url", json(ftp).get("field").asText());

            final HttpResponse<String> created = send(h, "POST", "/api/v1/monitors",
                "{\"name\":\"example\",\"url\":\"" + target.url("/ok") + "\",\"interval\":\"1s\","
                    + "\"keyword\":\"hello\",\"tags\":{\"team\":\"web\"}}");
            assertEquals(201, created.statusCode(), created.body());
            assertEquals("/api/v1/monitors/example", created.headers().firstValue("Location").orElse(null));
            assertEquals("800ms", json(created).get("timeout").asText(), "default timeout capped below the interval");
            assertEquals(409, send(h, "POST", "/api/v1/monitors",
                "{\"name\":\"example\",\"url\":\"" + target.url("/ok") + "\"}").statusCode());

            Await.untilNoThrow(WAIT, () -> state(h, "example").equals("UP"), "example is UP");
            Await.until(WAIT, () -> h.count("measurement = 'monitor' AND tags->>'monitor' = 'example' AND field = 'up'"
                + " AND value = 1") >= 1, "up=1 in telemetry");
            for (String field : List.of("duration_ms", "status_code", "dns_ms", "connect_ms", "ttfb_ms")) {
                assertTrue(h.count("measurement = 'monitor' AND tags->>'monitor' = 'example' AND tags->>'team' = 'web'"
                    + " AND field = '" + field + "'") >= 1, field);
            }
            assertEquals(0, h.count("measurement = 'monitor' AND field IN ('tls_ms', 'cert_expiry_days')"), "http");
            assertEquals(200.0, db.queryLong("SELECT max(value)::bigint FROM telemetry WHERE measurement = 'monitor' "
                + "AND field = 'status_code'"));

            final JsonNode checks = json(send(h, "GET", "/api/v1/monitors/example/checks?from=10m", null));
            assertTrue(checks.get("checks").size() >= 1, checks.toString());
            assertTrue(checks.get("checks").get(0).get("up").asBoolean(), checks.toString());

            // A change takes effect within one interval.
            final int before = target.hits("/other").size();
            final JsonNode put = json(send(h, "PUT", "/api/v1/monitors/example",
                "{\"url\":\"" + target.url("/other") + "\",\"interval\":\"1s\"}"));
            assertNull(put.get("keyword"), "PUT replaces the whole definition");
            Await.until(WAIT, () -> target.hits("/other").size() > before, "checks go to the new URL");

            assertEquals("PAUSED", json(send(h, "POST", "/api/v1/monitors/example/pause", null))
                .get("status").get("state").asText());
            Await.untilNoThrow(WAIT, () -> json(send(h, "GET", "/api/v1/status", null)).get("monitors").get("active")
                .asInt() == 0, "unscheduled");
            assertEquals("UP", json(send(h, "POST", "/api/v1/monitors/example/resume", null))
                .get("status").get("state").asText());

            final JsonNode status = json(send(h, "GET", "/api/v1/status", null));
            assertTrue(status.get("checks").get("executed").asLong() >= 2, status.toString());
            assertEquals(500, status.get("checks").get("concurrency").asInt());
            assertTrue(status.has("scheduling_lateness_ms"), status.toString());
            assertTrue(status.get("scheduling_lateness_by_lane_ms").get("healthy").has("p99"), status.toString());
            assertTrue(status.get("scheduling_lateness_by_lane_ms").get("slow").has("p99"), status.toString());
            final String metrics = send(h, "GET", "/metrics", null).body();
            assertTrue(metrics.contains("spillway_monitor_checks_total{result=\"success\"}"), "meters on /metrics");
            assertTrue(metrics.contains("spillway_monitor_lane_lateness_seconds_count{lane=\"healthy\"}"),
                "lateness per lane on /metrics");
            assertTrue(metrics.contains("spillway_collector_points_total{outcome=\"written\",producer=\"monitor\"}"));

            assertEquals(204, send(h, "DELETE", "/api/v1/monitors/example", null).statusCode());
            assertEquals(404, send(h, "GET", "/api/v1/monitors/example", null).statusCode());
            assertEquals(404, send(h, "DELETE", "/api/v1/monitors/example", null).statusCode());
        }
    }

    @Test
    void aMonitorWithLocationsIsCheckedFromTheCollectorsLocationOnly() throws Exception {
        try (CollectorHarness h = CollectorHarness.start(db, "--token", "t0k3n", "--location", "a")) {
            final HttpResponse<String> bad = send(h, "POST", "/api/v1/monitors", "{\"name\":\"geo\",\"url\":\""
                + target.url("/ok") + "\",\"locations\":[\"a\",\"b\"],\"quorum\":3}");
            assertEquals(400, bad.statusCode(), bad.body());
            assertEquals("quorum", json(bad).get("field").asText());
            assertTrue(json(bad).get("message").asText().contains("1..2"), bad.body());
            final HttpResponse<String> badName = send(h, "PUT", "/api/v1/monitors/geo", "{\"url\":\""
                + target.url("/ok") + "\",\"locations\":[\"a\",\"b/c\"]}");
            assertEquals(400, badName.statusCode(), badName.body());
            assertEquals("locations", json(badName).get("field").asText());

            final HttpResponse<String> created = send(h, "POST", "/api/v1/monitors", "{\"name\":\"geo\",\"url\":\""
                + target.url("/ok") + "\",\"interval\":\"1s\",\"locations\":[\"b\",\"a\"]}");
            assertEquals(201, created.statusCode(), created.body());
            assertEquals("[\"a\",\"b\"]", json(created).get("locations").toString());
            assertEquals(2, json(created).get("quorum").asInt(), "a majority of 2");
            assertEquals(201, send(h, "POST", "/api/v1/monitors", "{\"name\":\"elsewhere\",\"url\":\""
                + target.url("/other") + "\",\"interval\":\"1s\",\"locations\":[\"b\"]}").statusCode());

            // Only a reports (b has no collector): a alone counts, so a decides.
            Await.untilNoThrow(WAIT, () -> state(h, "geo").equals("UP"), "geo UP from a");
            final JsonNode status = json(send(h, "GET", "/api/v1/monitors/geo", null)).get("status");
            assertEquals("a", status.get("locations").get(0).get("location").asText());
            assertEquals("UP", status.get("locations").get(0).get("state").asText());
            assertTrue(status.get("locations").get(0).get("counts").asBoolean());
            assertEquals("b", status.get("locations").get(1).get("location").asText());
            assertTrue(status.get("locations").get(1).get("state").isNull(), "no result from b: " + status);
            assertTrue(!status.get("locations").get(1).get("counts").asBoolean());
            Await.until(WAIT, () -> h.count("measurement = 'monitor' AND tags->>'monitor' = 'geo' AND field = 'up' "
                + "AND tags->>'location' = 'a'") >= 1, "results tagged with the location");
            assertEquals(0, h.count("measurement = 'monitor' AND tags->>'monitor' = 'geo' AND tags->>'location' IS "
                + "NULL"), "every result of a monitor with locations carries one");
            assertEquals(0, target.hits("/other").size(), "a monitor of location b only is not checked at a");
            assertEquals("PENDING", state(h, "elsewhere"));
        }
    }

    @Test
    void confirmedTransitionsArePersistedBackDatedAndNotRepeatedAfterRestart() throws Exception {
        final String flaky = "{\"url\":\"" + target.url("/flaky") + "\",\"interval\":\"1s\",\"failure_threshold\":2}";
        try (CollectorHarness h = CollectorHarness.start(db, "--token", "t0k3n")) {
            assertEquals(201, send(h, "PUT", "/api/v1/monitors/flaky", flaky).statusCode());
            Await.untilNoThrow(WAIT, () -> state(h, "flaky").equals("DOWN"), "DOWN after two failures");
            // The failure reason of a failed check is kept in memory and joined to its stored result.
            final JsonNode failed = json(send(h, "GET", "/api/v1/monitors/flaky/checks?from=10m", null));
            assertFalse(failed.get("checks").get(0).get("up").asBoolean(), failed.toString());
            assertEquals("status: 500 not in 200-299", failed.get("checks").get(0).get("error").asText(),
                failed.toString());
        }
        assertEquals(1, db.queryLong("SELECT count(*) FROM monitor_transitions WHERE monitor = 'flaky'"));
        assertEquals(1, db.queryLong("SELECT count(*) FROM monitor_transitions WHERE monitor = 'flaky' AND "
            + "from_state IS NULL AND to_state = 'DOWN' AND reason = 'status: 500 not in 200-299'"));
        // The incident starts at the first failing check, not at the confirming one.
        assertEquals(1, db.queryLong("SELECT count(*) FROM monitor_transitions t WHERE monitor = 'flaky' AND "
            + "started_at = (SELECT min(time) FROM telemetry WHERE measurement = 'monitor' "
            + "AND tags->>'monitor' = 'flaky' AND field = 'up')"));
        final long checksBefore = db.queryLong("SELECT count(*) FROM telemetry WHERE tags->>'monitor' = 'flaky' "
            + "AND field = 'up'");

        try (CollectorHarness h = CollectorHarness.start(db, "--token", "t0k3n")) {
            assertEquals("DOWN", state(h, "flaky"), "state loaded, not re-derived");
            Await.until(WAIT, () -> h.count("tags->>'monitor' = 'flaky' AND field = 'up'") >= checksBefore + 2,
                "two more failing checks after the restart");
            assertEquals(1, db.queryLong("SELECT count(*) FROM monitor_transitions WHERE monitor = 'flaky'"),
                "no repeated DOWN");
            target.on("/flaky", TargetServer.Behaviour.ok("fine again"));
            Await.untilNoThrow(WAIT, () -> state(h, "flaky").equals("UP"), "recovered");
        }
        assertEquals(1, db.queryLong("SELECT count(*) FROM monitor_transitions WHERE monitor = 'flaky' AND "
            + "from_state = 'DOWN' AND to_state = 'UP' AND id = (SELECT max(id) FROM monitor_transitions)"));
        assertEquals(2, db.queryLong("SELECT count(*) FROM monitor_transitions WHERE monitor = 'flaky'"));
    }

    @Test
    void reloadPicksUpRowsWrittenWithSqlAndSkipsInvalidOnes() throws Exception {
        try (CollectorHarness h = CollectorHarness.start(db, "--token", "t0k3n", "--monitor-reload-interval", "1s")) {
            db.execute("INSERT INTO monitors (name, url, interval_ms) VALUES ('by-sql', '" + target.url("/other")
                + "', 1000)");
            db.execute("INSERT INTO monitors (name, url, interval_ms) VALUES ('too-fast', '" + target.url("/ok")
                + "', 10)");
            Await.until(WAIT, () -> !target.hits("/other").isEmpty(), "the SQL row is checked");
            assertEquals(200, send(h, "GET", "/api/v1/monitors/by-sql", null).statusCode());
            assertEquals(404, send(h, "GET", "/api/v1/monitors/too-fast", null).statusCode(),
                "the same rules as the API: a 10 ms interval is not scheduled");
            db.execute("DELETE FROM monitors WHERE name = 'by-sql'");
            Await.untilNoThrow(WAIT, () -> send(h, "GET", "/api/v1/monitors/by-sql", null).statusCode() == 404,
                "a row deleted with SQL stops");
        }
    }

    @Test
    void monitorsFileIsAppliedAtStartAndValidatedLikeTheApi(@TempDir Path dir) throws Exception {
        final Path yaml = dir.resolve("monitors.yaml");
        Files.writeString(yaml, "monitors:\n"
            + "  - name: from-file\n    url: " + target.url("/ok") + "\n    interval: 2s\n"
            + "    expected_status: 200-299,301\n    tags:\n      env: test\n"
            + "  - name: second\n    url: " + target.url("/other") + "\n    enabled: false\n");
        try (CollectorHarness h = CollectorHarness.start(db, "--token", "t0k3n", "--monitors", yaml.toString())) {
            final JsonNode one = json(send(h, "GET", "/api/v1/monitors/from-file", null));
            assertEquals("200-299,301", one.get("expected_status").asText());
            assertEquals("test", one.get("tags").get("env").asText());
            assertEquals("PAUSED", state(h, "second"));
            Await.until(WAIT, () -> !target.hits("/ok").isEmpty(), "the file's monitor is checked");
        }
        final Path broken = dir.resolve("broken.json");
        Files.writeString(broken, "[{\"name\":\"ok\",\"url\":\"http://127.0.0.1:1/\"},"
            + "{\"name\":\"bad\",\"url\":\"http://127.0.0.1:1/\",\"timeout\":\"90s\"}]");
        // A bad file is a configuration error found while parsing, before anything starts.
        final ConfigException e = assertThrows(ConfigException.class, () -> CollectorOptions.parse(new String[] {
            "--jdbc-url", db.jdbcUrl(), "--db-user", db.user(), "--db-password", db.password(), "--http",
            "127.0.0.1:0", "--monitors", broken.toString(), "--spool-dir", dir.resolve("spool").toString()},
            Map.of(), new PrintStream(OutputStream.nullOutputStream())));
        assertTrue(e.getMessage().contains("entry 2 ('bad'): timeout: must be below the interval"), e.getMessage());
        assertTrue(URI.create(target.url("/")).getPort() > 0);
    }
}
