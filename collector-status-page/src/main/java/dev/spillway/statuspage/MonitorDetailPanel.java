package dev.spillway.statuspage;

import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** One monitor's page: state, range picker, response-time plot over the range, newest check's phases, outages. */
final class MonitorDetailPanel {

    private MonitorDetailPanel() {
    }

    static void html(StringBuilder h, StatusQueries.MonitorRow row, StatusQueries.Range range,
                     StatusQueries.Uptime rangeUptime, List<StatusQueries.Incident> incidents,
                     StatusQueries.Locations locations, Instant now) {
        final String name = Html.esc(row.name());
        h.append("<main id=\"main\" data-page=\"monitor\" data-name=\"").append(name).append("\">\n")
            .append("<p><a href=\"/\">\u2190 All monitors</a></p>\n")
            .append("<h1>").append(name).append(" <span class=\"state state-")
            .append(Html.esc(row.state().toLowerCase(Locale.ROOT))).append("\" id=\"detail-state\">")
            .append(Html.esc(row.state())).append("</span></h1>\n");
        if (row.incidentStart() != null) {
            h.append("<p class=\"warn\" id=\"detail-incident\">Down for ")
                .append(Html.duration(now.getEpochSecond() - row.incidentStart().getEpochSecond()))
                .append(row.lastError() == null ? "" : ": " + Html.esc(row.lastError())).append("</p>\n");
        }
        locationsHtml(h, locations, now);
        h.append("<nav class=\"ranges\" aria-label=\"Time range\">");
        for (StatusQueries.Range r : StatusQueries.Range.values()) {
            h.append("<a href=\"/monitors/").append(name).append("?range=").append(r.label).append('"')
                .append(r == range ? " aria-current=\"page\"" : "").append('>').append(r.label).append("</a>");
        }
        h.append("</nav>\n<dl class=\"facts\">\n");
        // One figure per window: the range's own (with its up, down, maintenance and unknown time) in its place,
        // the other windows beside it; never the same window twice.
        final String rangeText = Html.percent(rangeUptime.fraction() == null ? Double.NaN : rangeUptime.fraction())
            + " (" + MonitorsPanel.detail(rangeUptime) + ")";
        if (range == StatusQueries.Range.HOUR) {
            fact(h, "Uptime, 1 h", "rangeUptime", rangeText);
        }
        windowFact(h, range, StatusQueries.Range.DAY, "Uptime, 24 h", "uptimeDay", row.day(), rangeText);
        windowFact(h, range, StatusQueries.Range.WEEK, "Uptime, 7 d", "uptimeWeek", row.week(), rangeText);
        windowFact(h, range, StatusQueries.Range.MONTH, "Uptime, 30 d", "uptimeMonth", row.month(), rangeText);
        fact(h, "Interval", "interval", Html.duration(row.intervalMs() / 1000));
        h.append("</dl>\n");
        h.append("<figure class=\"plot-figure\"><div class=\"plot\" id=\"detail-plot\" role=\"img\" aria-label=\""
            + "Response time of ").append(name).append(", p50 and p95 per ")
            .append(range.unit == java.time.temporal.ChronoUnit.MINUTES ? "minute" : "hour").append(", last ")
            .append(range.label).append("\"></div><figcaption>Response time, p50 and p95 per ")
            .append(range.unit == java.time.temporal.ChronoUnit.MINUTES ? "minute" : "hour").append(", last ")
            .append(range.label).append("</figcaption></figure>\n");
        h.append("<h2>Last check</h2>\n<div id=\"detail-last\">");
        MonitorsPanel.lastCheck(h, row.last());
        h.append("</div>\n");
        lastPhases(h, row.last());
        h.append("<h2>Last ").append(StatusQueries.STRIP).append(" checks</h2>\n<div id=\"detail-strip\">");
        MonitorsPanel.strip(h, row.strip());
        h.append("</div>\n<h2 id=\"h-incidents\">Incidents</h2>\n");
        if (incidents.isEmpty()) {
            h.append("<p class=\"empty\">No outages recorded.</p>\n");
        } else {
            h.append("<table id=\"incidents\" aria-labelledby=\"h-incidents\"><thead><tr><th scope=\"col\">Started (UTC)</th>")
                .append("<th scope=\"col\">Ended (UTC)</th><th scope=\"col\" class=\"num\">Duration</th>")
                .append("<th scope=\"col\" class=\"wide\">Why</th></tr></thead><tbody>\n");
            for (StatusQueries.Incident i : incidents) {
                final Instant end = i.end() == null ? now : i.end();
                h.append("<tr><td>").append(EventsPanel.time(i.start())).append("</td><td>")
                    .append(i.end() == null ? "<span class=\"state state-down\">ongoing</span>" : EventsPanel.time(i.end()))
                    .append("</td><td class=\"num\">").append(Html.duration(end.getEpochSecond() - i.start().getEpochSecond()))
                    .append("</td><td class=\"wide\">").append(Html.esc(i.reason())).append("</td></tr>\n");
            }
            h.append("</tbody></table>\n");
        }
        h.append("</main>\n");
    }

    /** A monitor with locations: each location's own state; the state above is their quorum's. */
    static void locationsHtml(StringBuilder h, StatusQueries.Locations locations, Instant now) {
        if (locations == null) {
            return;
        }
        h.append("<h2 id=\"h-locations\">Locations</h2>\n<p id=\"detail-quorum\">DOWN when at least ")
            .append(locations.quorum()).append(" of ").append(locations.rows().size())
            .append(" locations see it down (locations without a recent result do not count).</p>\n")
            .append("<table id=\"locations\" aria-labelledby=\"h-locations\"><thead><tr><th scope=\"col\">Location</th>")
            .append("<th scope=\"col\">State</th><th scope=\"col\">Since (UTC)</th>")
            .append("<th scope=\"col\" class=\"num\">Last check</th><th scope=\"col\" class=\"wide\">Last error</th>")
            .append("</tr></thead><tbody>\n");
        for (StatusQueries.LocationRow l : locations.rows()) {
            final String state = l.state() == null ? "NO RESULT" : l.state();
            h.append("<tr data-location=\"").append(Html.esc(l.location())).append("\"><th scope=\"row\">")
                .append(Html.esc(l.location())).append("</th><td><span class=\"state state-")
                .append(Html.esc(state.toLowerCase(Locale.ROOT).replace(' ', '-'))).append("\">").append(Html.esc(state))
                .append("</span></td><td>").append(l.since() == null ? "\u2013" : EventsPanel.time(l.since()))
                .append("</td><td class=\"num\">").append(l.lastCheck() == null ? "\u2013"
                    : Html.duration(Math.max(0, now.getEpochSecond() - l.lastCheck().getEpochSecond())) + " ago")
                .append("</td><td class=\"wide\">").append(l.lastError() == null ? "" : Html.esc(l.lastError()))
                .append("</td></tr>\n");
        }
        h.append("</tbody></table>\n");
    }

    static Map<String, Object> locations(StatusQueries.Locations locations, Instant now) {
        if (locations == null) {
            return null;
        }
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("quorum", locations.quorum());
        final List<Map<String, Object>> rows = new ArrayList<>();
        for (StatusQueries.LocationRow l : locations.rows()) {
            final Map<String, Object> r = new LinkedHashMap<>();
            r.put("location", l.location());
            r.put("state", l.state());
            r.put("confirmedState", l.confirmedState());
            r.put("since", l.since() == null ? null : l.since().toEpochMilli());
            r.put("lastCheck", l.lastCheck() == null ? null : l.lastCheck().toEpochMilli());
            r.put("lastError", l.lastError());
            rows.add(r);
        }
        m.put("rows", rows);
        return m;
    }

    /** The newest check's phases as a table (the overview shows them as one line). */
    private static void lastPhases(StringBuilder h, StatusQueries.LastCheck c) {
        if (c == null) {
            return;
        }
        h.append("<table class=\"phase-table\" id=\"detail-phases\"><caption>Phases of the last check</caption><tbody>");
        phaseRow(h, "DNS", c.dnsMs());
        phaseRow(h, "Connect", c.connectMs());
        phaseRow(h, "TLS", c.tlsMs());
        phaseRow(h, "Time to first byte", c.ttfbMs());
        phaseRow(h, "Total", c.durationMs());
        h.append("</tbody></table>\n");
    }

    private static void phaseRow(StringBuilder h, String label, Double v) {
        h.append("<tr><th scope=\"row\">").append(label).append("</th><td class=\"num\">")
            .append(v == null ? "\u2013" : MonitorsPanel.ms(v)).append("</td></tr>");
    }

    private static void windowFact(StringBuilder h, StatusQueries.Range shown, StatusQueries.Range window,
                                   String label, String key, StatusQueries.Uptime u, String rangeText) {
        if (shown == window) {
            fact(h, label, "rangeUptime", rangeText);
        } else {
            fact(h, label, key, Html.percent(frac(u)));
        }
    }

    private static double frac(StatusQueries.Uptime u) {
        return u.fraction() == null ? Double.NaN : u.fraction();
    }

    private static void fact(StringBuilder h, String label, String key, String value) {
        h.append("<div><dt>").append(Html.esc(label)).append("</dt><dd data-k=\"").append(key).append("\">")
            .append(Html.esc(value)).append("</dd></div>\n");
    }

    static List<Map<String, Object>> incidents(List<StatusQueries.Incident> incidents, Instant now) {
        final List<Map<String, Object>> out = new ArrayList<>();
        for (StatusQueries.Incident i : incidents) {
            final Map<String, Object> m = new LinkedHashMap<>();
            m.put("start", i.start().toEpochMilli());
            m.put("end", i.end() == null ? null : i.end().toEpochMilli());
            m.put("durationSeconds", (i.end() == null ? now : i.end()).getEpochSecond() - i.start().getEpochSecond());
            m.put("reason", i.reason());
            out.add(m);
        }
        return out;
    }
}
