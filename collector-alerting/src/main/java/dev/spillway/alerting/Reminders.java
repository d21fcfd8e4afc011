package dev.spillway.alerting;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;

/**
 * Reminders while a monitor stays DOWN or a service stays unavailable, and acknowledgements that end them.
 *
 * <p>An incident is identified by its subject and its start (a monitor's {@code since}, a service's
 * {@code alert_after}). For a channel with a {@code repeat_interval}, reminder number {@code n} is due at
 * {@code start + n * interval}; {@link #enqueueDue} writes one outbox row for the newest due number, keyed by
 * (channel, subject, incident start, number), so any number of relays on one database write it once, and the row
 * is delivered like any other (lanes, leases, ids). A collector that was off for three intervals sends one
 * reminder, not three. Recovery ends reminders (the subject is no longer down); so does an acknowledgement of the
 * incident, which leaves the next incident reminding again. A maintenance window that covers the subject holds its
 * reminders while it is open, and so does a hold not yet released (see {@link Holds}).
 */
final class Reminders {

    /**
     * The incidents open now: down monitors (enabled, not paused: a paused monitor keeps its confirmed state but
     * nobody checks it) and unavailable services, with their starts.
     */
    private static final String OPEN_INCIDENTS = "SELECT 'monitor' AS kind, s.name AS subject, 'down' AS state, "
        + "s.since AS start FROM monitor_state s JOIN monitors m ON m.name = s.name "
        + "WHERE m.enabled AND s.confirmed_state = 'DOWN' AND s.state <> 'PAUSED' "
        + "UNION ALL SELECT 'service', h.id, 'unavailable', h.alert_after FROM heartbeat_services h "
        + "WHERE h.state = 'down' AND h.alert_after IS NOT NULL";

    private Reminders() {
    }

    /**
     * Writes the reminders due at {@code now} (autocommit; each row commits on its own).
     *
     * @return reminder rows written (0 when another relay wrote them first)
     */
    static int enqueueDue(DataSource ds, Instant now) throws SQLException {
        // Routing as in Outbox.enqueue: a channel with routes reminds only of what they match. Nothing is reminded
        // of while a maintenance window covers it, nor while it has held notifications (its DOWN was held by a
        // window or a down parent and not announced yet), nor within one interval after they were released (the
        // release itself announced it).
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(true);
            final java.util.List<String> monitors = new java.util.ArrayList<>();
            final java.util.List<String> services = new java.util.ArrayList<>();
            final java.util.List<String> tags = new java.util.ArrayList<>();
            for (MaintenanceWindow w : Maintenance.openWindows(c, now)) {
                switch (w.scope()) {
                    case "all" -> {
                        return 0;
                    }
                    case "monitor" -> monitors.add(w.target());
                    case "service" -> services.add(w.target());
                    default -> tags.add(w.target());
                }
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO notification_outbox (channel_id, type, "
                 + "subject_kind, subject, old_state, new_state, occurred_at, details, created_at, next_attempt_at, "
                 + "incident_start, reminder_no) "
                 + "SELECT ch.id, d.kind || '.reminder', d.kind, d.subject, NULL, d.state, ?, "
                 + "jsonb_build_object('reminder', k.n::text, 'since', to_char(d.start AT TIME ZONE 'UTC', "
                 + "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')), ?, ?, d.start, k.n "
                 + "FROM notification_channels ch CROSS JOIN (" + OPEN_INCIDENTS + ") d "
                 + "CROSS JOIN LATERAL (SELECT floor(extract(epoch FROM (?::timestamptz - d.start)) * 1000 "
                 + "/ ch.repeat_interval_ms)::integer AS n) k "
                 + "WHERE ch.enabled AND ch.repeat_interval_ms > 0 AND k.n >= 1 "
                 + "AND NOT EXISTS (SELECT 1 FROM notification_acks a WHERE a.subject_kind = d.kind "
                 + "AND a.subject = d.subject AND a.incident_start = d.start) "
                 + "AND NOT EXISTS (SELECT 1 FROM notification_held h WHERE h.subject_kind = d.kind "
                 + "AND h.subject = d.subject AND (h.released_at IS NULL OR h.released_at > ?::timestamptz "
                 + "- ch.repeat_interval_ms * interval '1 millisecond')) "
                 + "AND NOT (d.kind = 'monitor' AND d.subject = ANY (?)) "
                 + "AND NOT (d.kind = 'service' AND d.subject = ANY (?)) "
                 + "AND NOT (d.kind = 'monitor' AND EXISTS (SELECT 1 FROM monitors m, unnest(?::text[]) t(kv) "
                 + "WHERE m.name = d.subject AND m.tags ->> split_part(t.kv, '=', 1) "
                 + "= substr(t.kv, strpos(t.kv, '=') + 1))) "
                 + "AND (NOT EXISTS (SELECT 1 FROM notification_routes r WHERE r.channel_id = ch.id) "
                 + "OR EXISTS (SELECT 1 FROM notification_routes r WHERE r.channel_id = ch.id AND ((r.scope = d.kind "
                 + "AND r.target = d.subject) OR (r.scope = 'tag' AND d.kind = 'monitor' AND EXISTS (SELECT 1 "
                 + "FROM monitors m WHERE m.name = d.subject AND m.tags ->> split_part(r.target, '=', 1) "
                 + "= substr(r.target, strpos(r.target, '=') + 1)))))) "
                 + "ON CONFLICT (channel_id, subject_kind, subject, incident_start, reminder_no) DO NOTHING")) {
                final Timestamp t = Timestamp.from(now);
                ps.setTimestamp(1, t);
                ps.setTimestamp(2, t);
                ps.setTimestamp(3, t);
                ps.setTimestamp(4, t);
                ps.setTimestamp(5, t);
                ps.setArray(6, c.createArrayOf("text", monitors.toArray()));
                ps.setArray(7, c.createArrayOf("text", services.toArray()));
                ps.setArray(8, c.createArrayOf("text", tags.toArray()));
                return ps.executeUpdate();
            }
        }
    }

    /** What {@link #acknowledge} found. */
    enum Ack { UNKNOWN, NOT_DOWN, ACKNOWLEDGED }

    /**
     * Acknowledges the subject's current incident: no more reminders for it (idempotent).
     *
     * @param kind {@code monitor} or {@code service}
     */
    static Ack acknowledge(DataSource ds, String kind, String subject, Instant now) throws SQLException {
        final String exists = "monitor".equals(kind) ? "SELECT 1 FROM monitors WHERE name = ?"
            : "SELECT 1 FROM heartbeat_services WHERE id = ?";
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(true);
            try (PreparedStatement ps = c.prepareStatement(exists)) {
                ps.setString(1, subject);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        return Ack.UNKNOWN;
                    }
                }
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO notification_acks (subject_kind, subject, "
                + "incident_start, acked_at) SELECT d.kind, d.subject, d.start, ? FROM (" + OPEN_INCIDENTS + ") d "
                + "WHERE d.kind = ? AND d.subject = ? ON CONFLICT DO NOTHING RETURNING 1")) {
                ps.setTimestamp(1, Timestamp.from(now));
                ps.setString(2, kind);
                ps.setString(3, subject);
                try (ResultSet rs = ps.executeQuery()) {
                    if (rs.next()) {
                        return Ack.ACKNOWLEDGED;
                    }
                }
            }
            // Nothing inserted: either acknowledged before (still down), or not down at all.
            try (PreparedStatement ps = c.prepareStatement("SELECT 1 FROM (" + OPEN_INCIDENTS + ") d "
                + "WHERE d.kind = ? AND d.subject = ?")) {
                ps.setString(1, kind);
                ps.setString(2, subject);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? Ack.ACKNOWLEDGED : Ack.NOT_DOWN;
                }
            }
        }
    }
}
