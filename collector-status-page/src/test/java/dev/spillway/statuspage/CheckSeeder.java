package dev.spillway.statuspage;

import dev.spillway.alerting.AlertingSchema;
import dev.spillway.ingest.series.SeriesSchema;
import dev.spillway.runtime.db.Migration;
import dev.spillway.runtime.db.SchemaMigrations;
import dev.spillway.uptime.schema.UptimeSchema;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes monitors, their state, their result series and transitions straight into the collector's tables, as the
 * monitors feature stores them (measurement {@code monitor}, tag {@code monitor}, one event per field), so the
 * page's SQL can be checked against exactly known data. Plain INSERTs (timescaledb-lite has no COPY).
 */
public final class CheckSeeder {

    public static final String EVENTS = "telemetry_events";

    /** The tables the status page reads, from the modules that own them (as the collector applies them). */
    public static void createSchema(DataSource ds) throws SQLException {
        final List<Migration> steps = new ArrayList<>(SeriesSchema.migrations(EVENTS));
        steps.addAll(UptimeSchema.migrations());
        steps.addAll(AlertingSchema.migrations());
        steps.addAll(CheckRollups.migrations(EVENTS));
        SchemaMigrations.apply(ds, steps);
    }
    private static long seq;

    private CheckSeeder() {
    }

    public static void monitor(Connection c, String name, long intervalMs, boolean enabled, String state, Instant since,
                        Instant firstFailure, String lastError) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO monitors (name, url, interval_ms, enabled) "
            + "VALUES (?, ?, ?, ?)")) {
            ps.setString(1, name);
            ps.setString(2, "http://127.0.0.1:9/" + name);
            ps.setLong(3, intervalMs);
            ps.setBoolean(4, enabled);
            ps.executeUpdate();
        }
        if (state != null) {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO monitor_state (name, state, since, "
                + "first_failure_at, last_error) VALUES (?, ?, ?, ?, ?)")) {
                ps.setString(1, name);
                ps.setString(2, state);
                ps.setTimestamp(3, Timestamp.from(since));
                ps.setTimestamp(4, firstFailure == null ? null : Timestamp.from(firstFailure));
                ps.setString(5, lastError);
                ps.executeUpdate();
            }
        }
    }

    /** One value of one field of a monitor's check at {@code t}. */
    public static void value(Connection c, String monitor, String field, Instant t, double v) throws SQLException {
        final int source = source(c, monitor, field);
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + EVENTS
            + " (time, source_id, kind, value, seq) VALUES (?, ?, ?, ?, ?)")) {
            ps.setTimestamp(1, Timestamp.from(t));
            ps.setInt(2, source);
            ps.setShort(3, (short) (field.equals("up") ? 4 : 1));
            ps.setDouble(4, v);
            ps.setLong(5, ++seq);
            ps.executeUpdate();
        }
    }

    /** A check: {@code up} and {@code duration_ms}. */
    public static void check(Connection c, String monitor, Instant t, boolean up, double durationMs) throws SQLException {
        value(c, monitor, "up", t, up ? 1 : 0);
        value(c, monitor, "duration_ms", t, durationMs);
    }

    public static void transition(Connection c, String kind, String subject, String from, String to, Instant at, String reason)
        throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO monitor_transitions (kind, monitor, from_state, "
            + "to_state, started_at, reason) VALUES (?, ?, ?, ?, ?, ?)")) {
            ps.setString(1, kind);
            ps.setString(2, subject);
            ps.setString(3, from);
            ps.setString(4, to);
            ps.setTimestamp(5, Timestamp.from(at));
            ps.setString(6, reason);
            ps.executeUpdate();
        }
    }

    /**
     * {@code count} checks of a monitor, one every {@code stepSeconds} from {@code first}, in one statement per
     * field. {@code upSql} and {@code durationSql} are SQL expressions over the check number {@code i} (test
     * constants, never input).
     */
    public static void checks(Connection c, String monitor, Instant first, int stepSeconds, int count, String upSql,
                              String durationSql) throws SQLException {
        for (String[] f : new String[][] {{"up", upSql}, {"duration_ms", durationSql}}) {
            final int source = source(c, monitor, f[0]);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + EVENTS + " (time, source_id, kind, value, seq) "
                + "SELECT ?::timestamptz + i * make_interval(secs => ?), ?, ?, (" + f[1] + ")::double precision, i "
                + "FROM generate_series(0, ? - 1) AS i")) {
                ps.setTimestamp(1, Timestamp.from(first));
                ps.setInt(2, stepSeconds);
                ps.setInt(3, source);
                ps.setShort(4, (short) (f[0].equals("up") ? 4 : 1));
                ps.setInt(5, count);
                ps.executeUpdate();
            }
        }
    }

    /** A heartbeat service row as the heartbeat feature stores it. */
    public static void service(Connection c, String id, String state, int status, String statusesJson, Instant lastPing,
                               long timeoutMs, long graceMs) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO heartbeat_services (id, timeout_ms, grace_ms, statuses, "
            + "state, status, last_ping) VALUES (?, ?, ?, ?::jsonb, ?, ?, ?)")) {
            ps.setString(1, id);
            ps.setLong(2, timeoutMs);
            ps.setLong(3, graceMs);
            ps.setString(4, statusesJson);
            ps.setString(5, state);
            ps.setInt(6, status);
            ps.setTimestamp(7, lastPing == null ? null : Timestamp.from(lastPing));
            ps.executeUpdate();
        }
    }

    /** A notification on the always-present log channel. */
    public static void notification(Connection c, String subjectKind, String subject, String oldState, String newState,
                                    Instant at, String state, int attempts, String lastError) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO notification_outbox (channel_id, type, subject_kind, "
            + "subject, old_state, new_state, occurred_at, created_at, state, attempts, next_attempt_at, last_error) "
            + "VALUES ('log', 'state_change', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
            ps.setString(1, subjectKind);
            ps.setString(2, subject);
            ps.setString(3, oldState);
            ps.setString(4, newState);
            ps.setTimestamp(5, Timestamp.from(at));
            ps.setTimestamp(6, Timestamp.from(at));
            ps.setString(7, state);
            ps.setInt(8, attempts);
            ps.setTimestamp(9, Timestamp.from(at));
            ps.setString(10, lastError);
            ps.executeUpdate();
        }
    }

    static int source(Connection c, String monitor, String field) throws SQLException {
        final String tags = "{\"monitor\": \"" + monitor + "\"}";
        try (PreparedStatement ps = c.prepareStatement("SELECT id FROM telemetry_sources WHERE measurement = 'monitor' "
            + "AND tags = ?::jsonb AND field = ?")) {
            ps.setString(1, tags);
            ps.setString(2, field);
            try (ResultSet rs = ps.executeQuery()) {
                if (rs.next()) {
                    return rs.getInt(1);
                }
            }
        }
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO telemetry_sources (measurement, tags, field) "
            + "VALUES ('monitor', ?::jsonb, ?) RETURNING id")) {
            ps.setString(1, tags);
            ps.setString(2, field);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }
}
