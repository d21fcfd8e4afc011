package dev.spillway.collector.config;

import dev.spillway.collector.nats.NatsSettings.Role;
import dev.spillway.runtime.config.ConfigException;
import dev.spillway.runtime.config.OptionValues;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * What a collector runs ({@code --duties}). Every duty is safe with any number of collectors on one database:
 * monitors are split by leases, heartbeat deadlines are flipped with a conditional update, and the relay claims
 * outbox rows with {@code SKIP LOCKED}. By role: a standalone collector or a writer runs all of them; an edge
 * runs {@code ingest} only, unless told otherwise.
 *
 * @param on the duties this collector runs; always includes {@link Duty#INGEST}
 */
public record Duties(Set<Duty> on) {

    /** One duty. */
    public enum Duty {
        /** Listeners (HTTP, TCP, UDP), the API, heartbeat pings and the pipeline: always on. */
        INGEST,
        /** Checking monitors: this collector's fair share of them, under leases. */
        MONITORS,
        /** Announcing heartbeat services whose deadline passed. */
        HEARTBEATS,
        /** The notification relay: sending the outbox to Slack, webhooks and the log. */
        NOTIFICATIONS
    }

    /** Copies the set. */
    public Duties {
        on = Set.copyOf(on);
    }

    /** The duties of a role when {@code --duties} is not given. */
    public static Duties defaults(Role role) {
        return new Duties(role == Role.EDGE ? EnumSet.of(Duty.INGEST) : EnumSet.allOf(Duty.class));
    }

    /**
     * Parses {@code --duties}: a comma-separated list of {@code ingest}, {@code monitors}, {@code heartbeats},
     * {@code notifications}, or {@code all}; blank means the role's defaults.
     *
     * @throws ConfigException naming the option, for an unknown duty, an empty list or a list without ingest
     */
    public static Duties parse(OptionValues v, String value, Role role) {
        if (OptionValues.blank(value)) {
            return defaults(role);
        }
        final EnumSet<Duty> on = EnumSet.noneOf(Duty.class);
        for (String raw : value.split(",", -1)) {
            final String word = raw.trim().toLowerCase(Locale.ROOT);
            if (word.equals("all")) {
                on.addAll(EnumSet.allOf(Duty.class));
                continue;
            }
            final Duty d = Arrays.stream(Duty.values()).filter(x -> name(x).equals(word)).findFirst().orElse(null);
            if (d == null) {
                throw v.invalid("--duties", (word.isEmpty() ? "has an empty entry" : "names an unknown duty '"
                    + raw.trim() + "'") + "; expected a comma-separated list of " + known() + " (or all), was '"
                    + value + "'");
            }
            on.add(d);
        }
        if (!on.contains(Duty.INGEST)) {
            throw v.invalid("--duties", "must include ingest (the listeners, the API and the pipeline cannot be "
                + "switched off), was '" + value + "'");
        }
        return new Duties(on);
    }

    private static String known() {
        return Arrays.stream(Duty.values()).map(Duties::name).collect(Collectors.joining(", "));
    }

    /** How a duty is written: {@code monitors}. */
    public static String name(Duty d) {
        return d.name().toLowerCase(Locale.ROOT);
    }

    /** Whether this collector checks monitors (its share, by leases). */
    public boolean monitors() {
        return on.contains(Duty.MONITORS);
    }

    /** Whether this collector announces missed heartbeat deadlines. */
    public boolean heartbeats() {
        return on.contains(Duty.HEARTBEATS);
    }

    /** Whether this collector runs the notification relay. */
    public boolean notifications() {
        return on.contains(Duty.NOTIFICATIONS);
    }

    /** The duties that are off, in their order, e.g. {@code monitors, heartbeats, notifications}; or "none". */
    public String off() {
        final String s = Arrays.stream(Duty.values()).filter(d -> !on.contains(d)).map(Duties::name)
            .collect(Collectors.joining(", "));
        return s.isEmpty() ? "none" : s;
    }

    /** The duties that are on, in their order, e.g. {@code ingest, monitors}. */
    @Override
    public String toString() {
        return Arrays.stream(Duty.values()).filter(on::contains).map(Duties::name).collect(Collectors.joining(", "));
    }
}
