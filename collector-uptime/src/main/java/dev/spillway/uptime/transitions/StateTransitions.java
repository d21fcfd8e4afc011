package dev.spillway.uptime.transitions;

import dev.spillway.uptime.schema.UptimeSchema;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The {@code monitor_transitions} log: confirmed state changes, each written in the same transaction as the
 * state change itself, and handed to the {@link TransitionListener}s in that transaction.
 *
 * <h2>How to use it (state owners: monitors, heartbeats)</h2>
 * <pre>{@code
 * c.setAutoCommit(false);
 * // 1. change your state row conditionally, e.g. UPDATE ... SET state='DOWN' WHERE name=? AND state='UP'
 * // 2. only if that changed a row:
 * transitions.record(c, Transition.of(Transition.KIND_HEARTBEAT, name, "UP", "DOWN", deadline, "no ping"));
 * c.commit();
 * }</pre>
 * {@link #record} inserts the row and calls every listener with {@code c}; it never commits.
 *
 * <p>Thread-safe.
 */
public final class StateTransitions {

    private final List<TransitionListener> listeners = new CopyOnWriteArrayList<>();

    /** Adds a listener called inside every later transition's transaction (e.g. the notification outbox). */
    public void addListener(TransitionListener listener) {
        listeners.add(listener);
    }

    /**
     * Records a transition on {@code c}, inside the caller's transaction, then calls the listeners with the same
     * connection. Does not commit.
     *
     * @return the transition with its id
     */
    public Transition record(Connection c, Transition t) throws SQLException {
        final Transition stored;
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + UptimeSchema.MONITOR_TRANSITIONS
            + " (kind, monitor, from_state, to_state, started_at, reason) VALUES (?, ?, ?, ?, ?, ?) RETURNING id")) {
            ps.setString(1, t.kind());
            ps.setString(2, t.subject());
            ps.setString(3, t.fromState());
            ps.setString(4, t.toState());
            ps.setTimestamp(5, Timestamp.from(t.startedAt()));
            ps.setString(6, t.reason());
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                stored = t.withId(rs.getLong(1));
            }
        }
        for (TransitionListener l : listeners) {
            l.onTransition(c, stored);
        }
        return stored;
    }

    /** The most recent transitions of one subject, newest first. */
    public static List<Transition> recent(DataSource ds, String kind, String subject, int limit) throws SQLException {
        final List<Transition> out = new ArrayList<>();
        try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement(
            "SELECT id, kind, monitor, from_state, to_state, started_at, reason FROM "
                + UptimeSchema.MONITOR_TRANSITIONS + " WHERE kind = ? AND monitor = ? ORDER BY id DESC LIMIT ?")) {
            ps.setString(1, kind);
            ps.setString(2, subject);
            ps.setInt(3, limit);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new Transition(rs.getLong(1), rs.getString(2), rs.getString(3), rs.getString(4),
                        rs.getString(5), rs.getTimestamp(6).toInstant(), rs.getString(7)));
                }
            }
        }
        return out;
    }
}
