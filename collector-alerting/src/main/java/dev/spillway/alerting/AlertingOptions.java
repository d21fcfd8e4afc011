package dev.spillway.alerting;

import dev.spillway.runtime.config.ConfigException;
import dev.spillway.runtime.config.OptionValues;
import picocli.CommandLine.Option;

import java.time.Duration;

/**
 * The alerting module's command-line options (a picocli mixin of the collector's command). Values are kept as text
 * and converted by {@link #settings}, so that a value from the command line, the environment or a config file
 * fails with the same message naming the option.
 */
public final class AlertingOptions {

    @Option(names = "--slack-webhook", paramLabel = "URL",
        description = "Send heartbeat and monitor notifications to this Slack incoming webhook (creates the channel "
            + "'slack'; more channels via /api/v1/channels).")
    String slackWebhook;

    @Option(names = "--public-url", paramLabel = "URL",
        description = "Public address of the status page, linked from notifications (off unless given).")
    String publicUrl;

    @Option(names = "--notify-max-age", paramLabel = "DURATION", defaultValue = "24h",
        description = "Retry undelivered notifications this long, then give them up (default: ${DEFAULT-VALUE}).")
    String notifyMaxAge;

    @Option(names = "--notify-group-window", paramLabel = "DURATION", defaultValue = "30s",
        description = "Changes to the 'slack' channel within this long after a message go out together as one digest "
            + "(0s: one message per change; default: ${DEFAULT-VALUE}; other channels: group_window in the API).")
    String notifyGroupWindow;

    /**
     * Validates the options.
     *
     * @throws ConfigException naming the first bad option as the user set it
     */
    public AlertingSettings settings(OptionValues v) {
        final String slack = OptionValues.blank(slackWebhook) ? null : v.httpUrl("--slack-webhook", slackWebhook);
        final String pub = OptionValues.blank(publicUrl) ? null : v.httpUrl("--public-url", publicUrl);
        return new AlertingSettings(slack, pub, v.durationIn("--notify-max-age", notifyMaxAge, Duration.ofMinutes(1),
            Duration.ofDays(30)), notifyGroupWindow == null ? Channel.DEFAULT_GROUP_WINDOW
            : v.durationIn("--notify-group-window", notifyGroupWindow, Duration.ZERO, Channel.MAX_GROUP_WINDOW));
    }
}
