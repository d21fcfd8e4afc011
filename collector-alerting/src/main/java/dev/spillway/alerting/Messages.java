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

    /** The status page's address for links, or null. */
    String publicUrl() {
        return publicUrl;
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

    // ---- Discord, Teams, Telegram, PagerDuty, ntfy, email -------------------------------------------------------

    /** Discord's limits: message content 2000, embed title 256, description 4096, field value 1024, 25 fields. */
    private static final int DISCORD_CONTENT_MAX = 2000;
    private static final int DISCORD_DESCRIPTION_MAX = 4096;
    private static final int DISCORD_FIELD_MAX = 1024;
    /** Telegram's limit for a message's text. */
    private static final int TELEGRAM_TEXT_MAX = 4096;
    /** PagerDuty's limit for {@code payload.summary}. */
    private static final int PAGERDUTY_SUMMARY_MAX = 1024;
    /** Lines of a mail body stay far below SMTP's 998. */
    private static final int MAIL_LINE_MAX = 900;

    /** A Unicode circle for people: red (critical), yellow (warning), green (ok). */
    static String circle(String severity) {
        return switch (severity) {
            case "critical" -> "\uD83D\uDD34";
            case "warning" -> "\uD83D\uDFE1";
            default -> "\uD83D\uDFE2";
        };
    }

    private static String digestSeverity(List<Notification> members) {
        return members.stream().anyMatch(n -> "critical".equals(severity(n))) ? "critical"
            : members.stream().anyMatch(n -> "warning".equals(severity(n))) ? "warning" : "ok";
    }

    /** The headline without state history: {@code Monitor shop is down}. */
    static String title(Notification n) {
        return capitalize(n.subjectKind()) + " " + n.subject() + " " + verb(n) + " " + n.newState();
    }

    /** Discord's markdown characters, escaped with a backslash. */
    static String discordEscape(String s) {
        return s.replaceAll("([\\\\*_~`|>])", "\\\\$1");
    }

    /**
     * Discord webhook JSON: {@code content} (the sentence; what notifications show) and one embed (title, colour by
     * severity, fields, time, footer with the notification id); mentions are switched off.
     */
    String discord(Notification n, long id) {
        final String sev = severity(n);
        final ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("username", "Spillway");
        root.put("content", cap(circle(sev) + " " + discordEscape(sentence(n)), DISCORD_CONTENT_MAX));
        root.putObject("allowed_mentions").putArray("parse");
        final ObjectNode embed = root.putArray("embeds").addObject();
        embed.put("title", cap(title(n), 256));
        embed.put("color", discordColor(sev));
        embed.put("timestamp", iso(n.occurredAt()));
        if (publicUrl != null) {
            embed.put("url", publicUrl);
        }
        final ArrayNode fields = embed.putArray("fields");
        fields.addObject().put("name", capitalize(n.subjectKind())).put("value", cap(n.subject(), DISCORD_FIELD_MAX))
            .put("inline", true);
        fields.addObject().put("name", "State").put("value", (n.oldState() == null ? "" : n.oldState() + " → ")
            + n.newState()).put("inline", true);
        for (Map.Entry<String, String> d : n.details().entrySet()) {
            if (fields.size() >= 25) {
                break;
            }
            if (!d.getKey().equals("status_index") && d.getValue() != null && !d.getValue().isEmpty()) {
                fields.addObject().put("name", cap(capitalize(d.getKey().replace('_', ' ')), 256))
                    .put("value", cap(d.getValue(), DISCORD_FIELD_MAX)).put("inline", false);
            }
        }
        embed.putObject("footer").put("text", "spillway · " + n.type() + " · notification " + id);
        return Json.write(root);
    }

    /** Discord webhook JSON for a digest: the sentence as {@code content} and the member lines in one embed. */
    String discordDigest(List<Notification> members, long id) {
        final String sev = digestSeverity(members);
        final ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("username", "Spillway");
        root.put("content", cap(circle(sev) + " " + discordEscape(digestSentence(members)), DISCORD_CONTENT_MAX));
        root.putObject("allowed_mentions").putArray("parse");
        final ObjectNode embed = root.putArray("embeds").addObject();
        embed.put("title", members.size() + " changes");
        embed.put("color", discordColor(sev));
        embed.put("description", cap(memberLines(members, "\n"), DISCORD_DESCRIPTION_MAX));
        if (publicUrl != null) {
            embed.put("url", publicUrl);
        }
        embed.putObject("footer").put("text", "spillway · digest of " + members.size() + " changes · notification "
            + id);
        return Json.write(root);
    }

    private static int discordColor(String severity) {
        return switch (severity) {
            case "critical" -> 0xD93025;
            case "warning" -> 0xF9AB00;
            default -> 0x1E8E3E;
        };
    }

    /** Up to {@value #DIGEST_MAX_ALERTS} member sentences, one a line, then how many more. */
    private static String memberLines(List<Notification> members, String newline) {
        final StringBuilder sb = new StringBuilder();
        final int shown = Math.min(members.size(), DIGEST_MAX_ALERTS);
        for (int i = 0; i < shown; i++) {
            sb.append(circle(severity(members.get(i)))).append(' ').append(sentence(members.get(i))).append(newline);
        }
        if (members.size() > shown) {
            sb.append("... and ").append(members.size() - shown).append(" more").append(newline);
        }
        return sb.toString().strip();
    }

    /**
     * Microsoft Teams (incoming webhook or a workflow's "When a Teams webhook request is received"): a
     * {@code message} with one Adaptive Card (1.4): the headline coloured by severity, the sentence, a fact set, and
     * a link to the status page.
     */
    String teams(Notification n, long id) {
        final ObjectNode card = teamsCard();
        final ArrayNode body = card.putArray("body");
        body.addObject().put("type", "TextBlock").put("size", "Large").put("weight", "Bolder").put("wrap", true)
            .put("color", teamsColor(severity(n))).put("text", circle(severity(n)) + " " + title(n));
        body.addObject().put("type", "TextBlock").put("wrap", true).put("text", sentence(n));
        final ArrayNode facts = body.addObject().put("type", "FactSet").putArray("facts");
        facts.addObject().put("title", capitalize(n.subjectKind())).put("value", n.subject());
        facts.addObject().put("title", "State").put("value", (n.oldState() == null ? "" : n.oldState() + " → ")
            + n.newState());
        facts.addObject().put("title", "Since").put("value", iso(n.occurredAt()));
        for (Map.Entry<String, String> d : n.details().entrySet()) {
            if (!d.getKey().equals("status_index") && facts.size() < 20) {
                facts.addObject().put("title", capitalize(d.getKey().replace('_', ' '))).put("value", d.getValue());
            }
        }
        body.addObject().put("type", "TextBlock").put("isSubtle", true).put("size", "Small").put("wrap", true)
            .put("text", "spillway · " + n.type() + " · notification " + id);
        teamsLink(card);
        return Json.write(teamsMessage(card));
    }

    /** Microsoft Teams for a digest: the sentence as the headline and one line per member. */
    String teamsDigest(List<Notification> members, long id) {
        final ObjectNode card = teamsCard();
        final ArrayNode body = card.putArray("body");
        final String sev = digestSeverity(members);
        body.addObject().put("type", "TextBlock").put("size", "Large").put("weight", "Bolder").put("wrap", true)
            .put("color", teamsColor(sev)).put("text", circle(sev) + " " + digestSentence(members));
        // A TextBlock's markdown needs a blank line between paragraphs; one block per line is plainer.
        final int shown = Math.min(members.size(), DIGEST_MAX_ALERTS);
        for (int i = 0; i < shown; i++) {
            body.addObject().put("type", "TextBlock").put("wrap", true).put("spacing", "None")
                .put("text", sentence(members.get(i)));
        }
        if (members.size() > shown) {
            body.addObject().put("type", "TextBlock").put("wrap", true).put("text", "... and " + (members.size()
                - shown) + " more");
        }
        body.addObject().put("type", "TextBlock").put("isSubtle", true).put("size", "Small").put("wrap", true)
            .put("text", "spillway · digest of " + members.size() + " changes · notification " + id);
        teamsLink(card);
        return Json.write(teamsMessage(card));
    }

    private static ObjectNode teamsCard() {
        final ObjectNode card = Json.MAPPER.createObjectNode();
        card.put("$schema", "http://adaptivecards.io/schemas/adaptive-card.json");
        card.put("type", "AdaptiveCard");
        card.put("version", "1.4");
        return card;
    }

    private void teamsLink(ObjectNode card) {
        if (publicUrl != null) {
            card.putArray("actions").addObject().put("type", "Action.OpenUrl").put("title", "Open the status page")
                .put("url", publicUrl);
        }
    }

    private static ObjectNode teamsMessage(ObjectNode card) {
        final ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("type", "message");
        final ObjectNode attachment = root.putArray("attachments").addObject();
        attachment.put("contentType", "application/vnd.microsoft.card.adaptive");
        attachment.putNull("contentUrl");
        attachment.set("content", card);
        return root;
    }

    private static String teamsColor(String severity) {
        return switch (severity) {
            case "critical" -> "Attention";
            case "warning" -> "Warning";
            default -> "Good";
        };
    }

    /** Telegram {@code sendMessage} JSON: plain text (no parse mode, so names need no escaping), no link preview. */
    String telegram(Notification n, String chatId) {
        return telegramText(chatId, circle(severity(n)) + " " + sentence(n) + (publicUrl == null ? "" : "\n"
            + publicUrl));
    }

    /** Telegram {@code sendMessage} JSON for a digest: the sentence, then one line per member. */
    String telegramDigest(List<Notification> members, String chatId) {
        return telegramText(chatId, circle(digestSeverity(members)) + " " + digestSentence(members) + "\n\n"
            + memberLines(members, "\n") + (publicUrl == null ? "" : "\n" + publicUrl));
    }

    private static String telegramText(String chatId, String text) {
        final ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("chat_id", chatId);
        root.put("text", cap(text, TELEGRAM_TEXT_MAX));
        root.put("disable_web_page_preview", true);
        return Json.write(root);
    }

    /**
     * The PagerDuty dedup key of a notification: the same for an alert's firing, its reminders and its resolve
     * ({@code spillway-} and the alert's {@link #fingerprint}), so PagerDuty pairs them into one incident.
     */
    static String dedupKey(Notification n) {
        return "spillway-" + fingerprint(n);
    }

    /** Whether the notification fires (PagerDuty {@code trigger}) or resolves ({@code resolve}). */
    static boolean fires(Notification n) {
        return firing(n);
    }

    /**
     * PagerDuty Events API v2 JSON: {@code trigger} with a payload (summary, source, severity, time, component,
     * group, class, custom details) for a failure; {@code resolve} with the same {@code dedup_key} for the recovery.
     */
    String pagerduty(Notification n, long id, String routingKey) {
        return pagerduty(n, id, routingKey, dedupKey(n));
    }

    /** As {@link #pagerduty(Notification, long, String)}, with the dedup key of the incident the alert is in. */
    String pagerduty(Notification n, long id, String routingKey, String dedupKey) {
        final ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("routing_key", routingKey);
        final boolean trigger = firing(n);
        root.put("event_action", trigger ? "trigger" : "resolve");
        root.put("dedup_key", dedupKey);
        if (trigger) {
            final ObjectNode payload = root.putObject("payload");
            payload.put("summary", cap(sentence(n), PAGERDUTY_SUMMARY_MAX));
            payload.put("source", n.subject());
            payload.put("severity", "critical".equals(severity(n)) ? "critical" : "warning");
            payload.put("timestamp", iso(n.occurredAt()));
            payload.put("component", n.subject());
            payload.put("group", n.subjectKind());
            payload.put("class", alertName(n));
            final ObjectNode custom = payload.putObject("custom_details");
            custom.put("type", n.type());
            custom.put("old_state", n.oldState());
            custom.put("new_state", n.newState());
            custom.put("notification_id", id);
            n.details().forEach(custom::put);
            root.put("client", "Spillway");
            if (publicUrl != null) {
                root.put("client_url", publicUrl);
            }
        }
        return Json.write(root);
    }

    /** PagerDuty's resolve of an incident by its dedup key (a group's, when its last member recovered). */
    static String pagerdutyResolve(String dedupKey, String routingKey) {
        final ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("routing_key", routingKey);
        root.put("event_action", "resolve");
        root.put("dedup_key", dedupKey);
        return Json.write(root);
    }

    /**
     * PagerDuty's trigger of a group: the failures of one digest as one incident ({@code dedup_key} the group's),
     * the digest sentence as the summary (it names the count), and the members in {@code custom_details} (the
     * first {@value #DIGEST_MAX_ALERTS}; {@code truncated} counts the rest).
     */
    String pagerdutyGroup(List<Notification> members, long id, String routingKey, String dedupKey) {
        final ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("routing_key", routingKey);
        root.put("event_action", "trigger");
        root.put("dedup_key", dedupKey);
        final ObjectNode payload = root.putObject("payload");
        payload.put("summary", cap(digestSentence(members), PAGERDUTY_SUMMARY_MAX));
        payload.put("source", "spillway");
        payload.put("severity", members.stream().anyMatch(n -> "critical".equals(severity(n))) ? "critical"
            : "warning");
        payload.put("timestamp", iso(members.stream().map(Notification::occurredAt).min(Instant::compareTo)
            .orElseThrow()));
        payload.put("group", "digest");
        payload.put("class", "SpillwayGroup");
        final ObjectNode custom = payload.putObject("custom_details");
        custom.put("count", members.size());
        custom.put("notification_id", id);
        final ArrayNode list = custom.putArray("members");
        for (int i = 0; i < Math.min(members.size(), DIGEST_MAX_ALERTS); i++) {
            final Notification n = members.get(i);
            list.addObject().put("kind", n.subjectKind()).put("name", n.subject()).put("type", n.type())
                .put("state", n.newState()).put("since", iso(n.occurredAt()));
        }
        custom.put("truncated", Math.max(0, members.size() - DIGEST_MAX_ALERTS));
        root.put("client", "Spillway");
        if (publicUrl != null) {
            root.put("client_url", publicUrl);
        }
        return Json.write(root);
    }

    /** ntfy's headers and body of one message. */
    record Ntfy(String title, String body, int priority, String tags) {
    }

    /**
     * ntfy: the sentence as the body; {@code Title} the headline, {@code Priority} 5 (critical), 4 (warning) or 3,
     * {@code Tags} an emoji short code ({@code rotating_light}, {@code warning}, {@code white_check_mark}) and the
     * subject's kind.
     */
    Ntfy ntfy(Notification n) {
        final String sev = severity(n);
        return new Ntfy(title(n), sentence(n), ntfyPriority(sev), ntfyTag(sev) + "," + n.subjectKind());
    }

    /** ntfy for a digest: the sentence as the title, one line per member as the body. */
    Ntfy ntfyDigest(List<Notification> members) {
        final String sev = digestSeverity(members);
        return new Ntfy(cap(digestSentence(members), 250), memberLines(members, "\n"), ntfyPriority(sev),
            ntfyTag(sev) + ",digest");
    }

    private static int ntfyPriority(String severity) {
        return switch (severity) {
            case "critical" -> 5;
            case "warning" -> 4;
            default -> 3;
        };
    }

    private static String ntfyTag(String severity) {
        return switch (severity) {
            case "critical" -> "rotating_light";
            case "warning" -> "warning";
            default -> "white_check_mark";
        };
    }

    /** A mail's subject and plain-text body (the SMTP client adds the headers). */
    record Mail(String subject, String body) {
    }

    /** Email: {@code [spillway] <sentence>} as the subject; the body lists subject, state, time, details, link. */
    Mail email(Notification n, long id) {
        final StringBuilder b = new StringBuilder();
        b.append(sentence(n)).append("\n\n");
        b.append(capitalize(n.subjectKind())).append(": ").append(n.subject()).append('\n');
        b.append("State: ").append(n.oldState() == null ? "" : n.oldState() + " -> ").append(n.newState()).append('\n');
        b.append("Since: ").append(iso(n.occurredAt())).append('\n');
        for (Map.Entry<String, String> d : n.details().entrySet()) {
            if (!d.getKey().equals("status_index")) {
                b.append(capitalize(d.getKey().replace('_', ' '))).append(": ").append(d.getValue()).append('\n');
            }
        }
        if (publicUrl != null) {
            b.append('\n').append("Status page: ").append(publicUrl).append('\n');
        }
        b.append("\n-- \nspillway, ").append(n.type()).append(", notification ").append(id).append('\n');
        return new Mail(cap("[spillway] " + sentence(n), 200), mailLines(b.toString()));
    }

    /** Email for a digest: the sentence as the subject, one line per member in the body. */
    Mail emailDigest(List<Notification> members, long id) {
        final StringBuilder b = new StringBuilder();
        b.append(digestSentence(members)).append("\n\n").append(memberLines(members, "\n")).append('\n');
        if (publicUrl != null) {
            b.append('\n').append("Status page: ").append(publicUrl).append('\n');
        }
        b.append("\n-- \nspillway, digest of ").append(members.size()).append(" changes, notification ").append(id)
            .append('\n');
        return new Mail(cap("[spillway] " + digestSentence(members), 200), mailLines(b.toString()));
    }

    /** Caps every line (SMTP allows 998 octets), and no bare CR. */
    private static String mailLines(String text) {
        final StringBuilder out = new StringBuilder(text.length());
        for (String line : text.replace("\r", "").split("\n", -1)) {
            out.append(cap(line, MAIL_LINE_MAX)).append('\n');
        }
        return out.substring(0, out.length() - 1);
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
