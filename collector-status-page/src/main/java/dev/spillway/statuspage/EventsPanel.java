package dev.spillway.statuspage;

import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The newest state changes (monitors and heartbeats), newest first. */
final class EventsPanel {

    private EventsPanel() {
    }

    static List<Map<String, Object>> json(List<StatusQueries.TransitionRow> rows) {
        final List<Map<String, Object>> out = new ArrayList<>(rows.size());
        for (StatusQueries.TransitionRow t : rows) {
            final Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", t.id());
            m.put("kind", t.kind());
            m.put("subject", t.subject());
            m.put("from", t.fromState());
            m.put("to", t.toState());
            m.put("at", t.startedAt() == null ? null : t.startedAt().toEpochMilli());
            m.put("reason", t.reason());
            out.add(m);
        }
        return out;
    }

    static void html(StringBuilder h, List<StatusQueries.TransitionRow> rows) {
        h.append("<section id=\"transitions\" aria-labelledby=\"h-transitions\">\n")
            .append("<h2 id=\"h-transitions\">Recent changes</h2>\n")
            .append("<p class=\"empty\" id=\"transitions-empty\"").append(rows.isEmpty() ? "" : " hidden")
            .append(">No state changes yet.</p>\n")
            .append("<div class=\"scroll\"><table id=\"transitions-table\"").append(rows.isEmpty() ? " hidden" : "")
            .append(">\n<thead><tr><th scope=\"col\">When (UTC)</th><th scope=\"col\">What</th>")
            .append("<th scope=\"col\">Change</th><th scope=\"col\" class=\"wide\">Why</th></tr></thead>\n<tbody>\n");
        for (StatusQueries.TransitionRow t : rows) {
            h.append("<tr><td>").append(t.startedAt() == null ? "" : Html.esc(time(t.startedAt()))).append("</td><td>")
                .append(Html.esc(t.kind())).append(' ').append(Html.esc(t.subject())).append("</td><td>")
                .append(t.fromState() == null ? "" : Html.esc(t.fromState()) + " \u2192 ")
                .append("<span class=\"state state-").append(Html.esc(t.toState().toLowerCase(java.util.Locale.ROOT)))
                .append("\">").append(Html.esc(t.toState())).append("</span></td><td class=\"wide\">")
                .append(Html.esc(t.reason())).append("</td></tr>\n");
        }
        h.append("</tbody></table></div>\n</section>\n");
    }

    static List<Map<String, Object>> notificationsJson(List<StatusQueries.NotificationRow> rows) {
        final List<Map<String, Object>> out = new ArrayList<>(rows.size());
        for (StatusQueries.NotificationRow n : rows) {
            final Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", n.id());
            m.put("channel", n.channel());
            m.put("type", n.type());
            m.put("subject", n.subjectKind() + " " + n.subject());
            m.put("change", (n.oldState() == null ? "" : n.oldState() + " \u2192 ") + n.newState());
            m.put("at", n.occurredAt() == null ? null : n.occurredAt().toEpochMilli());
            m.put("state", n.state());
            m.put("attempts", n.attempts());
            m.put("lastError", n.lastError());
            out.add(m);
        }
        return out;
    }

    /** The newest notifications and how their delivery went (pending, sent, failed). */
    static void notificationsHtml(StringBuilder h, List<StatusQueries.NotificationRow> rows) {
        h.append("<section id=\"notifications\" aria-labelledby=\"h-notifications\">\n")
            .append("<h2 id=\"h-notifications\">Notifications</h2>\n")
            .append("<p class=\"empty\" id=\"notifications-empty\"").append(rows.isEmpty() ? "" : " hidden")
            .append(">No notifications yet.</p>\n")
            .append("<div class=\"scroll\"><table id=\"notifications-table\"").append(rows.isEmpty() ? " hidden" : "")
            .append(">\n<thead><tr><th scope=\"col\">When (UTC)</th><th scope=\"col\">Channel</th>")
            .append("<th scope=\"col\">About</th><th scope=\"col\">Delivery</th><th scope=\"col\" class=\"wide\">")
            .append("Last error</th></tr></thead>\n<tbody>\n");
        for (StatusQueries.NotificationRow n : rows) {
            h.append("<tr><td>").append(n.occurredAt() == null ? "" : Html.esc(time(n.occurredAt()))).append("</td><td>")
                .append(Html.esc(n.channel())).append("</td><td>").append(Html.esc(n.subjectKind())).append(' ')
                .append(Html.esc(n.subject())).append(": ")
                .append(n.oldState() == null ? "" : Html.esc(n.oldState()) + " \u2192 ").append(Html.esc(n.newState()))
                .append("</td><td><span class=\"delivery delivery-").append(Html.esc(n.state())).append("\">")
                .append(Html.esc(n.state())).append("</span>").append(n.attempts() > 1 ? " (" + n.attempts()
                    + " attempts)" : "").append("</td><td class=\"wide\">").append(Html.esc(n.lastError()))
                .append("</td></tr>\n");
        }
        h.append("</tbody></table></div>\n</section>\n");
    }

    static String time(Instant i) {
        return i.toString().replace('T', ' ').replaceAll("\\.\\d+Z$", "Z").replace("Z", "");
    }
}
