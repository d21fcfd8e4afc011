package dev.spillway.alerting;

import dev.spillway.uptime.transitions.Notification;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Grouping on a PagerDuty channel while keeping every trigger paired with its resolve.
 *
 * <p>A lone failure is its own incident ({@code dedup_key} {@code spillway-<fingerprint>}, as without grouping). The
 * failures of a digest are <b>one</b> incident, {@code spillway-group-<digest id>}: one trigger whose summary is the
 * digest sentence (it names the count) and whose {@code custom_details} list the members. Which incident each firing
 * alert is in is kept per channel in {@code notification_pagerduty_open}. A recovery resolves its alert's own
 * incident at once; a recovery of a group member only removes it from the group, and the recovery of the group's
 * last member resolves the group. So a storm of N failures is a few triggers, and its recovery a few resolves.
 *
 * <p>The plan (the events, and how the open alerts change) is made at the claim, under the channel's lock, from the
 * open alerts as they were after the previous message; it changes them only once PagerDuty accepted every event.
 * A resend after a crash or a retry makes the same plan, so it repeats the same dedup keys, which PagerDuty
 * deduplicates. An alert not in the table (opened before grouping existed, or never sent) is resolved by its own
 * key, as before.
 */
final class PagerDutyGroups {

    /** The prefix of a group's dedup key; the digest row's id follows. */
    static final String GROUP_PREFIX = "spillway-group-";

    private PagerDutyGroups() {
    }

    /** One alert opened (or moved) in an incident. */
    record Opened(String dedupKey, String subjectKind, String subject) {
    }

    /**
     * What one outbox row sends to PagerDuty and what it changes once accepted.
     *
     * @param events the JSON bodies, in order (none: the row only changes a group, e.g. one member of many recovered)
     * @param opened alert key to the incident it is now in
     * @param closed alert keys that are no longer firing
     * @param note why nothing is sent, when {@code events} is empty
     */
    record Plan(List<String> events, Map<String, Opened> opened, Set<String> closed, String note) {
    }

    static String groupKey(long digestId) {
        return GROUP_PREFIX + digestId;
    }

    /**
     * The plan for a row: a single notification ({@code members} empty) or a digest of {@code members}.
     *
     * @param c a connection inside the claim's transaction (the channel's lock is held)
     */
    static Plan plan(Connection c, Channel ch, OutboxEntry row, List<Notification> members, Messages messages)
        throws SQLException {
        final boolean digest = !members.isEmpty();
        final List<Notification> changes = digest ? members : List.of(row.notification());
        final String routingKey = ch.option("routing_key");
        final Set<String> keys = new HashSet<>();
        for (Notification n : changes) {
            keys.add(Messages.dedupKey(n));
        }
        // The alerts' incidents now, and how many alerts each group involved still holds.
        final Map<String, String> before = new HashMap<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT alert_key, dedup_key FROM "
            + AlertingSchema.NOTIFICATION_PAGERDUTY_OPEN + " WHERE channel_id = ? AND alert_key = ANY (?)")) {
            ps.setString(1, ch.id());
            ps.setArray(2, c.createArrayOf("text", keys.toArray()));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    before.put(rs.getString(1), rs.getString(2));
                }
            }
        }
        final Map<String, Integer> groupSize = new HashMap<>();
        final Set<String> groups = new HashSet<>();
        for (String k : before.values()) {
            if (k.startsWith(GROUP_PREFIX)) {
                groups.add(k);
            }
        }
        if (!groups.isEmpty()) {
            try (PreparedStatement ps = c.prepareStatement("SELECT dedup_key, count(*) FROM "
                + AlertingSchema.NOTIFICATION_PAGERDUTY_OPEN + " WHERE channel_id = ? AND dedup_key = ANY (?) "
                + "GROUP BY dedup_key")) {
                ps.setString(1, ch.id());
                ps.setArray(2, c.createArrayOf("text", groups.toArray()));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        groupSize.put(rs.getString(1), rs.getInt(2));
                    }
                }
            }
        }

        final Map<String, String> open = new HashMap<>(before);
        final Map<String, Opened> opened = new LinkedHashMap<>();
        final Set<String> closed = new LinkedHashSet<>();
        final List<String> events = new ArrayList<>();
        final LinkedHashSet<String> resolves = new LinkedHashSet<>();
        final String group = digest ? groupKey(row.id()) : null;
        final Map<String, Notification> newMembers = new LinkedHashMap<>();
        for (Notification n : changes) {
            final String alert = Messages.dedupKey(n);
            if (Messages.fires(n)) {
                final String in = open.get(alert);
                if (in != null) {
                    // Already firing (a reminder, a status that changed while not normal): the same incident.
                    if (!digest) {
                        events.add(messages.pagerduty(n, row.id(), routingKey, in));
                    } else if (in.equals(group)) {
                        newMembers.put(alert, n); // the newest state of a member of this group
                    }
                } else if (digest) {
                    open.put(alert, group);
                    groupSize.merge(group, 1, Integer::sum);
                    newMembers.put(alert, n);
                    opened.put(alert, new Opened(group, n.subjectKind(), n.subject()));
                    closed.remove(alert);
                } else {
                    open.put(alert, alert);
                    events.add(messages.pagerduty(n, row.id(), routingKey, alert));
                    opened.put(alert, new Opened(alert, n.subjectKind(), n.subject()));
                    closed.remove(alert);
                }
            } else {
                final String in = open.remove(alert);
                opened.remove(alert);
                closed.add(alert);
                if (in == null || in.equals(alert)) {
                    resolves.add(alert); // its own incident (or one this table never saw: resolved by its own key)
                } else {
                    final int left = groupSize.merge(in, -1, Integer::sum);
                    if (in.equals(group)) {
                        newMembers.remove(alert); // down and up again within this digest
                    } else if (left <= 0) {
                        resolves.add(in);
                    }
                }
            }
        }
        for (String k : resolves) {
            events.add(Messages.pagerdutyResolve(k, routingKey));
        }
        if (group != null && !newMembers.isEmpty()) {
            events.add(messages.pagerdutyGroup(new ArrayList<>(newMembers.values()), row.id(), routingKey, group));
        }
        // Only real changes are written.
        opened.entrySet().removeIf(e -> e.getValue().dedupKey().equals(before.get(e.getKey())));
        closed.removeIf(k -> !before.containsKey(k));
        String note = null;
        if (events.isEmpty()) {
            note = "no PagerDuty event: " + changes.size() + " change(s) within open groups (a group is resolved when "
                + "its last alert recovers)";
        }
        return new Plan(events, opened, closed, note);
    }

    /**
     * A plan given up (an event refused for good, or too old): its events up to the refused one may have been
     * accepted, and the alerts it closed have recovered either way, so they are no longer open (an alert left open
     * here would make its next failure look like a repeat and go unsent); nothing it would have opened is.
     */
    static void applyGivenUp(Connection c, String channelId, Plan plan) throws SQLException {
        apply(c, channelId, new Plan(plan.events(), Map.of(), plan.closed(), plan.note()), null);
    }

    /** Writes what an accepted plan changed (in the record's transaction). */
    static void apply(Connection c, String channelId, Plan plan, Instant at) throws SQLException {
        if (!plan.closed().isEmpty()) {
            try (PreparedStatement ps = c.prepareStatement("DELETE FROM " + AlertingSchema.NOTIFICATION_PAGERDUTY_OPEN
                + " WHERE channel_id = ? AND alert_key = ANY (?)")) {
                ps.setString(1, channelId);
                ps.setArray(2, c.createArrayOf("text", plan.closed().toArray()));
                ps.executeUpdate();
            }
        }
        if (!plan.opened().isEmpty()) {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + AlertingSchema.NOTIFICATION_PAGERDUTY_OPEN
                + " (channel_id, alert_key, dedup_key, subject_kind, subject, opened_at) VALUES (?, ?, ?, ?, ?, ?) "
                + "ON CONFLICT (channel_id, alert_key) DO UPDATE SET dedup_key = EXCLUDED.dedup_key, "
                + "opened_at = EXCLUDED.opened_at")) {
                for (Map.Entry<String, Opened> e : plan.opened().entrySet()) {
                    ps.setString(1, channelId);
                    ps.setString(2, e.getKey());
                    ps.setString(3, e.getValue().dedupKey());
                    ps.setString(4, e.getValue().subjectKind());
                    ps.setString(5, e.getValue().subject());
                    ps.setTimestamp(6, Timestamp.from(at));
                    ps.addBatch();
                }
                ps.executeBatch();
            }
        }
    }
}
