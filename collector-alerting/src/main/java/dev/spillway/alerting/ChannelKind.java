package dev.spillway.alerting;

import java.util.Locale;

/** Where a channel delivers. */
public enum ChannelKind {
    /** A Slack incoming webhook: JSON {@code text} plus {@code blocks}. */
    SLACK,
    /** Any HTTP endpoint: the documented generic JSON body. */
    WEBHOOK,
    /** The collector's log; always present, never fails. */
    LOG;

    /** The lower-case name used in the API and the database. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Parses {@code slack}, {@code webhook} or {@code log}.
     *
     * @throws IllegalArgumentException naming the allowed values
     */
    public static ChannelKind parse(String s) {
        for (ChannelKind k : values()) {
            if (k.id().equals(s)) {
                return k;
            }
        }
        throw new IllegalArgumentException("kind must be one of slack, webhook, log; was '" + s + "'");
    }
}
