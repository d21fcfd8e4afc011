package dev.spillway.alerting;

import dev.spillway.uptime.transitions.Notification;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Delivers one outbox row (or a digest of its members) to a Discord, Teams, Telegram, PagerDuty, ntfy or email
 * channel: the body from {@link Messages}, the request or the mail, and the receiver's answer for the lane to record.
 * Secrets (a bot token in Telegram's URL path, a routing key in PagerDuty's body, ntfy's bearer token, the SMTP
 * password) go to the receiver only; answers and errors never repeat them.
 */
final class ChannelSender {

    private final WebhookClient http;
    private final SmtpClient smtp;
    private final Messages messages;

    ChannelSender(WebhookClient http, SmtpClient smtp, Messages messages) {
        this.http = http;
        this.smtp = smtp;
        this.messages = messages;
    }

    /** Sends; never throws for what the network or the receiver does. */
    Answer send(Channel ch, OutboxEntry row, List<Notification> members) throws InterruptedException {
        final boolean digest = !members.isEmpty();
        final Notification n = row.notification();
        final long id = row.id();
        return switch (ch.kind()) {
            case DISCORD -> http.post(ch.url(), digest ? messages.discordDigest(members, id)
                : messages.discord(n, id), id);
            case TEAMS -> http.post(ch.url(), digest ? messages.teamsDigest(members, id) : messages.teams(n, id), id);
            case TELEGRAM -> http.post(base(ch.url(), ChannelOptions.TELEGRAM_API) + "/bot" + ch.option("bot_token")
                + "/sendMessage", digest ? messages.telegramDigest(members, ch.option("chat_id"))
                : messages.telegram(n, ch.option("chat_id")), id);
            case PAGERDUTY -> throw new IllegalArgumentException("pagerduty is sent by its plan");
            case NTFY -> ntfy(ch, digest ? messages.ntfyDigest(members) : messages.ntfy(n), id);
            case EMAIL -> smtp.send(ch, digest ? messages.emailDigest(members, id) : messages.email(n, id), id);
            case SLACK, WEBHOOK, LOG -> throw new IllegalArgumentException("not sent here: " + ch.kind());
        };
    }

    /**
     * PagerDuty: the plan's events in order (see {@link PagerDutyGroups}), stopping at the first that is not
     * accepted; sending them again repeats dedup keys PagerDuty deduplicates. No event: nothing is sent.
     */
    Answer pagerduty(Channel ch, PagerDutyGroups.Plan plan, long id) throws InterruptedException {
        if (plan.events().isEmpty()) {
            return Answer.nothingToSend(plan.note());
        }
        Answer last = null;
        for (String event : plan.events()) {
            last = http.post(base(ch.url(), ChannelOptions.PAGERDUTY_API) + "/v2/enqueue", event, id);
            if (last.outcome() != Answer.Outcome.SENT) {
                return last;
            }
        }
        return last;
    }

    private Answer ntfy(Channel ch, Messages.Ntfy m, long id) throws InterruptedException {
        final Map<String, String> headers = new LinkedHashMap<>();
        headers.put("Title", SmtpClient.encodeHeader(m.title(), " "));
        headers.put("Priority", Integer.toString(m.priority()));
        headers.put("Tags", m.tags());
        if (messages.publicUrl() != null) {
            headers.put("Click", messages.publicUrl());
        }
        if (ch.option("token") != null) {
            headers.put("Authorization", "Bearer " + ch.option("token"));
        }
        return http.post(ch.url(), "text/plain; charset=utf-8", m.body(), headers, id);
    }

    /** The API's base address: the channel's {@code url} without a trailing slash, or the public service's. */
    private static String base(String url, String fallback) {
        final String b = url == null || url.isBlank() ? fallback : url;
        return b.endsWith("/") ? b.substring(0, b.length() - 1) : b;
    }
}
