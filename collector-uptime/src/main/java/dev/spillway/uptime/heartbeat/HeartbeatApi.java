package dev.spillway.uptime.heartbeat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.spillway.ingest.auth.ApiTokens;
import dev.spillway.runtime.api.ApiException;
import dev.spillway.runtime.api.ApiJson;
import dev.spillway.runtime.api.ApiText;
import dev.spillway.runtime.api.ApiRequest;
import dev.spillway.runtime.api.ApiResponse;
import dev.spillway.runtime.api.ApiRouter;
import dev.spillway.runtime.config.Units;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code /api/v1/services}: register ({@code PUT}, idempotent), list, read and delete heartbeat services, and
 * ping them ({@code POST} or {@code GET .../ping?status=N}: 204; 404 for an unknown id; 400 for a status index
 * out of range). All need the collector's token when one is set; reads also take a read-only token, and a ping the
 * service's ping key.
 */
public final class HeartbeatApi {

    /** What a PUT body may set. */
    private static final Set<String> FIELDS = Set.of("timeout", "grace", "statuses", "schedule", "tz", "max_run",
        "parent");
    /** What a GET answer holds besides: accepted and ignored, so a GET body can be sent back. */
    private static final Set<String> READ_ONLY = Set.of("id", "state", "availability", "status", "status_name",
        "last_ping", "alert_after");

    private final Heartbeats heartbeats;
    private final HeartbeatRuns runs;
    private final ApiTokens tokens;

    /**
     * @param heartbeats the engine whose store and pings the routes use
     * @param tokens where ping keys live (revoked with their service), or null
     */
    public HeartbeatApi(Heartbeats heartbeats, ApiTokens tokens) {
        this.heartbeats = heartbeats;
        this.runs = new HeartbeatRuns(heartbeats, heartbeats.dataSource());
        this.tokens = tokens;
    }

    /** Adds the routes. */
    public void register(ApiRouter router) {
        router.route("GET", "/api/v1/services", req -> ApiResponse.ok(list()));
        router.route("PUT", "/api/v1/services/{id}", this::put);
        router.route("GET", "/api/v1/services/{id}", req -> ApiResponse.ok(view(heartbeats.store().get(req.param("id"))
            .orElseThrow(() -> notFound(req.param("id"))))));
        router.route("DELETE", "/api/v1/services/{id}", this::delete);
        // The admin token or this service's ping key (a cron job's credential that can do nothing else).
        router.route(ApiRouter.Scope.PING, "POST", "/api/v1/services/{id}/ping", this::ping);
        router.route(ApiRouter.Scope.PING, "GET", "/api/v1/services/{id}/ping", this::ping);
        router.route("GET", "/api/v1/services/{id}/events", this::events);
        // Healthchecks-style signals, each with an optional ?rid= run id and a body (kept, cut at 10,000 bytes).
        for (String method : new String[] {"POST", "GET"}) {
            router.route(ApiRouter.Scope.PING, method, "/api/v1/services/{id}/start",
                req -> answer(req, runs.start(req.param("id"), runId(req), req.body()), 0));
            router.route(ApiRouter.Scope.PING, method, "/api/v1/services/{id}/fail",
                req -> answer(req, runs.fail(req.param("id"), runId(req), null, req.body()), 0));
            router.route(ApiRouter.Scope.PING, method, "/api/v1/services/{id}/log",
                req -> answer(req, runs.log(req.param("id"), runId(req), req.body()), 0));
            router.route(ApiRouter.Scope.PING, method, "/api/v1/services/{id}/{exit}", this::exitStatus);
        }
    }

    private List<Map<String, Object>> list() throws java.sql.SQLException {
        final List<Map<String, Object>> out = new ArrayList<>();
        for (ServiceState s : heartbeats.store().list()) {
            out.add(view(s));
        }
        return out;
    }

    private ApiResponse put(ApiRequest req) throws Exception {
        final JsonNode body = req.json();
        if (!body.isObject()) {
            throw ApiException.badRequest("body must be a JSON object such as "
                + "{\"timeout\":\"30s\",\"grace\":\"5s\",\"statuses\":[\"ok\",\"degraded\"]}");
        }
        ApiJson.requireKnownFields(body, FIELDS, READ_ONLY);
        final JsonNode id = body.get("id");
        if (id != null && !id.isNull() && !(id.isTextual() && id.asText().equals(req.param("id")))) {
            throw ApiException.invalid("id", "differs from the id in the path '" + req.param("id") + "'");
        }
        final ServiceSpec spec;
        try {
            final String schedule = text(body, "schedule");
            spec = new ServiceSpec(req.param("id"), duration(body, "timeout", schedule != null ? Duration.ZERO : null),
                duration(body, "grace", Duration.ZERO), statuses(body), schedule, text(body, "tz"),
                body.hasNonNull("max_run") ? duration(body, "max_run", null) : null, text(body, "parent"));
        } catch (IllegalArgumentException e) {
            final String m = e.getMessage();
            final int colon = m.indexOf(':');
            throw ApiException.invalid(colon > 0 ? m.substring(0, colon) : "body", colon > 0
                ? m.substring(colon + 1).trim() : m);
        }
        if (spec.parent() != null) {
            try (java.sql.Connection c = heartbeats.dataSource().getConnection()) {
                dev.spillway.uptime.transitions.Dependencies.check(c, dev.spillway.uptime.transitions.Dependencies.SERVICE,
                    spec.id(), spec.parent(), Map.of());
            }
        }
        final ServiceState stored = heartbeats.store().put(spec);
        heartbeats.registered(stored);
        return ApiResponse.ok(view(stored));
    }

    private ApiResponse delete(ApiRequest req) throws Exception {
        final String id = req.param("id");
        if (!heartbeats.store().delete(id)) {
            throw notFound(id);
        }
        heartbeats.removed(id);
        if (tokens != null) {
            tokens.revokeService(id); // its ping keys go with it: a service registered later under the id starts afresh
        }
        return ApiResponse.noContent();
    }

    private ApiResponse ping(ApiRequest req) throws Exception {
        final String raw = req.queryParam("status");
        final int status;
        try {
            status = raw == null || raw.isEmpty() ? 0 : Integer.parseInt(raw.trim());
        } catch (NumberFormatException e) {
            throw ApiException.invalid("status", "must be a status index (0, 1, ...), was '" + raw + "'");
        }
        return answer(req, runs.success(req.param("id"), runId(req), status, req.body()), status);
    }

    /** {@code /{exit-status}}: 0 is a success (status index 0), 1..255 a failure with that exit status. */
    private ApiResponse exitStatus(ApiRequest req) throws Exception {
        final String raw = req.param("exit");
        final int exit;
        try {
            exit = Integer.parseInt(raw);
        } catch (NumberFormatException e) {
            throw ApiException.notFound("no such signal '" + raw + "' (ping, start, fail, log or an exit status "
                + "0..255)");
        }
        if (exit < 0 || exit > 255) {
            throw ApiException.invalid("exit_status", "must be 0..255, was " + exit);
        }
        return answer(req, exit == 0 ? runs.success(req.param("id"), runId(req), 0, req.body())
            : runs.fail(req.param("id"), runId(req), exit, req.body()), 0);
    }

    private ApiResponse events(ApiRequest req) throws Exception {
        final String raw = req.queryParam("limit");
        int limit = 100;
        if (raw != null) {
            try {
                limit = Integer.parseInt(raw.trim());
            } catch (NumberFormatException e) {
                limit = -1;
            }
            if (limit < 1 || limit > HeartbeatRuns.KEPT) {
                throw ApiException.invalid("limit", "must be 1.." + HeartbeatRuns.KEPT + ", was '" + raw + "'");
            }
        }
        final String id = req.param("id");
        if (heartbeats.store().get(id).isEmpty()) {
            throw notFound(id);
        }
        final List<Map<String, Object>> out = new ArrayList<>();
        for (HeartbeatRuns.Event e : runs.events(id, limit)) {
            out.add(HeartbeatRuns.view(e));
        }
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("service", id);
        m.put("events", out);
        return ApiResponse.ok(m);
    }

    private static String runId(ApiRequest req) throws ApiException {
        final String rid = req.queryParam("rid");
        if (rid == null || rid.isEmpty()) {
            return null;
        }
        if (!HeartbeatRuns.RUN_ID.matcher(rid).matches()) {
            throw ApiException.invalid("rid", "must match [A-Za-z0-9_.:-]{1,64} (a UUID fits), was '"
                + (rid.length() > 80 ? rid.substring(0, 77) + "..." : rid) + "'");
        }
        return rid;
    }

    private ApiResponse answer(ApiRequest req, Heartbeats.Outcome o, int status) throws Exception {
        return switch (o) {
            case OK -> ApiResponse.noContent();
            case UNKNOWN_SERVICE -> throw notFound(req.param("id"));
            case BAD_STATUS -> throw ApiException.invalid("status", "index " + status + " is not one of the service's "
                + "statuses " + heartbeats.store().get(req.param("id")).map(s -> s.spec().statuses().toString())
                .orElse("[]"));
        };
    }

    private static ApiException notFound(String id) {
        return ApiException.notFound("no service '" + id + "'; register it with PUT /api/v1/services/" + id);
    }

    private static Duration duration(JsonNode body, String field, Duration dflt) throws ApiException {
        final JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            if (dflt == null) {
                throw ApiException.invalid(field, "is required, e.g. \"30s\"");
            }
            return dflt;
        }
        if (v.isNumber()) {
            return Duration.ofMillis((long) (v.asDouble() * 1000));
        }
        try {
            return Units.parseDuration(v.asText());
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid(field, e.getMessage());
        }
    }

    private static String text(JsonNode body, String field) throws ApiException {
        final JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isTextual()) {
            throw ApiException.invalid(field, "must be a string");
        }
        ApiText.requireNoControl(field, v.asText());
        return v.asText();
    }

    private static List<String> statuses(JsonNode body) throws ApiException {
        final JsonNode v = body.get("statuses");
        if (v == null || v.isNull()) {
            return ServiceSpec.DEFAULT_STATUSES;
        }
        if (!v.isArray()) {
            throw ApiException.invalid("statuses", "must be an array of names, index 0 the normal one");
        }
        final List<String> out = new ArrayList<>();
        for (JsonNode s : v) {
            if (!s.isTextual()) {
                throw ApiException.invalid("statuses", "every entry must be a string");
            }
            // Checked here, not in ServiceSpec: rows stored before this rule must still load.
            ApiText.requireNoControl("statuses", s.asText());
            out.add(s.asText());
        }
        return out;
    }

    /** The JSON shape of a service (documented in docs/heartbeats-and-notifications.md). */
    static Map<String, Object> view(ServiceState s) {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", s.spec().id());
        m.put("timeout", format(s.spec().timeout()));
        m.put("grace", format(s.spec().grace()));
        if (s.spec().schedule() != null) {
            m.put("schedule", s.spec().schedule());
            m.put("tz", s.spec().timeZone() == null ? "UTC" : s.spec().timeZone());
        }
        if (s.spec().maxRun() != null) {
            m.put("max_run", format(s.spec().maxRun()));
        }
        m.put("statuses", s.spec().statuses());
        if (s.spec().parent() != null) {
            m.put("parent", s.spec().parent());
        }
        m.put("state", s.state());
        m.put("availability", s.availability());
        m.put("status", s.status());
        m.put("status_name", s.spec().statusName(s.status()));
        m.put("last_ping", s.lastPing() == null ? null : s.lastPing().toString());
        m.put("alert_after", s.alertAfter() == null ? null : s.alertAfter().toString());
        return m;
    }

    private static String format(Duration d) {
        final long ms = d.toMillis();
        return ms % 1000 == 0 ? (ms / 1000) + "s" : ms + "ms";
    }
}
