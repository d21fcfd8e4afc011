package dev.spillway.collector.page;

import dev.spillway.collector.api.ApiRequest;
import dev.spillway.collector.api.ApiResponse;
import dev.spillway.collector.api.ApiRouter;
import dev.spillway.telemetry.PipelineStats;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
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

    private final PageAuth auth;
    private final StaticAssets assets = new StaticAssets();
    private final PipelineHistory history = new PipelineHistory();
    private final PipelinePanel pipeline;
    private final Supplier<PipelineStats> stats;
    private final ScheduledExecutorService sampler;

    /**
     * Starts sampling the pipeline at once.
     *
     * @param token the collector's token, or null
     * @param publicPage whether the read-only page is open to everyone
     * @param stats the pipeline's live account
     * @param ringCapacity ring slots, for the occupancy figure
     * @param databaseReady whether the database answered recently
     */
    public StatusPage(String token, boolean publicPage, Supplier<PipelineStats> stats, int ringCapacity,
                      BooleanSupplier databaseReady) {
        this.auth = new PageAuth(token, publicPage);
        this.stats = stats;
        this.pipeline = new PipelinePanel(history, stats, ringCapacity, databaseReady, System::currentTimeMillis);
        this.sampler = Executors.newSingleThreadScheduledExecutor(r -> {
            final Thread t = new Thread(r, "status-page-sampler");
            t.setDaemon(true);
            return t;
        });
        this.sampler.scheduleAtFixedRate(this::sample, 0, PipelineHistory.STEP_MILLIS, TimeUnit.MILLISECONDS);
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
        router.publicRoute("GET", "/login", this::loginForm);
        router.publicRoute("POST", "/login", this::login);
        router.publicRoute("POST", "/logout",
            r -> PageResponses.redirect("/login").withHeader("Set-Cookie", PageAuth.signOutCookie()));
        router.publicRoute("GET", "/assets/{file}", assets::serve);
        router.publicRoute("GET", "/assets/{dir}/{file}", assets::serve);
    }

    /** Runs {@code page} if the request may read; otherwise sends people to sign in and programs a 401. */
    private ApiResponse readable(ApiRequest r, java.util.function.Function<ApiRequest, ApiResponse> page) {
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
        return page.apply(r);
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

    private ApiResponse overviewHtml(ApiRequest r) {
        final PipelinePanel.View p = pipeline.view();
        final StringBuilder h = new StringBuilder(16_384);
        Layout.head(h, "Spillway status", assets, auth.hasSession(r));
        h.append("<main id=\"main\">\n");
        PipelinePanel.html(h, p);
        h.append("</main>\n");
        Layout.data(h, PageResponses.embeddable(overviewData(p)));
        Layout.tail(h, assets);
        return PageResponses.html(200, h.toString());
    }

    private Map<String, Object> overviewData() {
        return overviewData(pipeline.view());
    }

    private Map<String, Object> overviewData(PipelinePanel.View p) {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("page", "overview");
        m.put("refreshUrl", OVERVIEW_JSON);
        m.put("generatedAt", p.nowMillis());
        m.put("pipeline", PipelinePanel.json(p));
        return m;
    }

    @Override
    public void close() {
        sampler.shutdownNow();
    }
}
