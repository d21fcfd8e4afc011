package dev.spillway.statuspage;

import dev.spillway.runtime.lifecycle.ServiceThreads;
import dev.spillway.runtime.api.ApiException;
import dev.spillway.runtime.api.ApiRequest;
import dev.spillway.runtime.api.ApiResponse;
import dev.spillway.runtime.api.ApiRouter;
import dev.spillway.runtime.api.AuthThrottle;
import dev.spillway.runtime.api.DatabaseOutage;
import dev.spillway.runtime.log.LogText;
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
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
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
    private final SessionStore sessions;
    /** Wrong sign-in tokens per client address: 5, then one every 12 s. */
    private final AuthThrottle throttle = AuthThrottle.signIn(System::nanoTime);
    private final StaticAssets assets = new StaticAssets();
    private final PipelineHistory history = new PipelineHistory();
    private final PipelinePanel pipeline;
    private final Supplier<PipelineStats> stats;
    private final ScheduledExecutorService sampler;
    private final ScheduledExecutorService snapshots;
    /** Where the overview's snapshots are read: requests wait for a read at most a bound, so never on their thread. */
    private final java.util.concurrent.ExecutorService readers;
    private final ScheduledExecutorService rollupKeeper;
    /** Set first by {@link #close()}: a read it interrupts (closed pool, I/O error) is not a failure to report. */
    private volatile boolean closed;
    private final StatusQueries queries;
    private final Badges badges;
    private final dev.spillway.alerting.Maintenance maintenance;
    private final CheckRollups rollups;
    /** The uptime figures' runs: kept by every collector (one at a time), on any database flavour. */
    private final UptimeRuns uptimeRuns;
    private final Supplier<Instant> clock;
    /** Overview pages read lately, by page number and filter; at most {@link #CACHED_PAGES}. */
    private final Map<PageKey, PageSnapshot> pages = new ConcurrentHashMap<>();

    /** An overview page: its number within the monitors that match its filter. */
    private record PageKey(int page, StatusQueries.Filter filter) {
        static final PageKey FIRST = new PageKey(1, StatusQueries.Filter.NONE);
    }
    private final AtomicBoolean firstRead = new AtomicBoolean(true);
    /** Whether no overview JSON was answered yet: the first one logs where its time went. */
    private final AtomicBoolean firstRequest = new AtomicBoolean(true);
    private volatile long nextSlowLogNanos = System.nanoTime();

    /** The page refreshes itself this often; the snapshot is re-read at the same pace. */
    private static final long REFRESH_NANOS = TimeUnit.SECONDS.toNanos(10);
    /** A request asks for a re-read only when the background has not (nobody watched for a while). */
    private static final long SNAPSHOT_MAX_AGE_NANOS = TimeUnit.SECONDS.toNanos(15);
    /**
     * How long a request waits for a re-read of a snapshot older than {@link #SNAPSHOT_MAX_AGE_NANOS} before it is
     * answered from that older snapshot (the re-read goes on, for the next request).
     */
    static final long REQUEST_WAIT_NANOS = TimeUnit.MILLISECONDS.toNanos(250);
    /**
     * How long a request for a page nobody read yet (nothing held: the first visitor after a start, a new page or
     * filter) waits for that page's first answer. That answer is the read's first stage (states and counts, the
     * page's uptime, strips and hourly sparklines; {@link #read(PageKey, java.util.function.Consumer)}), so this
     * bound fires only on a database slower than its statements' timeout allows for the first stage: then the
     * visitor gets 503 with Retry-After (the page "tries again by itself"; JSON: the router's 503) and the read goes on.
     */
    static final long FIRST_WAIT_NANOS = TimeUnit.SECONDS.toNanos(5);
    /** How long after the last view the background keeps the snapshot fresh. */
    private static final long WATCHED_NANOS = TimeUnit.MINUTES.toNanos(2);
    /** Overview pages whose snapshots are kept (each at most {@link StatusQueries#PAGE_SIZE} monitors). */
    private static final int CACHED_PAGES = 64;
    /** A read slower than the page's latency goal is logged with its phases (at most once a minute). */
    private static final long SLOW_READ_MILLIS = 300;

    /**
     * Starts sampling the pipeline at once.
     *
     * @param token the collector's token, or null
     * @param settings whether the read-only page is open to everyone, how long a sign-in lasts
     * @param stats the pipeline's live account
     * @param ringCapacity ring slots, for the occupancy figure
     * @param databaseReady whether the database answered recently
     * @param dataSource the collector's database
     * @param eventsTable the sink's events table
     * @param clock "now" for the page's windows
     * @param sessionClock "now" for sign-in sessions (tests move it by hand)
     */
    public StatusPage(String token, StatusPageSettings settings, Supplier<PipelineStats> stats, int ringCapacity,
                      BooleanSupplier databaseReady, DataSource dataSource, String eventsTable, Supplier<Instant> clock,
                      Supplier<Instant> sessionClock) {
        this.sessions = new SessionStore(settings.sessionMaxAge(), sessionClock);
        this.auth = new PageAuth(token, settings.publicPage(), sessions);
        this.stats = stats;
        this.clock = clock;
        this.maintenance = new dev.spillway.alerting.Maintenance(dataSource);
        this.queries = new StatusQueries(dataSource, eventsTable, StatusQueries.PAGE_SIZE, maintenance.forReports());
        this.uptimeRuns = new UptimeRuns(dataSource, clock);
        this.badges = new Badges(dataSource, clock, maintenance.forReports());
        this.rollups = new CheckRollups(dataSource, eventsTable, clock);
        this.pipeline = new PipelinePanel(history, stats, ringCapacity, databaseReady, System::currentTimeMillis);
        this.sampler = Executors.newSingleThreadScheduledExecutor(ServiceThreads.single("status-page-sampler"));
        this.sampler.scheduleAtFixedRate(this::sample, 0, PipelineHistory.STEP_MILLIS, TimeUnit.MILLISECONDS);
        // Its own thread: a refresh can take long (a catch-up after downtime, many monitors) and must not hold up
        // the pipeline samples, whose plot would otherwise show a gap.
        this.rollupKeeper = Executors.newSingleThreadScheduledExecutor(ServiceThreads.single("status-page-rollups"));
        this.rollupKeeper.execute(this::refreshRollups);
        this.snapshots = Executors.newSingleThreadScheduledExecutor(ServiceThreads.single("status-page-snapshot"));
        this.readers = Executors.newFixedThreadPool(2, ServiceThreads.pool("status-page-read"));
        // The first read after start pays for cold connections, catalog caches, class loading and JIT: done here,
        // not by the first visitor. Its result is kept only for visitors who came while it ran (monitors added
        // after it must show at once).
        this.snapshots.execute(this::warmUp);
        this.snapshots.scheduleWithFixedDelay(this::keepSnapshotFresh, REFRESH_NANOS, REFRESH_NANOS,
            TimeUnit.NANOSECONDS);
    }

    private void warmUp() {
        final long started = System.nanoTime();
        try {
            final PageSnapshot first = pageSnapshot(PageKey.FIRST);
            // A visitor arriving meanwhile shares this read. The rendering is warmed while it runs (on a read
            // thread), and rendered again as soon as its first stage is there.
            final SharedRead.Reading<Snapshot> reading = first.read.start();
            warmRendering();
            final Snapshot s = SharedRead.join(reading.first()).value();
            MonitorsPanel.html(new StringBuilder(), s.monitors, s.at);
            PageResponses.json(overviewData(new Overview(s.at, pipeline.view(), s.monitors, s.services,
                s.transitions, s.notifications, s.windows, s.held)));
            SharedRead.join(reading.whole()); // the same read's whole value, which the page keeps
            if (first.lastViewedNanos - started < 0) {
                first.read.forget(); // nobody looked meanwhile: the first visitor reads afresh (and now warm)
            }
        } catch (SQLException | RuntimeException e) {
            if (closed) {
                LOG.debug("status page: the start-up read ended by close: {}", e.toString());
            } else {
                LOG.warn("status page: reading the overview at start failed: {}", e.toString());
            }
        }
    }

    /**
     * Renders a made-up page of {@link StatusQueries#PAGE_SIZE} monitors once, HTML and JSON, before anything is
     * read: the first rendering in a JVM loads the JSON codec's serializers and runs interpreted (700 ms for the
     * first overview JSON of 144 KB measured at start beside the collector's first round of checks), and the first
     * visitor's answer should not pay for that. Nothing of it is kept.
     */
    private void warmRendering() {
        final long started = System.nanoTime();
        try {
            final Instant now = clock.get();
            final List<StatusQueries.MonitorRow> rows = new java.util.ArrayList<>();
            for (int i = 0; i < StatusQueries.PAGE_SIZE; i++) {
                final StatusQueries.Series plot = StatusQueries.Series.empty();
                for (int p = 0; p < 48; p++) {
                    plot.t().add(now.getEpochSecond() - 1_800L * (48 - p));
                    plot.p50().add(10.0 + p);
                    plot.p95().add(p % 7 == 0 ? null : 20.5 + p);
                }
                final List<StatusQueries.Check> strip = new java.util.ArrayList<>();
                for (int c = 0; c < StatusQueries.STRIP; c++) {
                    strip.add(new StatusQueries.Check(now.toEpochMilli() - 60_000L * (StatusQueries.STRIP - c),
                        c % 11 != 0));
                }
                final StatusQueries.Uptime up = new StatusQueries.Uptime(86_000_000L, 400_000L, 0, 0);
                rows.add(new StatusQueries.MonitorRow("warm-up-" + i, true, i % 10 == 0 ? "DOWN" : "UP", now,
                    i % 10 == 0 ? now : null, i % 10 == 0 ? "connect: Connection refused" : null, 60_000, up, up, up,
                    plot, strip, new StatusQueries.LastCheck(now.toEpochMilli(), true, 12.5, 0.5, 1.5, 2.5, 8.0, 200,
                    90.0)));
            }
            final Map<String, Integer> counts = new LinkedHashMap<>();
            StatusQueries.STATE_ORDER.forEach(st -> counts.put(st, 0));
            counts.put("UP", 90);
            counts.put("DOWN", 10);
            final StatusQueries.MonitorPage page = new StatusQueries.MonitorPage(1, 1, StatusQueries.PAGE_SIZE,
                rows.size(), counts, rows);
            final Overview o = new Overview(now, pipeline.view(), page, List.of(), List.of(), List.of(), List.of(),
                List.of());
            MonitorsPanel.html(new StringBuilder(), page, now);
            PageResponses.json(overviewData(o));
            LOG.debug("status page: rendering warmed in {} ms", (System.nanoTime() - started) / 1_000_000);
        } catch (RuntimeException e) {
            // Only a warm-up: the real pages still render (and report their own failures).
            LOG.warn("status page: warming the rendering failed: {}", e.toString());
        }
    }

    /**
     * On plain PostgreSQL the collector keeps the check rollups; with TimescaleDB its policies do. Every
     * {@link CheckRollups#REFRESH_PERIOD}; sooner (after a second) while a catch-up leaves dirty buckets, each
     * refresh bounded.
     */
    private void refreshRollups() {
        long delayMillis = CheckRollups.REFRESH_PERIOD.toMillis();
        try {
            if (rollups.collectorMaintained() && rollups.refresh()) {
                delayMillis = 1_000;
            }
            final Instant late = rollups.takeOldestLate();
            if (late != null) {
                LOG.info("status page: results from {} on were stored late; redoing the uptime runs from there", late);
                uptimeRuns.rewind(late);
            }
            uptimeRuns.refresh();
        } catch (SQLException | RuntimeException e) {
            if (closed) {
                LOG.debug("status page: a rollup refresh ended by close: {}", e.toString());
            } else {
                // Logged each time: the page's uptime goes stale while this fails, and the reason must be visible.
                LOG.warn("status page: refreshing the monitor check rollups or uptime runs failed: {}", e.toString());
            }
        }
        if (!closed) {
            try {
                rollupKeeper.schedule(this::refreshRollups, delayMillis, TimeUnit.MILLISECONDS);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                LOG.debug("status page: rollup keeper closed");
            }
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
        router.publicRoute("GET", OVERVIEW_JSON, r -> readable(r, this::overviewJson));
        router.publicRoute("GET", "/monitors/{name}", r -> readable(r, this::monitorHtml));
        router.publicRoute("GET", MONITOR_JSON + "{name}", r -> readable(r, this::monitorJson));
        router.publicRoute("GET", "/login", this::loginForm);
        router.publicRoute("POST", "/login", this::login);
        router.publicRoute("POST", "/logout", this::logout);
        router.publicRoute("GET", "/assets/{file}", assets::serve);
        router.publicRoute("GET", "/assets/{dir}/{file}", assets::serve);
        router.claimPrefix("/badges/");
        router.publicRoute("GET", "/badges/monitors/{name}/status.svg", r -> badge(r, badges::monitorStatus));
        router.publicRoute("GET", "/badges/monitors/{name}/uptime.svg", r -> badge(r, badges::monitorUptime));
        router.publicRoute("GET", "/badges/tags/{key}/{value}/status.svg", r -> badge(r, badges::tagStatus));
        router.publicRoute("GET", "/badges/tags/{key}/{value}/uptime.svg", r -> badge(r, badges::tagUptime));
        router.publicRoute("GET", "/badges/services/{id}/status.svg", r -> badge(r, badges::serviceStatus));
        router.publicRoute("GET", "/badges/services/{id}/uptime.svg", r -> badge(r, badges::serviceUptime));
    }

    /** A badge's body: may fail on the database, or answer 4xx. */
    @FunctionalInterface
    private interface Badge {
        ApiResponse render(ApiRequest r) throws SQLException, dev.spillway.runtime.api.ApiException;
    }

    /** A badge for whoever may read the page (everyone with --public-status-page); 401 otherwise, no redirect. */
    private ApiResponse badge(ApiRequest r, Badge b) throws SQLException, dev.spillway.runtime.api.ApiException {
        if (!auth.canRead(r)) {
            return PageResponses.error(401, "unauthorized", "badges are as public as the status page: send "
                + "Authorization: Token <token>, or run with --public-status-page");
        }
        return b.render(r);
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
            // The token once in a link: trade it for a session and drop it from the address bar and history.
            final ApiResponse throttled = throttled(r);
            if (throttled != null) {
                return throttled;
            }
            if (auth.matches(presented)) {
                throttle.succeeded(r.client());
                return PageResponses.redirect(r.path()).withHeader("Set-Cookie", auth.signIn(r));
            }
            return wrongToken(r, r.path());
        }
        if (!auth.canRead(r)) {
            return api
                ? PageResponses.error(401, "unauthorized", "sign in at /login or send Authorization: Token <token>")
                : PageResponses.redirect("/login?next=" + URLEncoder.encode(r.path(), StandardCharsets.UTF_8));
        }
        try {
            return page.render(r);
        } catch (SQLException | RuntimeException e) {
            final String outage = DatabaseOutage.describe(e);
            if (outage == null || api) {
                throw e; // the router answers JSON: 503 for an outage, else a logged 500
            }
            LOG.debug("status page: database unavailable ({})", outage);
            return unavailablePage(r);
        }
    }

    /** 503 + Retry-After as a page a person can read, while the database cannot be read. */
    private ApiResponse unavailablePage(ApiRequest r) {
        final StringBuilder h = new StringBuilder(2_048);
        Layout.head(h, "Database unavailable \u2013 Spillway", assets, signOutCsrf(r));
        h.append("<main id=\"main\"><h1>Database unavailable</h1><p>The collector cannot read its database right now"
            + " (it keeps taking data and writes it once the database is back). This page tries again by itself; see"
            + " <a href=\"/health\">/health</a>.</p></main>\n");
        Layout.tail(h, assets);
        return PageResponses.html(503, h.toString()).withHeader("Retry-After", "5");
    }

    /** 429 + Retry-After while {@code r}'s client has used up its sign-in tries, else null. */
    private ApiResponse throttled(ApiRequest r) {
        final long wait = throttle.retryAfterSeconds(r.client());
        if (wait == 0) {
            return null;
        }
        LOG.info("status page: sign-in from {} refused for {} s (too many wrong tokens)", r.client(), wait);
        return LoginForm.render(r, 429, "/", "Too many wrong tokens from this address; try again in " + wait + " s.")
            .withHeader("Retry-After", Long.toString(wait));
    }

    private ApiResponse wrongToken(ApiRequest r, String next) {
        throttle.failed(r.client());
        LOG.info("status page: sign-in with a wrong token from {}", r.client());
        return LoginForm.render(r, 401, next, "That token is not right.");
    }

    /** The session's CSRF token for the sign-out form, or null when the reader has no session. */
    private String signOutCsrf(ApiRequest r) {
        final SessionStore.Session s = auth.session(r);
        return s == null ? null : s.csrf();
    }

    private ApiResponse loginForm(ApiRequest r) {
        if (!auth.tokenSet()) {
            return PageResponses.redirect("/");
        }
        return LoginForm.render(r, 200, PageAuth.localPath(r.queryParam("next")), null);
    }

    private ApiResponse login(ApiRequest r) throws ApiException {
        if (!auth.tokenSet()) {
            return PageResponses.redirect("/");
        }
        final String body = form(r);
        final String next = PageAuth.localPath(PageAuth.formField(body, "next"));
        if (!PageAuth.loginFormGenuine(r, PageAuth.formField(body, "csrf"))) {
            // Not this browser's form (another site's page posting it), or a form from before a restart.
            return LoginForm.render(r, 403, next, "The sign-in form expired or came from elsewhere; please sign in"
                + " again.");
        }
        final ApiResponse throttled = throttled(r);
        if (throttled != null) {
            return throttled;
        }
        if (auth.matches(PageAuth.formField(body, "token"))) {
            throttle.succeeded(r.client());
            return PageResponses.redirect(next).withHeader("Set-Cookie", auth.signIn(r));
        }
        return wrongToken(r, next);
    }

    /** Revokes the session: its cookie opens nothing any more, wherever it was copied to. */
    private ApiResponse logout(ApiRequest r) throws ApiException {
        final SessionStore.Session s = auth.session(r);
        if (s != null && !PageAuth.sessionFormGenuine(s, PageAuth.formField(form(r), "csrf"))) {
            return PageResponses.error(403, "forbidden", "the sign-out form's csrf field does not match the session;"
                + " sign out from the page itself");
        }
        return PageResponses.redirect(auth.tokenSet() ? "/login" : "/").withHeader("Set-Cookie", auth.signOut(r));
    }

    /** A form post's body: 415 naming the type unless it is {@code application/x-www-form-urlencoded}. */
    private static String form(ApiRequest r) throws ApiException {
        final String type = r.headers().get("content-type");
        final String bare = type == null ? "" : type.split(";")[0].trim();
        if (r.body().length > 0 && !bare.equalsIgnoreCase(FORM)) {
            throw new ApiException(415, "unsupported media type", "Content-Type must be " + FORM + ", was "
                + (type == null ? "none" : "'" + LogText.escape(type) + "'"), Map.of("header", "Content-Type",
                "expected", FORM));
        }
        return new String(r.body(), StandardCharsets.UTF_8);
    }

    private static final String FORM = "application/x-www-form-urlencoded";

    /** What the overview shows, read once per request. */
    private record Overview(Instant now, PipelinePanel.View pipeline, StatusQueries.MonitorPage monitors,
                            List<StatusQueries.ServiceRow> services, List<StatusQueries.TransitionRow> transitions,
                            List<StatusQueries.NotificationRow> notifications,
                            List<dev.spillway.alerting.MaintenanceWindow> windows,
                            List<dev.spillway.alerting.Maintenance.Held> held) {
    }

    /** What the database said for one overview page, and when: shared by every reader until the next refresh. */
    private record Snapshot(Instant at, long takenNanos, StatusQueries.MonitorPage monitors,
                            List<StatusQueries.ServiceRow> services, List<StatusQueries.TransitionRow> transitions,
                            List<StatusQueries.NotificationRow> notifications,
                            List<dev.spillway.alerting.MaintenanceWindow> windows,
                            List<dev.spillway.alerting.Maintenance.Held> held) {
    }

    /**
     * One overview page's shared read: read again when older than the age asked for (one read at a time, concurrent
     * readers share it; with an older snapshot held a request waits for the re-read at most
     * {@link #REQUEST_WAIT_NANOS}, then is answered from the older one), and kept fresh in the background while
     * anyone looked in the last minutes. So the database does one read per page and refresh period however many
     * people watch, and a watched page answers from memory.
     */
    private final class PageSnapshot {
        private final PageKey page;
        private final SharedRead<Snapshot> read;
        private volatile long lastViewedNanos = System.nanoTime() - WATCHED_NANOS - 1;

        PageSnapshot(PageKey page) {
            this.page = page;
            // A page with nothing held yet is read in two stages; a re-read in one (its sparkline points are kept).
            this.read = new SharedRead<Snapshot>(early -> StatusPage.this.read(page, nothingHeld() ? early : null),
                readers, System::nanoTime);
        }

        private boolean nothingHeld() {
            return read.held() == null;
        }
    }

    /**
     * One overview page's database part. With {@code early} (nobody has been answered for this page yet) and
     * sparkline points not kept for the page's monitors (after a start, a page not read lately), in two stages:
     * first everything but the sparklines' minutes, which are a point per hour from the hour rollup (24 rows per
     * monitor; the full read is 1,440 minute rows per monitor, most of a cold read), handed to {@code early} so the
     * first visitors are answered from it; then the sparklines from the minutes, the snapshot the page keeps.
     */
    private Snapshot read(PageKey key, java.util.function.Consumer<Snapshot> early) throws SQLException {
        try {
            return readStages(key, early);
        } catch (SQLException e) {
            throw StatusQueries.timedOut(e); // a cancelled statement is a 503 with Retry-After, not a 500
        }
    }

    private Snapshot readStages(PageKey key, java.util.function.Consumer<Snapshot> early) throws SQLException {
        final int page = key.page();
        final Instant now = clock.get();
        final ReadTimes times = new ReadTimes();
        final StatusQueries.MonitorPage monitors = queries.page(page, key.filter(), now, times, early != null);
        final List<StatusQueries.ServiceRow> services = queries.services();
        times.mark("services");
        final List<StatusQueries.TransitionRow> transitions = queries.transitions(StatusQueries.RECENT);
        final List<StatusQueries.NotificationRow> notifications = queries.notifications(StatusQueries.RECENT);
        times.mark("transitions and notifications");
        final List<dev.spillway.alerting.MaintenanceWindow> windows = maintenance.open(now);
        final List<dev.spillway.alerting.Maintenance.Held> held = maintenance.held(MaintenancePanel.HELD_SHOWN);
        times.mark("maintenance");
        final Snapshot first = new Snapshot(now, System.nanoTime(), monitors, services, transitions, notifications,
            windows, held);
        if (early == null || queries.sparklinesKept(monitors, now)) {
            logRead(page, monitors, times, "");
            return first;
        }
        final long firstMillis = times.totalMillis();
        early.accept(first);
        final StatusQueries.MonitorPage whole = queries.withSparklines(monitors, now, times);
        logRead(page, whole, times, " (answered from its first stage after " + firstMillis + " ms)");
        return new Snapshot(now, System.nanoTime(), whole, services, transitions, notifications, windows, held);
    }

    private void logRead(int page, StatusQueries.MonitorPage monitors, ReadTimes times, String stages) {
        final long total = times.totalMillis();
        if (firstRead.compareAndSet(true, false)) {
            LOG.info("status page: first overview read (page {}, {} of {} monitors) took {} ms{}: {}", page,
                monitors.rows().size(), monitors.total(), total, stages, times);
        } else if (total > SLOW_READ_MILLIS && System.nanoTime() - nextSlowLogNanos > 0) {
            nextSlowLogNanos = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
            LOG.info("status page: overview read (page {}, {} of {} monitors) took {} ms, over {} ms{}: {}", page,
                monitors.rows().size(), monitors.total(), total, SLOW_READ_MILLIS, stages, times);
        }
    }

    private PageSnapshot pageSnapshot(PageKey page) {
        PageSnapshot p = pages.get(page);
        if (p == null) {
            if (pages.size() >= CACHED_PAGES) {
                // Forget the page looked at longest ago (page numbers come from visitors: keep the map bounded).
                pages.values().stream().filter(x -> !x.page.equals(PageKey.FIRST))
                    .min((x, y) -> Long.compare(x.lastViewedNanos - y.lastViewedNanos, 0))
                    .ifPresent(x -> pages.remove(x.page, x));
            }
            p = pages.computeIfAbsent(page, PageSnapshot::new);
        }
        return p;
    }

    /** The overview page asked for, with the database part from the newest snapshot of that page. */
    private Overview overview(PageKey page) throws SQLException {
        final PageSnapshot p = pageSnapshot(page);
        p.lastViewedNanos = System.nanoTime();
        final Snapshot s = p.read.get(SNAPSHOT_MAX_AGE_NANOS, REQUEST_WAIT_NANOS, FIRST_WAIT_NANOS);
        return new Overview(s.at, pipeline.view(), s.monitors, s.services, s.transitions, s.notifications, s.windows,
            s.held);
    }

    /** Background: re-read the pages watched lately, so their readers never wait; forget the others. */
    private void keepSnapshotFresh() {
        for (PageSnapshot p : pages.values()) {
            if (System.nanoTime() - p.lastViewedNanos > WATCHED_NANOS) {
                if (!p.page.equals(PageKey.FIRST)) {
                    pages.remove(p.page, p);
                }
                continue;
            }
            final SharedRead.Held<Snapshot> h = p.read.held();
            if (h != null && System.nanoTime() - h.takenNanos() < REFRESH_NANOS / 2) {
                continue;
            }
            try {
                SharedRead.join(p.read.refresh());
            } catch (SQLException | RuntimeException e) {
                LOG.warn("status page: reading overview page {} failed: {}", p.page, e.toString());
            }
        }
    }

    /** {@code ?page=N}: 1 when absent, null when not a page number. */
    private static Integer pageParam(ApiRequest r) {
        final String q = r.queryParam("page");
        if (q == null) {
            return 1;
        }
        if (!q.matches("[1-9][0-9]{0,6}")) {
            return null;
        }
        return Integer.parseInt(q);
    }

    private static final String PAGE_ERROR = "page must be a whole number from 1";
    private static final java.util.regex.Pattern TAG = java.util.regex.Pattern.compile(
        "([A-Za-z0-9_.:-]{1,64})=(.{1,200})");

    /**
     * The overview's page and filter from {@code ?page=N&q=TEXT&state=DOWN&tag=KEY=VALUE}; an empty parameter is
     * none.
     *
     * @throws ApiException 400 naming the parameter
     */
    private static PageKey pageKey(ApiRequest r) throws ApiException {
        final Integer page = pageParam(r);
        if (page == null) {
            throw invalid("page", PAGE_ERROR);
        }
        String q = r.queryParam("q");
        q = q == null || q.isBlank() ? null : q.strip();
        if (q != null && q.length() > 100) {
            throw invalid("q", "q (a part of a monitor's name) must be at most 100 characters");
        }
        String state = r.queryParam("state");
        state = state == null || state.isEmpty() ? null : state.toUpperCase(java.util.Locale.ROOT);
        if (state != null && !StatusQueries.STATE_ORDER.contains(state)) {
            throw invalid("state", "state must be one of " + String.join(", ", StatusQueries.STATE_ORDER));
        }
        final String tag = r.queryParam("tag");
        String key = null;
        String value = null;
        if (tag != null && !tag.isBlank()) {
            final java.util.regex.Matcher m = TAG.matcher(tag.strip());
            if (!m.matches()) {
                throw invalid("tag", "tag must be key=value (key: letters, digits, _ . : -, at most 64; value at "
                    + "most 200 characters)");
            }
            key = m.group(1);
            value = m.group(2);
        }
        return new PageKey(page, new StatusQueries.Filter(q, state, key, value));
    }

    private static ApiException invalid(String field, String message) {
        return new ApiException(400, "invalid", message, Map.of("field", field));
    }

    private ApiResponse overviewJson(ApiRequest r) throws SQLException {
        final PageKey key;
        try {
            key = pageKey(r);
        } catch (ApiException e) {
            return ApiResponse.error(e); // 400 naming the parameter
        }
        if (!firstRequest.compareAndSet(true, false)) {
            return PageResponses.json(overviewData(overview(key)));
        }
        // The first one after a start: where its time went (the read, or the JVM and machine around it), once.
        final long t0 = System.nanoTime();
        final Overview o = overview(key);
        final long t1 = System.nanoTime();
        final Map<String, Object> data = overviewData(o);
        final long t2 = System.nanoTime();
        final ApiResponse response = PageResponses.json(data);
        final long t3 = System.nanoTime();
        final SharedRead.Held<Snapshot> h = pageSnapshot(key).read.held();
        LOG.info("status page: first overview request answered in {} ms: snapshot {} ms (the page's read {} by then), "
            + "data {} ms, JSON {} ms ({} bytes)", (t3 - t0) / 1_000_000, (t1 - t0) / 1_000_000,
            h != null && h.whole() ? "whole" : "at its first stage", (t2 - t1) / 1_000_000, (t3 - t2) / 1_000_000,
            response.body().length);
        return response;
    }

    private ApiResponse overviewHtml(ApiRequest r) throws SQLException {
        final PageKey key;
        try {
            key = pageKey(r);
        } catch (ApiException e) {
            final StringBuilder h = new StringBuilder(2_048);
            Layout.head(h, "Unknown page – Spillway", assets, signOutCsrf(r));
            h.append("<main id=\"main\"><h1>Unknown page</h1><p>").append(Html.esc(e.getMessage()))
                .append(". <a href=\"/\">Back to the overview</a></p></main>\n");
            Layout.tail(h, assets);
            return PageResponses.html(400, h.toString());
        }
        final Overview o = overview(key);
        final StringBuilder h = new StringBuilder(16_384 + 2_048 * o.monitors.rows().size());
        Layout.head(h, "Spillway status", assets, signOutCsrf(r));
        h.append("<main id=\"main\" data-page=\"overview\">\n<h1 class=\"sr-only\">Spillway status</h1>\n");
        MonitorsPanel.html(h, o.monitors, o.now);
        ServicesPanel.html(h, o.services, o.now);
        PipelinePanel.html(h, o.pipeline);
        EventsPanel.html(h, o.transitions);
        EventsPanel.notificationsHtml(h, o.notifications);
        MaintenancePanel.html(h, o.windows, o.held, o.now);
        h.append("</main>\n");
        Layout.data(h, PageResponses.embeddable(overviewData(o)));
        Layout.tail(h, assets);
        return PageResponses.html(200, h.toString());
    }

    private Map<String, Object> overviewData(Overview o) {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("page", "overview");
        final String params = "page=" + o.monitors.page() + o.monitors.filter().params();
        m.put("refreshUrl", OVERVIEW_JSON + (params.equals("page=1") ? "" : "?" + params));
        m.put("generatedAt", o.now.toEpochMilli());
        m.put("monitors", MonitorsPanel.json(o.monitors.rows()));
        m.put("monitorPage", MonitorsPanel.pageJson(o.monitors));
        m.put("pipeline", PipelinePanel.json(o.pipeline));
        m.put("services", ServicesPanel.json(o.services));
        m.put("transitions", EventsPanel.json(o.transitions));
        m.put("notifications", EventsPanel.notificationsJson(o.notifications));
        m.put("maintenance", MaintenancePanel.json(o.windows, o.held, o.now));
        return m;
    }

    /** One monitor over a range, with its outages. */
    private record Detail(Instant now, StatusQueries.Range range, StatusQueries.MonitorRow row,
                          StatusQueries.Uptime rangeUptime, StatusQueries.Series responseTime,
                          List<StatusQueries.Incident> incidents, StatusQueries.Locations locations) {
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
            return new Detail(now, range, null, null, null, null, null);
        }
        return new Detail(now, range, row, queries.uptime(row.name(), range, now),
            queries.responseTime(row.name(), range, now), queries.incidents(row.name(), StatusQueries.RECENT),
            queries.locations(row.name()));
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
            Layout.head(h, "Not found \u2013 Spillway", assets, signOutCsrf(r));
            h.append("<main id=\"main\"><h1>").append(d == null ? "Unknown range" : "No such monitor")
                .append("</h1><p><a href=\"/\">Back to the overview</a></p></main>\n");
            Layout.tail(h, assets);
            return PageResponses.html(d == null ? 400 : 404, h.toString());
        }
        final StringBuilder h = new StringBuilder(32_768);
        Layout.head(h, d.row.name() + " \u2013 Spillway", assets, signOutCsrf(r));
        MonitorDetailPanel.html(h, d.row, d.range, d.rangeUptime, d.incidents, d.locations, d.now);
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
        m.put("monitor", MonitorsPanel.json(d.row, true));
        m.put("rangeUptime", MonitorsPanel.uptime(d.rangeUptime));
        m.put("rangeRt", MonitorsPanel.series(d.responseTime));
        m.put("incidents", MonitorDetailPanel.incidents(d.incidents, d.now));
        m.put("locations", MonitorDetailPanel.locations(d.locations, d.now));
        return m;
    }

    @Override
    public void close() {
        closed = true;
        sampler.shutdownNow();
        rollupKeeper.shutdownNow();
        snapshots.shutdownNow();
        readers.shutdownNow();
        for (PageSnapshot p : pages.values()) {
            p.read.abandon(); // a read dropped unstarted would leave its waiters waiting
        }
    }
}
