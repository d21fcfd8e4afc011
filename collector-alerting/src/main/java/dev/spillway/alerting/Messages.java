package dev.spillway.alerting;

import dev.spillway.uptime.transitions.Notification;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.Locale;
import java.util.Map;

/**
 * Renders a notification for each channel kind: one plain sentence (the log, Slack's {@code text}), Slack's
 * {@code blocks}, and the generic webhook body. The formats are documented in
 * {@code docs/heartbeats-and-notifications.md}; change them together.
 */
public final class Messages {

    /** Slack's limit for a section's text is 3000 characters; fields are shorter. */
    private static final int SLACK_SECTION_MAX = 3000;
    private static final int SLACK_FIELD_MAX = 1900;
    private static final int SLACK_MAX_FIELDS = 10;

    private final String publicUrl;

    /** @param publicUrl the status page's address for links (from {@code --public-url}), or null */
    public Messages(String publicUrl) {
        this.publicUrl = publicUrl == null || publicUrl.isBlank() ? null : publicUrl;
    }

    /** {@code critical} (unavailable, down), {@code warning} (a non-normal status), or {@code ok}. */
    public static String severity(Notification n) {
        if ("unavailable".equals(n.newState()) || "down".equalsIgnoreCase(n.newState())) {
            return "critical";
        }
        final String index = n.details().get("status_index");
        return index != null && !"0".equals(index) ? "warning" : "ok";
    }

    /** One line for people: {@code Service checkout is unavailable (was available); no ping since ...}. */
    public static String sentence(Notification n) {
        final StringBuilder sb = new StringBuilder(96)
            .append(capitalize(n.subjectKind())).append(' ').append(n.subject());
        if (n.type().endsWith(".status")) {
            sb.append(" status is ").append(n.newState());
            if (n.oldState() != null) {
                sb.append(" (was ").append(n.oldState()).append(')');
            }
        } else {
            sb.append(" is ").append(n.newState());
            if (n.oldState() != null) {
                sb.append(" (was ").append(n.oldState()).append(')');
            }
            final String status = n.details().get("status");
            if (status != null && !"0".equals(n.details().get("status_index"))) {
                sb.append(", status ").append(status);
            }
        }
        final String reason = n.details().get("reason");
        if (reason != null) {
            sb.append(": ").append(reason);
        }
        return sb.toString();
    }

    /** Slack incoming-webhook JSON: {@code text} (notifications, fallbacks) plus a {@code blocks} layout. */
    public String slack(Notification n, long id) {
        final String emoji = switch (severity(n)) {
            case "critical" -> ":red_circle:";
            case "warning" -> ":large_yellow_circle:";
            default -> ":large_green_circle:";
        };
        final ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("text", emoji + " " + slackEscape(sentence(n)));
        final ArrayNode blocks = root.putArray("blocks");
        final ObjectNode headline = blocks.addObject().put("type", "section");
        headline.putObject("text").put("type", "mrkdwn").put("text", cap(emoji + " *" + slackEscape(capitalize(
            n.subjectKind()) + " " + n.subject()) + "* " + slackEscape(verb(n)) + " *" + slackEscape(n.newState())
            + "*", SLACK_SECTION_MAX));
        final ArrayNode fields = blocks.addObject().put("type", "section").putArray("fields");
        field(fields, capitalize(n.subjectKind()), "`" + n.subject() + "`");
        field(fields, "State", (n.oldState() == null ? "" : n.oldState() + " → ") + n.newState());
        field(fields, "Since", slackDate(n.occurredAt()));
        for (Map.Entry<String, String> d : n.details().entrySet()) {
            if (fields.size() >= SLACK_MAX_FIELDS) {
                break;
            }
            if (!d.getKey().equals("status_index")) {
                field(fields, capitalize(d.getKey().replace('_', ' ')), d.getValue());
            }
        }
        if (publicUrl != null) {
            blocks.addObject().put("type", "section").putObject("text").put("type", "mrkdwn")
                .put("text", "<" + publicUrl + "|Open the status page>");
        }
        blocks.addObject().put("type", "context").putArray("elements").addObject().put("type", "mrkdwn")
            .put("text", "spillway · " + n.type() + " · notification " + id);
        return Json.write(root);
    }

    /**
     * The generic webhook body: Spillway's own fields plus Alertmanager's v4 shape ({@code status},
     * {@code alerts[]}), so receivers written for either can read it.
     */
    public String webhook(Notification n, long id) {
        final ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("version", "4");
        root.put("id", id);
        root.put("type", n.type());
        root.putObject("subject").put("kind", n.subjectKind()).put("id", n.subject());
        root.put("old_state", n.oldState());
        root.put("new_state", n.newState());
        root.put("time", iso(n.occurredAt()));
        root.put("severity", severity(n));
        root.put("text", sentence(n));
        final ObjectNode details = root.putObject("details");
        n.details().forEach(details::put);
        root.put("url", publicUrl);
        final boolean firing = !"ok".equals(severity(n));
        root.put("status", firing ? "firing" : "resolved");
        final ObjectNode alert = root.putArray("alerts").addObject();
        alert.put("status", firing ? "firing" : "resolved");
        alert.putObject("labels").put("alertname", n.type()).put(n.subjectKind(), n.subject())
            .put("severity", severity(n));
        alert.putObject("annotations").put("summary", sentence(n));
        alert.put("startsAt", iso(n.occurredAt()));
        alert.put("endsAt", firing ? "0001-01-01T00:00:00Z" : iso(n.occurredAt()));
        alert.put("fingerprint", n.subjectKind() + ":" + n.subject());
        if (publicUrl != null) {
            alert.put("generatorURL", publicUrl);
        }
        return Json.write(root);
    }

    private static String verb(Notification n) {
        return n.type().endsWith(".status") ? "status is" : "is";
    }

    private static void field(ArrayNode fields, String title, String value) {
        fields.addObject().put("type", "mrkdwn").put("text", cap("*" + slackEscape(title) + "*\n"
            + (value.startsWith("`") || value.startsWith("<!date") ? value : slackEscape(value)), SLACK_FIELD_MAX));
    }

    /** Slack renders dates in the reader's time zone; the fallback after '|' is UTC. */
    private static String slackDate(Instant t) {
        return "<!date^" + t.getEpochSecond() + "^{date_short_pretty} {time_secs}|" + iso(t) + ">";
    }

    private static String iso(Instant t) {
        return DateTimeFormatter.ISO_INSTANT.format(t.truncatedTo(ChronoUnit.MILLIS));
    }

    /** Slack's three control characters in mrkdwn. */
    static String slackEscape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }

    private static String cap(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max - 1) + "…";
    }

    private static String capitalize(String s) {
        return s.isEmpty() ? s : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1);
    }
}
