package dev.spillway.uptime.heartbeat;

import dev.spillway.uptime.schema.UptimeSchema;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import dev.spillway.runtime.api.ApiJson;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Registrations and state of heartbeat services in {@code heartbeat_services}. */
public final class ServiceStore {

    static final String TABLE = UptimeSchema.HEARTBEAT_SERVICES;
    private static final String COLUMNS = "id, timeout_ms, grace_ms, statuses::text, state, status, last_ping, "
        + "alert_after, schedule, tz, max_run_ms, parent";
    private static final TypeReference<List<String>> STRINGS = new TypeReference<>() {
    };

    private final DataSource dataSource;

    /** @param dataSource the collector database */
    public ServiceStore(DataSource dataSource) {
        this.dataSource = dataSource;
    }

    /**
     * Registers or updates a service (idempotent). State and last ping are kept; the deadline is recomputed from
     * the stored last ping with the new timeout and grace.
     *
     * @return the stored service
     */
    public ServiceState put(ServiceSpec spec) throws SQLException {
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try {
                // The deadline follows from the stored last ping and the new spec; for a schedule only Java knows it.
                Instant lastPing = null;
                try (PreparedStatement ps = c.prepareStatement("SELECT last_ping FROM " + TABLE + " WHERE id = ? "
                    + "FOR UPDATE")) {
                    ps.setString(1, spec.id());
                    try (ResultSet rs = ps.executeQuery()) {
                        if (rs.next()) {
                            lastPing = instant(rs.getTimestamp(1));
                        }
                    }
                }
                final ServiceState out;
                try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + TABLE + " (id, timeout_ms, grace_ms, "
                    + "statuses, schedule, tz, max_run_ms, parent) VALUES (?, ?, ?, ?::jsonb, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                    + "timeout_ms = EXCLUDED.timeout_ms, grace_ms = EXCLUDED.grace_ms, statuses = EXCLUDED.statuses, "
                    + "schedule = EXCLUDED.schedule, tz = EXCLUDED.tz, max_run_ms = EXCLUDED.max_run_ms, parent = EXCLUDED.parent, "
                    // A status index beyond the new list falls back to the normal status.
                    + "status = CASE WHEN " + TABLE + ".status < jsonb_array_length(EXCLUDED.statuses) "
                    + "THEN " + TABLE + ".status ELSE 0 END, "
                    + "alert_after = LEAST(?, (SELECT min(e.at) FROM " + UptimeSchema.HEARTBEAT_EVENTS + " e WHERE e.service = "
                    + "EXCLUDED.id AND e.open) + EXCLUDED.max_run_ms * interval '1 millisecond'), updated_at = now() "
                    + "RETURNING " + COLUMNS)) {
                    ps.setString(1, spec.id());
                    ps.setLong(2, spec.timeout().toMillis());
                    ps.setLong(3, spec.grace().toMillis());
                    ps.setString(4, json(spec.statuses()));
                    ps.setString(5, spec.schedule());
                    ps.setString(6, spec.timeZone());
                    if (spec.maxRun() == null) {
                        ps.setNull(7, java.sql.Types.BIGINT);
                    } else {
                        ps.setLong(7, spec.maxRun().toMillis());
                    }
                    ps.setString(8, spec.parent());
                    ps.setTimestamp(9, lastPing == null ? null : Timestamp.from(spec.alertAfter(lastPing)));
                    // The row as written, in the same statement: a concurrent DELETE cannot slip in before it is read.
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        out = read(rs);
                    }
                }
                c.commit();
                return out;
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            }
        }
    }

    /** One service. */
    public Optional<ServiceState> get(String id) throws SQLException {
        try (Connection c = dataSource.getConnection()) {
            return get(c, id, false);
        }
    }

    /** One service on the caller's connection, optionally locking its row for the transaction. */
    static Optional<ServiceState> get(Connection c, String id, boolean forUpdate) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT " + COLUMNS + " FROM " + TABLE + " WHERE id = ?"
            + (forUpdate ? " FOR UPDATE" : ""))) {
            ps.setString(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Optional.of(read(rs)) : Optional.empty();
            }
        }
    }

    /** All services, by id. */
    public List<ServiceState> list() throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT " + COLUMNS + " FROM " + TABLE + " ORDER BY id");
             ResultSet rs = ps.executeQuery()) {
            final List<ServiceState> out = new ArrayList<>();
            while (rs.next()) {
                out.add(read(rs));
            }
            return out;
        }
    }

    /** Deletes a service; its history stays in the telemetry and transition tables. */
    public boolean delete(String id) throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("DELETE FROM " + TABLE + " WHERE id = ?");
             PreparedStatement runs = c.prepareStatement("UPDATE " + UptimeSchema.HEARTBEAT_EVENTS + " SET open = false "
                 + "WHERE service = ? AND open")) {
            // Its open runs end with it: a service registered later under the id must not inherit their deadlines.
            runs.setString(1, id);
            runs.executeUpdate();
            ps.setString(1, id);
            return ps.executeUpdate() > 0;
        }
    }

    static ServiceState read(ResultSet rs) throws SQLException {
        final List<String> statuses;
        try {
            statuses = ApiJson.MAPPER.readValue(rs.getString(4), STRINGS);
        } catch (JsonProcessingException e) {
            throw new SQLException("heartbeat_services.statuses of '" + rs.getString(1) + "' is not a JSON array", e);
        }
        final ServiceSpec spec = new ServiceSpec(rs.getString(1), Duration.ofMillis(rs.getLong(2)),
            Duration.ofMillis(rs.getLong(3)), statuses, rs.getString(9), rs.getString(10),
            rs.getObject(11) == null ? null : Duration.ofMillis(rs.getLong(11)), rs.getString(12));
        return new ServiceState(spec, rs.getString(5), rs.getInt(6), instant(rs.getTimestamp(7)),
            instant(rs.getTimestamp(8)));
    }

    private static Instant instant(Timestamp t) {
        return t == null ? null : t.toInstant();
    }

    private static String json(List<String> statuses) {
        try {
            return ApiJson.MAPPER.writeValueAsString(statuses);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
