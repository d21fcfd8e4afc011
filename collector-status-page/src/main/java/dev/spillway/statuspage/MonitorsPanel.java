package dev.spillway.statuspage;

import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The monitors table: one row per monitor with its state as a word and a colour, uptime over 24 h / 7 d / 30 d,
 * the last 90 checks as a strip, the 24 h response-time sparkline (from the minute rollup, a point per 30 minutes),
 * the newest check's phases,
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
            out.add(json(r, false));
        }
        return out;
    }

    /**
     * One row's data. The strip is a string of {@code 1}/{@code 0} (oldest first), with each check's time only
     * when {@code stripTimes} (the detail page): on the overview, 90 timestamps per monitor would be most of the
     * document.
     */
    static Map<String, Object> json(StatusQueries.MonitorRow r, boolean stripTimes) {
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
        final Map<String, Object> strip = new LinkedHashMap<>();
        strip.put("bits", bits(r.strip()));
        if (stripTimes) {
            final long[] t = new long[r.strip().size()];
            for (int i = 0; i < t.length; i++) {
                t[i] = r.strip().get(i).epochMillis();
            }
            strip.put("t", t);
        }
        m.put("strip", strip);
        m.put("last", last(r.last()));
        return m;
    }

    static Map<String, Object> uptime(StatusQueries.Uptime u) {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("fraction", u.fraction());
        m.put("up_s", u.upMs() / 1000.0);
        m.put("down_s", u.downMs() / 1000.0);
        m.put("maintenance_s", u.maintenanceMs() / 1000.0);
        m.put("unknown_s", u.unknownMs() / 1000.0);
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

    /** Which page of how many, and the counts by state over all monitors (the table shows one page). */
    static Map<String, Object> pageJson(StatusQueries.MonitorPage p) {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("page", p.page());
        m.put("pages", p.pages());
        m.put("size", p.size());
        m.put("total", p.total());
        m.put("all", p.all());
        m.put("counts", p.counts());
        final StatusQueries.Filter f = p.filter();
        final Map<String, Object> filter = new LinkedHashMap<>();
        filter.put("q", f.query());
        filter.put("state", f.state());
        filter.put("tag", f.tagKey() == null ? null : f.tagKey() + "=" + f.tagValue());
        m.put("filter", filter);
        return m;
    }

    /** "1,000 monitors: 10 DOWN, 990 UP", the states with none left out. */
    static String summary(StatusQueries.MonitorPage p) {
        final StringBuilder s = new StringBuilder(String.format(Locale.ROOT, "%,d monitor%s", p.all(),
            p.all() == 1 ? "" : "s"));
        String sep = ": ";
        for (Map.Entry<String, Integer> e : p.counts().entrySet()) {
            if (e.getValue() > 0) {
                s.append(sep).append(String.format(Locale.ROOT, "%,d ", e.getValue())).append(e.getKey());
                sep = ", ";
            }
        }
        return s.toString();
    }

    /**
     * The table with one page of monitors, problems first, under a line with the counts by state over all of them;
     * links to the other pages when there are more than a page of them.
     */
    static void html(StringBuilder h, StatusQueries.MonitorPage page, Instant now) {
        final List<StatusQueries.MonitorRow> rows = page.rows();
        h.append("<section id=\"monitors\" aria-labelledby=\"h-monitors\">\n<h2 id=\"h-monitors\">Monitors</h2>\n");
        if (page.all() > 0) {
            h.append("<p class=\"summary\" id=\"monitors-summary\">").append(Html.esc(summary(page))).append("</p>\n");
            counts(h, page);
            filterForm(h, page.filter());
        }
        if (!page.filter().none()) {
            h.append("<p class=\"matches\" id=\"monitors-matches\">").append(String.format(Locale.ROOT, "%,d of %,d "
                + "monitors match", page.total(), page.all())).append(" \u00b7 <a href=\"/\">show all</a></p>\n");
        }
        if (page.pages() > 1) {
            pager(h, page);
        }
        h.append("<p class=\"empty\" id=\"monitors-empty\"").append(rows.isEmpty() ? "" : " hidden").append('>')
            .append(page.all() > 0 ? "No monitor matches." : "No monitors yet. Add one: <code>curl "
                + "http://HOST/api/v1/monitors --json '{\"name\":\"example\",\"url\":\"https://example.com/\"}'</code>")
            .append("</p>\n");
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
        h.append("</tbody></table></div>\n");
        if (page.pages() > 1) {
            pager(h, page);
        }
        h.append("</section>\n");
    }

    /** The counts by state as links that filter by that state (the header of a large setup). */
    private static void counts(StringBuilder h, StatusQueries.MonitorPage page) {
        h.append("<nav class=\"counts\" aria-label=\"Filter by state\">");
        for (Map.Entry<String, Integer> e : page.counts().entrySet()) {
            final boolean current = e.getKey().equals(page.filter().state());
            h.append("<a class=\"count state-").append(e.getKey().toLowerCase(Locale.ROOT)).append("\" href=\"/?state=")
                .append(e.getKey()).append("\" data-state=\"").append(e.getKey()).append('"')
                .append(current ? " aria-current=\"page\"" : "").append('>')
                .append(String.format(Locale.ROOT, "%,d", e.getValue())).append(' ').append(e.getKey()).append("</a>");
        }
        h.append("</nav>\n");
    }

    /** Search by name, filter by state and tag: a plain GET form (works without JavaScript). */
    private static void filterForm(StringBuilder h, StatusQueries.Filter f) {
        h.append("<form class=\"filter\" method=\"get\" action=\"/\" role=\"search\">")
            .append("<label>Name <input type=\"search\" name=\"q\" maxlength=\"100\" value=\"")
            .append(Html.esc(f.query() == null ? "" : f.query())).append("\"></label>")
            .append("<label>State <select name=\"state\"><option value=\"\">any</option>");
        for (String st : StatusQueries.STATE_ORDER) {
            h.append("<option").append(st.equals(f.state()) ? " selected" : "").append('>').append(st).append("</option>");
        }
        h.append("</select></label><label>Tag <input name=\"tag\" placeholder=\"key=value\" maxlength=\"265\" value=\"")
            .append(Html.esc(f.tagKey() == null ? "" : f.tagKey() + "=" + f.tagValue())).append("\"></label>")
            .append("<button type=\"submit\">Filter</button></form>\n");
    }

    private static void pager(StringBuilder h, StatusQueries.MonitorPage page) {
        final int first = (page.page() - 1) * page.size() + 1;
        final String params = page.filter().params();
        h.append("<nav class=\"pager\" aria-label=\"Monitor pages\">");
        if (page.page() > 1) {
            final String prev = "page=" + (page.page() - 1) + params;
            h.append("<a rel=\"prev\" href=\"/").append(prev.equals("page=1") ? "" : "?" + Html.esc(prev))
                .append("\">\u2190 Previous</a> ");
        }
        h.append("<span>").append(String.format(Locale.ROOT, "Page %d of %d (monitors %,d\u2013%,d, problems first)",
            page.page(), page.pages(), first, first + page.rows().size() - 1)).append("</span>");
        if (page.page() < page.pages()) {
            h.append(" <a rel=\"next\" href=\"/?page=").append(page.page() + 1).append(Html.esc(params))
                .append("\">Next \u2192</a>");
        }
        h.append("</nav>\n");
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
        compactStrip(h, r.strip());
        h.append("</td>");
        h.append("<td class=\"c-rt\"><div class=\"spark\" role=\"img\" aria-label=\"Response time of ")
            .append(Html.esc(r.name())).append(", last 24 hours, p50 and p95 per 30 minutes\"></div></td>");
        h.append("<td class=\"c-last wide\">");
        lastCheck(h, r.last());
        h.append("</td></tr>\n");
    }

    private static void uptimeCell(StringBuilder h, StatusQueries.Uptime u, String cls) {
        h.append("<td class=\"num").append(cls).append("\" title=\"").append(Html.esc(detail(u))).append("\">").append(Html.percent(u.fraction() == null ? Double.NaN : u.fraction()))
            .append("</td>");
    }

    /** The window's time apart from the percentage: {@code down 5m, maintenance 30m, unknown 10m}. */
    static String detail(StatusQueries.Uptime u) {
        return "up " + Html.duration(u.upMs() / 1000) + ", down " + Html.duration(u.downMs() / 1000)
            + ", maintenance " + Html.duration(u.maintenanceMs() / 1000) + ", unknown "
            + Html.duration(u.unknownMs() / 1000);
    }

    static String bits(List<StatusQueries.Check> checks) {
        final StringBuilder b = new StringBuilder(checks.size());
        for (StatusQueries.Check c : checks) {
            b.append(c.up() ? '1' : '0');
        }
        return b.toString();
    }

    /**
     * The overview's strip: the count as text, the checks as {@code data-bits}; status.js draws the bars when the
     * row scrolls into view (90 elements per row for 1,000 rows would make the page heavy to load).
     */
    static void compactStrip(StringBuilder h, List<StatusQueries.Check> checks) {
        final String bits = bits(checks);
        final long good = bits.chars().filter(c -> c == '1').count();
        h.append("<div class=\"strip\" role=\"img\" aria-label=\"").append(good).append(" of ").append(checks.size())
            .append(" recent checks good\" data-bits=\"").append(bits).append("\"><span class=\"strip-text\">")
            .append(good).append('/').append(checks.size()).append(" good</span></div>");
    }

    /** The detail page's strip: every check a bar with its time. */
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
