package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import dev.spillway.collector.config.CollectorConfig;
import dev.spillway.collector.config.CollectorOptions;
import dev.spillway.runtime.config.ConfigException;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.TargetServer;
import dev.spillway.uptime.monitor.AddressPolicy;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static dev.spillway.collector.MonitorsEndToEndTest.json;
import static dev.spillway.collector.MonitorsEndToEndTest.send;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The probe's safety rules through the collector: a denied IP literal is a 400 naming {@code url} at the API (and
 * a configuration error in a {@code --monitors} file), a name that resolves to a denied address and a row written
 * with SQL fail their checks with the reason, a huge body is cut and the cut recorded; the options come from the
 * command line, the environment or the config file, and the counters are on {@code /metrics}.
 */
class ProbeSecurityEndToEndTest {

    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());

    private TestDatabase db;
    private TargetServer target;

    @BeforeEach
    void start() throws Exception {
        db = TestDatabase.create("collector_probe_security");
        target = TargetServer.http().on("/", TargetServer.Behaviour.ok("internal"));
    }

    @AfterEach
    void stop() {
        target.close();
        db.close();
    }

    private static String monitor(String name, String url) {
        return "{\"name\":\"" + name + "\",\"url\":\"" + url + "\",\"interval\":\"1s\"}";
    }

    private static String lastError(CollectorHarness h, String name) throws Exception {
        final JsonNode s = json(send(h, "GET", "/api/v1/monitors/" + name, null)).get("status");
        return s.get("last_error").isNull() ? null : s.get("last_error").asText();
    }

    @Test
    void deniedLiteralsAre400AndDeniedNamesAndRowsFailWithTheReason() throws Exception {
        try (CollectorHarness h = CollectorHarness.start(db, "--token", "t0k3n", "--probe-deny", "127.0.0.0/8,::1/128",
            "--monitor-reload-interval", "1s")) {
            final int port = target.port();
            for (String url : List.of("http://169.254.169.254/latest/meta-data/", "http://[::ffff:169.254.169.254]/",
                "http://2852039166/", "http://0x7f000001:" + port + "/", "http://0.0.0.0:" + port + "/",
                "http://[fd00:ec2::254]/")) {
                final HttpResponse<String> r = send(h, "POST", "/api/v1/monitors", monitor("m", url));
                assertEquals(400, r.statusCode(), url + ": " + r.body());
                assertEquals("invalid", json(r).get("code").asText());
                assertEquals("url", json(r).get("field").asText());
                assertTrue(json(r).get("message").asText().startsWith("url: address policy: "), r.body());
            }
            final HttpResponse<String> put = send(h, "PUT", "/api/v1/monitors/m",
                monitor("m", "http://2130706433:" + port + "/"));
            assertEquals(400, put.statusCode());
            assertEquals("url: address policy: 2130706433 (127.0.0.1) is in --probe-deny 127.0.0.0/8",
                json(put).get("message").asText());

            // A name is checked when it resolves: the check fails with the reason, the target sees nothing.
            assertEquals(201, send(h, "POST", "/api/v1/monitors", monitor("by-name", "http://localhost:" + port
                + "/")).statusCode());
            Await.untilNoThrow(WAIT, () -> lastError(h, "by-name") != null, "checked");
            assertTrue(lastError(h, "by-name").matches("address policy: localhost \\((127\\.0\\.0\\.1|::1)\\) is in "
                + "--probe-deny (127\\.0\\.0\\.0/8|::1/128)"), lastError(h, "by-name"));
            // A row written with SQL is not refused: its checks fail with the reason.
            db.execute("INSERT INTO monitors (name, url, interval_ms) VALUES ('by-sql', 'http://169.254.169.254/', "
                + "1000)");
            Await.untilNoThrow(WAIT, () -> send(h, "GET", "/api/v1/monitors/by-sql", null).statusCode() == 200
                && lastError(h, "by-sql") != null, "the SQL row is checked");
            assertEquals("address policy: 169.254.169.254 is cloud metadata (169.254.169.254/32, denied by default; "
                + "allow with --probe-allow)", lastError(h, "by-sql"));
            assertTrue(target.hits("/").isEmpty(), "no request reached the denied target");

            final String metrics = send(h, "GET", "/metrics", null).body();
            assertTrue(metrics.contains("spillway_monitor_address_denied_total{at=\"api\"} 7.0"), metrics);
            assertTrue(metric(metrics, "spillway_monitor_address_denied_total{at=\"check\"}") >= 2, metrics);
        }
    }

    private static double metric(String exposition, String series) {
        for (String line : exposition.split("\n")) {
            if (line.startsWith(series + " ")) {
                return Double.parseDouble(line.substring(series.length() + 1).trim());
            }
        }
        return Double.NaN;
    }

    @Test
    void aHugeBodyIsCutAndTheCutRecordedInTheResultsAndCounted() throws Exception {
        try (EndlessBody endless = new EndlessBody();
             CollectorHarness h = CollectorHarness.start(db, "--token", "t0k3n")) {
            assertEquals(201, send(h, "POST", "/api/v1/monitors", monitor("huge", endless.url())
                .replace("}", ",\"keyword\":\"aaaa\"}")).statusCode());
            assertEquals(201, send(h, "POST", "/api/v1/monitors", monitor("small", target.url("/"))).statusCode());
            Await.until(WAIT, () -> h.count("tags->>'monitor' = 'huge' AND field = 'body_capped' AND value = 1") >= 1,
                "body_capped in telemetry");
            Await.until(WAIT, () -> h.count("tags->>'monitor' = 'small' AND field = 'up' AND value = 1") >= 1, "small");
            assertEquals(0, h.count("tags->>'monitor' = 'small' AND field = 'body_capped'"), "absent when not cut");
            final JsonNode checks = json(send(h, "GET", "/api/v1/monitors/huge/checks?from=10m", null)).get("checks");
            assertTrue(checks.get(0).get("body_capped").asBoolean(), checks.toString());
            assertTrue(checks.get(0).get("up").asBoolean(), "a cut body is not a failure: " + checks);
            final String metrics = send(h, "GET", "/metrics", null).body();
            final double capped = metric(metrics, "spillway_monitor_body_capped_total");
            final double received = metric(metrics, "spillway_monitor_probe_received_bytes_total");
            assertTrue(capped >= 1, metrics);
            // Every check reads at most the cap plus headers and one buffer, not the gibibyte declared.
            // (one more check may be under way between the two readings).
            assertTrue(received <= (capped + 1) * ((1 << 20) + 64 * 1024), received + " bytes, " + capped + " cut");
        }
    }

    @Test
    void theOptionsComeFromTheCommandLineTheEnvironmentOrTheConfigFile(@TempDir Path dir) throws Exception {
        final String[] base = {"--jdbc-url", db.jdbcUrl(), "--http", "127.0.0.1:0"};
        final CollectorConfig fromEnv = ((CollectorOptions.Run) CollectorOptions.parse(base,
            Map.of("SPILLWAY_PROBE_DENY", "10.0.0.0/8", "SPILLWAY_PROBE_ALLOW", "10.1.0.0/16"), QUIET)).config();
        assertEquals(AddressPolicy.parseList("10.0.0.0/8"), fromEnv.uptime().probePolicy().deny());
        assertEquals(AddressPolicy.parseList("10.1.0.0/16"), fromEnv.uptime().probePolicy().allow());
        assertEquals("SPILLWAY_PROBE_DENY (--probe-deny): invalid value '10.0.0.0/33': '10.0.0.0/33': the prefix "
            + "length must be 0..32", assertThrows(ConfigException.class, () -> CollectorOptions.parse(base,
            Map.of("SPILLWAY_PROBE_DENY", "10.0.0.0/33"), QUIET)).getMessage());
        final Path file = dir.resolve("c.properties");
        Files.writeString(file, "probe-allow=169.254.0.0/16,bogus\n");
        assertEquals("probe-allow in " + file + " (--probe-allow): invalid value '169.254.0.0/16,bogus': 'bogus' is "
            + "not an address range such as 10.0.0.0/8, fd00::/8 or 192.0.2.7", assertThrows(ConfigException.class,
            () -> CollectorOptions.parse(new String[] {"--config", file.toString(), "--jdbc-url", db.jdbcUrl()},
                Map.of(), QUIET)).getMessage());
        final Path monitors = dir.resolve("m.yaml");
        Files.writeString(monitors, "- name: meta\n  url: http://2852039166/latest/\n");
        assertEquals("--monitors " + monitors + ": entry 1 ('meta'): url: address policy: 2852039166 "
            + "(169.254.169.254) is cloud metadata (169.254.169.254/32, denied by default; allow with --probe-allow)",
            assertThrows(ConfigException.class, () -> CollectorOptions.parse(new String[] {"--jdbc-url", db.jdbcUrl(),
                "--monitors", monitors.toString()}, Map.of(), QUIET)).getMessage());
    }

    /** A target declaring a 1 GiB body and streaming it until the client goes away. */
    private static final class EndlessBody implements AutoCloseable {
        private final ServerSocket server;

        EndlessBody() throws IOException {
            server = new ServerSocket();
            server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            final Thread t = new Thread(this::serve, "endless-body");
            t.setDaemon(true);
            t.start();
        }

        String url() {
            return "http://127.0.0.1:" + server.getLocalPort() + "/huge";
        }

        private void serve() {
            final byte[] block = new byte[64 * 1024];
            java.util.Arrays.fill(block, (byte) 'a');
            while (!server.isClosed()) {
                try (Socket s = server.accept()) {
                    s.getInputStream().read(new byte[8192]); // the request (small, one read on loopback)
                    final OutputStream out = s.getOutputStream();
                    out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + (1L << 30) + "\r\n\r\n")
                        .getBytes(StandardCharsets.ISO_8859_1));
                    for (long n = 0; n < 1L << 30; n += block.length) {
                        out.write(block);
                    }
                } catch (IOException e) {
                    // the probe cut the body (or the server closed): next connection
                }
            }
        }

        @Override
        public void close() throws IOException {
            server.close();
        }
    }
}
