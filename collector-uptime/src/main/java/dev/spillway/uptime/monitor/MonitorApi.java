package dev.spillway.uptime.monitor;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.spillway.runtime.api.ApiException;
import dev.spillway.runtime.api.ApiJson;
import dev.spillway.runtime.api.ApiResponse;
import dev.spillway.runtime.api.ApiRouter;
import dev.spillway.runtime.config.Units;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code /api/v1/monitors} (CRUD, pause, resume, checks) and {@code /api/v1/status}, on the shared router (token,
 * body limit and error shape come from there).
 */
public final class MonitorApi {

    private static final int MAX_CHECKS = 10_000;

    private MonitorApi() {
    }

    /** Registers the routes (the uptime report's route is {@link UptimeReportApi}'s). */
    public static void register(ApiRouter router, MonitorService monitors) {
        router.route("GET", "/api/v1/monitors", req -> {
            final ArrayNode list = ApiJson.MAPPER.createArrayNode();
            for (MonitorView v : monitors.list()) {
                list.add(v.toJson());
            }
            final ObjectNode o = ApiJson.object();
            o.set("monitors", list);
            return ApiResponse.ok(o);
        });
        router.route("POST", "/api/v1/monitors", req -> {
            final MonitorView v = monitors.create(req.json());
            return ApiResponse.json(201, v.toJson()).withHeader("Location", "/api/v1/monitors/" + v.spec().name());
        });
        router.route("GET", "/api/v1/monitors/{name}", req -> ApiResponse.ok(monitors.view(req.param("name")).toJson()));
        router.route("PUT", "/api/v1/monitors/{name}", req -> {
            final Map.Entry<MonitorView, Boolean> r = monitors.put(req.param("name"), req.json());
            return ApiResponse.json(r.getValue() ? 201 : 200, r.getKey().toJson());
        });
        router.route("DELETE", "/api/v1/monitors/{name}", req -> {
            monitors.delete(req.param("name"));
            return ApiResponse.noContent();
        });
        router.route("POST", "/api/v1/monitors/{name}/pause",
            req -> ApiResponse.ok(monitors.setEnabled(req.param("name"), false).toJson()));
        router.route("POST", "/api/v1/monitors/{name}/resume",
            req -> ApiResponse.ok(monitors.setEnabled(req.param("name"), true).toJson()));
        router.route("GET", "/api/v1/monitors/{name}/checks", req -> {
            final String name = req.param("name");
            monitors.view(name); // 404 for unknown monitors
            final Instant to = time(req.queryParam("to"), "to", Instant.now());
            final Instant from = time(req.queryParam("from"), "from", to.minus(Duration.ofHours(1)));
            final int limit = limit(req.queryParam("limit"));
            return ApiResponse.ok(checks(monitors, name, from, to, limit));
        });
        router.route("GET", "/api/v1/status", req -> ApiResponse.ok(status(monitors.status())));
    }

    /** RFC 3339 / ISO-8601 time, epoch milliseconds, or a duration ago such as {@code 15m}. */
    static Instant time(String text, String field, Instant dflt) throws ApiException {
        if (text == null || text.isBlank()) {
            return dflt;
        }
        try {
            return Instant.parse(text);
        } catch (DateTimeParseException e) {
            // not ISO-8601; try the other forms
        }
        try {
            if (text.chars().allMatch(Character::isDigit)) {
                return Instant.ofEpochMilli(Long.parseLong(text));
            }
            return Instant.now().minus(Units.parseDuration(text));
        } catch (IllegalArgumentException | java.time.DateTimeException | ArithmeticException e) {
            // NumberFormatException (too many digits) is an IllegalArgumentException
            throw ApiException.invalid(field, "must be an RFC 3339 time (2026-01-31T12:00:00Z), epoch milliseconds "
                + "or a duration ago (15m), was '" + text + "'");
        }
    }

    private static int limit(String text) throws ApiException {
        if (text == null) {
            return 1000;
        }
        try {
            final int n = Integer.parseInt(text);
            if (n >= 1 && n <= MAX_CHECKS) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw ApiException.invalid("limit", "must be an integer in 1.." + MAX_CHECKS);
    }

    /** Results stored in {@code telemetry}, newest first, with the failure reason where still in memory. */
    private static ObjectNode checks(MonitorService monitors, String name, Instant from, Instant to, int limit)
        throws SQLException, ApiException {
        final Map<Instant, String> errors = monitors.recentErrors(name);
        final Map<Instant, ObjectNode> byTime = new LinkedHashMap<>();
        try (Connection c = monitors.dataSource().getConnection(); PreparedStatement ps = c.prepareStatement(
            "WITH s AS (SELECT id, field FROM telemetry_sources WHERE measurement = ? AND tags ->> 'monitor' = ?), "
                + "t AS (SELECT DISTINCT e.time FROM telemetry_events e JOIN s ON s.id = e.source_id "
                + "WHERE e.time >= ? AND e.time < ? ORDER BY e.time DESC LIMIT ?) "
                + "SELECT e.time, s.field, e.value FROM telemetry_events e JOIN s ON s.id = e.source_id "
                + "WHERE e.time IN (SELECT time FROM t) ORDER BY e.time DESC, s.field")) {
            ps.setString(1, MonitorService.MEASUREMENT);
            ps.setString(2, name);
            ps.setTimestamp(3, Timestamp.from(from));
            ps.setTimestamp(4, Timestamp.from(to));
            ps.setInt(5, limit);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    final Instant t = rs.getTimestamp(1).toInstant();
                    final ObjectNode row = byTime.computeIfAbsent(t, k -> {
                        final ObjectNode o = ApiJson.object();
                        o.put("time", k.toString());
                        return o;
                    });
                    final String field = rs.getString(2);
                    final double v = rs.getDouble(3);
                    switch (field) {
                        case "up", "body_capped" -> row.put(field, v != 0);
                        case "status_code" -> row.put("status_code", (int) v);
                        default -> row.put(field, v);
                    }
                }
            }
        }
        final ArrayNode list = ApiJson.MAPPER.createArrayNode();
        byTime.forEach((t, row) -> {
            final String err = errors.get(t);
            if (err != null) {
                row.put("error", err);
            }
            list.add(row);
        });
        final ObjectNode o = ApiJson.object();
        o.put("monitor", name);
        o.put("from", from.toString());
        o.put("to", to.toString());
        o.set("checks", list);
        return o;
    }

    private static Map<String, Object> status(MonitorStatus s) {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("monitors", Map.of("defined", s.monitors(), "active", s.active(), "paused", s.paused()));
        final Map<String, Object> checks = new LinkedHashMap<>();
        checks.put("in_flight", s.inFlight());
        checks.put("queued", s.queued());
        checks.put("concurrency", s.concurrency());
        checks.put("max_in_flight", s.maxInFlight());
        checks.put("executed", s.executed());
        checks.put("successes", s.successes());
        checks.put("failures", s.failures());
        checks.put("ticks", s.ticks());
        checks.put("skipped_ticks", s.skippedTicks());
        m.put("checks", checks);
        m.put("scheduling_lateness_ms", Map.of("p50", round(s.latenessP50Ms()), "p99", round(s.latenessP99Ms()),
            "max", round(s.latenessMaxMs())));
        m.put("scheduling_lateness_by_lane_ms", Map.of(
            "healthy", Map.of("p50", round(s.healthyLatenessP50Ms()), "p99", round(s.healthyLatenessP99Ms()),
                "max", round(s.healthyLatenessMaxMs())),
            "slow", Map.of("p50", round(s.slowLatenessP50Ms()), "p99", round(s.slowLatenessP99Ms()),
                "max", round(s.slowLatenessMaxMs()))));
        m.put("queue_wait_ms", Map.of("p50", round(s.queueWaitP50Ms()), "p99", round(s.queueWaitP99Ms())));
        m.put("transitions", s.transitions());
        m.put("state_write_failures", s.stateWriteFailures());
        final Map<String, Object> leases = new LinkedHashMap<>();
        leases.put("collector", s.collectorId());
        leases.put("held", s.leasesHeld());
        leases.put("share", s.leaseShare());
        leases.put("live_collectors", s.liveCollectors());
        leases.put("state_conflicts", s.stateConflicts());
        m.put("leases", leases);
        return m;
    }

    private static double round(double v) {
        return Double.isNaN(v) ? 0 : Math.round(v * 1000) / 1000.0;
    }

}
