package dev.spillway.statuspage;

import dev.spillway.runtime.api.ApiException;
import dev.spillway.runtime.api.ApiRequest;
import dev.spillway.runtime.api.ApiResponse;
import dev.spillway.uptime.monitor.UptimeReport;
import dev.spillway.uptime.schema.UptimeSchema;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * SVG badges, readable by whoever may read the status page (so public only with {@code --public-status-page}):
 * <pre>
 * /badges/monitors/{name}/status.svg    up | down | pending | paused
 * /badges/monitors/{name}/uptime.svg    uptime over ?days= (1..90, default 30), as the uptime report counts it
 * /badges/tags/{key}/{value}/status.svg the worst state of the monitors with that tag
 * /badges/tags/{key}/{value}/uptime.svg their combined uptime
 * /badges/services/{id}/status.svg      available | unavailable | new (heartbeat services)
 * /badges/services/{id}/uptime.svg      its uptime over ?days=, as the service report counts it
 * </pre>
 * Uptime is {@code up / (up + down)}: unknown time (nobody checked) is left out, never counted as up; a badge
 * with nothing known says "unknown". {@code ?label=} replaces the left text.
 */
final class Badges {

    private static final String GREEN = "#4c1";
    private static final String RED = "#e05d44";
    private static final String GREY = "#9f9f9f";
    private static final String YELLOW = "#dfb317";
    private static final List<String> WORST_FIRST = List.of("DOWN", "PENDING", "UP", "PAUSED");

    private final DataSource dataSource;
    private final Supplier<Instant> clock;
    private final UptimeReport.Maintenance maintenance;

    Badges(DataSource dataSource, Supplier<Instant> clock, UptimeReport.Maintenance maintenance) {
        this.dataSource = dataSource;
        this.clock = clock;
        this.maintenance = maintenance;
    }

    ApiResponse monitorStatus(ApiRequest r) throws SQLException, ApiException {
        final Map<String, Duration> m = monitors(r.param("name"), null, null);
        return state(r, r.param("name"), m);
    }

    ApiResponse monitorUptime(ApiRequest r) throws SQLException, ApiException {
        return uptime(r, r.param("name"), monitors(r.param("name"), null, null));
    }

    ApiResponse tagStatus(ApiRequest r) throws SQLException, ApiException {
        return state(r, r.param("key") + ":" + r.param("value"), monitors(null, r.param("key"), r.param("value")));
    }

    ApiResponse tagUptime(ApiRequest r) throws SQLException, ApiException {
        return uptime(r, r.param("key") + ":" + r.param("value"), monitors(null, r.param("key"), r.param("value")));
    }

    ApiResponse serviceStatus(ApiRequest r) throws SQLException, ApiException {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement("SELECT state FROM "
            + UptimeSchema.HEARTBEAT_SERVICES + " WHERE id = ?")) {
            ps.setString(1, r.param("id"));
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    throw ApiException.notFound("no service '" + r.param("id") + "'");
                }
                final String state = rs.getString(1);
                return svg(label(r, r.param("id")), state.equals("up") ? "available" : state.equals("down")
                    ? "unavailable" : "new", state.equals("up") ? GREEN : state.equals("down") ? RED : GREY);
            }
        }
    }

    /** A heartbeat service's uptime over {@code ?days=}, as the service report counts it. */
    ApiResponse serviceUptime(ApiRequest r) throws SQLException, ApiException {
        final String id = r.param("id");
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement("SELECT 1 FROM "
            + UptimeSchema.HEARTBEAT_SERVICES + " WHERE id = ?")) {
            ps.setString(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    throw ApiException.notFound("no service '" + id + "'");
                }
            }
        }
        final int days = days(r);
        final Instant to = clock.get();
        return uptimeSvg(r, id, days, UptimeReport.computeServices(dataSource, List.of(id),
            to.minus(Duration.ofDays(days)), to, ZoneOffset.UTC, maintenance));
    }

    /** Monitors by name or by tag, with their intervals; 404 when none. */
    private Map<String, Duration> monitors(String name, String key, String value) throws SQLException, ApiException {
        final Map<String, Duration> out = new LinkedHashMap<>();
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(name != null
            ? "SELECT name, interval_ms FROM " + UptimeSchema.MONITORS + " WHERE name = ?"
            : "SELECT name, interval_ms FROM " + UptimeSchema.MONITORS + " WHERE tags ->> ? = ? ORDER BY name")) {
            if (name != null) {
                ps.setString(1, name);
            } else {
                ps.setString(1, key);
                ps.setString(2, value);
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.put(rs.getString(1), Duration.ofMillis(rs.getLong(2)));
                }
            }
        }
        if (out.isEmpty()) {
            throw ApiException.notFound(name != null ? "no monitor '" + name + "'"
                : "no monitor with tag " + key + "=" + value);
        }
        return out;
    }

    private ApiResponse state(ApiRequest r, String subject, Map<String, Duration> monitors) throws SQLException {
        String worst = "PAUSED";
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement("SELECT m.name, "
            + "CASE WHEN NOT m.enabled THEN 'PAUSED' ELSE coalesce(s.state, 'PENDING') END FROM "
            + UptimeSchema.MONITORS + " m LEFT JOIN " + UptimeSchema.MONITOR_STATE + " s ON s.name = m.name "
            + "WHERE m.name = ANY (?)")) {
            ps.setArray(1, c.createArrayOf("text", monitors.keySet().toArray()));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    final String s = rs.getString(2);
                    if (WORST_FIRST.indexOf(s) >= 0 && WORST_FIRST.indexOf(s) < WORST_FIRST.indexOf(worst)) {
                        worst = s;
                    }
                }
            }
        }
        final String color = switch (worst) {
            case "UP" -> GREEN;
            case "DOWN" -> RED;
            case "PENDING" -> YELLOW;
            default -> GREY;
        };
        return svg(label(r, subject), worst.toLowerCase(Locale.ROOT), color);
    }

    private ApiResponse uptime(ApiRequest r, String subject, Map<String, Duration> monitors)
        throws SQLException, ApiException {
        final int days = days(r);
        final Instant to = clock.get();
        return uptimeSvg(r, subject, days, UptimeReport.compute(dataSource, monitors, to.minus(Duration.ofDays(days)),
            to, ZoneOffset.UTC, maintenance));
    }

    private static int days(ApiRequest r) throws ApiException {
        final String raw = r.queryParam("days");
        int days = 30;
        if (raw != null) {
            try {
                days = Integer.parseInt(raw);
            } catch (NumberFormatException e) {
                days = -1;
            }
            if (days < 1 || days > 90) {
                throw ApiException.invalid("days", "must be 1..90, was '" + raw + "'");
            }
        }
        return days;
    }

    private static ApiResponse uptimeSvg(ApiRequest r, String subject, int days, UptimeReport.Report report) {
        final double p = report.total().uptimePercent();
        final String text = Double.isNaN(p) ? "unknown" : (p >= 99.995 ? "100" : String.format(Locale.ROOT,
            p >= 99 ? "%.2f" : "%.1f", Math.floor(p * 100) / 100)) + "%";
        final String color = Double.isNaN(p) ? GREY : p >= 99.9 ? GREEN : p >= 99 ? YELLOW : RED;
        return svg(r.queryParam("label") != null ? label(r, subject) : "uptime " + days + "d", text, color);
    }

    private static String label(ApiRequest r, String dflt) {
        final String l = r.queryParam("label");
        return l == null || l.isBlank() ? dflt : l.length() > 64 ? l.substring(0, 64) : l;
    }

    /** A flat two-part badge; widths estimated from the text (about 6.5 px a character at 11 px Verdana). */
    static ApiResponse svg(String label, String message, String color) {
        final int lw = width(label);
        final int mw = width(message);
        final int w = lw + mw;
        final String l = xml(label);
        final String m = xml(message);
        final String body = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + w + "\" height=\"20\" role=\"img\" "
            + "aria-label=\"" + l + ": " + m + "\"><title>" + l + ": " + m + "</title>"
            + "<rect width=\"" + lw + "\" height=\"20\" fill=\"#555\"/>"
            + "<rect x=\"" + lw + "\" width=\"" + mw + "\" height=\"20\" fill=\"" + color + "\"/>"
            + "<g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,Geneva,DejaVu Sans,sans-serif\" "
            + "font-size=\"11\"><text x=\"" + (lw / 2) + "\" y=\"14\">" + l + "</text>"
            + "<text x=\"" + (lw + mw / 2) + "\" y=\"14\">" + m + "</text></g></svg>";
        return ApiResponse.text(200, "image/svg+xml; charset=utf-8", body)
            // Fresh enough for a README, without every view hitting the database.
            .withHeader("Cache-Control", "max-age=60");
    }

    private static int width(String text) {
        return (int) Math.round(text.length() * 6.5) + 10;
    }

    private static String xml(String s) {
        final StringBuilder sb = new StringBuilder(s.length());
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '<' -> sb.append("&lt;");
                case '>' -> sb.append("&gt;");
                case '&' -> sb.append("&amp;");
                case '"' -> sb.append("&quot;");
                case '\'' -> sb.append("&#39;");
                default -> sb.append(Character.isISOControl(ch) ? ' ' : ch);
            }
        }
        return sb.toString();
    }
}
