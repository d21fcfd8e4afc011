package dev.spillway.alerting;

import java.time.Instant;

/**
 * A configured notification channel.
 *
 * @param id unique name, {@code [A-Za-z0-9_.-]{1,64}}
 * @param kind where it delivers
 * @param url the webhook URL; for telegram and pagerduty the API's address (null: the public one); null for the
 *     log and email
 * @param enabled false after a permanent failure (or when switched off by API)
 * @param disabledReason why it was disabled, e.g. {@code HTTP 404 no_service}; null when enabled
 * @param disabledAt when it was disabled; null when enabled
 * @param groupWindow transitions within this long of the last message go out together as one digest
 *     (0: each transition is its own message)
 * @param repeatInterval while a monitor or service stays down, a reminder every this long (0: no reminders)
 * @param options the kind's further settings (e.g. {@code chat_id}, {@code bot_token}, {@code host}); secrets among
 *     them ({@link #SECRET_OPTIONS}) are shown only by {@link #maskedOptions()}
 */
public record Channel(String id, ChannelKind kind, String url, boolean enabled, String disabledReason,
                      Instant disabledAt, java.time.Duration groupWindow, java.time.Duration repeatInterval,
                      java.util.Map<String, String> options) {

    /** Options that are credentials: never shown, never logged. */
    public static final java.util.Set<String> SECRET_OPTIONS = java.util.Set.of("bot_token", "routing_key", "token",
        "password");
    /** How a secret option is shown; a PUT with this value keeps the stored secret. */
    public static final String MASK = "***";

    /** A channel without options (Slack, webhook, log). */
    public Channel(String id, ChannelKind kind, String url, boolean enabled, String disabledReason,
                   Instant disabledAt, java.time.Duration groupWindow, java.time.Duration repeatInterval) {
        this(id, kind, url, enabled, disabledReason, disabledAt, groupWindow, repeatInterval, java.util.Map.of());
    }

    /** Copies the options; none is an empty map. */
    public Channel {
        options = options == null ? java.util.Map.of() : java.util.Collections.unmodifiableMap(
            new java.util.TreeMap<>(options));
    }

    /** One option, or null. */
    public String option(String key) {
        return options.get(key);
    }

    /** The options with every secret as {@value #MASK}. */
    public java.util.Map<String, String> maskedOptions() {
        final java.util.Map<String, String> out = new java.util.TreeMap<>();
        options.forEach((k, v) -> out.put(k, SECRET_OPTIONS.contains(k) ? MASK : v));
        return out;
    }

    /** Never the secrets: the URL masked, the options masked. */
    @Override
    public String toString() {
        return "Channel[" + id + " " + kind.id() + " " + maskedUrl() + " " + maskedOptions() + "]";
    }

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
        if (kind == ChannelKind.NTFY && url != null) {
            // The topic is the secret of a public ntfy server: whoever knows it reads and writes it.
            final String m = mask(url);
            final int path = m.indexOf('/', m.indexOf("://") + 3);
            return path < 0 ? m : m.substring(0, path) + "/***";
        }
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
