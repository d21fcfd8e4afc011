package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The status page over real HTTP: the page and its data, asset caching, and who may see what with a token, without
 * one, and with {@code --public-status-page}.
 */
class StatusPageHttpTest {

    private static final String TOKEN = "page-s3cret";
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final ObjectMapper JSON = new ObjectMapper();

    private static TestDatabase db;
    private static CollectorHarness open;
    private static CollectorHarness guarded;
    private static CollectorHarness publicPage;

    @BeforeAll
    static void start() throws Exception {
        db = TestDatabase.create("status_page_http");
        open = CollectorHarness.start(db);
        guarded = CollectorHarness.start(db, "--token", TOKEN);
        publicPage = CollectorHarness.start(db, "--token", TOKEN, "--public-status-page");
    }

    @AfterAll
    static void stop() {
        for (AutoCloseable c : new AutoCloseable[] {open, guarded, publicPage, db}) {
            if (c != null) {
                try {
                    c.close();
                } catch (Exception e) {
                    throw new AssertionError("closing " + c, e);
                }
            }
        }
    }

    @Test
    void pageIsServerRenderedWithPipelineAccountAndSecurityHeaders() throws Exception {
        assertEquals(204, open.post("/api/v2/write?bucket=b", "page_http v=1 1\npage_http v=2 2\npage_http v=3 3\n")
            .statusCode());
        Await.until(WAIT, () -> open.collector.stats().written() >= 3, "3 events written");
        final HttpResponse<String> page = open.get("/");
        assertEquals(200, page.statusCode());
        assertEquals("text/html; charset=utf-8", page.headers().firstValue("Content-Type").orElseThrow());
        assertEquals("no-store", page.headers().firstValue("Cache-Control").orElseThrow());
        assertTrue(page.headers().firstValue("Content-Security-Policy").orElseThrow().contains("script-src 'self'"));
        final String html = page.body();
        assertTrue(html.contains("<section id=\"pipeline\""), html);
        assertTrue(html.contains("ingested <b data-k=\"ingested\">3</b> = written <b data-k=\"written\">3</b>"
            + " + dropped <b data-k=\"dropped\">0</b> + failed <b data-k=\"failed\">0</b> + pending"
            + " <b data-k=\"pending\">0</b>"), html);
        assertTrue(html.contains("<html lang=\"en\">") && html.contains("name=\"viewport\""), "responsive, language");
        assertTrue(html.contains("id=\"page-data\""), "data embedded for the plots");

        final JsonNode data = JSON.readTree(open.get("/api/v1/page/overview").body());
        final JsonNode p = data.get("pipeline");
        assertEquals(3, p.get("ingested").asLong());
        assertEquals(3, p.get("written").asLong());
        assertEquals(0, p.get("pending").asLong());
        assertEquals(p.get("ingested").asLong(), p.get("written").asLong() + p.get("dropped").asLong()
            + p.get("failed").asLong() + p.get("pending").asLong(), "the identity the page shows");
        assertTrue(p.get("databaseReady").asBoolean());
        assertEquals(p.get("rates").get("t").size(), p.get("rates").get("written").size(), "one column per series");
        assertEquals(1, data.get("monitorPage").get("page").asInt(), "the overview lists monitors a page at a time");
        assertEquals(400, open.get("/?page=abc").statusCode(), "a page number or nothing");
        assertEquals(400, open.get("/api/v1/page/overview?page=0").statusCode());
    }

    @Test
    void overviewSearchesByNameAndFiltersByStateAndTag() throws Exception {
        try (java.sql.Connection c = db.connect()) {
            for (String name : List.of("filter-shop-eu", "filter-shop-us", "filter-blog")) {
                // Paused: the collector leaves them alone, their state stays PAUSED.
                dev.spillway.statuspage.CheckSeeder.monitor(c, name, 60_000, false, null, null, null, null);
            }
        }
        db.execute("UPDATE monitors SET tags = '{\"team\": \"shop\"}' WHERE name LIKE 'filter-shop-%'");
        assertEquals(List.of("filter-shop-eu", "filter-shop-us"), names("/api/v1/page/overview?q=SHOP"),
            "a part of the name, any case");
        assertEquals(List.of("filter-shop-us"), names("/api/v1/page/overview?tag=team%3Dshop&q=us"));
        assertEquals(List.of("filter-blog", "filter-shop-eu", "filter-shop-us"),
            names("/api/v1/page/overview?state=paused&q=filter-"));
        final JsonNode page = JSON.readTree(open.get("/api/v1/page/overview?tag=team%3Dshop").body()).get("monitorPage");
        assertEquals(2, page.get("total").asInt(), "matching the filter");
        assertTrue(page.get("all").asInt() >= 3, "the header counts every monitor");
        assertEquals("team=shop", page.get("filter").get("tag").asText());
        assertTrue(page.get("counts").get("PAUSED").asInt() >= 3, page.toString());
        for (String[] bad : new String[][] {{"state=SIDEWAYS", "state"}, {"tag=no-value", "tag"},
            {"q=" + "x".repeat(101), "q"}, {"page=0", "page"}}) {
            final HttpResponse<String> r = open.get("/api/v1/page/overview?" + bad[0]);
            assertEquals(400, r.statusCode(), bad[0]);
            assertEquals(bad[1], JSON.readTree(r.body()).get("field").asText(), r.body());
            assertEquals(400, open.get("/?" + bad[0]).statusCode(), "the HTML page too: " + bad[0]);
        }
        final String html = open.get("/?q=blog").body();
        assertTrue(html.contains("1 of ") && html.contains(" monitors match"), html);
        assertTrue(html.contains("data-name=\"filter-blog\"") && !html.contains("data-name=\"filter-shop-eu\""), html);
        assertTrue(html.contains("name=\"q\" maxlength=\"100\" value=\"blog\""), "the form shows the filter: " + html);
        assertTrue(open.get("/?state=PAUSED").body().contains("<option selected>PAUSED</option>"));
        assertTrue(open.get("/?q=%3Cscript%3E").body().contains("value=\"&lt;script&gt;\""), "escaped");
    }

    private static List<String> names(String path) throws Exception {
        final HttpResponse<String> r = open.get(path);
        assertEquals(200, r.statusCode(), r.body());
        final List<String> out = new java.util.ArrayList<>();
        JSON.readTree(r.body()).get("monitors").forEach(m -> out.add(m.get("name").asText()));
        return out;
    }

    @Test
    void assetsAreVersionedAndCachedAndRevalidated() throws Exception {
        final String html = open.get("/").body();
        final Matcher m = Pattern.compile("src=\"(/assets/uplot/uPlot\\.iife\\.min\\.js\\?v=([0-9a-f]{16}))\"")
            .matcher(html);
        assertTrue(m.find(), html);
        final HttpResponse<String> js = open.get(m.group(1));
        assertEquals(200, js.statusCode());
        assertEquals("text/javascript; charset=utf-8", js.headers().firstValue("Content-Type").orElseThrow());
        assertEquals("public, max-age=31536000, immutable", js.headers().firstValue("Cache-Control").orElseThrow());
        assertTrue(js.body().length() > 40_000, "the vendored uPlot");
        final String etag = js.headers().firstValue("ETag").orElseThrow();
        assertEquals("\"" + m.group(2) + "\"", etag);
        assertEquals(304, open.get("/assets/uplot/uPlot.iife.min.js", "If-None-Match", etag).statusCode());
        assertEquals("no-cache", open.get("/assets/uplot/uPlot.iife.min.js").headers().firstValue("Cache-Control")
            .orElseThrow(), "an unversioned URL revalidates");
        assertEquals(200, open.get("/assets/uplot/LICENSE").statusCode());
        assertEquals(404, open.get("/assets/../logback.xml").statusCode());
        assertEquals(404, open.get("/assets/nope.js").statusCode());
    }

    @Test
    void withTokenThePageNeedsSignInAndTheCookieOnlyOpensThePage() throws Exception {
        final HttpResponse<String> anonymous = guarded.get("/");
        assertEquals(303, anonymous.statusCode());
        assertEquals("/login?next=%2F", anonymous.headers().firstValue("Location").orElseThrow());
        assertEquals(401, guarded.get("/api/v1/page/overview").statusCode());
        final HttpResponse<String> form = guarded.get("/login?next=%2F");
        assertEquals(200, form.statusCode());
        assertTrue(form.body().contains("<label for=\"token\">API token</label>"), form.body());

        final String[] formCsrf = PageSessionTest.form(form);
        final HttpResponse<String> wrong = guarded.post("/login", "token=nope&next=%2F&csrf=" + formCsrf[0],
            "Content-Type", "application/x-www-form-urlencoded", "Cookie", formCsrf[1]);
        assertEquals(401, wrong.statusCode());
        assertTrue(wrong.headers().allValues("Set-Cookie").stream().noneMatch(c -> c.startsWith("spillway_session=")));
        assertTrue(wrong.body().contains("role=\"alert\""), "the error is announced");

        final String[] again = PageSessionTest.form(wrong);
        final HttpResponse<String> right = guarded.post("/login", "token=" + URLEncoder.encode(TOKEN,
            StandardCharsets.UTF_8) + "&next=%2F%2Fevil.example&csrf=" + again[0], "Content-Type",
            "application/x-www-form-urlencoded", "Cookie", again[1]);
        assertEquals(303, right.statusCode());
        assertEquals("/", right.headers().firstValue("Location").orElseThrow(), "no redirect off the site");
        final String setCookie = right.headers().firstValue("Set-Cookie").orElseThrow();
        assertTrue(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && setCookie.contains("Path=/"),
            setCookie);
        assertFalse(setCookie.contains(TOKEN), "the cookie is a random session id, not the token");
        final String cookie = setCookie.substring(0, setCookie.indexOf(';'));

        final HttpResponse<String> signedIn = guarded.get("/", "Cookie", cookie);
        assertEquals(200, signedIn.statusCode());
        assertTrue(signedIn.body().contains("action=\"/logout\""), "a signed-in reader can sign out");
        assertEquals(200, guarded.get("/api/v1/page/overview", "Cookie", cookie).statusCode());
        assertEquals(200, guarded.get("/api/v1/page/overview", "Authorization", "Token " + TOKEN).statusCode());
        assertEquals(401, guarded.post("/api/v2/write?bucket=b", "cookie_write v=1 1", "Cookie", cookie).statusCode(),
            "the page cookie is not a write credential");
        assertEquals(401, guarded.get("/metrics", "Cookie", cookie).statusCode());

        final HttpResponse<String> once = guarded.get("/?token=" + TOKEN);
        assertEquals(303, once.statusCode());
        assertEquals("/", once.headers().firstValue("Location").orElseThrow(), "the token leaves the address bar");
        assertTrue(once.headers().firstValue("Set-Cookie").orElseThrow().startsWith("spillway_session="));
    }

    @Test
    void publicStatusPageIsReadableWhileWritesStayProtected() throws Exception {
        assertEquals(200, publicPage.get("/").statusCode());
        assertEquals(200, publicPage.get("/api/v1/page/overview").statusCode());
        assertEquals(401, publicPage.post("/api/v2/write?bucket=b", "public_write v=1 1").statusCode());
        assertEquals(401, publicPage.get("/metrics").statusCode());
        assertEquals(405, publicPage.post("/", "x").statusCode());
        assertNotNull(JSON.readTree(publicPage.get("/api/v1/page/overview").body()).get("pipeline"));
    }
}
