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

    /**
     * The gap query for a table in a storage layout. For {@link StorageLayout#ROWS} it is {@link #sql(String)}; for
     * {@link StorageLayout#BLOCKS} it reads the stored sequences without unnesting blocks whose sequences are
     * consecutive: such a block is the segment {@code [first_seq, last_seq]}, a block with stored sequences and each
     * row are one segment per event, and a gap is a hole between consecutive segments of a source. Exact, because a
     * source's sequences are unique (the ledger never writes an event twice), so segments never overlap.
     */
    public static String sql(String table, StorageLayout layout) {
        if (layout != StorageLayout.BLOCKS) {
            return sql(table);
        }
        final String blocks = SchemaManager.quote(SchemaManager.blocksTable(SchemaManager.requireTableName(table)));
        final String rows = SchemaManager.quote(SchemaManager.rowsTable(table));
        return "SELECT source_id, prev_hi AS after_seq, lo AS before_seq, lo - prev_hi - 1 AS missing\n"
            + "FROM (SELECT source_id, lo, lag(hi) OVER (PARTITION BY source_id ORDER BY lo) AS prev_hi\n"
            + "      FROM (SELECT source_id, first_seq AS lo, last_seq AS hi FROM " + blocks + " WHERE seqs IS NULL\n"
            + "            UNION ALL SELECT b.source_id, s, s FROM " + blocks + " b, unnest(b.seqs) s"
            + " WHERE b.seqs IS NOT NULL\n"
            + "            UNION ALL SELECT source_id, seq, seq FROM " + rows + ") segments) s\n"
            + "WHERE lo - prev_hi > 1\n"
            + "ORDER BY source_id, after_seq";
    }

    /**
     * The gap query for a table name (validated like {@link TimescaleSink.Builder#table(String)}); reads the events
     * relation, so it is exact for both storage layouts (for {@link StorageLayout#BLOCKS} the
     * {@link #sql(String, StorageLayout) layout's own query} is faster).
     */
    public static String sql(String table) {
        return "SELECT source_id, prev_seq AS after_seq, seq AS before_seq, seq - prev_seq - 1 AS missing\n"
            + "FROM (SELECT source_id, seq,\n"
            + "             lag(seq) OVER (PARTITION BY source_id ORDER BY seq) AS prev_seq\n"
            + "      FROM " + SchemaManager.quote(SchemaManager.requireTableName(table)) + ") s\n"
            + "WHERE seq - prev_seq > 1\n"
            + "ORDER BY source_id, after_seq";
    }
}
