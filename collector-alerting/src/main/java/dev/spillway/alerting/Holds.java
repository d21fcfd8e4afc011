package dev.spillway.alerting;

import dev.spillway.runtime.log.LogText;
import dev.spillway.uptime.transitions.Notification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Holds by parents, and the end of every hold (windows and parents alike).
 *
 * <p><b>Parents.</b> A monitor or service may name a parent ({@code monitors.parent},
 * {@code heartbeat_services.parent}: a monitor's name, else a service's id). While the parent is down (a monitor
 * confirmed DOWN, enabled and not paused; a service unavailable), the child's notifications are held: recorded in
 * {@code notification_held} with the parent, not announced.
 *
 * <p><b>The end of a hold.</b> A subject's held notifications are released once nothing holds it any more (no open
 * window covers it, its parent is not down): the dispatcher pass ({@link #releaseEnded}) compares, per subject and
 * kind of change (availability, or a service's status), the state last announced (the first held row's old state)
 * with the state now (the last held row's new state). When they differ, one notification says so (a DOWN still
 * DOWN is announced once; a recovery whose failure was announced before the hold is announced); when they are the
 * same (DOWN and UP again while held), nothing is. A transition announced while a subject still has unreleased rows
 * (it happened after the hold ended, before the pass) settles them the same way ({@link #settle}).
 *
 * <p>A subject's holds, releases and settles take a transaction-scoped advisory lock on the subject, so one relay
 * releases it once, and never while a transition of it is being written.
 */
final class Holds {

    private static final Logger LOG = LoggerFactory.getLogger(Holds.class);
    /** A subject whose release fails (e.g. a database error) is tried again at every pass: logged once a minute. */
    private static final dev.spillway.runtime.log.RateLimitedLog FAILED = new dev.spillway.runtime.log.RateLimitedLog(
        LOG, 60_000);
    /** Advisory-lock namespace of held subjects: "SPNH". */
    private static final int LOCK_NAMESPACE = 0x53504E48;
    /** Most subjects one pass releases; the rest wait for the next pass. */
    private static final int MAX_RELEASES_PER_PASS = 2_000;

    /**
     * The subject's parent when it is down, as {@code parent_kind, parent} (no row when it has none or it is not
     * down). A parent name is a monitor's if one has it, else a service's.
     */
    private static String downParentSql(String kind, String subject) {
        return "SELECT CASE WHEN pm.name IS NOT NULL THEN 'monitor' ELSE 'service' END, p.parent FROM ("
            + "SELECT m.parent FROM monitors m WHERE " + kind + " = 'monitor' AND m.name = " + subject + " "
            + "UNION ALL SELECT h.parent FROM heartbeat_services h WHERE " + kind + " = 'service' AND h.id = "
            + subject + ") p "
            + "LEFT JOIN monitors pm ON pm.name = p.parent "
            + "LEFT JOIN monitor_state ps ON ps.name = pm.name "
            + "LEFT JOIN heartbeat_services ph ON pm.name IS NULL AND ph.id = p.parent "
            + "WHERE p.parent IS NOT NULL AND ((pm.name IS NOT NULL AND pm.enabled AND ps.confirmed_state = 'DOWN' "
            + "AND ps.state <> 'PAUSED') OR (pm.name IS NULL AND ph.state = 'down'))";
    }

    private Holds() {
    }

    /** A parent that is down: {@code monitor} or {@code service}, and its name. */
    record Parent(String kind, String name) {
    }

    /** The subject's parent if it is down now (on the caller's connection, in the state change's transaction). */
    static Parent downParent(Connection c, String kind, String subject) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(downParentSql("?::text", "?::text"))) {
            ps.setString(1, kind);
            ps.setString(2, subject);
            ps.setString(3, kind);
            ps.setString(4, subject);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? new Parent(rs.getString(1), rs.getString(2)) : null;
            }
        }
    }

    /** Locks the subject's holds until the transaction ends (waiting for another holder). */
    static void lock(Connection c, String kind, String subject) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT pg_advisory_xact_lock(?, hashtext(?))")) {
            ps.setInt(1, LOCK_NAMESPACE);
            ps.setString(2, kind + "/" + subject);
            ps.executeQuery().close();
        }
    }

    private static boolean tryLock(Connection c, String kind, String subject) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT pg_try_advisory_xact_lock(?, hashtext(?))")) {
            ps.setInt(1, LOCK_NAMESPACE);
            ps.setString(2, kind + "/" + subject);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getBoolean(1);
            }
        }
    }

    /** One unreleased held row. */
    private record Row(long id, Notification n, String windowId, String parent) {
    }

    private static boolean statusFamily(String type) {
        return type.endsWith(".status");
    }

    /**
     * Before {@code n} is announced: if its subject has unreleased held notifications of the same kind of change,
     * they are released, and what is announced is the change from the state last announced (the first held one's
     * old state) to {@code n}'s new state; nothing, when that is no change.
     *
     * @return the notification to announce, or null
     */
    static Notification settle(Connection c, Notification n, Instant now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT EXISTS (SELECT 1 FROM notification_held "
            + "WHERE subject_kind = ? AND subject = ? AND released_at IS NULL)")) {
            ps.setString(1, n.subjectKind());
            ps.setString(2, n.subject());
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                if (!rs.getBoolean(1)) {
                    return n;
                }
            }
        }
        lock(c, n.subjectKind(), n.subject());
        final List<Row> rows = new ArrayList<>();
        for (Row r : unreleased(c, n.subjectKind(), n.subject())) {
            if (statusFamily(r.n.type()) == statusFamily(n.type())) {
                rows.add(r);
            }
        }
        if (rows.isEmpty()) {
            return n;
        }
        markReleased(c, rows, now);
        final String announced = rows.get(0).n.oldState();
        if (Objects.equals(announced, n.newState())) {
            return null;
        }
        final Notification out = new Notification(n.type(), n.subjectKind(), n.subject(), announced, n.newState(),
            n.occurredAt(), n.details());
        return out.isQuietFirstState() ? null : out;
    }

    private static List<Row> unreleased(Connection c, String kind, String subject) throws SQLException {
        final List<Row> rows = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT id, type, old_state, new_state, occurred_at, "
            + "details::text, window_id, parent FROM notification_held WHERE subject_kind = ? AND subject = ? "
            + "AND released_at IS NULL ORDER BY id")) {
            ps.setString(1, kind);
            ps.setString(2, subject);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    rows.add(new Row(rs.getLong(1), new Notification(rs.getString(2), kind, subject, rs.getString(3),
                        rs.getString(4), rs.getTimestamp(5).toInstant(), Json.readStringMap(rs.getString(6))),
                        rs.getString(7), rs.getString(8)));
                }
            }
        }
        return rows;
    }

    private static void markReleased(Connection c, List<Row> rows, Instant now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE notification_held SET released_at = ? "
            + "WHERE id = ANY (?)")) {
            ps.setTimestamp(1, Timestamp.from(now));
            ps.setArray(2, c.createArrayOf("bigint", rows.stream().map(Row::id).toArray()));
            ps.executeUpdate();
        }
    }

    /**
     * Releases the holds that ended by {@code now}: every subject with unreleased held notifications that no open
     * window covers and whose parent is not down (autocommit off; one transaction per subject).
     *
     * @return notifications announced (a subject whose release fails is logged, at most once a minute, and left for
     *     the next pass)
     */
    static int releaseEnded(DataSource ds, Instant now) throws SQLException {
        int announced = 0;
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(true);
            final List<MaintenanceWindow> open = Maintenance.openWindows(c, now);
            record Candidate(String kind, String subject, boolean present, Map<String, String> tags) {
            }
            // Subjects whose parent is still down are left out here, those an open window covers below; neither
            // counts against the pass's limit, so subjects held for long never keep others from being released.
            final List<Candidate> candidates = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT d.subject_kind, d.subject, "
                + "CASE d.subject_kind WHEN 'monitor' THEN (SELECT m.tags::text FROM monitors m WHERE m.name = d.subject) "
                + "WHEN 'service' THEN (SELECT '{}' FROM heartbeat_services h WHERE h.id = d.subject) END "
                + "FROM (SELECT DISTINCT subject_kind, subject FROM notification_held WHERE released_at IS NULL) d "
                + "WHERE NOT EXISTS (" + downParentSql("d.subject_kind", "d.subject") + ") "
                + "ORDER BY d.subject_kind, d.subject")) {
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        final String tags = rs.getString(3);
                        candidates.add(new Candidate(rs.getString(1), rs.getString(2), tags != null,
                            tags == null ? Map.of() : Json.readStringMap(tags)));
                    }
                }
            }
            c.setAutoCommit(false);
            int released = 0;
            for (Candidate d : candidates) {
                if (released == MAX_RELEASES_PER_PASS) {
                    break;
                }
                if (d.present && open.stream().anyMatch(w -> w.covers(d.kind, d.subject, d.tags))) {
                    continue;
                }
                released++;
                try {
                    announced += release(c, d.kind, d.subject, d.present, now);
                    c.commit();
                } catch (SQLException | RuntimeException e) {
                    // One subject's failure must not hold back the others (nor the pass's reminders and expiry).
                    c.rollback();
                    FAILED.warn("releasing the held notifications of " + d.kind + " '" + LogText.escape(d.subject)
                        + "' failed (tried again at the next pass): " + LogText.escape(e.toString()));
                }
            }
        }
        return announced;
    }

    /** Releases one subject's holds; what changed meanwhile is announced once (nothing for a subject now gone). */
    private static int release(Connection c, String kind, String subject, boolean present, Instant now)
        throws SQLException {
        if (!tryLock(c, kind, subject)) {
            return 0; // a transition of it is being written, or another relay releases it: the next pass looks again
        }
        final List<Row> rows = unreleased(c, kind, subject);
        if (rows.isEmpty()) {
            return 0;
        }
        markReleased(c, rows, now);
        if (!present) {
            return 0;
        }
        final Map<Boolean, List<Row>> families = new LinkedHashMap<>();
        for (Row r : rows) {
            families.computeIfAbsent(statusFamily(r.n.type()), k -> new ArrayList<>()).add(r);
        }
        int out = 0;
        for (List<Row> family : families.values()) {
            final Notification first = family.get(0).n;
            final Notification last = family.get(family.size() - 1).n;
            if (Objects.equals(first.oldState(), last.newState())) {
                continue; // back where it was when the hold began: nothing to tell
            }
            final Set<String> by = new LinkedHashSet<>();
            for (Row r : family) {
                by.add(r.windowId != null ? "maintenance window " + r.windowId : "parent " + r.parent);
            }
            final Map<String, String> details = new HashMap<>(last.details());
            details.put("held_by", String.join(", ", by));
            final Notification n = new Notification(last.type(), kind, subject, first.oldState(), last.newState(),
                last.occurredAt(), details);
            if (!n.isQuietFirstState()) {
                final int written = Outbox.enqueue(c, n, now);
                if (written > 0) {
                    out++;
                    LOG.debug("held notification released: {}", LogText.escape(Messages.sentence(n)));
                }
            }
        }
        return out;
    }
}
