package dev.spillway.statuspage;

import dev.spillway.alerting.Maintenance;
import dev.spillway.alerting.MaintenanceWindow;

import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Maintenance: the windows open now (what they cover, until when, why) and the newest notifications held (recorded,
 * not announced) by a window or by a down parent, so a quiet channel during maintenance or an outage is explained on
 * the page.
 */
final class MaintenancePanel {

    /** Held notifications shown. */
    static final int HELD_SHOWN = 20;

    private MaintenancePanel() {
    }

    /** {@link Maintenance.Held#windowId()} of a notification a down parent held: {@code parent:<name>}. */
    private static final String PARENT = "parent:";

    /** The parent's name when a down parent held it (window ids hold no ':'), else null. */
    private static String parent(Maintenance.Held x) {
        return x.windowId() != null && x.windowId().startsWith(PARENT) ? x.windowId().substring(PARENT.length()) : null;
    }

    /** The window's id when a window held it, else null. */
    private static String window(Maintenance.Held x) {
        return parent(x) == null ? x.windowId() : null;
    }

    /** For people: {@code window nightly}, {@code parent db}. */
    private static String heldBy(Maintenance.Held x) {
        return parent(x) != null ? "parent " + parent(x) : "window " + x.windowId();
    }

    private static String covers(MaintenanceWindow w) {
        return "all".equals(w.scope()) ? "everything" : w.scope() + " " + w.target();
    }

    static Map<String, Object> json(List<MaintenanceWindow> windows, List<Maintenance.Held> held, Instant now) {
        final List<Map<String, Object>> open = new ArrayList<>();
        for (MaintenanceWindow w : windows) {
            final Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", w.id());
            m.put("covers", covers(w));
            m.put("until", w.endOfOpening(now) == null ? null : w.endOfOpening(now).toEpochMilli());
            m.put("reason", w.reason());
            open.add(m);
        }
        final List<Map<String, Object>> h = new ArrayList<>();
        for (Maintenance.Held x : held) {
            final Map<String, Object> m = new LinkedHashMap<>();
            m.put("window", window(x));
            m.put("parent", parent(x));
            m.put("heldBy", heldBy(x));
            m.put("type", x.notification().type());
            m.put("subject", x.notification().subject());
            m.put("newState", x.notification().newState());
            m.put("time", x.notification().occurredAt().toEpochMilli());
            h.add(m);
        }
        final Map<String, Object> out = new LinkedHashMap<>();
        out.put("open", open);
        out.put("held", h);
        return out;
    }

    static void html(StringBuilder h, List<MaintenanceWindow> windows, List<Maintenance.Held> held, Instant now) {
        h.append("<section id=\"maintenance\" aria-labelledby=\"h-maintenance\">\n<h2 id=\"h-maintenance\">"
            + "Maintenance</h2>\n");
        if (windows.isEmpty()) {
            h.append("<p class=\"empty\" id=\"maintenance-empty\">No maintenance window is open.</p>\n");
        } else {
            h.append("<ul id=\"maintenance-open\">\n");
            for (MaintenanceWindow w : windows) {
                final Instant until = w.endOfOpening(now);
                h.append("<li data-id=\"").append(Html.esc(w.id())).append("\"><strong>").append(Html.esc(w.id()))
                    .append("</strong>: ").append(Html.esc(covers(w)));
                if (until != null) {
                    h.append(", for ").append(Html.duration(Math.max(0, until.getEpochSecond() - now.getEpochSecond())))
                        .append(" more");
                }
                if (w.reason() != null) {
                    h.append(" (").append(Html.esc(w.reason())).append(')');
                }
                h.append("</li>\n");
            }
            h.append("</ul>\n");
        }
        if (!held.isEmpty()) {
            h.append("<h3>Held notifications</h3>\n<div class=\"scroll\"><table id=\"maintenance-held\">\n<thead><tr>"
                + "<th scope=\"col\">Time</th><th scope=\"col\">Subject</th><th scope=\"col\">Change</th>"
                + "<th scope=\"col\">Held by</th></tr></thead>\n<tbody>\n");
            for (Maintenance.Held x : held) {
                h.append("<tr><td>").append(Html.esc(x.notification().occurredAt().toString())).append("</td><td>")
                    .append(Html.esc(x.notification().subjectKind() + " " + x.notification().subject()))
                    .append("</td><td>").append(Html.esc(x.notification().type())).append("</td><td>")
                    .append(Html.esc(heldBy(x))).append("</td></tr>\n");
            }
            h.append("</tbody></table></div>\n");
        }
        h.append("</section>\n");
    }
}
