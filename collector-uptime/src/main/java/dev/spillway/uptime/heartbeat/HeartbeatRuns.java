package dev.spillway.uptime.heartbeat;

import dev.spillway.uptime.schema.UptimeSchema;

import javax.sql.DataSource;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Healthchecks-style signals of a heartbeat service beside the plain ping: {@code start} (a run begins),
 * {@code success} (the ping, ending a run), {@code fail} (the service is unavailable at once), {@code log} (a
 * message, no state change), each optionally with a run id ({@code rid}) and a body, kept in
 * {@code heartbeat_events} (bodies cut at {@link #MAX_BODY} bytes, the newest {@link #KEPT} signals per service).
 *
 * <p>Runs: a success or fail ends the open start with the same run id, or, without a run id, the newest open start
 * without one; its duration is stored with the event and written as telemetry ({@code heartbeat{service}
 * run_duration_ms, run_failed}). Runs may overlap when each has its own id. With {@code max_run} set, an open run
 * older than that makes the service unavailable (its deadline is the earlier of the ping deadline and the oldest
 * open run's start + {@code max_run}); such a run is then closed, so the next success counts afresh.
 */
public final class HeartbeatRuns {

    /** Most bytes of a signal's body kept (Healthchecks' default ping body limit); the rest is cut. */
    public static final int MAX_BODY = 10_000;
    /** Signals kept per service (older ones are deleted as new ones come). */
    public static final int KEPT = 1_000;
    /** Run ids: what a UUID or a job's own id looks like. */
    public static final Pattern RUN_ID = Pattern.compile("[A-Za-z0-9_.:-]{1,64}");

    private static final String EVENTS = UptimeSchema.HEARTBEAT_EVENTS;

    private final Heartbeats heartbeats;
    private final DataSource dataSource;
    /**
     * Services with an open start without a run id, seen by this collector: only their plain pings (no run id, no
     * body) take the slow path that pairs them with the start; all other plain pings stay on the heartbeats' fast
     * path (memory only).
     */
    private final java.util.Set<String> openWithoutId = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** One signal as stored. */
    public record Event(long id, String kind, String runId, Instant at, Double durationMs, Integer exitStatus,
                        String body) {
    }

    /** @param dataSource the collector database (the heartbeats' own) */
    public HeartbeatRuns(Heartbeats heartbeats, DataSource dataSource) {
        this.heartbeats = heartbeats;
        this.dataSource = dataSource;
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement("SELECT DISTINCT "
            + "service FROM " + EVENTS + " WHERE open AND run_id IS NULL"); ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                openWithoutId.add(rs.getString(1));
            }
        } catch (SQLException e) {
            // Only costs the pairing of a plain ping with a start made before this collector started.
            org.slf4j.LoggerFactory.getLogger(HeartbeatRuns.class).warn("open heartbeat runs not read (a plain ping "
                + "does not end a run started before this start; a ping with ?rid= does): {}", e.toString());
        }
    }

    /** A run begins. */
    public Heartbeats.Outcome start(String id, String runId, byte[] body) throws SQLException {
        final Instant at = heartbeats.now();
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try {
                final Optional<ServiceState> s = ServiceStore.get(c, id, true);
                if (s.isEmpty()) {
                    c.rollback();
                    return Heartbeats.Outcome.UNKNOWN_SERVICE;
                }
                insert(c, id, "start", runId, at, true, null, null, body);
                if (runId == null) {
                    openWithoutId.add(id);
                }
                // Under max_run the run's end is due: the earlier of the ping deadline and start + max_run.
                try (PreparedStatement ps = c.prepareStatement("UPDATE " + ServiceStore.TABLE + " SET alert_after = "
                    + "LEAST(alert_after, CAST(? AS timestamptz) + max_run_ms * interval '1 millisecond') "
                    + "WHERE id = ? AND state = 'up' AND max_run_ms IS NOT NULL")) {
                    ps.setTimestamp(1, Timestamp.from(at));
                    ps.setString(2, id);
                    ps.executeUpdate();
                }
                c.commit();
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            }
        }
        return Heartbeats.Outcome.OK;
    }

    /** A run (or a job without runs) ended well: the ping with status index {@code status}. */
    public Heartbeats.Outcome success(String id, String runId, int status, byte[] body) throws SQLException {
        if (runId == null && (body == null || body.length == 0) && !openWithoutId.contains(id)) {
            return heartbeats.ping(id, status); // a plain ping: nothing to pair or keep
        }
        final Optional<ServiceState> s = heartbeats.store().get(id);
        if (s.isEmpty()) {
            return Heartbeats.Outcome.UNKNOWN_SERVICE;
        }
        if (status < 0 || status >= s.get().spec().statuses().size()) {
            return Heartbeats.Outcome.BAD_STATUS;
        }
        final Instant at = heartbeats.now();
        final Double ms = end(id, "success", runId, at, null, body);
        final Heartbeats.Outcome o = heartbeats.ping(id, status);
        if (ms != null) {
            heartbeats.runDuration(id, at, ms, false);
        }
        return o;
    }

    /** The job failed ({@code exitStatus}: its exit status, or null for {@code /fail}). */
    public Heartbeats.Outcome fail(String id, String runId, Integer exitStatus, byte[] body) throws SQLException {
        if (heartbeats.store().get(id).isEmpty()) {
            return Heartbeats.Outcome.UNKNOWN_SERVICE;
        }
        final Instant at = heartbeats.now();
        final Double ms = end(id, "fail", runId, at, exitStatus, body);
        final Heartbeats.Outcome o = heartbeats.fail(id, at, exitStatus == null ? "failure signalled"
            : "exit status " + exitStatus + (runId == null ? "" : " (run " + runId + ")"));
        if (ms != null) {
            heartbeats.runDuration(id, at, ms, true);
        }
        return o;
    }

    /** A message: kept, no state change. */
    public Heartbeats.Outcome log(String id, String runId, byte[] body) throws SQLException {
        if (heartbeats.store().get(id).isEmpty()) {
            return Heartbeats.Outcome.UNKNOWN_SERVICE;
        }
        try (Connection c = dataSource.getConnection()) {
            insert(c, id, "log", runId, heartbeats.now(), false, null, null, body);
        }
        return Heartbeats.Outcome.OK;
    }

    /** The newest signals of a service, newest first. */
    public List<Event> events(String id, int limit) throws SQLException {
        final List<Event> out = new ArrayList<>();
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement("SELECT id, kind, "
            + "run_id, at, duration_ms, exit_status, body FROM " + EVENTS + " WHERE service = ? ORDER BY id DESC "
            + "LIMIT ?")) {
            ps.setString(1, id);
            ps.setInt(2, limit);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new Event(rs.getLong(1), rs.getString(2), rs.getString(3), rs.getTimestamp(4).toInstant(),
                        rs.getObject(5) == null ? null : rs.getDouble(5),
                        rs.getObject(6) == null ? null : rs.getInt(6), rs.getString(7)));
                }
            }
        }
        return out;
    }

    /** The JSON shape of a signal. */
    public static Map<String, Object> view(Event e) {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("kind", e.kind());
        m.put("run_id", e.runId());
        m.put("at", e.at().toString());
        m.put("duration_ms", e.durationMs());
        m.put("exit_status", e.exitStatus());
        m.put("body", e.body());
        return m;
    }

    /** Records an ending signal, closing its run; the run's duration in ms, or null when it had no open start. */
    private Double end(String id, String kind, String runId, Instant at, Integer exitStatus, byte[] body)
        throws SQLException {
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try {
                Double ms = null;
                try (PreparedStatement ps = c.prepareStatement("UPDATE " + EVENTS + " SET open = false WHERE id = "
                    + "(SELECT id FROM " + EVENTS + " WHERE service = ? AND open AND run_id IS NOT DISTINCT FROM ? "
                    + "ORDER BY id DESC LIMIT 1 FOR UPDATE) RETURNING at")) {
                    ps.setString(1, id);
                    ps.setString(2, runId);
                    try (ResultSet rs = ps.executeQuery()) {
                        if (rs.next()) {
                            ms = Duration.between(rs.getTimestamp(1).toInstant(), at).toNanos() / 1e6;
                        }
                    }
                }
                insert(c, id, kind, runId, at, false, ms, exitStatus, body);
                boolean moreWithoutId = false;
                if (runId == null && ms != null) {
                    try (PreparedStatement ps = c.prepareStatement("SELECT 1 FROM " + EVENTS + " WHERE service = ? "
                        + "AND open AND run_id IS NULL LIMIT 1")) {
                        ps.setString(1, id);
                        try (ResultSet rs = ps.executeQuery()) {
                            moreWithoutId = rs.next();
                        }
                    }
                }
                c.commit();
                if (runId == null && ms != null && !moreWithoutId) {
                    openWithoutId.remove(id);
                }
                return ms;
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            }
        }
    }

    private static void insert(Connection c, String id, String kind, String runId, Instant at, boolean open, Double ms,
                               Integer exitStatus, byte[] body) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + EVENTS + " (service, kind, run_id, at, open, "
            + "duration_ms, exit_status, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")) {
            ps.setString(1, id);
            ps.setString(2, kind);
            ps.setString(3, runId);
            ps.setTimestamp(4, Timestamp.from(at));
            ps.setBoolean(5, open);
            if (ms == null) {
                ps.setNull(6, Types.DOUBLE);
            } else {
                ps.setDouble(6, ms);
            }
            if (exitStatus == null) {
                ps.setNull(7, Types.INTEGER);
            } else {
                ps.setInt(7, exitStatus);
            }
            ps.setString(8, text(body));
            ps.executeUpdate();
        }
        // Keep the newest KEPT per service.
        try (PreparedStatement ps = c.prepareStatement("DELETE FROM " + EVENTS + " WHERE service = ? AND id <= "
            + "(SELECT id FROM " + EVENTS + " WHERE service = ? ORDER BY id DESC OFFSET " + KEPT + " LIMIT 1)")) {
            ps.setString(1, id);
            ps.setString(2, id);
            ps.executeUpdate();
        }
    }

    /** A body as text, cut at {@link #MAX_BODY} bytes (on a character boundary); NUL cannot be stored. */
    static String text(byte[] body) {
        if (body == null || body.length == 0) {
            return null;
        }
        int n = Math.min(body.length, MAX_BODY);
        while (n > 0 && n < body.length && (body[n] & 0xC0) == 0x80) {
            n--; // do not split a UTF-8 sequence
        }
        return new String(body, 0, n, StandardCharsets.UTF_8).replace('\0', '\uFFFD');
    }
}
