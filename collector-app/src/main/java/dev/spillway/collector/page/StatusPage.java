package dev.spillway.collector.page;

import dev.spillway.telemetry.PipelineStats;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The status page: {@code GET /} (server-rendered HTML that draws its plots with the vendored uPlot and refreshes
 * itself every 10 s from {@code GET /api/v1/page/overview}), the sign-in form, and the page's files under
 * {@code /assets/}. Everything that reads data runs on the page's own small executor, never on a network thread.
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
    private final ExecutorService queries;

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
        this.sampler = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "status-page-sampler"));
        this.sampler.scheduleAtFixedRate(this::sample, 0, PipelineHistory.STEP_MILLIS, TimeUnit.MILLISECONDS);
        // Two threads: page data is read by people, a handful at a time; more would only compete with the writers.
        this.queries = new java.util.concurrent.ThreadPoolExecutor(2, 2, 0, TimeUnit.SECONDS,
            new java.util.concurrent.ArrayBlockingQueue<>(64), r -> daemon(r, "status-page"));
    }

    private static Thread daemon(Runnable r, String name) {
        final Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    private void sample() {
        try {
            history.add(System.currentTimeMillis(), stats.get());
        } catch (RuntimeException e) {
            // A throw would cancel the schedule; the plot would then silently stop.
            LOG.warn("status page: pipeline sample failed: {}", e.toString());
        }
    }

    /** Whether this path belongs to the page (the HTTP router sends those here). */
    public static boolean owns(String path) {
        return path.equals("/") || path.equals("/login") || path.equals("/logout")
            || path.startsWith(StaticAssets.PREFIX) || path.startsWith("/api/v1/page/") || path.startsWith("/monitors/");
    }

    /** Answers a request for one of the page's paths; completes on the page's executor or at once. */
    public CompletableFuture<PageResponse> handle(PageRequest r) {
        final String path = r.path();
        if (path.startsWith(StaticAssets.PREFIX)) {
            return done(r.isRead() ? assets.serve(r) : notAllowed(r));
        }
        switch (path) {
            case "/login" -> {
                return done(login(r));
            }
            case "/logout" -> {
                return done(r.method().equals("POST")
                    ? PageResponse.redirect("/login").with("Set-Cookie", PageAuth.signOutCookie()) : notAllowed(r));
            }
            default -> {
            }
        }
        if (!r.isRead()) {
            return done(notAllowed(r));
        }
        final String presented = r.param("token");
        if (presented != null && !path.startsWith("/api/")) {
            // The token once in a link: trade it for the cookie and drop it from the address bar and history.
            return done(auth.matches(presented)
                ? PageResponse.redirect(path).with("Set-Cookie", auth.signInCookie())
                : LoginForm.render(401, path, "That token is not right."));
        }
        if (!auth.canRead(r)) {
            return done(path.startsWith("/api/")
                ? PageResponse.error(401, "unauthorized", "sign in at /login or send Authorization: Token <token>")
                : PageResponse.redirect("/login?next=" + java.net.URLEncoder.encode(path,
                    java.nio.charset.StandardCharsets.UTF_8)));
        }
        return async(() -> switch (path) {
            case "/" -> overviewHtml(r);
            case OVERVIEW_JSON -> overviewJson();
            default -> PageResponse.error(404, "not found", "no page " + path);
        });
    }

    private PageResponse login(PageRequest r) {
        if (r.isRead()) {
            if (!auth.tokenSet()) {
                return PageResponse.redirect("/");
            }
            return LoginForm.render(200, PageAuth.localPath(r.param("next")), null);
        }
        if (!r.method().equals("POST")) {
            return notAllowed(r);
        }
        final String body = r.bodyText();
        final String next = PageAuth.localPath(PageAuth.formField(body, "next"));
        if (auth.matches(PageAuth.formField(body, "token"))) {
            return PageResponse.redirect(next).with("Set-Cookie", auth.signInCookie());
        }
        LOG.info("status page: sign-in with a wrong token");
        return LoginForm.render(401, next, "That token is not right.");
    }

    private PageResponse overviewHtml(PageRequest r) {
        final PipelinePanel.View p = pipeline.view();
        final StringBuilder h = new StringBuilder(16_384);
        Layout.head(h, "Spillway status", assets, auth.tokenSet() && auth.signedIn(r));
        h.append("<main id=\"main\">\n");
        PipelinePanel.html(h, p);
        h.append("</main>\n");
        Layout.data(h, overviewData(p));
        Layout.tail(h, assets);
        return PageResponse.html(200, h.toString());
    }

    private PageResponse overviewJson() {
        return PageResponse.json(200, overviewData(pipeline.view()));
    }

    private String overviewData(PipelinePanel.View p) {
        final JsonWriter w = new JsonWriter(8_192).beginObject();
        w.field("page", "overview").field("generatedAt", p.nowMillis());
        PipelinePanel.json(w, p);
        return w.endObject().toString();
    }

    private CompletableFuture<PageResponse> async(Supplier<PageResponse> work) {
        try {
            return CompletableFuture.supplyAsync(work, queries);
        } catch (RejectedExecutionException e) {
            return done(PageResponse.error(503, "unavailable", "the status page is busy; retry in a moment")
                .with("Retry-After", "1"));
        }
    }

    private static CompletableFuture<PageResponse> done(PageResponse r) {
        return CompletableFuture.completedFuture(r);
    }

    private static PageResponse notAllowed(PageRequest r) {
        return PageResponse.error(405, "method not allowed", r.method() + " is not allowed here");
    }

    @Override
    public void close() {
        sampler.shutdownNow();
        queries.shutdownNow();
    }
}
