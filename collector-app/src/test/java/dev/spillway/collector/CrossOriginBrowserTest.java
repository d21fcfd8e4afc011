package dev.spillway.collector;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A page on another site, in a real browser (Debian's headless Chromium), tries to create a monitor on a collector
 * started without a token (the quick start, where nothing else stands in the way): with an auto-submitted form
 * ({@code enctype="text/plain"}, which smuggles a JSON body), with {@code fetch} and {@code text/plain} (no
 * preflight), and by DNS rebinding (the page's own name answered by the collector, so every request is same-origin
 * to the browser and only {@code Host} gives it away). None creates anything. Each attack has a control that shows
 * it is real: the same form and fetch aimed at a recording server deliver the monitor's JSON, and the same
 * rebinding page against a collector told to answer to the page's name ({@code --allowed-hosts}) does create it.
 * Skipped, saying so, when Chromium is absent.
 */
class CrossOriginBrowserTest {

    private static final String ATTACKER = "attacker.test";
    private static final String REBIND = "rebind.test";
    private static final int VIRTUAL_MILLIS = 5_000;

    private static HeadlessChromium chromium;
    private static TestDatabase db;
    private static CollectorHarness open;
    private static CollectorHarness named;
    private static HttpServer attacker;
    private static final List<String[]> recorded = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        chromium = HeadlessChromium.find();
        assumeTrue(chromium != null, "SKIPPED: Chromium is not installed (apt-get install chromium, or set "
            + HeadlessChromium.ENV + "); the cross-origin browser test needs a real browser");
        db = TestDatabase.create("cross_origin_browser");
        open = CollectorHarness.start(db);
        named = CollectorHarness.start(db, "--allowed-hosts", REBIND);
        attacker = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
        attacker.createContext("/record", ex -> {
            recorded.add(new String[] {ex.getRequestMethod(), ex.getRequestHeaders().getFirst("Content-Type"),
                new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8)});
            reply(ex, "text/plain", "recorded");
        });
        attacker.start();
    }

    @AfterAll
    static void stop() {
        if (attacker != null) {
            attacker.stop(0);
        }
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

    private static void reply(HttpExchange ex, String type, String body) throws IOException {
        final byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(200, b.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(b);
        }
    }

    /** Serves {@code html} at {@code path} on the attacker's server; its URL under the attacker's own name. */
    private static String page(String path, String html) {
        attacker.createContext(path, ex -> reply(ex, "text/html; charset=utf-8", html));
        return "http://" + ATTACKER + ":" + attacker.getAddress().getPort() + path;
    }

    private static List<String> resolverRules() {
        return List.of("--host-resolver-rules=MAP " + ATTACKER + " 127.0.0.1, MAP " + REBIND + " 127.0.0.1");
    }

    private static String monitorJson(String name) {
        return "{\"name\":\"" + name + "\",\"url\":\"http://127.0.0.1:1/\",\"interval\":\"1h\"}";
    }

    private static long monitors(String name) {
        return db.queryLong("SELECT count(*) FROM monitors WHERE name = '" + name + "'");
    }

    /** The collector's count of 403 answers on the JSON API, from its own /metrics. */
    private static double refused(CollectorHarness h) throws Exception {
        final Matcher m = Pattern.compile("spillway_collector_http_requests_total\\{endpoint=\"/api/v1\",status=\"403\"}"
            + " (\\S+)").matcher(h.get("/metrics").body());
        return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }

    /** A form that posts {@code {"name":...}} as text/plain: the field name carries the JSON, the value closes it. */
    private static String formPage(String action, String name) {
        final String json = monitorJson(name);
        final String fieldName = json.substring(0, json.length() - 1) + ",\"x\":\"";
        return "<!DOCTYPE html><html><body><form id=\"f\" method=\"post\" enctype=\"text/plain\" action=\"" + action
            + "\"><input name='" + fieldName + "' value='\"}'></form>"
            + "<script>document.getElementById('f').submit();</script></body></html>";
    }

    private static String fetchPage(String target, String name) {
        return "<!DOCTYPE html><html><body><script>"
            + "fetch('" + target + "', {method: 'POST', mode: 'no-cors', headers: {'Content-Type': 'text/plain'},"
            + " body: '" + monitorJson(name) + "'}).then(() => document.body.dataset.sent = 'yes',"
            + " e => document.body.dataset.sent = 'error ' + e);"
            + "</script></body></html>";
    }

    @Test
    void aCrossSiteFormPostCannotCreateAMonitor() throws Exception {
        // Control: Chromium really posts the JSON body across sites.
        final String recorder = "http://127.0.0.1:" + attacker.getAddress().getPort() + "/record";
        chromium.dumpDom(page("/form-control", formPage(recorder, "csrf-form")), VIRTUAL_MILLIS, 800, 600,
            resolverRules());
        Await.until(Duration.ofSeconds(10), () -> recorded.stream().anyMatch(r -> r[2].startsWith(
            monitorJson("csrf-form").substring(0, 20))), "the control form arrived");
        final String[] sent = recorded.stream().filter(r -> r[2].contains("csrf-form")).findFirst().orElseThrow();
        assertEquals("POST", sent[0]);
        assertTrue(sent[1].startsWith("text/plain"), sent[1]);

        final double before = refused(open);
        final HeadlessChromium.Run run = chromium.dumpDom(page("/form", formPage(open.uri("/api/v1/monitors")
            .toString(), "csrf-form")), VIRTUAL_MILLIS, 800, 600, resolverRules());
        assertTrue(run.stdout().contains("forbidden") && run.stdout().contains("Origin"),
            "the browser shows the collector's refusal: " + run.stdout());
        assertEquals(before + 1, refused(open), "the post reached the collector and was refused");
        assertEquals(0, monitors("csrf-form"));
    }

    @Test
    void aCrossSiteFetchWithTextPlainCannotCreateAMonitor() throws Exception {
        final String recorder = "http://127.0.0.1:" + attacker.getAddress().getPort() + "/record";
        final HeadlessChromium.Run control = chromium.dumpDom(page("/fetch-control", fetchPage(recorder,
            "csrf-fetch")), VIRTUAL_MILLIS, 800, 600, resolverRules());
        assertTrue(control.stdout().contains("data-sent=\"yes\""), control.stdout());
        assertTrue(recorded.stream().anyMatch(r -> r[2].equals(monitorJson("csrf-fetch")) && r[1].startsWith(
            "text/plain")), "the control fetch delivered the monitor's JSON");

        final double before = refused(open);
        final HeadlessChromium.Run run = chromium.dumpDom(page("/fetch", fetchPage(open.uri("/api/v1/monitors")
            .toString(), "csrf-fetch")), VIRTUAL_MILLIS, 800, 600, resolverRules());
        assertTrue(run.stdout().contains("data-sent=\"yes\""), "the browser sent it (the answer is opaque to the "
            + "page): " + run.stdout());
        assertEquals(before + 1, refused(open), "the fetch reached the collector and was refused");
        assertEquals(0, monitors("csrf-fetch"));
    }

    @Test
    void dnsRebindingCannotCreateOrReadMonitors() throws Exception {
        final String script = "<!DOCTYPE html><html><body><script>(async () => {"
            + "const c = await fetch('/api/v1/monitors', {method: 'POST', headers: {'Content-Type': 'application/json'},"
            + " body: '%s'});"
            + "document.body.dataset.create = c.status;"
            + "const r = await fetch('/api/v1/monitors');"
            + "document.body.dataset.read = r.status;"
            + "document.body.dataset.readBody = (await r.text()).slice(0, 200);"
            + "})().catch(e => document.body.dataset.error = String(e));</script></body></html>";
        try (RebindingProxy proxy = new RebindingProxy(String.format(script, monitorJson("rebound")),
                open.collector.httpAddress().getPort());
             RebindingProxy control = new RebindingProxy(String.format(script, monitorJson("rebound-control")),
                named.collector.httpAddress().getPort())) {
            final double before = refused(open);
            final String dom = chromium.dumpDom("http://" + REBIND + ":" + proxy.port() + "/", VIRTUAL_MILLIS, 800, 600,
                resolverRules()).stdout();
            assertTrue(dom.contains("data-create=\"403\"") && dom.contains("data-read=\"403\""), dom);
            assertTrue(dom.contains("Host"), "the refusal names Host: " + dom);
            assertEquals(0, monitors("rebound"));
            // Both requests reached the collector and were refused there (the browser may send them on one
            // keep-alive connection, so the proxy's connection count says only that it forwarded).
            assertTrue(proxy.forwarded() >= 1, "the page's requests went through the proxy");
            Await.untilNoThrow(Duration.ofSeconds(30), () -> refused(open) == before + 2,
                "the collector refused the create and the read");

            // Control: a collector that answers to the name lets the same page in, so the test would catch it.
            final String allowed = chromium.dumpDom("http://" + REBIND + ":" + control.port() + "/", VIRTUAL_MILLIS, 800,
                600, resolverRules()).stdout();
            assertTrue(allowed.contains("data-create=\"201\"") && allowed.contains("data-read=\"200\""), allowed);
            assertEquals(1, monitors("rebound-control"));
        }
    }

    /**
     * DNS rebinding in one process: a name ({@link #REBIND}, mapped to 127.0.0.1 in the browser) whose first answer
     * is the attacker's page and whose later requests reach the collector. {@code GET /} gets the page (and the
     * connection closed); any other request is forwarded byte for byte to the collector, {@code Host} untouched.
     */
    private static final class RebindingProxy implements AutoCloseable {
        private final ServerSocket server;
        private final byte[] page;
        private final int upstream;
        private final java.util.concurrent.atomic.AtomicInteger forwarded = new java.util.concurrent.atomic.AtomicInteger();

        RebindingProxy(String html, int upstream) throws IOException {
            this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            this.upstream = upstream;
            final byte[] body = html.getBytes(StandardCharsets.UTF_8);
            this.page = concat(("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: "
                + body.length + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII), body);
            final Thread t = new Thread(this::accept, "rebinding-proxy");
            t.setDaemon(true);
            t.start();
        }

        int port() {
            return server.getLocalPort();
        }

        int forwarded() {
            return forwarded.get();
        }

        private void accept() {
            while (!server.isClosed()) {
                try {
                    final Socket client = server.accept();
                    final Thread t = new Thread(() -> serve(client), "rebinding-conn");
                    t.setDaemon(true);
                    t.start();
                } catch (IOException e) {
                    return;
                }
            }
        }

        private void serve(Socket client) {
            try (client) {
                final InputStream in = client.getInputStream();
                final ByteArrayOutputStream head = new ByteArrayOutputStream();
                while (!endsWithBlankLine(head.toByteArray())) {
                    final int c = in.read();
                    if (c < 0) {
                        return;
                    }
                    head.write(c);
                }
                final String requestLine = head.toString(StandardCharsets.ISO_8859_1).split("\r\n", 2)[0];
                if (requestLine.startsWith("GET / ")) {
                    client.getOutputStream().write(page);
                    client.getOutputStream().flush();
                    return;
                }
                forwarded.incrementAndGet();
                try (Socket up = new Socket(InetAddress.getLoopbackAddress(), upstream)) {
                    up.getOutputStream().write(head.toByteArray());
                    final Thread pump = new Thread(() -> copy(in, up), "rebinding-up");
                    pump.setDaemon(true);
                    pump.start();
                    copy(up.getInputStream(), client);
                }
            } catch (IOException e) {
                // the browser or the collector closed: done
            }
        }

        private static void copy(InputStream from, Socket to) {
            try {
                from.transferTo(to.getOutputStream());
                to.shutdownOutput();
            } catch (IOException e) {
                // closed
            }
        }

        private static boolean endsWithBlankLine(byte[] b) {
            final int n = b.length;
            return n >= 4 && b[n - 4] == '\r' && b[n - 3] == '\n' && b[n - 2] == '\r' && b[n - 1] == '\n';
        }

        private static byte[] concat(byte[] a, byte[] b) {
            final byte[] out = java.util.Arrays.copyOf(a, a.length + b.length);
            System.arraycopy(b, 0, out, a.length, b.length);
            return out;
        }

        @Override
        public void close() throws IOException {
            server.close();
        }
    }
}
