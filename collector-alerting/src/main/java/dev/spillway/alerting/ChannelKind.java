package dev.spillway.alerting;

import java.util.Locale;

/** Where a channel delivers. */
public enum ChannelKind {
    /** A Slack incoming webhook: JSON {@code text} plus {@code blocks}. */
    SLACK,
    /** Any HTTP endpoint: the documented generic JSON body. */
    WEBHOOK,
    /** The collector's log; always present, never fails. */
    LOG,
    /** A Discord channel webhook: JSON {@code content} plus one embed. */
    DISCORD,
    /** A Microsoft Teams incoming webhook or workflow: a message with one Adaptive Card. */
    TEAMS,
    /** A Telegram bot: the Bot API's {@code sendMessage} to one chat ({@code bot_token}, {@code chat_id}). */
    TELEGRAM,
    /** PagerDuty Events API v2: trigger on a failure, resolve on the recovery, one {@code dedup_key} per alert. */
    PAGERDUTY,
    /** An ntfy topic: the sentence as the body, {@code Title}, {@code Priority} and {@code Tags} headers. */
    NTFY,
    /** Email over SMTP (STARTTLS or implicit TLS, AUTH PLAIN or LOGIN). */
    EMAIL;

    /** The lower-case name used in the API and the database. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Parses {@code slack}, {@code webhook}, {@code log}, {@code discord}, {@code teams}, {@code telegram},
     * {@code pagerduty}, {@code ntfy} or {@code email}.
     *
     * @throws IllegalArgumentException naming the allowed values
     */
    public static ChannelKind parse(String s) {
        for (ChannelKind k : values()) {
            if (k.id().equals(s)) {
                return k;
            }
        }
        throw new IllegalArgumentException("kind must be one of slack, webhook, discord, teams, telegram, pagerduty, "
            + "ntfy, email (log is built in); was '" + s + "'");
    }
}
