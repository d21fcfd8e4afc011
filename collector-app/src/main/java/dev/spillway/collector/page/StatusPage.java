package dev.spillway.collector.page;

import dev.spillway.collector.api.ApiRequest;
import dev.spillway.collector.api.ApiResponse;
import dev.spillway.collector.api.ApiRouter;
import dev.spillway.telemetry.PipelineStats;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.sql.SQLException;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The status page: {@code GET /} (server-rendered HTML that draws its plots with the vendored uPlot and refreshes
 * itself every 10 s from {@code GET /api/v1/page/overview}), the sign-in form, and the page's files under
 * {@code /assets/}. Routed by the collector's {@link ApiRouter} (so its handlers run on the API executor, never on a
 * network thread); the routes are registered as public because the page decides itself who may read it
 * ({@link PageAuth}: token, session cookie, or {@code --public-status-page}).
 */
public final class StatusPage implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(StatusPage.class);
    static final String OVERVIEW_JSON = "/api/v1/page/overview";
    static final String MONITOR_JSON = "/api/v1/page/monitors/";

    private final PageAuth auth;
    private final StaticAssets assets = new StaticAssets();
    private final PipelineHistory history = new PipelineHistory();
    private final PipelinePanel pipeline;
    private final Supplier<PipelineStats> stats;
    private final ScheduledExecutorService sampler;
    private final StatusQueries queries;
    private final CheckRollups rollups;
    private final Supplier<Instant> clock;

    /**
     * Starts sampling the pipeline at once.
     *
     * @param token the collector's token, or null
     * @param publicPage whether the read-only page is open to everyone
     * @param stats the pipeline's live account
     * @param ringCapacity ring slots, for the occupancy figure
     * @param databaseReady whether the database answered recently
     * @param dataSource the collector's database
     * @param eventsTable the sink's events table
     * @param clock "now" for the page's windows
     */
    public StatusPage(String token, boolean publicPage, Supplier<PipelineStats> stats, int ringCapacity,
                      BooleanSupplier databaseReady, DataSource dataSource, String eventsTable, Supplier<Instant> clock) {
        this.auth = new PageAuth(token, publicPage);
        this.stats = stats;
        this.clock = clock;
        this.queries = new StatusQueries(dataSource, eventsTable);
        this.rollups = new CheckRollups(dataSource, eventsTable, clock);
        this.pipeline = new PipelinePanel(history, stats, ringCapacity, databaseReady, System::currentTimeMillis);
        this.sampler = Executors.newSingleThreadScheduledExecutor(r -> {
            final Thread t = new Thread(r, "status-page-sampler");
            t.setDaemon(true);
            return t;
        });
        this.sampler.scheduleAtFixedRate(this::sample, 0, PipelineHistory.STEP_MILLIS, TimeUnit.MILLISECONDS);
        this.sampler.scheduleWithFixedDelay(this::refreshRollups, 0, CheckRollups.REFRESH_PERIOD.toMillis(),
            TimeUnit.MILLISECONDS);
    }

    /** On plain PostgreSQL the collector keeps the check rollups; with TimescaleDB its policies do. */
    private void refreshRollups() {
        try {
            if (rollups.collectorMaintained()) {
                rollups.refresh();
            }
        } catch (SQLException | RuntimeException e) {
            // Logged each time: the page's uptime goes stale while this fails, and the reason must be visible.
            LOG.warn("status page: refreshing the monitor check rollups failed: {}", e.toString());
        }
    }

    private void sample() {
        try {
            history.add(System.currentTimeMillis(), stats.get());
        } catch (RuntimeException e) {
            // A throw would cancel the schedule and the plot would silently stop.
            LOG.warn("status page: pipeline sample failed: {}", e.toString());
        }
    }

    /** Adds the page's routes to the collector's router. */
    public void register(ApiRouter router) {
        router.claimPath("/").claimPrefix("/login").claimPrefix("/logout").claimPrefix(StaticAssets.PREFIX)
            .claimPrefix("/monitors/");
        router.publicRoute("GET", "/", r -> readable(r, this::overviewHtml));
        router.publicRoute("GET", OVERVIEW_JSON, r -> readable(r, req -> PageResponses.json(overviewData())));
        router.publicRoute("GET", "/monitors/{name}", r -> readable(r, this::monitorHtml));
        router.publicRoute("GET", MONITOR_JSON + "{name}", r -> readable(r, this::monitorJson));
        router.publicRoute("GET", "/login", this::loginForm);
        router.publicRoute("POST", "/login", this::login);
        router.publicRoute("POST", "/logout",
            r -> PageResponses.redirect("/login").withHeader("Set-Cookie", PageAuth.signOutCookie()));
        router.publicRoute("GET", "/assets/{file}", assets::serve);
        router.publicRoute("GET", "/assets/{dir}/{file}", assets::serve);
    }

    /** A page body that may fail on the database; the router answers such failures with a logged 500. */
    @FunctionalInterface
    private interface Page {
        ApiResponse render(ApiRequest r) throws SQLException;
    }

    /** Runs {@code page} if the request may read; otherwise sends people to sign in and programs a 401. */
    private ApiResponse readable(ApiRequest r, Page page) throws SQLException {
        final boolean api = r.path().startsWith(ApiRouter.API_PREFIX);
        final String presented = r.queryParam("token");
        if (presented != null && !api) {
            // The token once in a link: trade it for the cookie and drop it from the address bar and history.
            return auth.matches(presented)
                ? PageResponses.redirect(r.path()).withHeader("Set-Cookie", auth.signInCookie())
                : LoginForm.render(401, r.path(), "That token is not right.");
        }
        if (!auth.canRead(r)) {
            return api
                ? PageResponses.error(401, "unauthorized", "sign in at /login or send Authorization: Token <token>")
                : PageResponses.redirect("/login?next=" + URLEncoder.encode(r.path(), StandardCharsets.UTF_8));
        }
        return page.render(r);
    }

    private ApiResponse loginForm(ApiRequest r) {
        if (!auth.tokenSet()) {
            return PageResponses.redirect("/");
        }
        return LoginForm.render(200, PageAuth.localPath(r.queryParam("next")), null);
    }

    private ApiResponse login(ApiRequest r) {
        final String body = new String(r.body(), StandardCharsets.UTF_8);
        final String next = PageAuth.localPath(PageAuth.formField(body, "next"));
        if (auth.matches(PageAuth.formField(body, "token"))) {
            return PageResponses.redirect(next).withHeader("Set-Cookie", auth.signInCookie());
        }
        LOG.info("status page: sign-in with a wrong token");
        return LoginForm.render(401, next, "That token is not right.");
    }

    /** What the overview shows, read once per request. */
    private record Overview(Instant now, PipelinePanel.View pipeline, List<StatusQueries.MonitorRow> monitors,
                            List<StatusQueries.TransitionRow> transitions) {
    }

    private Overview overview() throws SQLException {
        final Instant now = clock.get();
        return new Overview(now, pipeline.view(), queries.monitors(now), queries.transitions(StatusQueries.RECENT));
    }

    private ApiResponse overviewHtml(ApiRequest r) throws SQLException {
        final Overview o = overview();
        final StringBuilder h = new StringBuilder(16_384 + 2_048 * o.monitors.size());
        Layout.head(h, "Spillway status", assets, auth.hasSession(r));
        h.append("<main id=\"main\" data-page=\"overview\">\n<h1 class=\"sr-only\">Spillway status</h1>\n");
        MonitorsPanel.html(h, o.monitors, o.now);
        PipelinePanel.html(h, o.pipeline);
        EventsPanel.html(h, o.transitions);
        h.append("</main>\n");
        Layout.data(h, PageResponses.embeddable(overviewData(o)));
        Layout.tail(h, assets);
        return PageResponses.html(200, h.toString());
    }

    private Map<String, Object> overviewData() throws SQLException {
        return overviewData(overview());
    }

    private Map<String, Object> overviewData(Overview o) {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("page", "overview");
        m.put("refreshUrl", OVERVIEW_JSON);
        m.put("generatedAt", o.now.toEpochMilli());
        m.put("monitors", MonitorsPanel.json(o.monitors));
        m.put("pipeline", PipelinePanel.json(o.pipeline));
        m.put("transitions", EventsPanel.json(o.transitions));
        return m;
    }

    /** One monitor over a range, with its outages. */
    private record Detail(Instant now, StatusQueries.Range range, StatusQueries.MonitorRow row,
                          StatusQueries.Uptime rangeUptime, StatusQueries.Series responseTime,
                          List<StatusQueries.Incident> incidents) {
    }

    private Detail detail(ApiRequest r) throws SQLException {
        final String q = r.queryParam("range");
        final StatusQueries.Range range = q == null ? StatusQueries.Range.DAY : StatusQueries.Range.parse(q);
        if (range == null) {
            return null;
        }
        final Instant now = clock.get();
        final StatusQueries.MonitorRow row = queries.monitor(r.param("name"), now);
        if (row == null) {
            return new Detail(now, range, null, null, null, null);
        }
        return new Detail(now, range, row, queries.uptime(row.name(), range, now),
            queries.responseTime(row.name(), range, now), queries.incidents(row.name(), StatusQueries.RECENT));
    }

    private ApiResponse monitorJson(ApiRequest r) throws SQLException {
        final Detail d = detail(r);
        if (d == null) {
            return PageResponses.error(400, "invalid", "range must be one of 1h, 24h, 7d, 30d");
        }
        if (d.row == null) {
            return PageResponses.error(404, "not found", "no monitor " + r.param("name"));
        }
        return PageResponses.json(detailData(d));
    }

    private ApiResponse monitorHtml(ApiRequest r) throws SQLException {
        final Detail d = detail(r);
        if (d == null || d.row == null) {
            final StringBuilder h = new StringBuilder(2_048);
            Layout.head(h, "Not found \u2013 Spillway", assets, auth.hasSession(r));
            h.append("<main id=\"main\"><h1>").append(d == null ? "Unknown range" : "No such monitor")
                .append("</h1><p><a href=\"/\">Back to the overview</a></p></main>\n");
            Layout.tail(h, assets);
            return PageResponses.html(d == null ? 400 : 404, h.toString());
        }
        final StringBuilder h = new StringBuilder(32_768);
        Layout.head(h, d.row.name() + " \u2013 Spillway", assets, auth.hasSession(r));
        MonitorDetailPanel.html(h, d.row, d.range, d.rangeUptime, d.incidents, d.now);
        Layout.data(h, PageResponses.embeddable(detailData(d)));
        Layout.tail(h, assets);
        return PageResponses.html(200, h.toString());
    }

    private static Map<String, Object> detailData(Detail d) {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("page", "monitor");
        m.put("refreshUrl", MONITOR_JSON + d.row.name() + "?range=" + d.range.label);
        m.put("generatedAt", d.now.toEpochMilli());
        m.put("range", d.range.label);
        m.put("monitor", MonitorsPanel.json(d.row));
        m.put("rangeUptime", MonitorsPanel.uptime(d.rangeUptime));
        m.put("rangeRt", MonitorsPanel.series(d.responseTime));
        m.put("incidents", MonitorDetailPanel.incidents(d.incidents, d.now));
        return m;
    }

    @Override
    public void close() {
        sampler.shutdownNow();
    }
}
