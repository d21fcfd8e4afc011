package dev.spillway.statuspage;

import dev.spillway.ingest.series.SeriesSchema;
import dev.spillway.runtime.db.Migration;
import dev.spillway.uptime.monitor.UptimeReport;
import dev.spillway.uptime.schema.UptimeSchema;

import javax.sql.DataSource;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The status page's uptime figures, counted as the uptime report counts them, at a cost that does not grow with the
 * raw results: {@code monitor_uptime_runs} holds each monitor's timeline ({@link UptimeReport#timeline}, the
 * report's own function) as maximal runs of the same state ({@code [start_at, end_at)}, up or down; a monitor that
 * is always up and never missed a check is one row, growing). The page reads the runs overlapping its windows
 * (a handful of rows per monitor) and counts them with {@link UptimeReport#count} and the current maintenance
 * windows, so for the data the refresh has seen the page's up, down, maintenance and unknown time of any window
 * equal the report's over the same range, by construction.
 *
 * <p>{@link #refresh} (every {@link CheckRollups#REFRESH_PERIOD}, on plain PostgreSQL and TimescaleDB alike, one
 * collector at a time by an advisory lock) recomputes everything from {@link #LATE} before the last refresh: it cuts
 * the runs there, reads the results from one interval and a half before that (the longest a result counts), and
 * adds the new segments, joined to the run they continue. A first start (from the oldest result within {@link #KEEP})
 * or a long pause works through the time in slices of {@link #SLICE}, each its own transaction. Runs ending before {@link #KEEP} are dropped. Results stored more
 * than {@link #LATE} after their time are found by {@link CheckRollups} in the batch ledger (plain PostgreSQL):
 * {@link #rewind} makes the next refresh redo the runs from their time. Interval changes reach the report (which
 * reads raw results) but not runs already cut.
 */
final class UptimeRuns {

    static final String TABLE = "monitor_uptime_runs";
    static final String CURSOR = "monitor_uptime_cursor";
    /** The longest window the page shows (30 d), plus a day. */
    static final Duration KEEP = Duration.ofDays(31);
    /** How late a result may be stored and still be counted. */
    static final Duration LATE = Duration.ofMinutes(5);
    /** A backfill's step: each is one transaction reading at most this much of every monitor's results. */
    static final Duration SLICE = Duration.ofHours(1);
    private static final long LOCK = 0x5350_5752_554eL; // pg advisory lock key ("SPWRUN")

    private final DataSource dataSource;
    private final Supplier<Instant> clock;

    UptimeRuns(DataSource dataSource, Supplier<Instant> clock) {
        this.dataSource = dataSource;
        this.clock = clock;
    }

    /** Schema step 302 (the status page's range). */
    static Migration migration() {
        return Migration.sql(302, "monitor uptime runs",
            "CREATE TABLE IF NOT EXISTS " + TABLE + " (monitor text NOT NULL, start_at timestamptz NOT NULL, "
                + "end_at timestamptz NOT NULL, up boolean NOT NULL, PRIMARY KEY (monitor, start_at))",
            "CREATE INDEX IF NOT EXISTS " + TABLE + "_end_idx ON " + TABLE + " (end_at)",
            "CREATE TABLE IF NOT EXISTS " + CURSOR + " (id integer PRIMARY KEY CHECK (id = 1), "
                + "done_until timestamptz NOT NULL)");
    }

    /**
     * Results with times from {@code from} on were stored late (a batch replayed from the spool): the next
     * {@link #refresh} redoes the runs from there (slice by slice, as after a pause), so they count.
     */
    void rewind(Instant from) throws SQLException {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement("UPDATE " + CURSOR
            + " SET done_until = ? WHERE id = 1 AND done_until > ?")) {
            final Timestamp t = Timestamp.from(from.plus(LATE));
            ps.setTimestamp(1, t);
            ps.setTimestamp(2, t);
            ps.executeUpdate();
        }
    }

    /** Brings the runs up to "now"; does nothing while another collector is at it. */
    void refresh() throws SQLException {
        final Instant now = clock.get();
        while (true) {
            try (Connection c = dataSource.getConnection()) {
                c.setAutoCommit(false);
                try {
                    if (!locked(c)) {
                        c.rollback();
                        return;
                    }
                    final Instant hi = step(c, now);
                    c.commit();
                    if (!hi.isBefore(now)) {
                        return;
                    }
                } catch (SQLException | RuntimeException e) {
                    c.rollback();
                    throw e;
                }
            }
        }
    }

    private static boolean locked(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT pg_try_advisory_xact_lock(?)")) {
            ps.setLong(1, LOCK);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getBoolean(1);
            }
        }
    }

    /** One slice, {@code [lo, hi)}: returns {@code hi}. */
    private static Instant step(Connection c, Instant now) throws SQLException {
        Instant done = null;
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT done_until FROM " + CURSOR + " WHERE id = 1")) {
            if (rs.next()) {
                done = rs.getTimestamp(1).toInstant();
            }
        }
        final Instant oldest = now.minus(KEEP);
        Instant lo = done == null ? firstResult(c, oldest, now) : done.minus(LATE);
        lo = lo.isBefore(oldest) ? oldest : lo.isAfter(now) ? now : lo;
        final Instant hi = lo.plus(SLICE).isBefore(now) ? lo.plus(SLICE) : now;
        final Map<String, Duration> intervals = new HashMap<>();
        long longest = 0;
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT name, interval_ms FROM " + UptimeSchema.MONITORS)) {
            while (rs.next()) {
                intervals.put(rs.getString(1), Duration.ofMillis(rs.getLong(2)));
                longest = Math.max(longest, rs.getLong(2));
            }
        }
        final long reach = (long) (longest * (1 + UptimeReport.SLACK));
        final Map<String, List<long[]>> results = new HashMap<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT tags ->> 'monitor', time, value FROM "
            + SeriesSchema.VIEW + " WHERE measurement = 'monitor' AND field = 'up' AND time >= ? AND time < ? "
            + "ORDER BY time")) {
            ps.setTimestamp(1, Timestamp.from(lo.minusMillis(reach)));
            ps.setTimestamp(2, Timestamp.from(hi));
            ps.setFetchSize(10_000);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    final String m = rs.getString(1);
                    if (m != null && intervals.containsKey(m)) {
                        results.computeIfAbsent(m, k -> new ArrayList<>()).add(new long[] {
                            rs.getTimestamp(2).toInstant().toEpochMilli(), rs.getDouble(3) > 0 ? 1 : 0});
                    }
                }
            }
        }
        final Timestamp cut = Timestamp.from(lo);
        try (PreparedStatement del = c.prepareStatement("DELETE FROM " + TABLE + " WHERE start_at >= ?");
             PreparedStatement trim = c.prepareStatement("UPDATE " + TABLE + " SET end_at = ? WHERE start_at < ? "
                 + "AND end_at > ?")) {
            del.setTimestamp(1, cut);
            del.executeUpdate();
            trim.setTimestamp(1, cut);
            trim.setTimestamp(2, cut);
            trim.setTimestamp(3, cut);
            trim.executeUpdate();
        }
        try (PreparedStatement extend = c.prepareStatement("UPDATE " + TABLE + " SET end_at = ? WHERE monitor = ? "
                 + "AND end_at = ? AND up = ?");
             PreparedStatement insert = c.prepareStatement("INSERT INTO " + TABLE + " (monitor, start_at, end_at, up) "
                 + "VALUES (?, ?, ?, ?)")) {
            // The first run of a monitor that starts at the cut may continue the run cut there (one batch of
            // updates); whatever does not is inserted (one batch).
            final List<String> names = new ArrayList<>();
            final List<long[]> firsts = new ArrayList<>();
            final List<String> insertNames = new ArrayList<>();
            final List<long[]> inserts = new ArrayList<>();
            for (Map.Entry<String, List<long[]>> e : results.entrySet()) {
                final long[] t = UptimeReport.timeline(e.getValue(), intervals.get(e.getKey()));
                for (long[] run : merge(t, lo.toEpochMilli())) {
                    if (run[0] == lo.toEpochMilli()) {
                        extend.setTimestamp(1, new Timestamp(run[1]));
                        extend.setString(2, e.getKey());
                        extend.setTimestamp(3, cut);
                        extend.setBoolean(4, run[2] == 1);
                        extend.addBatch();
                        names.add(e.getKey());
                        firsts.add(run);
                    } else {
                        insertNames.add(e.getKey());
                        inserts.add(run);
                    }
                }
            }
            final int[] extended = names.isEmpty() ? new int[0] : extend.executeBatch();
            for (int i = 0; i < extended.length; i++) {
                if (extended[i] == 0) {
                    insertNames.add(names.get(i));
                    inserts.add(firsts.get(i));
                }
            }
            for (int i = 0; i < inserts.size(); i++) {
                insert.setString(1, insertNames.get(i));
                insert.setTimestamp(2, new Timestamp(inserts.get(i)[0]));
                insert.setTimestamp(3, new Timestamp(inserts.get(i)[1]));
                insert.setBoolean(4, inserts.get(i)[2] == 1);
                insert.addBatch();
            }
            if (!inserts.isEmpty()) {
                insert.executeBatch();
            }
        }
        try (PreparedStatement ps = c.prepareStatement("DELETE FROM " + TABLE + " WHERE end_at < ?")) {
            ps.setTimestamp(1, Timestamp.from(oldest));
            ps.executeUpdate();
        }
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + CURSOR + " (id, done_until) VALUES (1, ?) "
            + "ON CONFLICT (id) DO UPDATE SET done_until = EXCLUDED.done_until")) {
            ps.setTimestamp(1, Timestamp.from(hi));
            ps.executeUpdate();
        }
        return hi;
    }

    /** The first stored result at or after {@code notBefore} (where a first start begins), or {@code now}. */
    private static Instant firstResult(Connection c, Instant notBefore, Instant now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT min(time) FROM " + SeriesSchema.VIEW
            + " WHERE measurement = 'monitor' AND field = 'up' AND time >= ?")) {
            ps.setTimestamp(1, Timestamp.from(notBefore));
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                final Timestamp t = rs.getTimestamp(1);
                return t == null || t.toInstant().isAfter(now) ? now : t.toInstant();
            }
        }
    }

    /** The timeline's segments from {@code lo} on, joined where one state continues without a gap. */
    static List<long[]> merge(long[] timeline, long lo) {
        final List<long[]> out = new ArrayList<>();
        for (int i = 0; i < timeline.length; i += 3) {
            final long s = Math.max(timeline[i], lo);
            final long e = timeline[i + 1];
            if (s >= e) {
                continue;
            }
            final long[] last = out.isEmpty() ? null : out.get(out.size() - 1);
            if (last != null && last[1] == s && last[2] == timeline[i + 2]) {
                last[1] = e;
            } else {
                out.add(new long[] {s, e, timeline[i + 2]});
            }
        }
        return out;
    }

    /**
     * Each monitor's counts over each window {@code [now - window, now)}, from its runs and its maintenance
     * windows: one query for the runs (cancelled by PostgreSQL past {@code timeoutSeconds}), one for the windows.
     */
    static Map<String, UptimeReport.Row[]> read(Connection c, Array monitors, List<String> names, Instant now,
                                                List<Duration> windows, UptimeReport.Maintenance maintenance,
                                                int timeoutSeconds)
        throws SQLException {
        Duration longest = Duration.ZERO;
        for (Duration w : windows) {
            longest = w.compareTo(longest) > 0 ? w : longest;
        }
        final Instant from = now.minus(longest);
        final Map<String, List<long[]>> runs = new HashMap<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT monitor, start_at, end_at, up FROM " + TABLE
            + " WHERE monitor = ANY (?) AND end_at > ? AND start_at < ? ORDER BY monitor, start_at")) {
            ps.setQueryTimeout(timeoutSeconds);
            ps.setArray(1, monitors);
            ps.setTimestamp(2, Timestamp.from(from));
            ps.setTimestamp(3, Timestamp.from(now));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    runs.computeIfAbsent(rs.getString(1), k -> new ArrayList<>()).add(new long[] {
                        rs.getTimestamp(2).toInstant().toEpochMilli(), rs.getTimestamp(3).toInstant().toEpochMilli(),
                        rs.getBoolean(4) ? 1 : 0});
                }
            }
        }
        final Map<String, List<Instant[]>> maintenanceWindows = maintenance.windows(names, from, now);
        final Map<String, UptimeReport.Row[]> out = new HashMap<>();
        for (String name : names) {
            final List<long[]> own = runs.getOrDefault(name, List.of());
            final long[] timeline = new long[own.size() * 3];
            for (int i = 0; i < own.size(); i++) {
                System.arraycopy(own.get(i), 0, timeline, 3 * i, 3);
            }
            final UptimeReport.Row[] rows = new UptimeReport.Row[windows.size()];
            for (int i = 0; i < rows.length; i++) {
                rows[i] = UptimeReport.count(null, name, timeline, maintenanceWindows.getOrDefault(name, List.of()),
                    now.minus(windows.get(i)), now);
            }
            out.put(name, rows);
        }
        return out;
    }
}
