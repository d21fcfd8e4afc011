package dev.spillway.alerting;

import dev.spillway.runtime.config.Units;

import java.time.Duration;

/**
 * The alerting module's validated settings (notifications of heartbeats and monitors). Built by
 * {@link AlertingOptions#settings}.
 *
 * @param slackWebhook a Slack incoming-webhook URL to create (or update) the channel {@code slack} from, or null
 * @param publicUrl the status page's public address, linked from messages, or null
 * @param notifyMaxAge how long undelivered notifications are retried before they are given up
 * @param groupWindow the group window of the {@code slack} channel made from {@code --slack-webhook}
 * @param windows maintenance windows declared in the {@code --monitors} file, validated, put at start (windows not in
 *     the file are left alone)
 * @param channels notification channels declared in the {@code --monitors} file, validated, put at start (channels
 *     not in the file are left alone)
 */
public record AlertingSettings(String slackWebhook, String publicUrl, Duration notifyMaxAge, Duration groupWindow,
                               java.util.List<MaintenanceWindow> windows, java.util.List<ChannelDefinition> channels) {

    /** Copies the lists. */
    public AlertingSettings {
        windows = java.util.List.copyOf(windows);
        channels = java.util.List.copyOf(channels);
    }

    /** Without declared channels. */
    public AlertingSettings(String slackWebhook, String publicUrl, Duration notifyMaxAge, Duration groupWindow,
                            java.util.List<MaintenanceWindow> windows) {
        this(slackWebhook, publicUrl, notifyMaxAge, groupWindow, windows, java.util.List.of());
    }

    /** The same settings with these declared channels. */
    public AlertingSettings withChannels(java.util.List<ChannelDefinition> declared) {
        return new AlertingSettings(slackWebhook, publicUrl, notifyMaxAge, groupWindow, windows, declared);
    }

    /** Without declared windows. */
    public AlertingSettings(String slackWebhook, String publicUrl, Duration notifyMaxAge, Duration groupWindow) {
        this(slackWebhook, publicUrl, notifyMaxAge, groupWindow, java.util.List.of());
    }

    /** The same settings with these declared windows. */
    public AlertingSettings withWindows(java.util.List<MaintenanceWindow> declared) {
        return new AlertingSettings(slackWebhook, publicUrl, notifyMaxAge, groupWindow, declared, channels);
    }

    /** Settings without a group window option: the default window. */
    public AlertingSettings(String slackWebhook, String publicUrl, Duration notifyMaxAge) {
        this(slackWebhook, publicUrl, notifyMaxAge, Channel.DEFAULT_GROUP_WINDOW);
    }

    /** Masks the webhook's secret path; durations as people write them. */
    @Override
    public String toString() {
        return "slackWebhook=" + (slackWebhook == null ? "none" : "set") + " publicUrl="
            + (publicUrl == null ? "none" : publicUrl) + " notifyMaxAge=" + Units.formatDuration(notifyMaxAge)
            + " groupWindow=" + Units.formatDuration(groupWindow) + " windows=" + windows.size() + " channels=" + channels;
    }
}
