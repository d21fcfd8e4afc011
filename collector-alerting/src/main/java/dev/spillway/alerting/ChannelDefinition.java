package dev.spillway.alerting;

import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * A notification channel as declared (in a {@code --monitors} file) and validated with the rules of
 * {@code PUT /api/v1/channels/{id}}: what is stored at start. Built by {@link NotifyApi#declared}.
 *
 * @param id the channel's id
 * @param kind slack, webhook, discord, teams, telegram, pagerduty, ntfy or email
 * @param url the endpoint, or null where the kind has a default or none (email)
 * @param groupWindow how long transitions are gathered into one digest
 * @param repeatInterval reminders while down, or zero for none
 * @param options the kind's options (secrets included: never logged, masked in answers)
 * @param routes which subjects the channel gets (empty: all)
 */
public record ChannelDefinition(String id, ChannelKind kind, String url, Duration groupWindow, Duration repeatInterval,
                                Map<String, String> options, List<ChannelStore.Route> routes) {

    /** Copies the options and routes. */
    public ChannelDefinition {
        options = Map.copyOf(options);
        routes = List.copyOf(routes);
    }

    /** The id and kind only: the rest may hold secrets. */
    @Override
    public String toString() {
        return id + " (" + kind.id() + ")";
    }
}
