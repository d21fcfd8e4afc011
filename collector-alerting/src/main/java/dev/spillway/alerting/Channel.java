package dev.spillway.alerting;

import java.time.Instant;

/**
 * A configured notification channel.
 *
 * @param id unique name, {@code [A-Za-z0-9_.-]{1,64}}
 * @param kind where it delivers
 * @param url the webhook URL (null for the log)
 * @param enabled false after a permanent failure (or when switched off by API)
 * @param disabledReason why it was disabled, e.g. {@code HTTP 404 no_service}; null when enabled
 * @param disabledAt when it was disabled; null when enabled
 * @param groupWindow transitions within this long of the last message go out together as one digest
 *     (0: each transition is its own message)
 * @param repeatInterval while a monitor or service stays down, a reminder every this long (0: no reminders)
 */
public record Channel(String id, ChannelKind kind, String url, boolean enabled, String disabledReason,
                      Instant disabledAt, java.time.Duration groupWindow, java.time.Duration repeatInterval) {

    /** The shortest reminder interval: reminders are for people, not a retry loop. */
    public static final java.time.Duration MIN_REPEAT_INTERVAL = java.time.Duration.ofMinutes(1);
    /** The longest reminder interval. */
    public static final java.time.Duration MAX_REPEAT_INTERVAL = java.time.Duration.ofDays(7);

    /** The default group window. */
    public static final java.time.Duration DEFAULT_GROUP_WINDOW = java.time.Duration.ofSeconds(30);
    /** The longest group window: a digest must not sit for hours. */
    public static final java.time.Duration MAX_GROUP_WINDOW = java.time.Duration.ofHours(1);

    /** The built-in log channel's id. */
    public static final String LOG_ID = "log";

    /** The URL with its secret path masked, for logs and the API (Slack webhook URLs are credentials). */
    public String maskedUrl() {
        return mask(url);
    }

    /**
     * Keeps scheme, host, port and the first path segment of a URL; masks the rest of the path, drops the query and
     * fragment, and shows credentials in the authority ({@code user:password@}) as {@code ***@}.
     */
    public static String mask(String url) {
        if (url == null) {
            return null;
        }
        try {
            final java.net.URI u = java.net.URI.create(url);
            final String path = u.getRawPath() == null ? "" : u.getRawPath();
            final int second = path.indexOf('/', 1);
            final String shown = second < 0 ? path : path.substring(0, second) + "/***";
            if (u.getHost() == null) {
                return "***";
            }
            final String host = u.getHost() + (u.getPort() < 0 ? "" : ":" + u.getPort());
            return u.getScheme() + "://" + (u.getRawUserInfo() == null ? "" : "***@") + host + shown;
        } catch (IllegalArgumentException e) {
            return "***";
        }
    }
}
