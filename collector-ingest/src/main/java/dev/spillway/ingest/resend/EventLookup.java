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
 * default index {@code (source_id, time)}, a time-bounded scan without one.
 */
final class EventLookup {

    private static final int CHUNK = 5_000;

    private final DataSource dataSource;
    private final String sql;

    /** One event to look for: its index in the body, its series' catalogue id, and what was stored. */
    record Event(int index, int sourceId, long timestampNanos, short kind, double value) {
        long micros() {
            return Math.floorDiv(timestampNanos, 1_000L); // as the sink stores it
        }
    }

    EventLookup(DataSource dataSource, String eventsTable) {
        this.dataSource = dataSource;
        final String t = "\"" + eventsTable.replace("\"", "\"\"") + "\"";
        this.sql = "SELECT x.i, count(*) FROM unnest(?::int[], ?::int[], ?::int8[], ?::int2[], ?::float8[]) "
            + "AS x(i, s, us, k, v) JOIN " + t + " e ON e.source_id = x.s "
            + "AND e.time = timestamptz 'epoch' + x.us * interval '1 microsecond' AND e.kind = x.k AND e.value = x.v "
            + "WHERE e.time >= timestamptz 'epoch' + ?::int8 * interval '1 microsecond' "
            + "AND e.time <= timestamptz 'epoch' + ?::int8 * interval '1 microsecond' GROUP BY x.i";
    }

    /** @return the body indexes of the events found stored */
    BitSet find(List<Event> events) throws SQLException {
        final BitSet found = new BitSet();
        if (events.isEmpty()) {
            return found;
        }
        final Map<Integer, Long> stored = new HashMap<>();
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            for (int from = 0; from < events.size(); from += CHUNK) {
                query(c, events.subList(from, Math.min(events.size(), from + CHUNK)), stored);
            }
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
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setArray(1, c.createArrayOf("int4", idx));
            ps.setArray(2, c.createArrayOf("int4", src));
            ps.setArray(3, c.createArrayOf("int8", us));
            ps.setArray(4, c.createArrayOf("int2", kinds));
            ps.setArray(5, c.createArrayOf("float8", values));
            ps.setLong(6, min);
            ps.setLong(7, max);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    stored.put(rs.getInt(1), rs.getLong(2));
                }
            }
        }
    }
}
