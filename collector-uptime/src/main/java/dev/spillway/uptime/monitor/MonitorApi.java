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
import java.util.HashMap;
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

    /** Registers the routes; reports take maintenance time from {@code maintenance}. */
    public static void register(ApiRouter router, MonitorService monitors, UptimeReport.Maintenance maintenance) {
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
        router.route("GET", "/api/v1/reports/uptime", req -> report(req, monitors, maintenance));
    }

    /**
     * {@code GET /api/v1/reports/uptime?from=&to=&tz=&monitor=|tag=key:value&format=json|csv}: see
     * {@link UptimeReport}; {@code from}/{@code to} are dates ({@code 2026-12-01}, midnight in {@code tz}) or times
     * as for {@code /checks}; by default the last 7 days up to now.
     */
    private static ApiResponse report(dev.spillway.runtime.api.ApiRequest req, MonitorService monitors,
                                      UptimeReport.Maintenance maintenance)
        throws Exception {
        final java.time.ZoneId zone;
        try {
            zone = req.queryParam("tz") == null ? java.time.ZoneOffset.UTC : java.time.ZoneId.of(req.queryParam("tz"));
        } catch (java.time.DateTimeException e) {
            throw ApiException.invalid("tz", "unknown time zone '" + req.queryParam("tz") + "' (an IANA name such as "
                + "Europe/Berlin)");
        }
        final Instant now = Instant.now();
        final Instant to = day(req.queryParam("to"), "to", zone, now);
        final Instant from = day(req.queryParam("from"), "from", zone,
            now.atZone(zone).toLocalDate().minusDays(6).atStartOfDay(zone).toInstant());
        if (!from.isBefore(to)) {
            throw ApiException.invalid("from", "must be before to (" + to + "), was " + from);
        }
        if (Duration.between(from, to).compareTo(UptimeReport.MAX_RANGE) > 0) {
            throw ApiException.invalid("from", "the range may span at most " + UptimeReport.MAX_RANGE.toDays() + " days");
        }
        final String monitor = req.queryParam("monitor");
        final String tag = req.queryParam("tag");
        if (monitor != null && tag != null) {
            throw ApiException.invalid("tag", "give monitor or tag, not both");
        }
        String tagKey = null;
        String tagValue = null;
        if (tag != null) {
            final int colon = tag.indexOf(':');
            if (colon <= 0) {
                throw ApiException.invalid("tag", "must be key:value, e.g. team:web, was '" + tag + "'");
            }
            tagKey = tag.substring(0, colon);
            tagValue = tag.substring(colon + 1);
        }
        final String format = req.queryParam("format") == null ? "json" : req.queryParam("format");
        if (!format.equals("json") && !format.equals("csv")) {
            throw ApiException.invalid("format", "must be json or csv, was '" + format + "'");
        }
        final List<MonitorSpec> specs = new java.util.ArrayList<>();
        if (monitor != null) {
            specs.add(monitors.view(monitor).spec()); // 404 for unknown monitors
        } else {
            for (MonitorView v : monitors.list()) {
                if (tagKey == null || tagValue.equals(v.spec().tags().get(tagKey))) {
                    specs.add(v.spec());
                }
            }
        }
        final UptimeReport.Report r = UptimeReport.compute(monitors.dataSource(), specs, from, to, zone,
            maintenance);
        if (format.equals("csv")) {
            final StringBuilder sb = new StringBuilder("day,monitor,up_s,down_s,maintenance_s,unknown_s,uptime_percent\n");
            for (UptimeReport.Row row : r.rows()) {
                csv(sb, row.day().toString(), row);
            }
            for (UptimeReport.Row row : r.totals()) {
                csv(sb, "total", row);
            }
            csv(sb, "total", r.total());
            return ApiResponse.text(200, "text/csv; charset=utf-8", sb.toString());
        }
        final ObjectNode o = ApiJson.object();
        o.put("from", r.from().toString());
        o.put("to", r.to().toString());
        o.put("tz", r.zone().getId());
        final ArrayNode rows = o.putArray("rows");
        r.rows().forEach(row -> rows.add(json(row)));
        final ArrayNode totals = o.putArray("totals");
        r.totals().forEach(row -> totals.add(json(row)));
        o.set("total", json(r.total()));
        return ApiResponse.ok(o);
    }

    private static Instant day(String text, String field, java.time.ZoneId zone, Instant dflt) throws ApiException {
        if (text != null && text.matches("\\d{4}-\\d{2}-\\d{2}")) {
            try {
                return java.time.LocalDate.parse(text).atStartOfDay(zone).toInstant();
            } catch (java.time.DateTimeException e) {
                throw ApiException.invalid(field, "is not a date: " + text);
            }
        }
        return time(text, field, dflt);
    }

    private static ObjectNode json(UptimeReport.Row row) {
        final ObjectNode o = ApiJson.object();
        if (row.day() != null) {
            o.put("day", row.day().toString());
        }
        if (row.monitor() != null) {
            o.put("monitor", row.monitor());
        }
        o.put("up_s", row.upMs() / 1000.0);
        o.put("down_s", row.downMs() / 1000.0);
        o.put("maintenance_s", row.maintenanceMs() / 1000.0);
        o.put("unknown_s", row.unknownMs() / 1000.0);
        if (Double.isNaN(row.uptimePercent())) {
            o.putNull("uptime_percent");
        } else {
            o.put("uptime_percent", Math.round(row.uptimePercent() * 1000) / 1000.0);
        }
        return o;
    }

    private static void csv(StringBuilder sb, String day, UptimeReport.Row row) {
        // Monitor names are [A-Za-z0-9_.-]: nothing to quote.
        sb.append(day).append(',').append(row.monitor() == null ? "" : row.monitor()).append(',')
            .append(row.upMs() / 1000.0).append(',').append(row.downMs() / 1000.0).append(',')
            .append(row.maintenanceMs() / 1000.0).append(',').append(row.unknownMs() / 1000.0).append(',')
            .append(Double.isNaN(row.uptimePercent()) ? "" : String.valueOf(Math.round(row.uptimePercent() * 1000)
                / 1000.0)).append('\n');
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
        final Map<Instant, String> errors = new HashMap<>();
        for (CheckResult r : monitors.recent(name)) {
            if (r.error() != null) {
                errors.put(r.startedAt().truncatedTo(java.time.temporal.ChronoUnit.MICROS), r.error());
            }
        }
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
