package dev.spillway.telemetry.timescale;

/**
 * SQL that lists the gaps in each source's sequence numbers: the events that never reached the table (overwritten
 * in the ring, rejected, or failed), located per source.
 *
 * <p>Each result row is one gap: {@code source_id}, the last sequence before it ({@code after_seq}), the first
 * after it ({@code before_seq}) and how many sequences are missing ({@code missing = before_seq - after_seq - 1}).
 * Only gaps between two stored events are visible: events lost before a source's first stored event or after
 * its last one leave no trace in the table. Duplicates (which the sink never writes) would not count as gaps.
 */
public final class GapQuery {

    /** The gap query for the default table {@code telemetry_events}. */
    public static final String GAPS = sql("telemetry_events");

    private GapQuery() {
    }

    /** The gap query for a table name (validated like {@link TimescaleSink.Builder#table(String)}). */
    public static String sql(String table) {
        return "SELECT source_id, prev_seq AS after_seq, seq AS before_seq, seq - prev_seq - 1 AS missing\n"
            + "FROM (SELECT source_id, seq,\n"
            + "             lag(seq) OVER (PARTITION BY source_id ORDER BY seq) AS prev_seq\n"
            + "      FROM " + SchemaManager.quote(SchemaManager.requireTableName(table)) + ") s\n"
            + "WHERE seq - prev_seq > 1\n"
            + "ORDER BY source_id, after_seq";
    }
}
