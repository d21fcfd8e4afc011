package dev.spillway.collector.config;

import dev.spillway.runtime.config.Units;

import java.time.Duration;

/**
 * Settings of heartbeats and notifications under their old name; the alerting module's own record is
 * {@link dev.spillway.alerting.AlertingSettings} ({@link CollectorConfig#alertingSettings()}). Kept while the
 * wiring moves to the module records.
 *
 * @param slackWebhook a Slack incoming-webhook URL to create (or update) the channel {@code slack} from, or null
 * @param publicUrl the status page's public address, linked from messages, or null
 * @param notifyMaxAge how long undelivered notifications are retried before they are given up
 */
public record AlertingConfig(String slackWebhook, String publicUrl, Duration notifyMaxAge) {

    /** Masks the webhook's secret path. */
    @Override
    public String toString() {
        return "slackWebhook=" + (slackWebhook == null ? "none" : "set") + " publicUrl=" + publicUrl
            + " notifyMaxAge=" + Units.formatDuration(notifyMaxAge);
    }
}
