package dev.spillway.runtime.api;

import dev.spillway.runtime.lifecycle.ServiceThreads;
import dev.spillway.runtime.log.LogText;
import dev.spillway.runtime.log.RateLimitedLog;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The one router of the collector's JSON APIs ({@code /api/v1/...}) and pages. Every route shares one
 * authentication (the collector's {@code --token}, checked by the HTTP layer exactly as for writes), one body
 * limit, one JSON codec ({@link ApiJson}) and one error shape ({@code {"code","message",...}}), and runs on one
 * bounded executor, off the network threads; when that executor is full the answer is 503 with
 * {@code Retry-After}.
 *
 * <h2>How to add endpoints</h2>
 * <pre>{@code
 * router.route("GET", "/api/v1/services/{name}", req -> ApiResponse.ok(store.get(req.param("name"))));
 * router.publicRoute("GET", "/status", req -> ApiResponse.text(200, "text/html; charset=utf-8", html));
 * router.claimPrefix("/status"); // paths outside /api/v1/ must be claimed to reach the router
 * }</pre>
 * Routes need a credential unless registered with {@link #publicRoute}: reads ({@code GET}, {@code HEAD}) a read-only
 * token or the admin token, everything else the admin token, unless registered with a {@link Scope} of their own
 * (a heartbeat ping takes its service's ping key). Without a credential the answer is 401, with one that does not
 * reach far enough 403. Path patterns are literal segments and
 * {@code {param}} segments; the first matching route wins. Throw {@link ApiException} for 4xx answers.
 *
 * <p>Thread-safe; routes may be added at any time before or after start.
 */
public final class ApiRouter implements AutoCloseable {

    /** The prefix every JSON API lives under. */
    public static final String API_PREFIX = "/api/v1/";

    private static final Logger LOG = LoggerFactory.getLogger(ApiRouter.class);
    // One line per 10 s while the database is down, however many requests are answered 503.
    private static final RateLimitedLog OUTAGES = new RateLimitedLog(LOG, 10_000);

    private final List<Route> routes = new CopyOnWriteArrayList<>();
    private final Set<String> prefixes = new LinkedHashSet<>(List.of(API_PREFIX));
    private final Set<String> paths = new HashSet<>();
    private final int maxBody;
    private final ThreadPoolExecutor executor;

    private record Route(String method, String[] segments, ApiHandler handler, Scope needs) {
    }

    /** What a route needs of a request's credential. */
    public enum Scope {
        /** Nothing: everyone (the status page decides itself). */
        OPEN,
        /** Reading: the admin token or a read-only token. */
        READ,
        /** Everything: the admin token. */
        ADMIN,
        /** Pinging the service named by the route's {@code {id}}: the admin token or that service's ping key. */
        PING
    }

    /**
     * @param maxBody largest request body a route accepts (413 above)
     * @param threads threads that run handlers
     * @param queue requests that may wait for a thread before the answer is 503
     */
    public ApiRouter(int maxBody, int threads, int queue) {
        this.maxBody = maxBody;
        this.executor = new ThreadPoolExecutor(threads, threads, 30, TimeUnit.SECONDS, new ArrayBlockingQueue<>(queue),
            ServiceThreads.pool("api"));
        executor.allowCoreThreadTimeOut(true);
    }

    /**
     * Adds a route that needs a credential: GET and HEAD need {@link Scope#READ} (a read-only token will do), every
     * other method {@link Scope#ADMIN}.
     */
    public ApiRouter route(String method, String pattern, ApiHandler handler) {
        final boolean read = method.equalsIgnoreCase("GET") || method.equalsIgnoreCase("HEAD");
        return add(method, pattern, handler, read ? Scope.READ : Scope.ADMIN);
    }

    /** Adds a route that needs {@code scope}. */
    public ApiRouter route(Scope scope, String method, String pattern, ApiHandler handler) {
        return add(method, pattern, handler, scope);
    }

    /** Adds a route open to everyone (e.g. a public status page). */
    public ApiRouter publicRoute(String method, String pattern, ApiHandler handler) {
        return add(method, pattern, handler, Scope.OPEN);
    }

    /** Sends every path under {@code prefix} to this router (unknown ones get a JSON 404). */
    public synchronized ApiRouter claimPrefix(String prefix) {
        prefixes.add(prefix);
        return this;
    }

    /** Sends exactly {@code path} to this router (e.g. {@code /}, which as a prefix would claim everything). */
    public synchronized ApiRouter claimPath(String path) {
        paths.add(path);
        return this;
    }

    private ApiRouter add(String method, String pattern, ApiHandler handler, Scope needs) {
        if (!pattern.startsWith("/")) {
            throw new IllegalArgumentException("pattern must start with /: " + pattern);
        }
        routes.add(new Route(method.toUpperCase(Locale.ROOT), split(pattern), handler, needs));
        return this;
    }

    /** Whether {@code path} belongs to this router; the HTTP layer asks this before its own endpoints. */
    public synchronized boolean handles(String path) {
        if (paths.contains(path)) {
            return true;
        }
        for (String p : prefixes) {
            if (path.startsWith(p) || (p.endsWith("/") && path.equals(p.substring(0, p.length() - 1)))
                || path.equals(p)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Routes a request from an unknown client over plain HTTP (tests, tools). Never completes exceptionally.
     *
     * @see #dispatch(String, String, Map, Map, byte[], ApiAccess, String, boolean)
     */
    public CompletableFuture<ApiResponse> dispatch(String method, String path, Map<String, List<String>> query,
                                                   Map<String, String> headers, byte[] body, boolean authorized) {
        return dispatch(method, path, query, headers, body, authorized ? ApiAccess.ADMIN : ApiAccess.NONE, "unknown",
            false);
    }

    /**
     * Routes a request. Never completes exceptionally: every failure is an error response. A path or query
     * parameter holding a control character is answered 400 naming it before any handler runs, so no such text
     * reaches a query or a log.
     *
     * @param method HTTP method
     * @param path decoded path
     * @param query query parameters
     * @param headers lower-case names
     * @param body raw body
     * @param access what the request's credential allows, as the HTTP layer found it
     * @param client the client's address (see {@link ApiRequest#client()})
     * @param secure whether the client came over HTTPS (see {@link ApiRequest#secure()})
     */
    public CompletableFuture<ApiResponse> dispatch(String method, String path, Map<String, List<String>> query,
                                                   Map<String, String> headers, byte[] body, ApiAccess access,
                                                   String client, boolean secure) {
        final String m = method.toUpperCase(Locale.ROOT);
        final String[] parts = split(path);
        boolean pathKnown = false;
        for (Route r : routes) {
            final Map<String, String> params = match(r.segments, parts);
            if (params == null) {
                continue;
            }
            pathKnown = true;
            if (!r.method.equals(m) && !(m.equals("HEAD") && r.method.equals("GET"))) {
                continue;
            }
            final boolean allowed = switch (r.needs) {
                case OPEN -> true;
                case READ -> access.canRead();
                case ADMIN -> access.isAdmin();
                case PING -> access.mayPing(params.get("id"));
            };
            if (!allowed) {
                return done(access.level() == ApiAccess.Level.NONE
                    ? new ApiException(401, "unauthorized", "unauthorized access", null)
                    : new ApiException(403, "forbidden", m + " " + LogText.escape(path) + " is not allowed with "
                        + access.describe(), null));
            }
            if (body.length > maxBody) {
                return done(new ApiException(413, "request too large", "body is " + body.length
                    + " bytes; the limit is " + maxBody, null));
            }
            try {
                requirePrintable(params, query);
            } catch (ApiException e) {
                return done(e);
            }
            final ApiRequest req = new ApiRequest(m, path, params, query, headers, body, access, client, secure);
            final CompletableFuture<ApiResponse> out = new CompletableFuture<>();
            try {
                executor.execute(() -> out.complete(run(r, req)));
            } catch (RejectedExecutionException e) {
                return done(ApiException.unavailable("API is busy; retry later"));
            }
            return out;
        }
        if (pathKnown) {
            return done(new ApiException(405, "method not allowed", m + " is not allowed on "
                + LogText.escape(path), null));
        }
        return done(ApiException.notFound("no endpoint " + LogText.escape(path)));
    }

    /** 400 naming the first path or query parameter (name or value) that holds a control character. */
    private static void requirePrintable(Map<String, String> params, Map<String, List<String>> query)
        throws ApiException {
        for (Map.Entry<String, String> e : params.entrySet()) {
            ApiText.requireNoControl(e.getKey(), e.getValue());
        }
        for (Map.Entry<String, List<String>> e : query.entrySet()) {
            final String name = LogText.escape(e.getKey());
            ApiText.requireNoControl(name, e.getKey());
            for (String v : e.getValue()) {
                ApiText.requireNoControl(name, v);
            }
        }
    }

    private static ApiResponse run(Route r, ApiRequest req) {
        try {
            return r.handler.handle(req);
        } catch (ApiException e) {
            return ApiResponse.error(e);
        } catch (Exception | Error e) {
            final String outage = DatabaseOutage.describe(e);
            if (outage != null) {
                // Expected while the database is down or restarting: the client retries; no stack trace.
                OUTAGES.warn("API " + req.method() + " " + LogText.escape(req.path()) + " answered 503: " + outage);
                return ApiResponse.error(ApiException.unavailable("database unavailable (" + outage
                    + "); retry later"));
            }
            LOG.error("API {} {} failed", req.method(), LogText.escape(req.path()), e);
            return ApiResponse.error(new ApiException(500, "internal error", e.getClass().getName(), null));
        }
    }

    private static CompletableFuture<ApiResponse> done(ApiException e) {
        return CompletableFuture.completedFuture(ApiResponse.error(e));
    }

    private static Map<String, String> match(String[] pattern, String[] parts) {
        if (pattern.length != parts.length) {
            return null;
        }
        Map<String, String> params = Map.of();
        for (int i = 0; i < pattern.length; i++) {
            final String p = pattern[i];
            if (p.length() > 2 && p.charAt(0) == '{' && p.charAt(p.length() - 1) == '}') {
                if (parts[i].isEmpty()) {
                    return null;
                }
                if (params.isEmpty()) {
                    params = new HashMap<>();
                }
                params.put(p.substring(1, p.length() - 1), parts[i]);
            } else if (!p.equals(parts[i])) {
                return null;
            }
        }
        return params;
    }

    private static String[] split(String path) {
        final List<String> out = new ArrayList<>();
        for (String s : path.split("/")) {
            if (!s.isEmpty()) {
                out.add(s);
            }
        }
        return out.toArray(String[]::new);
    }

    /** Requests waiting for a handler thread. */
    public int queued() {
        return executor.getQueue().size();
    }

    /** Stops taking requests and waits briefly for running handlers. */
    @Override
    public void close() {
        executor.shutdown();
        try {
            if (!executor.awaitTermination(5, TimeUnit.SECONDS)) {
                executor.shutdownNow();
            }
        } catch (InterruptedException e) {
            executor.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}
