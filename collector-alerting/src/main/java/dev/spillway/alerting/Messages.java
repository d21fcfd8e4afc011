package dev.spillway.alerting;

import dev.spillway.uptime.transitions.Notification;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
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
        if (n.type().endsWith(".reminder")) {
            sb.append(", still, since ").append(n.details().get("since")).append(" (reminder ")
                .append(n.details().get("reminder")).append(')');
        }
        final String reason = n.details().get("reason");
        if (reason != null) {
            sb.append(": ").append(reason);
        }
        final String held = n.details().get("held_children");
        if (held != null) {
            sb.append('\n').append(heldLine(Long.parseLong(held)));
        }
        return sb.toString();
    }

    /** The line a parent's message carries when its children's notifications were held. */
    private static String heldLine(long held) {
        return held + " notification" + (held == 1 ? "" : "s") + " of dependent monitors or services held "
            + "(their parent is down)";
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
     * The generic webhook body: Spillway's own fields plus Alertmanager's v4 webhook shape ({@code status},
     * {@code alerts[]}, {@code groupKey}, {@code truncatedAlerts}), so receivers written for either can read it. The
     * firing and the resolved event of one thing carry the same {@code alertname}, labels and {@code fingerprint}.
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
        final boolean firing = firing(n);
        root.put("status", firing ? "firing" : "resolved");
        root.put("groupKey", n.subjectKind() + ":" + n.subject());
        root.put("truncatedAlerts", 0);
        root.put("externalURL", publicUrl);
        root.putObject("commonLabels").setAll(labels(n));
        alert(root.putArray("alerts"), n);
        return Json.write(root);
    }

    /** The most alerts a digest's webhook body lists (Alertmanager's {@code max_alerts}); the rest are counted. */
    static final int DIGEST_MAX_ALERTS = 100;
    /** The most names a digest's sentence lists per group. */
    static final int DIGEST_MAX_NAMES = 10;

    /**
     * One line for a digest: per (kind, new state), in order of first appearance, the count and the first names:
     * {@code 12 monitors down: a, b, c ... and 9 more; 1 service available: backup}.
     */
    public static String digestSentence(List<Notification> members) {
        final Map<String, List<String>> groups = new LinkedHashMap<>();
        for (Notification n : members) {
            final String state = n.type().endsWith(".status") ? "status " + n.newState() : n.newState();
            groups.computeIfAbsent(n.subjectKind() + "\u0000" + state, k -> new ArrayList<>()).add(n.subject());
        }
        final StringBuilder sb = new StringBuilder();
        for (Map.Entry<String, List<String>> g : groups.entrySet()) {
            final String[] key = g.getKey().split("\u0000", 2);
            final List<String> names = g.getValue();
            if (sb.length() > 0) {
                sb.append("; ");
            }
            sb.append(names.size()).append(' ').append(key[0]).append(names.size() == 1 ? "" : "s").append(' ')
                .append(key[1]).append(": ");
            final int shown = Math.min(names.size(), DIGEST_MAX_NAMES);
            sb.append(String.join(", ", names.subList(0, shown)));
            if (names.size() > shown) {
                sb.append(" ... and ").append(names.size() - shown).append(" more");
            }
        }
        final long held = members.stream().map(n -> n.details().get("held_children")).filter(h -> h != null)
            .mapToLong(Long::parseLong).sum();
        if (held > 0) {
            sb.append('\n').append(heldLine(held));
        }
        return sb.toString();
    }

    /** Slack body for a digest: the sentence as {@code text} and one section, and the count in the context. */
    public String slackDigest(List<Notification> members, long id) {
        final boolean critical = members.stream().anyMatch(n -> "critical".equals(severity(n)));
        final boolean warning = members.stream().anyMatch(n -> "warning".equals(severity(n)));
        final String emoji = critical ? ":red_circle:" : warning ? ":large_yellow_circle:" : ":large_green_circle:";
        final String line = emoji + " " + slackEscape(digestSentence(members));
        final ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("text", cap(line, SLACK_SECTION_MAX));
        final ArrayNode blocks = root.putArray("blocks");
        blocks.addObject().put("type", "section").putObject("text").put("type", "mrkdwn")
            .put("text", cap(line, SLACK_SECTION_MAX));
        if (publicUrl != null) {
            blocks.addObject().put("type", "section").putObject("text").put("type", "mrkdwn")
                .put("text", "<" + publicUrl + "|Open the status page>");
        }
        blocks.addObject().put("type", "context").putArray("elements").addObject().put("type", "mrkdwn")
            .put("text", "spillway · digest of " + members.size() + " changes · notification " + id);
        return Json.write(root);
    }

    /**
     * Webhook body for a digest: the Alertmanager group shape, one alert per member (the first
     * {@value #DIGEST_MAX_ALERTS}; {@code truncatedAlerts} counts the rest), plus {@code count} and {@code text}.
     */
    public String webhookDigest(String channelId, List<Notification> members, long id) {
        final ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("version", "4");
        root.put("id", id);
        root.put("type", OutboxEntry.DIGEST_TYPE);
        root.put("count", members.size());
        root.put("text", digestSentence(members));
        root.put("url", publicUrl);
        root.put("status", members.stream().anyMatch(Messages::firing) ? "firing" : "resolved");
        root.put("receiver", channelId);
        root.put("groupKey", "digest:" + channelId);
        root.put("truncatedAlerts", Math.max(0, members.size() - DIGEST_MAX_ALERTS));
        root.put("externalURL", publicUrl);
        final ArrayNode alerts = root.putArray("alerts");
        for (int i = 0; i < Math.min(members.size(), DIGEST_MAX_ALERTS); i++) {
            alert(alerts, members.get(i));
        }
        return Json.write(root);
    }

    private static boolean firing(Notification n) {
        return !"ok".equals(severity(n));
    }

    /**
     * The alert's name, the same for its firing and its resolved event: {@code SpillwayMonitorDown},
     * {@code SpillwayServiceUnavailable}, {@code SpillwayServiceStatus}.
     */
    static String alertName(Notification n) {
        final String kind = capitalize(n.subjectKind());
        if (n.type().endsWith(".status")) {
            return "Spillway" + kind + "Status";
        }
        return "Spillway" + kind + ("service".equals(n.subjectKind()) ? "Unavailable" : "Down");
    }

    /** Labels identify the alert (never its state): the same set for firing and resolved. */
    private static ObjectNode labels(Notification n) {
        final ObjectNode labels = Json.MAPPER.createObjectNode();
        labels.put("alertname", alertName(n));
        labels.put(n.subjectKind(), n.subject());
        labels.put("severity", n.type().endsWith(".status") ? "warning" : "critical");
        return labels;
    }

    /** A stable hash of the labels, as Alertmanager's fingerprint: 16 hex digits. */
    static String fingerprint(Notification n) {
        try {
            final java.security.MessageDigest md = java.security.MessageDigest.getInstance("SHA-256");
            final byte[] h = md.digest((alertName(n) + "\u0000" + n.subjectKind() + "\u0000" + n.subject())
                .getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return java.util.HexFormat.of().formatHex(h, 0, 8);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every JRE", e);
        }
    }

    private void alert(ArrayNode alerts, Notification n) {
        final boolean firing = firing(n);
        final ObjectNode alert = alerts.addObject();
        alert.put("status", firing ? "firing" : "resolved");
        alert.set("labels", labels(n));
        alert.putObject("annotations").put("summary", sentence(n)).put("state", n.newState());
        final String since = n.details().get("unavailable_since");
        alert.put("startsAt", firing || since == null || "null".equals(since) ? iso(n.occurredAt()) : since);
        alert.put("endsAt", firing ? "0001-01-01T00:00:00Z" : iso(n.occurredAt()));
        alert.put("fingerprint", fingerprint(n));
        if (publicUrl != null) {
            alert.put("generatorURL", publicUrl);
        }
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
