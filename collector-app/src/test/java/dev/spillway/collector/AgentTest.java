package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import static dev.spillway.collector.MonitorsEndToEndTest.json;
import static dev.spillway.collector.MonitorsEndToEndTest.send;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The agent subcommand against a real collector: a systemctl stub on PATH, a local HTTP server answering like
 * Elasticsearch's health API, and real commands; each report lands on the heartbeat service as its status index
 * (or exit status), and bad usage is exit status 2 with the usage line.
 */
class AgentTest {

    @TempDir
    Path bin;
    private TestDatabase db;
    private CollectorHarness h;
    private HttpServer es;
    private final AtomicReference<String> colour = new AtomicReference<>("green");

    @BeforeEach
    void start() throws Exception {
        db = TestDatabase.create("collector_agent");
        h = CollectorHarness.start(db, "--token", "t0k3n");
        assertEquals(200, send(h, "PUT", "/api/v1/services/web", "{\"timeout\":\"1h\",\"statuses\":[\"ok\","
            + "\"degraded\",\"down\"]}").statusCode());
        assertEquals(200, send(h, "PUT", "/api/v1/services/job", "{\"timeout\":\"1h\"}").statusCode());
        es = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 10);
        es.createContext("/_cluster/health", x -> {
            final byte[] b = ("{\"cluster_name\":\"test\",\"status\":\"" + colour.get() + "\",\"number_of_nodes\":3}")
                .getBytes(StandardCharsets.UTF_8);
            x.getResponseHeaders().add("Content-Type", "application/json");
            x.sendResponseHeaders(200, b.length);
            try (OutputStream o = x.getResponseBody()) {
                o.write(b);
            }
        });
        es.start();
    }

    @AfterEach
    void stop() {
        es.stop(0);
        h.close();
        db.close();
    }

    /** Runs {@code agent KIND ARGS --collector URL --service ID --once [-- COMMAND]}. */
    private int agent(Map<String, String> env, String... args) {
        final java.util.List<String> list = new java.util.ArrayList<>();
        final java.util.List<String> given = java.util.List.of(args);
        final int dashes = given.indexOf("--");
        list.addAll(dashes < 0 ? given : given.subList(0, dashes));
        list.addAll(java.util.List.of("--collector", h.uri("").toString(), "--service",
            args[0].equals("command") ? "job" : "web", "--once"));
        if (dashes >= 0) {
            list.addAll(given.subList(dashes, given.size()));
        }
        return Agent.run(list.toArray(String[]::new), env, System.out, System.err);
    }

    private JsonNode service(String id) throws Exception {
        return json(send(h, "GET", "/api/v1/services/" + id, null));
    }

    private Map<String, String> pathWith(String systemctlState) throws Exception {
        final Path stub = bin.resolve("systemctl");
        Files.writeString(stub, "#!/bin/sh\n[ \"$1\" = is-active ] || exit 64\necho " + systemctlState
            + "\n[ " + systemctlState + " = active ]\n");
        Files.setPosixFilePermissions(stub, PosixFilePermissions.fromString("rwxr-xr-x"));
        return Map.of("PATH", bin + ":/usr/bin:/bin", "SPILLWAY_TOKEN", "t0k3n");
    }

    @Test
    void systemdUnitStatesBecomeStatusIndexes() throws Exception {
        assertEquals(0, agent(pathWith("active"), "systemd", "nginx.service"));
        assertEquals("ok", service("web").get("status_name").asText());
        assertEquals(0, agent(pathWith("activating"), "systemd", "nginx.service"));
        assertEquals("degraded", service("web").get("status_name").asText());
        assertEquals(0, agent(pathWith("failed"), "systemd", "nginx.service"));
        assertEquals("down", service("web").get("status_name").asText());
        assertEquals(0, agent(Map.of("PATH", "/nonexistent", "SPILLWAY_TOKEN", "t0k3n"), "systemd", "nginx.service"));
        final JsonNode events = json(send(h, "GET", "/api/v1/services/web/events", null)).get("events");
        assertEquals("systemctl not found on PATH", events.get(0).get("body").asText(), "what was seen is kept");
    }

    @Test
    void elasticsearchHealthColoursBecomeStatusIndexes() throws Exception {
        final Map<String, String> env = Map.of("SPILLWAY_TOKEN", "t0k3n");
        final String url = "http://127.0.0.1:" + es.getAddress().getPort();
        colour.set("yellow");
        assertEquals(0, agent(env, "elasticsearch", url));
        assertEquals("degraded", service("web").get("status_name").asText());
        colour.set("green");
        assertEquals(0, agent(env, "elasticsearch", url));
        assertEquals("ok", service("web").get("status_name").asText());
        colour.set("red");
        assertEquals(0, agent(env, "elasticsearch", url));
        assertEquals("down", service("web").get("status_name").asText());
    }

    @Test
    void aCommandsExitStatusIsReportedAsARun() throws Exception {
        final Map<String, String> env = Map.of("PATH", "/usr/bin:/bin", "SPILLWAY_TOKEN", "t0k3n");
        assertEquals(0, agent(env, "command", "--", "sh", "-c", "echo all good"));
        assertEquals("up", service("job").get("state").asText());
        assertEquals(0, agent(env, "command", "--", "sh", "-c", "echo disk full >&2; exit 3"));
        assertEquals("down", service("job").get("state").asText());
        final JsonNode e = json(send(h, "GET", "/api/v1/services/job/events?limit=1", null)).get("events").get(0);
        assertEquals("fail", e.get("kind").asText());
        assertEquals(3, e.get("exit_status").asInt());
        assertEquals("exit status 3: disk full", e.get("body").asText());
        assertTrue(e.get("duration_ms").asDouble() >= 0, e.toString());
    }

    @Test
    void badUsageAndUndeliverableReports() throws Exception {
        final ByteArrayOutputStream err = new ByteArrayOutputStream();
        final PrintStream errs = new PrintStream(err, true, StandardCharsets.UTF_8);
        assertEquals(2, Agent.run(new String[] {"systemd", "x.service"}, Map.of(), System.out, errs));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("--collector and --service are required"));
        assertEquals(2, Agent.run(new String[] {"ping", "--collector", "http://127.0.0.1:1", "--service", "web"},
            Map.of(), System.out, errs));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("unknown kind 'ping'"));
        // A wrong token is a 4xx: not retried, reported as not delivered.
        assertEquals(1, Agent.run(new String[] {"command", "--collector", h.uri("").toString(), "--service", "job",
            "--once", "--", "true"}, Map.of("PATH", "/usr/bin:/bin", "SPILLWAY_TOKEN", "wrong"), System.out, errs));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("failed: 401"), err.toString(StandardCharsets.UTF_8));
    }
}
