package dev.spillway.collector.page;

import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The monitors table: one row per monitor with its state as a word and a colour, uptime over 24 h / 7 d / 30 d,
 * the last 90 checks as a strip, the 24 h response-time plot (p50 and p95 per hour), the newest check's phases,
 * a certificate warning under {@link #CERT_WARN_DAYS} days and the current outage's length. status.js keeps the
 * rows current (matched by {@code data-name}) and draws the plots.
 */
final class MonitorsPanel {

    static final int CERT_WARN_DAYS = 14;

    private MonitorsPanel() {
    }

    static List<Map<String, Object>> json(List<StatusQueries.MonitorRow> rows) {
        final List<Map<String, Object>> out = new ArrayList<>(rows.size());
        for (StatusQueries.MonitorRow r : rows) {
            out.add(json(r));
        }
        return out;
    }

    static Map<String, Object> json(StatusQueries.MonitorRow r) {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", r.name());
        m.put("url", "/monitors/" + r.name());
        m.put("state", r.state());
        m.put("since", millis(r.since()));
        m.put("incidentStart", millis(r.incidentStart()));
        m.put("lastError", r.lastError());
        m.put("intervalMs", r.intervalMs());
        m.put("uptime", Map.of("d", uptime(r.day()), "w", uptime(r.week()), "m", uptime(r.month())));
        m.put("rt", series(r.responseTime()));
        final long[] t = new long[r.strip().size()];
        final int[] up = new int[t.length];
        for (int i = 0; i < t.length; i++) {
            t[i] = r.strip().get(i).epochMillis();
            up[i] = r.strip().get(i).up() ? 1 : 0;
        }
        m.put("strip", Map.of("t", t, "up", up));
        m.put("last", last(r.last()));
        return m;
    }

    static Map<String, Object> uptime(StatusQueries.Uptime u) {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("fraction", u.fraction());
        m.put("checks", u.checks());
        m.put("up", u.up());
        return m;
    }

    static Map<String, Object> series(StatusQueries.Series s) {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("t", s.t());
        m.put("p50", s.p50());
        m.put("p95", s.p95());
        return m;
    }

    static Map<String, Object> last(StatusQueries.LastCheck c) {
        if (c == null) {
            return null;
        }
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("t", c.epochMillis());
        m.put("up", c.up());
        m.put("durationMs", c.durationMs());
        m.put("dnsMs", c.dnsMs());
        m.put("connectMs", c.connectMs());
        m.put("tlsMs", c.tlsMs());
        m.put("ttfbMs", c.ttfbMs());
        m.put("statusCode", c.statusCode());
        m.put("certExpiryDays", c.certExpiryDays());
        return m;
    }

    static void html(StringBuilder h, List<StatusQueries.MonitorRow> rows, Instant now) {
        h.append("<section id=\"monitors\" aria-labelledby=\"h-monitors\">\n<h2 id=\"h-monitors\">Monitors</h2>\n");
        h.append("<p class=\"empty\" id=\"monitors-empty\"").append(rows.isEmpty() ? "" : " hidden")
            .append(">No monitors yet. Add one: <code>curl -XPOST http://HOST/api/v1/monitors -d "
                + "'{\"name\":\"example\",\"url\":\"https://example.com/\"}'</code></p>\n");
        h.append("<div class=\"scroll\"><table id=\"monitors-table\"").append(rows.isEmpty() ? " hidden" : "")
            .append(">\n<caption class=\"sr-only\">Monitors: state, uptime, recent checks and response time</caption>\n")
            .append("<thead><tr><th scope=\"col\">Monitor</th><th scope=\"col\">State</th>")
            .append("<th scope=\"col\" class=\"num\">24 h</th><th scope=\"col\" class=\"num wide\">7 d</th>")
            .append("<th scope=\"col\" class=\"num wide\">30 d</th><th scope=\"col\" class=\"wide\">Last 90 checks</th>")
            .append("<th scope=\"col\">Response time, 24 h</th><th scope=\"col\" class=\"wide\">Last check</th>")
            .append("</tr></thead>\n<tbody>\n");
        for (StatusQueries.MonitorRow r : rows) {
            row(h, r, now);
        }
        h.append("</tbody></table></div>\n</section>\n");
    }

    private static void row(StringBuilder h, StatusQueries.MonitorRow r, Instant now) {
        final String state = r.state().toLowerCase(Locale.ROOT);
        h.append("<tr data-name=\"").append(Html.esc(r.name())).append("\" data-state=\"").append(Html.esc(r.state()))
            .append("\">");
        h.append("<th scope=\"row\"><a href=\"/monitors/").append(Html.esc(r.name())).append("\">")
            .append(Html.esc(r.name())).append("</a></th>");
        h.append("<td class=\"c-state\"><span class=\"state state-").append(Html.esc(state)).append("\">")
            .append(Html.esc(r.state())).append("</span>");
        if (r.incidentStart() != null) {
            h.append(" <span class=\"incident\">for ")
                .append(Html.duration(now.getEpochSecond() - r.incidentStart().getEpochSecond())).append("</span>");
        }
        h.append("</td>");
        uptimeCell(h, r.day(), "");
        uptimeCell(h, r.week(), " wide");
        uptimeCell(h, r.month(), " wide");
        h.append("<td class=\"c-strip wide\">");
        strip(h, r.strip());
        h.append("</td>");
        h.append("<td class=\"c-rt\"><div class=\"spark\" role=\"img\" aria-label=\"Response time of ")
            .append(Html.esc(r.name())).append(", last 24 hours, p50 and p95\"></div></td>");
        h.append("<td class=\"c-last wide\">");
        lastCheck(h, r.last());
        h.append("</td></tr>\n");
    }

    private static void uptimeCell(StringBuilder h, StatusQueries.Uptime u, String cls) {
        h.append("<td class=\"num").append(cls).append("\" title=\"").append(u.up()).append(" of ").append(u.checks())
            .append(" checks good\">").append(Html.percent(u.fraction() == null ? Double.NaN : u.fraction()))
            .append("</td>");
    }

    static void strip(StringBuilder h, List<StatusQueries.Check> checks) {
        long good = 0;
        for (StatusQueries.Check c : checks) {
            good += c.up() ? 1 : 0;
        }
        h.append("<div class=\"strip\" role=\"img\" aria-label=\"").append(good).append(" of ").append(checks.size())
            .append(" recent checks good\">");
        for (int i = checks.size(); i < StatusQueries.STRIP; i++) {
            h.append("<span></span>");
        }
        for (StatusQueries.Check c : checks) {
            h.append("<span class=\"").append(c.up() ? "ok" : "fail").append("\" title=\"")
                .append(Instant.ofEpochMilli(c.epochMillis())).append(c.up() ? " up" : " down").append("\"></span>");
        }
        h.append("</div>");
    }

    static void lastCheck(StringBuilder h, StatusQueries.LastCheck c) {
        if (c == null) {
            h.append("<span class=\"muted\">no checks yet</span>");
            return;
        }
        if (c.durationMs() != null) {
            h.append(ms(c.durationMs()));
        }
        if (c.statusCode() != null && c.statusCode() > 0) {
            h.append(" \u00b7 HTTP ").append(c.statusCode());
        }
        h.append("<div class=\"phases\">").append(phases(c)).append("</div>");
        if (c.certExpiryDays() != null && c.certExpiryDays() < CERT_WARN_DAYS) {
            h.append("<div class=\"warn cert\">certificate expires in ")
                .append(String.format(Locale.ROOT, "%.0f", Math.floor(c.certExpiryDays()))).append(" days</div>");
        }
    }

    static String phases(StatusQueries.LastCheck c) {
        final StringBuilder s = new StringBuilder();
        phase(s, "dns", c.dnsMs());
        phase(s, "connect", c.connectMs());
        phase(s, "tls", c.tlsMs());
        phase(s, "ttfb", c.ttfbMs());
        return s.toString();
    }

    private static void phase(StringBuilder s, String name, Double v) {
        if (v != null) {
            if (s.length() > 0) {
                s.append(" \u00b7 ");
            }
            s.append(name).append(' ').append(ms(v));
        }
    }

    static String ms(double v) {
        return (v >= 100 ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%.1f", v)) + " ms";
    }

    private static Long millis(Instant i) {
        return i == null ? null : i.toEpochMilli();
    }
}
