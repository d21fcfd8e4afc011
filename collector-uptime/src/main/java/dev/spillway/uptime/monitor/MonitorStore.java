package dev.spillway.uptime.monitor;

import dev.spillway.uptime.schema.UptimeSchema;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.spillway.runtime.api.ApiJson;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@code monitors} and {@code monitor_state} tables. Every statement is parameterised; nothing from a request
 * is ever spliced into SQL.
 */
final class MonitorStore {

    private static final String COLUMNS = "name, url, method, headers, body, interval_ms, timeout_ms, expected_status, "
        + "keyword, keyword_invert, follow_redirects, tls_verify, failure_threshold, success_threshold, enabled, tags, locations, quorum, probe, parent";

    private final DataSource ds;

    /** A {@code monitors} row in the JSON shape the validator takes, with its change time. */
    record Row(String name, ObjectNode json, Instant updatedAt) {
    }

    /**
     * A {@code monitor_state} row.
     *
     * @param version the row's version (compare-and-set); versions only grow, from one sequence
     */
    record StateRow(MonitorState state, Instant lastCheckAt, String lastError, long version) {
    }

    MonitorStore(DataSource ds) {
        this.ds = ds;
    }

    /** Every row, unvalidated (the caller validates with the API's rules). */
    List<Row> loadAll() throws SQLException {
        final List<Row> out = new ArrayList<>();
        try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement(
            "SELECT " + COLUMNS + ", updated_at FROM " + UptimeSchema.MONITORS + " ORDER BY name")) {
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new Row(rs.getString("name"), toJson(rs), rs.getTimestamp("updated_at").toInstant()));
                }
            }
        }
        return out;
    }

    private static ObjectNode toJson(ResultSet rs) throws SQLException {
        final ObjectNode o = ApiJson.object();
        o.put("name", rs.getString("name"));
        o.put("url", rs.getString("url"));
        o.put("method", rs.getString("method"));
        o.set("headers", jsonb(rs.getString("headers"), "headers"));
        putIfNotNull(o, "body", rs.getString("body"));
        o.put("interval", rs.getLong("interval_ms") + "ms");
        final long timeout = rs.getLong("timeout_ms");
        if (!rs.wasNull()) {
            o.put("timeout", timeout + "ms");
        }
        o.put("expected_status", rs.getString("expected_status"));
        putIfNotNull(o, "keyword", rs.getString("keyword"));
        if (rs.getBoolean("keyword_invert")) {
            o.put("keyword_invert", true);
        }
        o.put("follow_redirects", rs.getBoolean("follow_redirects"));
        o.put("tls_verify", rs.getBoolean("tls_verify"));
        o.put("failure_threshold", rs.getInt("failure_threshold"));
        o.put("success_threshold", rs.getInt("success_threshold"));
        o.put("enabled", rs.getBoolean("enabled"));
        o.set("tags", jsonb(rs.getString("tags"), "tags"));
        final java.sql.Array locations = rs.getArray("locations");
        if (locations != null) {
            final String[] names = (String[]) locations.getArray();
            if (names.length > 0) {
                final com.fasterxml.jackson.databind.node.ArrayNode l = o.putArray("locations");
                for (String n : names) {
                    l.add(n);
                }
            }
        }
        final int quorum = rs.getInt("quorum");
        if (!rs.wasNull()) {
            o.put("quorum", quorum);
        }
        putIfNotNull(o, "parent", rs.getString("parent"));
        // The type's own options (tcp, dns, tls, icmp, assertions): stored as the API's JSON, validated alike.
        final com.fasterxml.jackson.databind.JsonNode probe = jsonb(rs.getString("probe"), "probe");
        if (probe != null && probe.isObject()) {
            probe.fields().forEachRemaining(e -> o.set(e.getKey(), e.getValue()));
        }
        return o;
    }

    private static com.fasterxml.jackson.databind.JsonNode jsonb(String text, String column) throws SQLException {
        try {
            return ApiJson.MAPPER.readTree(text);
        } catch (JsonProcessingException e) {
            throw new SQLException("monitors." + column + " is not JSON: " + e.getOriginalMessage(), e);
        }
    }

    private static void putIfNotNull(ObjectNode o, String field, String value) {
        if (value != null) {
            o.put(field, value);
        }
    }

    /** Inserts a new monitor; false when the name exists. */
    boolean insert(MonitorSpec s) throws SQLException {
        try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement(
            "INSERT INTO " + UptimeSchema.MONITORS + " (" + COLUMNS + ") VALUES "
                + "(?, ?, ?, ?::jsonb, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?::jsonb, ?) ON CONFLICT (name) DO NOTHING")) {
            bind(c, ps, s);
            return ps.executeUpdate() == 1;
        }
    }

    /** Creates or replaces a monitor; true when it was created. */
    boolean upsert(MonitorSpec s) throws SQLException {
        try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement(
            "INSERT INTO " + UptimeSchema.MONITORS + " AS m (" + COLUMNS + ") VALUES "
                + "(?, ?, ?, ?::jsonb, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?::jsonb, ?) ON CONFLICT (name) DO UPDATE SET "
                + "url = EXCLUDED.url, method = EXCLUDED.method, headers = EXCLUDED.headers, body = EXCLUDED.body, "
                + "interval_ms = EXCLUDED.interval_ms, timeout_ms = EXCLUDED.timeout_ms, "
                + "expected_status = EXCLUDED.expected_status, keyword = EXCLUDED.keyword, "
                + "keyword_invert = EXCLUDED.keyword_invert, follow_redirects = EXCLUDED.follow_redirects, "
                + "tls_verify = EXCLUDED.tls_verify, failure_threshold = EXCLUDED.failure_threshold, "
                + "success_threshold = EXCLUDED.success_threshold, enabled = EXCLUDED.enabled, tags = EXCLUDED.tags, "
                + "locations = EXCLUDED.locations, quorum = EXCLUDED.quorum, "
                + "probe = EXCLUDED.probe, parent = EXCLUDED.parent, "
                + "updated_at = now() RETURNING (xmax = 0) AS created")) {
            bind(c, ps, s);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getBoolean(1);
            }
        }
    }

    private static void bind(Connection c, PreparedStatement ps, MonitorSpec s) throws SQLException {
        ps.setString(1, s.name());
        ps.setString(2, s.url().toString());
        ps.setString(3, s.method());
        ps.setString(4, ApiJson.MAPPER.valueToTree(s.headers()).toString());
        ps.setString(5, s.body());
        ps.setLong(6, s.interval().toMillis());
        ps.setLong(7, s.timeout().toMillis());
        ps.setString(8, s.expectedStatus().toString());
        ps.setString(9, s.keyword());
        ps.setBoolean(10, s.keywordInvert());
        ps.setBoolean(11, s.followRedirects());
        ps.setBoolean(12, s.tlsVerify());
        ps.setInt(13, s.failureThreshold());
        ps.setInt(14, s.successThreshold());
        ps.setBoolean(15, s.enabled());
        ps.setString(16, ApiJson.MAPPER.valueToTree(s.tags()).toString());
        ps.setArray(17, c.createArrayOf("text", s.locations().toArray()));
        if (s.located()) {
            ps.setInt(18, s.quorum());
        } else {
            ps.setNull(18, Types.INTEGER);
        }
        final ObjectNode probe = ApiJson.object();
        CheckOptionsParser.write(probe, s.check());
        probe.remove("type"); // the url's scheme says it
        ps.setString(19, probe.toString());
        ps.setString(20, s.parent());
    }

    /** Deletes a monitor (its state goes with it; its transitions and results stay); false when unknown. */
    boolean delete(String name) throws SQLException {
        try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement(
            "DELETE FROM " + UptimeSchema.MONITORS + " WHERE name = ?")) {
            ps.setString(1, name);
            return ps.executeUpdate() == 1;
        }
    }

    /** Every persisted state. */
    Map<String, StateRow> loadStates() throws SQLException {
        try (Connection c = ds.getConnection()) {
            return loadStates(c, null);
        }
    }

    /** The persisted states of {@code names} (absent: never checked, or the monitor is gone). */
    Map<String, StateRow> loadStates(java.util.Collection<String> names) throws SQLException {
        if (names.isEmpty()) {
            return Map.of();
        }
        try (Connection c = ds.getConnection()) {
            return loadStates(c, names);
        }
    }

    private static Map<String, StateRow> loadStates(Connection c, java.util.Collection<String> names)
        throws SQLException {
        final Map<String, StateRow> out = new HashMap<>();
        try (PreparedStatement ps = c.prepareStatement(
            "SELECT name, state, confirmed_state, since, consecutive_failures, consecutive_successes, "
                + "first_failure_at, last_check_at, last_error, version FROM " + UptimeSchema.MONITOR_STATE
                + (names == null ? "" : " WHERE name = ANY(?)"))) {
            if (names != null) {
                ps.setArray(1, c.createArrayOf("text", names.toArray()));
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    final String confirmed = rs.getString(3);
                    out.put(rs.getString(1), new StateRow(new MonitorState(
                        MonitorState.Status.valueOf(rs.getString(2)),
                        confirmed == null ? null : MonitorState.Status.valueOf(confirmed),
                        rs.getTimestamp(4).toInstant(), rs.getInt(5), rs.getInt(6), instant(rs.getTimestamp(7))),
                        instant(rs.getTimestamp(8)), rs.getString(9), rs.getLong(10)));
                }
            }
        }
        return out;
    }

    /**
     * Writes a monitor's state on {@code c} (inside the caller's transaction) if its row is still the one this
     * collector last read or wrote: compare-and-set on {@code version}, so a collector whose state is stale (another
     * collector checked the monitor meanwhile, e.g. after taking over its lease) changes nothing and records no
     * transition.
     *
     * @param expectedVersion the row's version as last seen, 0 for "no row yet"
     * @return the row's new version, or 0 when nothing was written (the row changed meanwhile, or the monitor no
     *     longer exists)
     */
    static long saveState(Connection c, String name, MonitorState s, Instant lastCheckAt, String lastError,
                          long expectedVersion) throws SQLException {
        final String sql = expectedVersion == 0
            ? "INSERT INTO " + UptimeSchema.MONITOR_STATE
                + " (state, confirmed_state, since, consecutive_failures, consecutive_successes, first_failure_at, "
                + "last_check_at, last_error, name, updated_at) "
                + "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, now() WHERE EXISTS (SELECT 1 FROM " + UptimeSchema.MONITORS
                + " WHERE name = ?) ON CONFLICT (name) DO NOTHING RETURNING version"
            : "UPDATE " + UptimeSchema.MONITOR_STATE + " SET state = ?, confirmed_state = ?, since = ?, "
                + "consecutive_failures = ?, consecutive_successes = ?, first_failure_at = ?, last_check_at = ?, "
                + "last_error = ?, updated_at = now(), version = nextval('" + UptimeSchema.MONITOR_STATE_VERSION
                + "') WHERE name = ? AND version = ? RETURNING version";
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, s.state().name());
            ps.setString(2, s.confirmed() == null ? null : s.confirmed().name());
            ps.setTimestamp(3, Timestamp.from(s.since()));
            ps.setInt(4, s.failures());
            ps.setInt(5, s.successes());
            setInstant(ps, 6, s.firstFailureAt());
            setInstant(ps, 7, lastCheckAt);
            ps.setString(8, lastError);
            ps.setString(9, name);
            if (expectedVersion == 0) {
                ps.setString(10, name);
            } else {
                ps.setLong(10, expectedVersion);
            }
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : 0;
            }
        }
    }

    /**
     * A fingerprint of the monitors table: its row count and the sum of its rows' {@code xmin} (the transaction
     * that wrote each row version). It changes whenever a definition is added, changed or removed, by any
     * collector's API or with SQL, whatever the commit order; one scan of a small table.
     */
    String fingerprint() throws SQLException {
        try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement(
            "SELECT count(*), coalesce(sum(xmin::text::bigint), 0) FROM " + UptimeSchema.MONITORS);
             ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getLong(1) + ":" + rs.getString(2);
        }
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

    DataSource dataSource() {
        return ds;
    }
}
