package dev.spillway.telemetry.timescale;

/**
 * How the sink stores events. Both layouts read the same through the events relation ({@code <table>}: columns
 * {@code time, source_id, kind, value, seq}), keep the ledger's exactly-once and let {@link GapQuery} find every gap
 * exactly; they differ in what one event costs PostgreSQL.
 */
public enum StorageLayout {

    /** One row per event in the table {@code <table>}, indexed per {@link IndexMode}: PostgreSQL's cost per row. */
    ROWS,

    /**
     * Per batch and (source, kind), one row of arrays in {@code <table>_blocks} (times, values, sequence bounds, the
     * sequences themselves only when they are not consecutive), so that PostgreSQL pays one tuple and one index entry
     * per source per batch instead of per event. A source with fewer than {@link #MIN_BLOCK_EVENTS} events in a batch
     * (the low-rate case: a 100 ms flush holds one point of a series that reports every second) is written as rows
     * into {@code <table>_rows}; a background compaction moves rows older than a few minutes into blocks of up to an
     * hour per source. {@code <table>} is a view over both that reads like the {@link #ROWS} table.
     */
    BLOCKS;

    /** The fewest events of one (source, kind) in a batch that are written as a block rather than as rows. */
    public static final int MIN_BLOCK_EVENTS = 8;
}
