package dev.spillway.alerting;

import dev.spillway.uptime.monitor.UptimeReport;
import dev.spillway.uptime.transitions.Notification;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Maintenance windows ({@code maintenance_windows}) and the notifications they held ({@code notification_held}).
 * Uptime reports derive maintenance time from the windows table; check rows are not marked.
 */
public final class Maintenance {

    private static final String COLUMNS = "id, scope, target, starts_at, ends_at, cron, duration_ms, zone, reason";

    private final DataSource dataSource;

    /** @param dataSource the collector database (step 211) */
    public Maintenance(DataSource dataSource) {
        this.dataSource = dataSource;
    }

    /**
     * A notification a window or a down parent held: recorded, not announced.
     *
     * @param windowId the window's id, or {@code parent:<name>} when a parent held it
     */
    public record Held(long id, String windowId, Notification notification, Instant heldAt) {
    }

    /**
     * The id of an open window that covers {@code n}'s subject at {@code now}, on the caller's connection (inside
     * the state change's transaction), or null.
     */
    static String holdingWindow(Connection c, Notification n, Instant now) throws SQLException {
        final List<MaintenanceWindow> open = openWindows(c, now);
        Map<String, String> tags = null;
        for (MaintenanceWindow w : open) {
            if ("tag".equals(w.scope()) && tags == null) {
                tags = "monitor".equals(n.subjectKind()) ? monitorTags(c, n.subject()) : Map.of();
            }
            if (w.covers(n.subjectKind(), n.subject(), tags == null ? Map.of() : tags)) {
                return w.id();
            }
        }
        return null;
    }

    /** The windows open at {@code now}, read on the caller's connection. */
    static List<MaintenanceWindow> openWindows(Connection c, Instant now) throws SQLException {
        final List<MaintenanceWindow> open = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT " + COLUMNS + " FROM maintenance_windows "
            + "WHERE (starts_at IS NULL OR starts_at <= ?) AND (ends_at IS NULL OR ends_at > ?) ORDER BY id")) {
            ps.setTimestamp(1, Timestamp.from(now));
            ps.setTimestamp(2, Timestamp.from(now));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    final MaintenanceWindow w = read(rs);
                    if (w.activeAt(now)) {
                        open.add(w);
                    }
                }
            }
        }
        return open;
    }

    private static Map<String, String> monitorTags(Connection c, String monitor) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT tags::text FROM monitors WHERE name = ?")) {
            ps.setString(1, monitor);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Json.readStringMap(rs.getString(1)) : Map.of();
            }
        }
    }

    /**
     * Records a held notification, on the caller's connection, under the subject's hold lock.
     *
     * @param windowId the window that holds it, or null when a parent does
     * @param parent the parent that holds it (when no window does), or null
     */
    static void hold(Connection c, Notification n, String windowId, Holds.Parent parent, Instant now)
        throws SQLException {
        Holds.lock(c, n.subjectKind(), n.subject());
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO notification_held (window_id, type, "
            + "subject_kind, subject, old_state, new_state, occurred_at, details, held_at, parent_kind, parent) "
            + "VALUES (?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?)")) {
            ps.setString(1, windowId);
            ps.setString(2, n.type());
            ps.setString(3, n.subjectKind());
            ps.setString(4, n.subject());
            ps.setString(5, n.oldState());
            ps.setString(6, n.newState());
            ps.setTimestamp(7, Timestamp.from(n.occurredAt()));
            ps.setString(8, Json.write(n.details()));
            ps.setTimestamp(9, Timestamp.from(now));
            ps.setString(10, parent == null ? null : parent.kind());
            ps.setString(11, parent == null ? null : parent.name());
            ps.executeUpdate();
        }
    }

    /**
     * Validates the windows a {@code --monitors} file declares, with the API's rules and messages. A snooze
     * ({@code for}) is refused there: it counts from when it is made, and a file is applied at every start.
     *
     * @throws dev.spillway.runtime.config.ConfigException {@code "<file>: maintenance entry 2 ('nightly'): cron: ..."}
     */
    public static List<MaintenanceWindow> declared(List<dev.spillway.uptime.monitor.MonitorFile.DeclaredWindow> windows) {
        final List<MaintenanceWindow> out = new ArrayList<>();
        for (dev.spillway.uptime.monitor.MonitorFile.DeclaredWindow d : windows) {
            try {
                if (d.body().has("for")) {
                    throw dev.spillway.runtime.api.ApiException.invalid("for", "a snooze counts from when it is made: "
                        + "use the API for it (PUT /api/v1/maintenance/{id}); the file declares windows with starts_at "
                        + "and ends_at, or cron, duration and zone");
                }
                out.add(MaintenanceApi.parse(d.id(), d.body(), Instant.EPOCH));
            } catch (dev.spillway.runtime.api.ApiException e) {
                throw new dev.spillway.runtime.config.ConfigException(d.where() + ": " + e.getMessage());
            }
        }
        return out;
    }

    /** Creates or replaces a window. */
    public void put(MaintenanceWindow w) throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("INSERT INTO maintenance_windows (" + COLUMNS + ") "
                 + "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET scope = EXCLUDED.scope, "
                 + "target = EXCLUDED.target, starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, "
                 + "cron = EXCLUDED.cron, duration_ms = EXCLUDED.duration_ms, zone = EXCLUDED.zone, "
                 + "reason = EXCLUDED.reason")) {
            ps.setString(1, w.id());
            ps.setString(2, w.scope());
            ps.setString(3, w.target());
            ps.setTimestamp(4, w.startsAt() == null ? null : Timestamp.from(w.startsAt()));
            ps.setTimestamp(5, w.endsAt() == null ? null : Timestamp.from(w.endsAt()));
            ps.setString(6, w.cron());
            if (w.duration() == null) {
                ps.setNull(7, java.sql.Types.BIGINT);
            } else {
                ps.setLong(7, w.duration().toMillis());
            }
            ps.setString(8, w.zone() == null ? null : w.zone().getId());
            ps.setString(9, w.reason());
            ps.executeUpdate();
        }
    }

    /** All windows, by id. */
    public List<MaintenanceWindow> list() throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT " + COLUMNS + " FROM maintenance_windows ORDER BY id");
             ResultSet rs = ps.executeQuery()) {
            final List<MaintenanceWindow> out = new ArrayList<>();
            while (rs.next()) {
                out.add(read(rs));
            }
            return out;
        }
    }

    /**
     * Maintenance time for uptime reports ({@link UptimeReport}): the openings of every window covering a monitor
     * (scope {@code all}, the monitor by name, or one of its tags; {@code service} windows cover heartbeat
     * services, not monitors) that overlap the report's range, read from {@code maintenance_windows} on each call;
     * and of a heartbeat service (scope {@code all} or {@code service} with its id).
     */
    public UptimeReport.Maintenance forReports() {
        return new UptimeReport.Maintenance() {
            @Override
            public List<Instant[]> windows(String monitor, Instant from, Instant to) throws SQLException {
                return reportWindows("monitor", monitor, from, to);
            }

            /** Many monitors (a status-page page): the windows are read once, a monitor's tags only when needed. */
            @Override
            public Map<String, List<Instant[]>> windows(java.util.Collection<String> monitors, Instant from,
                                                        Instant to) throws SQLException {
                final Map<String, List<Instant[]>> out = new java.util.HashMap<>();
                try (Connection c = dataSource.getConnection()) {
                    final List<MaintenanceWindow> windows = reportWindows(c, "monitor", from, to);
                    for (String m : monitors) {
                        final List<Instant[]> own = new ArrayList<>();
                        Map<String, String> tags = null;
                        for (MaintenanceWindow w : windows) {
                            if ("tag".equals(w.scope()) && tags == null) {
                                tags = monitorTags(c, m);
                            }
                            if (w.covers("monitor", m, tags == null ? Map.of() : tags)) {
                                own.addAll(w.openings(from, to));
                            }
                        }
                        out.put(m, own);
                    }
                }
                return out;
            }

            /** Heartbeat services: windows of scope {@code all} and {@code service} with its id. */
            @Override
            public List<Instant[]> serviceWindows(String service, Instant from, Instant to) throws SQLException {
                return reportWindows("service", service, from, to);
            }
        };
    }

    /** The windows of scope all, tag or {@code kind} that may open within {@code [from, to)}. */
    private static List<MaintenanceWindow> reportWindows(Connection c, String kind, Instant from, Instant to)
        throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT " + COLUMNS + " FROM maintenance_windows "
                 + "WHERE scope IN ('all', 'tag', ?) AND (starts_at IS NULL OR starts_at < ?) "
                 + "AND (ends_at IS NULL OR ends_at > ?) ORDER BY id")) {
            ps.setString(1, kind);
            ps.setTimestamp(2, Timestamp.from(to));
            ps.setTimestamp(3, Timestamp.from(from));
            final List<MaintenanceWindow> windows = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    windows.add(read(rs));
                }
            }
            return windows;
        }
    }

    private List<Instant[]> reportWindows(String kind, String subject, Instant from, Instant to) throws SQLException {
        final List<Instant[]> out = new ArrayList<>();
        Map<String, String> tags = null;
        try (Connection c = dataSource.getConnection()) {
            final List<MaintenanceWindow> windows = reportWindows(c, kind, from, to);
            for (MaintenanceWindow w : windows) {
                if ("tag".equals(w.scope()) && tags == null) {
                    tags = "monitor".equals(kind) ? monitorTags(c, subject) : Map.of(); // services have no tags
                }
                if (w.covers(kind, subject, tags == null ? Map.of() : tags)) {
                    out.addAll(w.openings(from, to));
                }
            }
        }
        return out;
    }

    /** One window. */
    public Optional<MaintenanceWindow> get(String id) throws SQLException {
        return list().stream().filter(w -> w.id().equals(id)).findFirst();
    }

    /** Windows open at {@code now}. */
    public List<MaintenanceWindow> open(Instant now) throws SQLException {
        return list().stream().filter(w -> w.activeAt(now)).toList();
    }

    /** @return whether it existed */
    public boolean delete(String id) throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("DELETE FROM maintenance_windows WHERE id = ?")) {
            ps.setString(1, id);
            return ps.executeUpdate() > 0;
        }
    }

    /** The newest held notifications. */
    public List<Held> held(int limit) throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT id, coalesce(window_id, 'parent:' || parent), type, "
                 + "subject_kind, subject, old_state, "
                 + "new_state, occurred_at, details::text, held_at FROM notification_held ORDER BY id DESC LIMIT ?")) {
            ps.setInt(1, limit);
            final List<Held> out = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new Held(rs.getLong(1), rs.getString(2), new Notification(rs.getString(3),
                        rs.getString(4), rs.getString(5), rs.getString(6), rs.getString(7),
                        rs.getTimestamp(8).toInstant(), Json.readStringMap(rs.getString(9))),
                        rs.getTimestamp(10).toInstant()));
                }
            }
            return out;
        }
    }

    private static MaintenanceWindow read(ResultSet rs) throws SQLException {
        final long ms = rs.getLong(7);
        final Duration duration = rs.wasNull() ? null : Duration.ofMillis(ms);
        final String zone = rs.getString(8);
        return new MaintenanceWindow(rs.getString(1), rs.getString(2), rs.getString(3),
            Outbox.instant(rs.getTimestamp(4)), Outbox.instant(rs.getTimestamp(5)), rs.getString(6), duration,
            zone == null ? null : ZoneId.of(zone), rs.getString(9));
    }
}
