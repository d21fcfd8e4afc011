package dev.spillway.alerting;

import dev.spillway.uptime.transitions.Notification;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes and reads the transactional outbox. {@link #enqueue} runs on the caller's connection, inside the
 * caller's transaction, so the announcement commits (or rolls back) together with the state change it
 * announces.
 */
public final class Outbox {

    /**
     * A row's details as sent: a parent's DOWN (or unavailable, or a reminder of either) also carries
     * {@code held_children}, how many of its children's notifications were held since its incident began (until the
     * row was sent), when there were any.
     */
    static final String DETAILS = "(o.details || CASE WHEN o.new_state IN ('down', 'unavailable') "
        + "AND o.subject_kind IN ('monitor', 'service') THEN coalesce((SELECT jsonb_build_object('held_children', "
        + "count(*)::text) FROM notification_held h WHERE h.parent_kind = o.subject_kind AND h.parent = o.subject "
        + "AND h.held_at >= coalesce(o.incident_start, o.occurred_at) AND (o.sent_at IS NULL OR h.held_at <= o.sent_at) "
        + "HAVING count(*) > 0), '{}'::jsonb) ELSE '{}'::jsonb END)::text";

    static final String COLUMNS = "o.id, o.channel_id, o.type, o.subject_kind, o.subject, o.old_state, o.new_state, "
        + "o.occurred_at, " + DETAILS + ", o.created_at, o.state, o.attempts, o.next_attempt_at, o.sent_at, "
        + "o.last_status, o.last_error, o.digest_id";

    private Outbox() {
    }

    /**
     * Adds one pending row per enabled channel (the log channel is always one of them), unless the notification
     * is a {@link Notification#isQuietFirstState quiet first state}: that is recorded by its owner (the transition
     * log, the service row) and not announced; nor while a maintenance window covers its subject: then it is
     * recorded in {@code notification_held} instead; so is a notification of a monitor or service whose parent is
     * down.
     *
     * @param c a connection in the transaction that changes the state (autocommit off)
     * @param now the time of the change as the caller's clock sees it
     * @return rows written
     */
    public static int enqueue(Connection c, Notification n, Instant now) throws SQLException {
        if (n.isQuietFirstState()) {
            return 0;
        }
        final String window = Maintenance.holdingWindow(c, n, now);
        if (window != null) {
            Maintenance.hold(c, n, window, null, now);
            return 0;
        }
        final Holds.Parent parent = Holds.downParent(c, n.subjectKind(), n.subject());
        if (parent != null) {
            Maintenance.hold(c, n, null, parent, now);
            return 0;
        }
        // Held notifications of the subject whose hold has ended: what the channels are told is the change from
        // the state they last heard of (nothing, when that is no change).
        n = Holds.settle(c, n, now);
        if (n == null) {
            return 0;
        }
        // The channels are locked (KEY SHARE) until the state change commits: a channel deleted meanwhile is either
        // skipped (deleted first) or waits for this transaction (deleted after), never a foreign-key error.
        // Routing: the log channel and channels without routes get everything; a channel with routes only what one
        // of them matches (the subject itself, or a tag of the monitor).
        try (PreparedStatement ps = c.prepareStatement("WITH ch AS (SELECT id FROM notification_channels c WHERE enabled "
            + "AND (c.id = 'log' OR NOT EXISTS (SELECT 1 FROM notification_routes r WHERE r.channel_id = c.id) "
            + "OR EXISTS (SELECT 1 FROM notification_routes r WHERE r.channel_id = c.id AND ((r.scope = ? AND "
            + "r.target = ?) OR (r.scope = 'tag' AND ? = 'monitor' AND EXISTS (SELECT 1 FROM monitors m WHERE "
            + "m.name = ? AND m.tags ->> split_part(r.target, '=', 1) = substr(r.target, strpos(r.target, '=') + 1)))))) "
            + "FOR KEY SHARE OF c) INSERT INTO notification_outbox (channel_id, type, "
            + "subject_kind, subject, old_state, new_state, occurred_at, details, created_at, next_attempt_at) "
            + "SELECT id, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ? FROM ch")) {
            ps.setString(1, n.subjectKind());
            ps.setString(2, n.subject());
            ps.setString(3, n.subjectKind());
            ps.setString(4, n.subject());
            ps.setString(5, n.type());
            ps.setString(6, n.subjectKind());
            ps.setString(7, n.subject());
            ps.setString(8, n.oldState());
            ps.setString(9, n.newState());
            ps.setTimestamp(10, Timestamp.from(n.occurredAt()));
            ps.setString(11, Json.write(n.details()));
            ps.setTimestamp(12, Timestamp.from(now));
            ps.setTimestamp(13, Timestamp.from(now));
            return ps.executeUpdate();
        }
    }

    /**
     * The newest rows, optionally of one state.
     *
     * @param state {@code pending}, {@code sent}, {@code failed}, or null for all
     * @param limit most rows
     */
    public static List<OutboxEntry> list(Connection c, String state, int limit) throws SQLException {
        final String sql = "SELECT " + COLUMNS + " FROM notification_outbox o"
            + (state == null ? "" : " WHERE o.state = ?") + " ORDER BY o.id DESC LIMIT ?";
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            int i = 1;
            if (state != null) {
                ps.setString(i++, state);
            }
            ps.setInt(i, limit);
            final List<OutboxEntry> out = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(read(rs));
                }
            }
            return out;
        }
    }

    /** The notifications a digest row carries, in the order they were written. */
    static List<Notification> members(Connection c, long digestId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT " + COLUMNS + " FROM notification_outbox o "
            + "WHERE o.digest_id = ? ORDER BY o.id")) {
            ps.setLong(1, digestId);
            final List<Notification> out = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(read(rs).notification());
                }
            }
            return out;
        }
    }

    static OutboxEntry read(ResultSet rs) throws SQLException {
        final Notification n = new Notification(rs.getString(3), rs.getString(4), rs.getString(5), rs.getString(6),
            rs.getString(7), instant(rs.getTimestamp(8)), Json.readStringMap(rs.getString(9)));
        final int status = rs.getInt(15);
        final Integer lastStatus = rs.wasNull() ? null : status;
        final long digest = rs.getLong(17);
        final Long digestId = rs.wasNull() ? null : digest;
        return new OutboxEntry(rs.getLong(1), rs.getString(2), n, instant(rs.getTimestamp(10)), rs.getString(11),
            rs.getInt(12), instant(rs.getTimestamp(13)), instant(rs.getTimestamp(14)), lastStatus, rs.getString(16),
            digestId);
    }

    static Instant instant(Timestamp t) {
        return t == null ? null : t.toInstant();
    }
}
