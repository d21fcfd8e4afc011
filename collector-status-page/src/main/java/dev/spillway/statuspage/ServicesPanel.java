package dev.spillway.statuspage;

import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Heartbeat services: state as a word and a colour ({@code new} shows as WAITING: registered, never pinged), the
 * current status by name, the age of the last ping, and timeout + grace.
 */
final class ServicesPanel {

    private ServicesPanel() {
    }

    /** The state word shown for a stored state. */
    static String word(String state) {
        return switch (state) {
            case "up" -> "UP";
            case "down" -> "DOWN";
            default -> "WAITING";
        };
    }

    static List<Map<String, Object>> json(List<StatusQueries.ServiceRow> rows) {
        final List<Map<String, Object>> out = new ArrayList<>(rows.size());
        for (StatusQueries.ServiceRow r : rows) {
            final Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", r.id());
            m.put("state", word(r.state()));
            m.put("status", r.status());
            m.put("statusName", r.statusName());
            m.put("lastPing", r.lastPing() == null ? null : r.lastPing().toEpochMilli());
            m.put("timeoutMs", r.timeoutMs());
            m.put("graceMs", r.graceMs());
            out.add(m);
        }
        return out;
    }

    static void html(StringBuilder h, List<StatusQueries.ServiceRow> rows, Instant now) {
        h.append("<section id=\"services\" aria-labelledby=\"h-services\">\n<h2 id=\"h-services\">Heartbeat services</h2>\n")
            .append("<p class=\"empty\" id=\"services-empty\"").append(rows.isEmpty() ? "" : " hidden")
            .append(">No heartbeat services yet. Register one: <code>curl -XPUT http://HOST/api/v1/services/backup --json "
                + "'{\"timeout\":\"30s\",\"statuses\":[\"ok\",\"degraded\"]}'</code></p>\n")
            .append("<div class=\"scroll\"><table id=\"services-table\"").append(rows.isEmpty() ? " hidden" : "")
            .append(">\n<thead><tr><th scope=\"col\">Service</th><th scope=\"col\">State</th><th scope=\"col\">Status</th>")
            .append("<th scope=\"col\" class=\"num\">Last ping</th><th scope=\"col\" class=\"num wide\">Timeout + grace</th>")
            .append("</tr></thead>\n<tbody>\n");
        for (StatusQueries.ServiceRow r : rows) {
            final String word = word(r.state());
            h.append("<tr data-id=\"").append(Html.esc(r.id())).append("\" data-state=\"").append(word).append("\">")
                .append("<th scope=\"row\">").append(Html.esc(r.id())).append("</th>")
                .append("<td><span class=\"state state-").append(stateClass(word)).append("\">").append(word)
                .append("</span></td><td>").append(Html.esc(r.statusName() == null ? "#" + r.status() : r.statusName()))
                .append("</td><td class=\"num\">").append(r.lastPing() == null ? "never"
                    : Html.duration(now.getEpochSecond() - r.lastPing().getEpochSecond()) + " ago")
                .append("</td><td class=\"num wide\">").append(Html.duration(r.timeoutMs() / 1000)).append(" + ")
                .append(Html.duration(r.graceMs() / 1000)).append("</td></tr>\n");
        }
        h.append("</tbody></table></div>\n</section>\n");
    }

    static String stateClass(String word) {
        return word.equals("WAITING") ? "pending" : word.toLowerCase(Locale.ROOT);
    }
}
