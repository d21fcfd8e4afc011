package dev.spillway.collector;

import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code /metrics} is valid exposition: {@code promtool check metrics} passes (when promtool is installed; CI
 * installs Debian's {@code prometheus}), every family has help text, HTTP counts carry the endpoint, the JVM and
 * process meters are there, and OpenMetrics is served to scrapers that ask for it.
 */
class MetricsExpositionTest {

    private static TestDatabase db;
    private static CollectorHarness h;
    private static dev.spillway.testkit.TargetServer target;

    @BeforeAll
    static void start() throws Exception {
        db = TestDatabase.create("collector_metrics");
        h = CollectorHarness.start(db, "--tcp", "127.0.0.1:0", "--udp", "127.0.0.1:0");
        // Produce labelled series: a write, a bad line, a 404, a monitor with results, a heartbeat service.
        target = dev.spillway.testkit.TargetServer.http().on("/ok", dev.spillway.testkit.TargetServer.Behaviour.ok("ok"));
        assertEquals(201, h.post("/api/v1/monitors", "{\"name\":\"web\",\"url\":\"" + target.url("/ok")
            + "\",\"interval\":\"1s\"}", "Content-Type", "application/json").statusCode());
        assertEquals(200, h.http.send(java.net.http.HttpRequest.newBuilder(h.uri("/api/v1/services/backup"))
            .header("Content-Type", "application/json").PUT(java.net.http.HttpRequest.BodyPublishers.ofString(
                "{\"timeout\":\"1h\"}")).build(), HttpResponse.BodyHandlers.ofString()).statusCode());
        assertEquals(204, h.post("/api/v1/services/backup/ping", "").statusCode());
        dev.spillway.telemetry.testsupport.Await.untilNoThrow(java.time.Duration.ofSeconds(20),
            () -> h.get("/metrics").body().contains("spillway_monitor_status{monitor=\"web\",state=\"UP\"} 1.0"),
            "web is UP on /metrics");
        assertEquals(204, h.post("/api/v2/write", "m v=1\n").statusCode());
        assertEquals(400, h.post("/api/v2/write", "m v=\n").statusCode());
        assertEquals(404, h.get("/nope").statusCode());
    }

    @AfterAll
    static void stop() {
        if (h != null) {
            h.close();
        }
        if (target != null) {
            target.close();
        }
        if (db != null) {
            db.close();
        }
    }

    @Test
    void everyFamilyHasHelpAndHttpCountsCarryTheEndpoint() throws Exception {
        final String text = h.get("/metrics").body();
        final Set<String> help = new HashSet<>();
        final Set<String> typed = new HashSet<>();
        for (String line : text.split("\n")) {
            if (line.startsWith("# HELP ")) {
                final String[] f = line.split(" ", 4);
                help.add(f[2]);
                assertTrue(f.length == 4 && !f[3].isBlank(), "empty help: " + line);
            } else if (line.startsWith("# TYPE ")) {
                typed.add(line.split(" ")[2]);
            }
        }
        typed.removeAll(help);
        assertTrue(typed.isEmpty(), "families without help text: " + typed);
        assertTrue(text.contains("spillway_collector_http_requests_total{endpoint=\"/api/v2/write\",status=\"204\"}"),
            text);
        assertTrue(text.contains("spillway_collector_http_requests_total{endpoint=\"other\",status=\"404\"}"), text);
        for (String series : new String[] {"spillway_monitor_up{monitor=\"web\"} 1.0",
            "spillway_monitor_status{monitor=\"web\",state=\"DOWN\"} 0.0", "spillway_monitor_last_duration_seconds{monitor=\"web\"}",
            "spillway_monitor_cert_expiry_seconds{monitor=\"web\"} NaN", "spillway_monitor_series_capped 0.0",
            "spillway_heartbeat_service_up{service=\"backup\"} 1.0"}) {
            assertTrue(text.contains(series), "missing " + series);
        }
        for (String family : new String[] {"jvm_memory_used_bytes", "jvm_gc_max_data_size_bytes", "jvm_threads_live_threads",
            "process_cpu_usage", "process_uptime_seconds", "process_files_open_files", "system_cpu_processors",
            "spillway_collector_udp_kernel_drops_total", "spillway_collector_http_connections"}) {
            assertTrue(text.contains(family), "missing " + family);
        }
    }

    @Test
    void openMetricsWhenAskedFor() throws Exception {
        final HttpResponse<String> r = h.get("/metrics", "Accept",
            "application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5");
        assertEquals(200, r.statusCode());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("application/openmetrics-text"),
            r.headers().map().toString());
        assertTrue(r.body().endsWith("# EOF\n"), "OpenMetrics ends with # EOF");
        final HttpResponse<String> plain = h.get("/metrics");
        assertTrue(plain.headers().firstValue("Content-Type").orElse("").startsWith("text/plain"),
            plain.headers().map().toString());
    }

    @Test
    void promtoolCheckMetricsPasses() throws Exception {
        final Path promtool = onPath("promtool");
        Assumptions.assumeTrue(promtool != null, "skipped: promtool not found on PATH (Debian package 'prometheus'; "
            + ".ci/run installs it)");
        final Path file = Files.createTempFile("metrics", ".txt");
        try {
            final String body = h.get("/metrics").body();
            Files.writeString(file, body, StandardCharsets.UTF_8);
            final Process p = new ProcessBuilder(promtool.toString(), "check", "metrics").redirectErrorStream(true)
                .redirectInput(file.toFile()).start();
            final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "promtool did not finish");
            assertEquals(0, p.exitValue(), "promtool check metrics:\n" + out + "\non:\n" + body);
            System.out.println("promtool check metrics: passed (" + promtool + ")");
        } finally {
            Files.deleteIfExists(file);
        }
    }

    private static Path onPath(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            final Path p = Path.of(dir, program);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }
}
