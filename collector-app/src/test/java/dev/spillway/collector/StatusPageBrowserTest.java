package dev.spillway.collector;

import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
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
        h = CollectorHarness.start(db);
        final StringBuilder lines = new StringBuilder();
        for (int i = 0; i < 500; i++) {
            lines.append("browser_seed,host=h").append(i % 5).append(" v=").append(i).append(' ').append(i + 1).append('\n');
        }
        assertEquals(204, h.post("/api/v2/write?bucket=b", lines.toString()).statusCode());
        Await.until(WAIT, () -> h.collector.stats().written() >= 500, "seed written");
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
        chromium.screenshot(h.uri("/").toString(), desktop, 3_000, 1280, 1400);
        chromium.screenshot(h.uri("/").toString(), phone, 3_000, 390, 1600);
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
