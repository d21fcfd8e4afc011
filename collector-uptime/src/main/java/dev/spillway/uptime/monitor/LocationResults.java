package dev.spillway.uptime.monitor;

import dev.spillway.uptime.monitor.MonitorState.Status;
import dev.spillway.uptime.schema.UptimeSchema;
import dev.spillway.uptime.transitions.StateTransitions;
import dev.spillway.uptime.transitions.Transition;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * Records a result of a monitor with locations: the location's own state ({@code monitor_location_state}) and the
 * combined state ({@code monitor_state}) by the {@link Quorum} rule, in the caller's transaction.
 *
 * <p>Exactly once per change of the combined state, however many collectors record at once: the combined row is
 * locked first ({@code SELECT ... FOR UPDATE}), so the collectors recording results of one monitor queue there;
 * each then reads every location's row as committed by the ones before it (read committed takes a new snapshot
 * per statement), and writes the combined state and its transition only if the verdict differs from the row as
 * locked. The second of two collectors that see the same change finds it already written. The location's own row
 * is computed from the row as read (not from memory), and a result older than the row's latest check (a check in
 * flight when the lease moved) changes nothing.
 */
final class LocationResults {

    private static final String LOCATION_COLUMNS = "location, state, confirmed_state, since, consecutive_failures, "
        + "consecutive_successes, first_failure_at, last_check_at, last_error, collector";

    private LocationResults() {
    }

    /**
     * What recording a result did.
     *
     * @param combined the combined state row after it (null: the monitor is gone)
     * @param transition the transition recorded, or null
     * @param verdict the quorum's verdict, or null when not evaluated (paused, or an older result)
     */
    record Outcome(MonitorStore.StateRow combined, Transition transition, Quorum.Verdict verdict) {
    }

    /**
     * Records {@code r} from {@code location}, on {@code c} inside the caller's transaction (it does not commit).
     *
     * @param now when staleness is measured
     */
    static Outcome record(Connection c, StateTransitions transitions, MonitorSpec spec, String location,
                          String collector, CheckResult r, Instant now, Duration staleAfter) throws SQLException {
        final String name = spec.name();
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + UptimeSchema.MONITOR_STATE
            + " (name, state, since) SELECT ?, 'PENDING', ? WHERE EXISTS (SELECT 1 FROM " + UptimeSchema.MONITORS
            + " WHERE name = ?) ON CONFLICT (name) DO NOTHING")) {
            ps.setString(1, name);
            ps.setTimestamp(2, Timestamp.from(r.startedAt()));
            ps.setString(3, name);
            ps.executeUpdate();
        }
        final MonitorStore.StateRow combined = lockCombined(c, name);
        if (combined == null) {
            return new Outcome(null, null, null); // deleted meanwhile
        }
        final Map<String, MonitorLocation> rows = load(c, name, now, staleAfter);
        final MonitorLocation mine = rows.get(location);
        if (mine != null && mine.lastCheckAt() != null && !r.startedAt().isAfter(mine.lastCheckAt())) {
            return new Outcome(combined, null, null);
        }
        final MonitorState base = mine == null ? MonitorState.initial(r.startedAt()) : mine.state();
        final MonitorState next = base.after(r.up(), r.startedAt(), spec.failureThreshold(), spec.successThreshold())
            .next();
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + UptimeSchema.MONITOR_LOCATION_STATE
            + " (monitor, " + LOCATION_COLUMNS + ", updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now()) "
            + "ON CONFLICT (monitor, location) DO UPDATE SET state = EXCLUDED.state, "
            + "confirmed_state = EXCLUDED.confirmed_state, since = EXCLUDED.since, "
            + "consecutive_failures = EXCLUDED.consecutive_failures, "
            + "consecutive_successes = EXCLUDED.consecutive_successes, first_failure_at = EXCLUDED.first_failure_at, "
            + "last_check_at = EXCLUDED.last_check_at, last_error = EXCLUDED.last_error, "
            + "collector = EXCLUDED.collector, updated_at = now()")) {
            ps.setString(1, name);
            ps.setString(2, location);
            ps.setString(3, next.state().name());
            ps.setString(4, next.confirmed() == null ? null : next.confirmed().name());
            ps.setTimestamp(5, Timestamp.from(next.since()));
            ps.setInt(6, next.failures());
            ps.setInt(7, next.successes());
            setInstant(ps, 8, next.firstFailureAt());
            ps.setTimestamp(9, Timestamp.from(r.startedAt()));
            ps.setString(10, r.error());
            ps.setString(11, collector);
            ps.executeUpdate();
        }
        rows.put(location, new MonitorLocation(location, next, r.startedAt(), r.error(), collector,
            Quorum.counts(next, r.startedAt(), now, staleAfter)));
        if (combined.state().state() == Status.PAUSED) {
            return new Outcome(combined, null, null);
        }
        final Quorum.Verdict v = Quorum.of(spec, rows, now, staleAfter, r.startedAt());
        final Status was = combined.state().confirmed();
        if (v.confirmed() == null || v.confirmed() == was) {
            return new Outcome(combined, null, v);
        }
        final MonitorState state = new MonitorState(v.confirmed(), v.confirmed(), v.since(), 0, 0, null);
        final String reason = (v.confirmed() == Status.DOWN && r.error() != null && !r.up() ? r.error() + "; " : "")
            + v.describe(spec.locations().size());
        final long version = MonitorStore.saveState(c, name, state, r.startedAt(), reason, combined.version());
        if (version == 0) {
            throw new SQLException("state row of monitor '" + name + "' changed under its row lock");
        }
        final Transition t = transitions.record(c, Transition.of(Transition.KIND_HTTP, name,
            was == null ? null : was.name(), v.confirmed().name(), v.since(), reason));
        return new Outcome(new MonitorStore.StateRow(state, r.startedAt(), reason, version), t, v);
    }

    private static MonitorStore.StateRow lockCombined(Connection c, String name) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT state, confirmed_state, since, consecutive_failures, "
            + "consecutive_successes, first_failure_at, last_check_at, last_error, version FROM "
            + UptimeSchema.MONITOR_STATE + " WHERE name = ? FOR UPDATE")) {
            ps.setString(1, name);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return null;
                }
                final String confirmed = rs.getString(2);
                return new MonitorStore.StateRow(new MonitorState(Status.valueOf(rs.getString(1)),
                    confirmed == null ? null : Status.valueOf(confirmed), rs.getTimestamp(3).toInstant(),
                    rs.getInt(4), rs.getInt(5), instant(rs.getTimestamp(6))), instant(rs.getTimestamp(7)),
                    rs.getString(8), rs.getLong(9));
            }
        }
    }

    /** One monitor's location rows, by location. */
    static Map<String, MonitorLocation> load(Connection c, String name, Instant now, Duration staleAfter)
        throws SQLException {
        final Map<String, Map<String, MonitorLocation>> all = load(c, java.util.List.of(name), now, staleAfter);
        return all.getOrDefault(name, new TreeMap<>());
    }

    /** The location rows of {@code names}, by monitor and location. */
    static Map<String, Map<String, MonitorLocation>> load(Connection c, Collection<String> names, Instant now,
                                                         Duration staleAfter) throws SQLException {
        final Map<String, Map<String, MonitorLocation>> out = new HashMap<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT monitor, " + LOCATION_COLUMNS + " FROM "
            + UptimeSchema.MONITOR_LOCATION_STATE + " WHERE monitor = ANY(?)")) {
            ps.setArray(1, c.createArrayOf("text", names.toArray()));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    final String confirmed = rs.getString(4);
                    final MonitorState s = new MonitorState(Status.valueOf(rs.getString(3)),
                        confirmed == null ? null : Status.valueOf(confirmed), rs.getTimestamp(5).toInstant(),
                        rs.getInt(6), rs.getInt(7), instant(rs.getTimestamp(8)));
                    final Instant last = instant(rs.getTimestamp(9));
                    out.computeIfAbsent(rs.getString(1), k -> new TreeMap<>()).put(rs.getString(2),
                        new MonitorLocation(rs.getString(2), s, last, rs.getString(10), rs.getString(11),
                            Quorum.counts(s, last, now, staleAfter)));
                }
            }
        }
        return out;
    }

    private static void setInstant(PreparedStatement ps, int i, Instant t) throws SQLException {
        if (t == null) {
            ps.setNull(i, Types.TIMESTAMP);
        } else {
            ps.setTimestamp(i, Timestamp.from(t));
        }
    }

    private static Instant instant(Timestamp t) {
        return t == null ? null : t.toInstant();
    }
}
