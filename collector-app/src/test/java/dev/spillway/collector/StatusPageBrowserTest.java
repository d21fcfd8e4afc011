package dev.spillway.collector;

import dev.spillway.statuspage.CheckRollups;
import dev.spillway.statuspage.CheckSeeder;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The status page in a real browser (Debian's headless Chromium) against a running collector with data: the
 * page's scripts run without a single error or console message, draw their plots, refresh from the JSON endpoint,
 * and a screenshot lands in {@code target/} for a person to look at. Skipped, saying so, when Chromium is absent
 * ({@code .ci/run} installs it).
 */
class StatusPageBrowserTest {

    private static final Duration WAIT = Duration.ofSeconds(20);
    /** Page time to let pass: beyond the page's 10 s refresh, so one refresh round trip is part of the run. */
    private static final int VIRTUAL_MILLIS = 12_000;

    private static HeadlessChromium chromium;
    private static TestDatabase db;
    private static CollectorHarness h;

    @BeforeAll
    static void start() throws Exception {
        chromium = HeadlessChromium.find();
        assumeTrue(chromium != null, "SKIPPED: Chromium is not installed (apt-get install chromium, or set "
            + HeadlessChromium.ENV + "); the status page browser test needs a real browser");
        db = TestDatabase.create("status_page_browser");
        // The seeded monitors are shown, not checked: without the monitors duty the collector picks them up (within
        // a lease round) but never probes them, so the page's pipeline counts stay the 500 seeded lines.
        // The rows layout: CheckSeeder (collector-status-page's test support) INSERTs into telemetry_events, which
        // the blocks layout's view does not take.
        h = CollectorHarness.start(db, "--duties", "ingest,heartbeats,notifications", "--storage-layout", "rows");
        final StringBuilder lines = new StringBuilder();
        for (int i = 0; i < 500; i++) {
            lines.append("browser_seed,host=h").append(i % 5).append(" v=").append(i).append(' ').append(i + 1).append('\n');
        }
        assertEquals(204, h.post("/api/v2/write?bucket=b", lines.toString()).statusCode());
        Await.until(WAIT, () -> h.collector.stats().written() >= 500, "seed written");
        seedMonitors();
    }

    /** Five monitors in every state, a day of minute checks each, outages, a certificate about to expire. */
    private static void seedMonitors() throws Exception {
        final Instant now = Instant.now();
        final Instant dayAgo = now.minus(Duration.ofHours(24)).truncatedTo(ChronoUnit.MINUTES);
        try (Connection c = db.connect()) {
            CheckSeeder.monitor(c, "api", 60_000, true, "UP", dayAgo, null, null);
            CheckSeeder.checks(c, "api", dayAgo, 60, 1440, "CASE WHEN i % 97 = 0 THEN 0 ELSE 1 END",
                "40 + 15 * sin(i / 60.0) + (i % 7) * 3");
            CheckSeeder.monitor(c, "website", 60_000, true, "UP", dayAgo, null, null);
            CheckSeeder.checks(c, "website", dayAgo, 60, 1440, "1", "120 + 40 * cos(i / 90.0) + (i % 5) * 8");
            final Instant last = dayAgo.plus(Duration.ofMinutes(1439));
            CheckSeeder.value(c, "website", "dns_ms", last, 2.1);
            CheckSeeder.value(c, "website", "connect_ms", last, 11.4);
            CheckSeeder.value(c, "website", "tls_ms", last, 38.0);
            CheckSeeder.value(c, "website", "ttfb_ms", last, 96.5);
            CheckSeeder.value(c, "website", "status_code", last, 200);
            CheckSeeder.value(c, "website", "cert_expiry_days", last, 9.4);
            final Instant down = now.minus(Duration.ofMinutes(17));
            CheckSeeder.monitor(c, "payments", 60_000, true, "DOWN", down.plus(Duration.ofMinutes(2)), down,
                "HTTP 503 Service Unavailable");
            CheckSeeder.checks(c, "payments", dayAgo, 60, 1440, "CASE WHEN i >= 1423 THEN 0 ELSE 1 END",
                "CASE WHEN i >= 1423 THEN 10000 ELSE 80 + (i % 11) * 4 END");
            CheckSeeder.transition(c, "http", "payments", null, "UP", dayAgo, null);
            CheckSeeder.transition(c, "http", "payments", "UP", "DOWN", down, "HTTP 503 Service Unavailable");
            // payments is checked from three locations: two see it down (the quorum), one up.
            try (java.sql.Statement st = c.createStatement()) {
                st.execute("UPDATE monitors SET locations = '{eu,us,ap}' WHERE name = 'payments'");
                st.execute("INSERT INTO monitor_location_state (monitor, location, state, confirmed_state, since, "
                    + "last_check_at, last_error, collector) VALUES "
                    + "('payments', 'eu', 'DOWN', 'DOWN', now() - interval '17 minutes', now(), 'HTTP 503 from eu', 'c1'), "
                    + "('payments', 'us', 'DOWN', 'DOWN', now() - interval '16 minutes', now(), 'HTTP 503 from us', 'c2'), "
                    + "('payments', 'ap', 'UP', 'UP', now() - interval '1 day', now(), NULL, 'c3')");
            }
            CheckSeeder.monitor(c, "search", 30_000, true, "PENDING", now.minus(Duration.ofMinutes(1)), null,
                "timeout after 10s");
            CheckSeeder.checks(c, "search", dayAgo, 60, 1440, "CASE WHEN i = 1439 THEN 0 ELSE 1 END",
                "200 + (i % 13) * 10");
            CheckSeeder.monitor(c, "legacy-ftp", 300_000, false, null, null, null, null);
            CheckSeeder.transition(c, "heartbeat", "nightly-backup", null, "UP", now.minus(Duration.ofHours(3)),
                "first ping");
            CheckSeeder.service(c, "nightly-backup", "up", 0, "[\"ok\", \"degraded\"]", now.minus(Duration.ofMinutes(3)),
                86_400_000, 600_000);
            CheckSeeder.service(c, "ingest-worker", "down", 1, "[\"ok\", \"degraded\"]", now.minus(Duration.ofMinutes(9)),
                300_000, 60_000);
            CheckSeeder.notification(c, "http", "payments", "UP", "DOWN", down, "sent", 1, null);
            // Given up already, so the collector's running relay leaves it alone (it sends pending rows).
            CheckSeeder.notification(c, "heartbeat", "ingest-worker", "UP", "DOWN", now.minus(Duration.ofMinutes(3)),
                "failed", 2, "HTTP 404 no_service");
        }
        new CheckRollups(db.dataSource(), CheckSeeder.EVENTS, Instant::now).refreshAll();
    }

    @AfterAll
    static void stop() {
        if (h != null) {
            h.close();
        }
        if (db != null) {
            db.close();
        }
    }

    @Test
    void pageRunsCleanlyDrawsPlotsAndRefreshes() throws Exception {
        final HeadlessChromium.Run run = chromium.dumpDom(h.uri("/").toString(), VIRTUAL_MILLIS, 1280, 1400);
        final String dom = run.stdout();
        final String html = htmlTag(dom);
        assertNull(attribute(html, "data-js-errors"), "script errors: " + html);
        assertTrue(run.console().isEmpty(), "console messages: " + run.console());
        assertEquals("true", attribute(html, "data-rendered"), html);
        assertTrue(Integer.parseInt(attribute(html, "data-refreshes")) >= 1, "refreshed from JSON: " + html);
        assertTrue(Integer.parseInt(attribute(html, "data-plots")) >= 1, html);
        assertTrue(dom.contains("id=\"pipeline-plot\"") && Pattern.compile(
            "id=\"pipeline-plot\"[^>]*data-plotted=\"true\"[\\s\\S]*?<canvas").matcher(dom).find(),
            "uPlot drew the pipeline plot into a canvas:\n" + dom);
        assertTrue(dom.contains("class=\"u-legend"), "the plot has its legend");
        assertTrue(dom.contains("ingested <b data-k=\"ingested\">500</b>"), "refreshed identity: " + dom);
        assertTrue(dom.contains("<dd data-k=\"databaseReady\" class=\"state-up\">ready</dd>"), dom);

        for (String[] m : new String[][] {{"api", "UP"}, {"website", "UP"}, {"payments", "DOWN"}, {"search", "PENDING"},
            {"legacy-ftp", "PAUSED"}}) {
            final String row = row(dom, m[0]);
            assertTrue(row.contains("data-state=\"" + m[1] + "\""), row);
            assertTrue(row.contains("<span class=\"state state-" + m[1].toLowerCase(java.util.Locale.ROOT) + "\">" + m[1]
                + "</span>"), "state as a word and a colour: " + row);
            if (!m[1].equals("PAUSED")) {
                assertEquals(90, count(row, "<span class=\"(ok|fail)\">"), "90 checks in the strip, drawn on screen: " + row);
                assertTrue(Pattern.compile("class=\"spark\"[^>]*data-plotted=\"true\"[\\s\\S]*?<canvas").matcher(row).find(),
                    "response-time plot drawn: " + row);
            }
        }
        assertEquals(1, count(row(dom, "api"), "<span class=\"fail\""), "one failure among api's last 90 checks");
        // The outage began 17 minutes before seeding; the test itself takes a while, so only "minutes" is fixed.
        assertTrue(Pattern.compile("<span class=\"incident\">for [1-5]\\dm \\d+s</span>").matcher(row(dom, "payments"))
            .find(), "outage length: " + row(dom, "payments"));
        assertTrue(row(dom, "website").contains("certificate expires in 9 days"), row(dom, "website"));
        assertTrue(row(dom, "website").contains("dns 2.1 ms \u00b7 connect 11.4 ms \u00b7 tls 38.0 ms \u00b7 ttfb 96.5 ms"),
            row(dom, "website"));
        final Matcher services = Pattern.compile("<table id=\"services-table\">[\\s\\S]*?</table>").matcher(dom);
        assertTrue(services.find(), dom);
        assertTrue(services.group().contains("data-id=\"ingest-worker\"") || services.group().contains(">ingest-worker<"),
            services.group());
        assertTrue(services.group().contains("<span class=\"state state-down\">DOWN</span></td><td>degraded</td>"),
            "state and status name: " + services.group());
        final Matcher notes = Pattern.compile("<table id=\"notifications-table\">[\\s\\S]*?</table>").matcher(dom);
        assertTrue(notes.find(), dom);
        assertTrue(notes.group().contains("heartbeat ingest-worker: UP \u2192 DOWN") && notes.group().contains(
            "<span class=\"delivery delivery-failed\">failed</span> (2 attempts)") && notes.group().contains(
            "HTTP 404 no_service"), notes.group());
        final Matcher transitions = Pattern.compile("<table id=\"transitions-table\">[\\s\\S]*?</table>").matcher(dom);
        assertTrue(transitions.find(), dom);
        assertTrue(transitions.group().contains("heartbeat nightly-backup") && transitions.group().contains("http payments"),
            transitions.group());
    }

    @Test
    void monitorPageDrawsItsRangeAndListsIncidents() throws Exception {
        final HeadlessChromium.Run run = chromium.dumpDom(h.uri("/monitors/payments?range=24h").toString(),
            VIRTUAL_MILLIS, 1280, 1400);
        final String dom = run.stdout();
        final String html = htmlTag(dom);
        assertNull(attribute(html, "data-js-errors"), "script errors: " + html);
        assertTrue(run.console().isEmpty(), "console messages: " + run.console());
        assertTrue(Integer.parseInt(attribute(html, "data-refreshes")) >= 1, html);
        assertTrue(Pattern.compile("id=\"detail-plot\"[^>]*data-plotted=\"true\"[\\s\\S]*?<canvas").matcher(dom).find(), dom);
        assertTrue(dom.contains("<a href=\"/monitors/payments?range=24h\" aria-current=\"page\">24h</a>"), dom);
        assertTrue(dom.contains("<span class=\"state state-down\">ongoing</span>"), "the open incident: " + dom);
        assertTrue(dom.contains("HTTP 503 Service Unavailable"), dom);
        final Matcher locations = Pattern.compile("<table id=\"locations\"[\\s\\S]*?</table>").matcher(dom);
        assertTrue(locations.find(), dom);
        for (String l : List.of("eu", "us")) {
            assertTrue(locations.group().contains("<tr data-location=\"" + l + "\"><th scope=\"row\">" + l
                + "</th><td><span class=\"state state-down\">DOWN</span>"), locations.group());
            assertTrue(locations.group().contains("HTTP 503 from " + l), locations.group());
        }
        assertTrue(locations.group().contains("<tr data-location=\"ap\"><th scope=\"row\">ap</th><td><span "
            + "class=\"state state-up\">UP</span>"), locations.group());
        assertTrue(dom.contains("DOWN when at least 2 of 3 locations see it down"), dom);
    }

    private static String row(String dom, String monitor) {
        final Matcher m = Pattern.compile("<tr data-name=\"" + Pattern.quote(monitor) + "\"[\\s\\S]*?</tr>").matcher(dom);
        assertTrue(m.find(), "no row for " + monitor + " in:\n" + dom);
        return m.group();
    }

    private static int count(String s, String regex) {
        final Matcher m = Pattern.compile(regex).matcher(s);
        int n = 0;
        while (m.find()) {
            n++;
        }
        return n;
    }

    /**
     * What a phone's browser measures: the document's width, the viewport's, and how many of the header's parts end
     * outside the viewport.
     */
    private static final String LAYOUT = "[document.documentElement.scrollWidth, document.documentElement.clientWidth,"
        + " Array.prototype.filter.call(document.querySelectorAll('header.top > *'), function (e) {"
        + " var r = e.getBoundingClientRect(); return r.width > 0 && (r.right > document.documentElement.clientWidth"
        + " + 0.5 || r.left < -0.5); }).length].join(',')";

    /**
     * At a phone's width (390 px, emulated in Chromium as a mobile viewport) nothing scrolls sideways and the header
     * fits: the overview, a filtered overview and two monitor pages, measured once the page's script has drawn it.
     */
    @Test
    void phoneWidthHasNoSidewaysScrollAndTheHeaderFits() throws Exception {
        for (String path : List.of("/", "/?state=DOWN&q=pay", "/monitors/payments?range=24h",
            "/monitors/api?range=30d")) {
            final String[] v = chromium.evaluateOnPhone(h.uri(path).toString(), 390, 844,
                "document.documentElement.getAttribute('data-rendered') === 'true'", LAYOUT).split(",");
            final int scroll = Integer.parseInt(v[0]);
            final int viewport = Integer.parseInt(v[1]);
            assertEquals(390, viewport, path + ": the viewport is the phone's");
            assertTrue(scroll <= 390, path + ": no sideways scrolling at 390 px (document " + scroll + " px wide)");
            assertEquals("0", v[2], path + ": header parts cut off");
        }
    }

    @Test
    void layoutCheckCatchesAWidePage() throws Exception {
        // The control for the test above: the same measurement on a page whose header is wider than a phone.
        final Path page = Files.createTempFile("status-layout-control-", ".html");
        try {
            Files.writeString(page, "<!DOCTYPE html><html><head><meta name=\"viewport\" content=\"width=device-width, "
                + "initial-scale=1\"></head><body style=\"margin:0\"><header class=\"top\"><span style=\""
                + "display:inline-block;width:600px\">too wide</span></header></body></html>", StandardCharsets.UTF_8);
            final String[] v = chromium.evaluateOnPhone(page.toUri().toString(), 390, 844,
                "document.readyState === 'complete'", LAYOUT).split(",");
            assertTrue(Integer.parseInt(v[0]) >= 600, "the wide header widens the document: " + String.join(",", v));
            assertEquals("1", v[2], "and is found cut off");
        } finally {
            Files.deleteIfExists(page);
        }
    }

    @Test
    void errorRecorderCatchesAScriptError() throws Exception {
        // The control for the test above: the same recorder, on a page whose own script throws.
        final Matcher m = Pattern.compile("src=\"(/assets/status\\.js\\?v=[0-9a-f]+)\"").matcher(h.get("/").body());
        assertTrue(m.find());
        final Path page = Files.createTempFile("status-js-control-", ".html");
        try {
            Files.writeString(page, "<!DOCTYPE html><html><head><script src=\"" + h.uri(m.group(1))
                + "\"></script></head><body><script>throw new Error('deliberate failure');</script></body></html>",
                StandardCharsets.UTF_8);
            final HeadlessChromium.Run run = chromium.dumpDom(page.toUri().toString(), 1_000, 800, 600);
            final String errors = attribute(htmlTag(run.stdout()), "data-js-errors");
            assertTrue(errors != null && errors.contains("deliberate failure"), run.stdout());
            assertTrue(run.console().stream().anyMatch(l -> l.contains("deliberate failure")), run.stderr());
        } finally {
            Files.deleteIfExists(page);
        }
    }

    @Test
    void screenshotsForAPerson() throws Exception {
        final Path dir = Paths.get("target", "status-page");
        final Path desktop = dir.resolve("status-page.png");
        final Path phone = dir.resolve("status-page-phone.png");
        chromium.screenshot(h.uri("/").toString(), desktop, VIRTUAL_MILLIS, 1400, 1500);
        chromium.screenshot(h.uri("/").toString(), phone, VIRTUAL_MILLIS, 390, 1800);
        chromium.screenshot(h.uri("/monitors/payments?range=24h").toString(), dir.resolve("monitor-page.png"), 3_000,
            1280, 1200);
        for (Path png : new Path[] {desktop, phone}) {
            final byte[] bytes = Files.readAllBytes(png);
            assertTrue(bytes.length > 10_000 && bytes[1] == 'P' && bytes[2] == 'N' && bytes[3] == 'G',
                "a real PNG at " + png.toAbsolutePath());
            System.out.println("status page screenshot: " + png.toAbsolutePath());
        }
    }

    private static String htmlTag(String dom) {
        final Matcher m = Pattern.compile("<html[^>]*>").matcher(dom);
        assertTrue(m.find(), "no <html> element in:\n" + dom);
        return m.group();
    }

    private static String attribute(String tag, String name) {
        final Matcher m = Pattern.compile("\\s" + Pattern.quote(name) + "=\"([^\"]*)\"").matcher(tag);
        return m.find() ? m.group(1) : null;
    }
}
