package dev.spillway.ingest.resend;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Which events of a resent body an earlier copy already stored: looked up in the events table by content (catalogue
 * id, time to the microsecond as stored, kind, value), for the events whose fate the collector cannot know otherwise
 * (an earlier run took them, or a loss was reported somewhere in their batches). A body that holds the same point
 * {@code k} times is matched against as many stored rows: if the table holds {@code j} of them, the first
 * {@code min(j, k)} count as stored. A row stored by another request with exactly the same content counts too: a
 * resend never stores a point that is already there (InfluxDB's data model, where the same series and time
 * overwrite).
 *
 * <p>One query per 5,000 events, joining them to the events table within their time range: index probes with the
 * default index {@code (source_id, time)}, a time-bounded scan without one; with the blocks layout, the blocks whose
 * time range meets the events' (see {@link #sql(String, boolean)}).
 *
 * <p>A lookup is only as good as what is committed. A collector killed while its write was on the wire leaves a
 * backend behind that may still commit that write after the restart (for instance one waiting for a lock, with the
 * COPY and the COMMIT in its socket buffer). So before looking, the lookup checks that no transaction older than
 * this collector's start (by the server's clock) holds a write lock on the events table or its ledger; while one
 * does, it refuses ({@link PredecessorStillWriting}) and the resend is answered 503.
 */
final class EventLookup {

    private static final int CHUNK = 5_000;

    private final DataSource dataSource;
    private final String eventsTable;
    /** Null until the first lookup finds the layout. */
    private volatile Boolean blocks;
    private volatile String sql;
    private final java.sql.Timestamp startedAt;

    /** A write transaction from before this collector started is still open: what it holds is not known yet. */
    static final class PredecessorStillWriting extends SQLException {
        private static final long serialVersionUID = 1L;

        PredecessorStillWriting(long sessions) {
            super(sessions + " write transaction(s) on the events table opened before this collector started are "
                + "still open (a crashed predecessor's?)");
        }
    }

    /** One event to look for: its index in the body, its series' catalogue id, and what was stored. */
    record Event(int index, int sourceId, long timestampNanos, short kind, double value) {
        long micros() {
            return Math.floorDiv(timestampNanos, 1_000L); // as the sink stores it
        }
    }

    /** @param startedAt the server's time when this collector started, or null to skip the predecessor check */
    EventLookup(DataSource dataSource, String eventsTable, java.sql.Timestamp startedAt) {
        this.dataSource = dataSource;
        this.eventsTable = eventsTable;
        this.startedAt = startedAt;
    }

    private static String quoted(String name) {
        return "\"" + name.replace("\"", "\"\"") + "\"";
    }

    private static String micros(String column, String op) {
        return column + " " + op + " timestamptz 'epoch' + ?::int8 * interval '1 microsecond'";
    }

    /**
     * The lookup for the events table's storage layout (telemetry-core's {@code StorageLayout}): the rows layout's
     * table, or the blocks layout's view {@code <t>} over {@code <t>_blocks} and {@code <t>_rows}. The view cannot
     * prune blocks by time (its {@code time} comes out of {@code unnest}), so for blocks the query reads the two
     * tables itself, blocks pruned by {@code time_max}/{@code time_min} before unnesting: the cost follows the
     * body's time range, not the table's history. Parameters: the five arrays, then (min, max) pairs.
     */
    static String sql(String eventsTable, boolean blocks) {
        final String join = " e ON e.source_id = x.s "
            + "AND e.time = timestamptz 'epoch' + x.us * interval '1 microsecond' AND e.kind = x.k AND e.value = x.v ";
        final String from = "SELECT x.i, count(*) FROM unnest(?::int[], ?::int[], ?::int8[], ?::int2[], ?::float8[]) "
            + "AS x(i, s, us, k, v) JOIN ";
        if (!blocks) {
            return from + quoted(eventsTable) + join + "WHERE " + micros("e.time", ">=") + " AND "
                + micros("e.time", "<=") + " GROUP BY x.i";
        }
        return from + "(SELECT u.time, b.source_id, b.kind, u.value FROM " + quoted(eventsTable + "_blocks") + " b, "
            + "unnest(b.times, b.vals) AS u(time, value) WHERE " + micros("b.time_max", ">=") + " AND "
            + micros("b.time_min", "<=") + " AND " + micros("u.time", ">=") + " AND " + micros("u.time", "<=")
            + " UNION ALL SELECT r.time, r.source_id, r.kind, r.value FROM " + quoted(eventsTable + "_rows") + " r "
            + "WHERE " + micros("r.time", ">=") + " AND " + micros("r.time", "<=") + ")" + join + "GROUP BY x.i";
    }

    /** Whether the events table is the blocks layout's view (looked up once: a layout never changes in place). */
    private boolean blocks(Connection c) throws SQLException {
        Boolean b = blocks;
        if (b == null) {
            try (PreparedStatement ps = c.prepareStatement("SELECT c.relkind::text = 'v' AND to_regclass(?) IS NOT "
                + "NULL FROM pg_class c WHERE c.oid = to_regclass(?)")) {
                ps.setString(1, quoted(eventsTable + "_blocks"));
                ps.setString(2, quoted(eventsTable));
                try (ResultSet rs = ps.executeQuery()) {
                    b = rs.next() && rs.getBoolean(1);
                }
            }
            blocks = b;
            sql = sql(eventsTable, b);
        }
        return b;
    }

    /** The server's clock now: the start mark of {@link PredecessorStillWriting}. */
    static java.sql.Timestamp serverNow(DataSource dataSource) throws SQLException {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement("SELECT now()");
             ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getTimestamp(1);
        }
    }

    /**
     * @return the body indexes of the events found stored
     * @throws PredecessorStillWriting while a write from before this collector's start may still commit
     */
    BitSet find(List<Event> events) throws SQLException {
        final BitSet found = new BitSet();
        final Map<Integer, Long> stored = new HashMap<>();
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            if (startedAt != null) {
                checkNoPredecessor(c);
            }
            for (int from = 0; from < events.size(); from += CHUNK) {
                query(c, events.subList(from, Math.min(events.size(), from + CHUNK)), stored);
            }
        }
        if (events.isEmpty()) {
            return found;
        }
        // Identical events of the body share the rows that match them: the first min(rows, copies) are stored.
        final Map<Event, List<Integer>> copies = new HashMap<>();
        for (Event e : events) {
            copies.computeIfAbsent(new Event(0, e.sourceId(), e.micros() * 1_000L, e.kind(), e.value()),
                k -> new ArrayList<>()).add(e.index());
        }
        for (List<Integer> same : copies.values()) {
            final long rows = stored.getOrDefault(same.get(0), 0L);
            for (int i = 0; i < same.size() && i < rows; i++) {
                found.set(same.get(i));
            }
        }
        return found;
    }

    private void checkNoPredecessor(Connection c) throws SQLException {
        // The sink's COPY locks what it writes: the table, or for blocks the two tables behind the view.
        try (PreparedStatement ps = c.prepareStatement("SELECT count(DISTINCT a.pid) FROM pg_locks l "
            + "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'relation' "
            + "AND l.relation = ANY (ARRAY[to_regclass(?)::oid, to_regclass(?)::oid, to_regclass(?)::oid, "
            + "to_regclass(?)::oid]) AND l.mode = 'RowExclusiveLock' "
            + "AND a.pid <> pg_backend_pid() AND a.xact_start < ?")) {
            ps.setString(1, quoted(eventsTable));
            ps.setString(2, quoted(eventsTable + "_batches"));
            final boolean b = blocks(c);
            ps.setString(3, b ? quoted(eventsTable + "_blocks") : quoted(eventsTable));
            ps.setString(4, b ? quoted(eventsTable + "_rows") : quoted(eventsTable));
            ps.setTimestamp(5, startedAt);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                final long n = rs.getLong(1);
                if (n > 0) {
                    throw new PredecessorStillWriting(n);
                }
            }
        }
    }

    private void query(Connection c, List<Event> chunk, Map<Integer, Long> stored) throws SQLException {
        final Integer[] idx = new Integer[chunk.size()];
        final Integer[] src = new Integer[chunk.size()];
        final Long[] us = new Long[chunk.size()];
        final Short[] kinds = new Short[chunk.size()];
        final Double[] values = new Double[chunk.size()];
        long min = Long.MAX_VALUE;
        long max = Long.MIN_VALUE;
        for (int i = 0; i < idx.length; i++) {
            final Event e = chunk.get(i);
            idx[i] = e.index();
            src[i] = e.sourceId();
            us[i] = e.micros();
            kinds[i] = e.kind();
            values[i] = e.value();
            min = Math.min(min, us[i]);
            max = Math.max(max, us[i]);
        }
        final int params = blocks(c) ? 11 : 7; // five arrays, then (min, max) pairs: 1, or 3 for blocks
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setArray(1, c.createArrayOf("int4", idx));
            ps.setArray(2, c.createArrayOf("int4", src));
            ps.setArray(3, c.createArrayOf("int8", us));
            ps.setArray(4, c.createArrayOf("int2", kinds));
            ps.setArray(5, c.createArrayOf("float8", values));
            for (int p = 6; p < params; p += 2) {
                ps.setLong(p, min);
                ps.setLong(p + 1, max);
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    stored.put(rs.getInt(1), rs.getLong(2));
                }
            }
        }
    }
}
