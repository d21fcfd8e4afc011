package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.collector.config.CollectorOptions;
import dev.spillway.runtime.config.ConfigException;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The {@code Host}, {@code Origin} and {@code Sec-Fetch-Site} checks over raw sockets (a browser's headers, exactly
 * as sent), on a collector without a token (the quick start, where they are the only barrier): foreign names,
 * other origins and cross-site fetches get 403 naming the header and change nothing; line-protocol clients, curl,
 * same-origin pages and links to the status page keep working.
 */
class WebOriginTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String MONITOR = "{\"name\":\"%s\",\"url\":\"http://127.0.0.1:1/\",\"interval\":\"1h\"}";

    private static TestDatabase db;
    private static CollectorHarness open;
    private static CollectorHarness named;
    private static InetSocketAddress addr;
    private static String self;

    @BeforeAll
    static void start() throws Exception {
        db = TestDatabase.create("web_origin");
        open = CollectorHarness.start(db);
        named = CollectorHarness.start(db, "--allowed-hosts", "collector.example, .corp.example");
        addr = new InetSocketAddress("127.0.0.1", open.collector.httpAddress().getPort());
        self = "127.0.0.1:" + addr.getPort();
    }

    @AfterAll
    static void stop() {
        for (AutoCloseable c : new AutoCloseable[] {open, named, db}) {
            if (c != null) {
                try {
                    c.close();
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            }
        }
    }

    private static RawHttp.Response createMonitor(InetSocketAddress a, String name, String... headers) throws Exception {
        return RawHttp.exchange(a, "POST", "/api/v1/monitors", String.format(MONITOR, name), headers);
    }

    private static void forbidden(RawHttp.Response r, String header) throws Exception {
        assertEquals(403, r.status(), r.body());
        final JsonNode b = JSON.readTree(r.body());
        assertEquals("forbidden", b.get("code").asText());
        assertEquals(header, b.get("header").asText(), r.body());
        assertTrue(b.get("message").asText().startsWith(header), r.body());
    }

    private static long monitors(String name) {
        return db.queryLong("SELECT count(*) FROM monitors WHERE name = '" + name + "'");
    }

    @Test
    void theIssuesRequestIsRefusedOnEveryCount() throws Exception {
        // The request from the issue: foreign Origin and Host, text/plain.
        forbidden(createMonitor(addr, "evil", "Host", "evil.example:8086", "Origin", "http://evil.example",
            "Content-Type", "text/plain"), "Host");
        // DNS rebinding: the page's own origin, pointed at the collector.
        forbidden(createMonitor(addr, "rebound", "Host", "evil.example:" + addr.getPort(), "Origin",
            "http://evil.example:" + addr.getPort(), "Content-Type", "application/json"), "Host");
        forbidden(RawHttp.exchange(addr, "GET", "/api/v1/monitors", null, "Host", "evil.example:" + addr.getPort()),
            "Host");
        // A cross-site form or fetch: the right Host, someone else's Origin.
        forbidden(createMonitor(addr, "csrf", "Host", self, "Origin", "http://evil.example", "Content-Type",
            "text/plain"), "Origin");
        forbidden(createMonitor(addr, "csrf", "Host", self, "Origin", "http://127.0.0.1:" + (addr.getPort() + 1),
            "Content-Type", "application/json"), "Origin");
        forbidden(createMonitor(addr, "csrf", "Host", self, "Origin", "null", "Content-Type", "application/json"),
            "Origin");
        // Without Origin, a browser still says where the request comes from.
        forbidden(RawHttp.exchange(addr, "GET", "/api/v1/services/x/ping", null, "Host", self, "Sec-Fetch-Site",
            "cross-site", "Sec-Fetch-Mode", "no-cors", "Sec-Fetch-Dest", "image"), "Sec-Fetch-Site");
        forbidden(RawHttp.exchange(addr, "GET", "/api/v1/services/x/ping", null, "Host", self, "Sec-Fetch-Site",
            "cross-site", "Sec-Fetch-Mode", "navigate"), "Sec-Fetch-Site");
        forbidden(RawHttp.exchange(addr, "POST", "/api/v2/write", "m v=1", "Host", self, "Sec-Fetch-Site",
            "same-site", "Sec-Fetch-Mode", "no-cors"), "Sec-Fetch-Site");
        forbidden(RawHttp.exchange(addr, "POST", "/api/v2/write", "m v=1", "Host", "evil.example"), "Host");
        assertEquals(0, monitors("evil") + monitors("rebound") + monitors("csrf"));
        assertEquals(0, db.queryLong("SELECT count(*) FROM telemetry_sources WHERE measurement = 'm'"));
    }

    @Test
    void clientsThatAreNotBrowsersAndSameOriginPagesKeepWorking() throws Exception {
        // Telegraf's influxdb_v2 output: gzip, text/plain, its User-Agent, by address or as localhost.
        final ByteArrayOutputStream gz = new ByteArrayOutputStream();
        try (GZIPOutputStream out = new GZIPOutputStream(gz)) {
            out.write("web_origin,host=a v=1\n".getBytes(StandardCharsets.UTF_8));
        }
        for (String host : new String[] {self, "localhost:" + addr.getPort(), "LOCALHOST.:" + addr.getPort(),
            "[::1]:" + addr.getPort(), "10.9.8.7:8086", "grafana.localhost"}) {
            try (RawHttp c = new RawHttp(addr, 30_000)) {
                c.send(("POST /api/v2/write?org=o&bucket=b HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: Telegraf/1.30"
                    + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Encoding: gzip\r\nAuthorization: Token x\r\n"
                    + "Content-Length: " + gz.size() + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.UTF_8));
                c.send(gz.toByteArray());
                assertEquals(204, c.read().status(), host);
            }
        }
        // HTTP/1.0 without Host, as a minimal script might send it.
        try (RawHttp c = new RawHttp(addr, 30_000)) {
            c.send("POST /write?db=x HTTP/1.0\r\nContent-Length: 22\r\n\r\nweb_origin,host=b v=2\n");
            assertEquals(204, c.read().status());
        }
        // curl: no Origin, no Sec-Fetch-*.
        assertEquals(201, createMonitor(addr, "by-curl", "Host", self, "User-Agent", "curl/8.5.0", "Accept", "*/*",
            "Content-Type", "application/json").status());
        // The status page's own scripts and forms: same origin.
        assertEquals(201, createMonitor(addr, "same-origin", "Host", self, "Origin", "http://" + self,
            "Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "cors", "Content-Type", "application/json").status());
        assertEquals(200, RawHttp.exchange(addr, "GET", "/api/v1/page/overview", null, "Host", self, "Sec-Fetch-Site",
            "same-origin", "Sec-Fetch-Mode", "cors").status());
        // A link to the status page from elsewhere (a Slack message) opens it; typed URLs say "none".
        assertEquals(200, RawHttp.exchange(addr, "GET", "/", null, "Host", self, "Sec-Fetch-Site", "cross-site",
            "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document").status());
        assertEquals(200, RawHttp.exchange(addr, "GET", "/monitors/by-curl", null, "Host", self, "Sec-Fetch-Site",
            "none", "Sec-Fetch-Mode", "navigate").status());
        // Probes stay open whatever the Host.
        assertEquals(204, RawHttp.exchange(addr, "GET", "/ping", null, "Host", "anything.example").status());
        assertEquals(200, RawHttp.exchange(addr, "GET", "/health", null, "Host", "anything.example").status());
        assertEquals(2, monitors("by-curl") + monitors("same-origin"));
    }

    @Test
    void allowedHostsNameTheCollectorAndItsDomain() throws Exception {
        final InetSocketAddress a = new InetSocketAddress("127.0.0.1", named.collector.httpAddress().getPort());
        final String port = ":" + a.getPort();
        assertEquals(204, RawHttp.exchange(a, "POST", "/api/v2/write", "web_named v=1", "Host", "collector.example"
            + port).status());
        assertEquals(204, RawHttp.exchange(a, "POST", "/api/v2/write", "web_named v=1", "Host", "ci.corp.example")
            .status());
        assertEquals(204, RawHttp.exchange(a, "POST", "/api/v2/write", "web_named v=1", "Host", "corp.example")
            .status());
        forbidden(RawHttp.exchange(a, "POST", "/api/v2/write", "web_named v=1", "Host", "evilcorp.example"), "Host");
        forbidden(RawHttp.exchange(a, "POST", "/api/v2/write", "web_named v=1", "Host", "collector.example.evil"),
            "Host");
        // Behind a TLS proxy that passes the name: https://collector.example is the page's own origin.
        assertEquals(201, createMonitor(a, "via-proxy", "Host", "collector.example", "Origin",
            "https://collector.example", "Content-Type", "application/json").status());
        forbidden(createMonitor(a, "other-port", "Host", "collector.example", "Origin",
            "https://collector.example:8443", "Content-Type", "application/json"), "Origin");
    }

    @Test
    void badOptionValuesNameTheOption() {
        final PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        final ConfigException hosts = assertThrows(ConfigException.class, () -> CollectorOptions.parse(
            new String[] {"--allowed-hosts", "ok.example,bad host"}, Map.of(), quiet));
        assertTrue(hosts.getMessage().startsWith("--allowed-hosts"), hosts.getMessage());
        final ConfigException proxies = assertThrows(ConfigException.class, () -> CollectorOptions.parse(
            new String[] {"--trusted-proxies", "10.0.0.0/33"}, Map.of(), quiet));
        assertTrue(proxies.getMessage().startsWith("--trusted-proxies"), proxies.getMessage());
        final ConfigException name = assertThrows(ConfigException.class, () -> CollectorOptions.parse(
            new String[] {"--trusted-proxies", "proxy.example"}, Map.of(), quiet));
        assertTrue(name.getMessage().contains("not an IP address"), name.getMessage());
    }
}
