package dev.spillway.telemetry.timescale;

/**
 * Which secondary indexes the events table gets. Indexes, not the client, bound the ingest rate once they exist
 * (maintaining one btree roughly halves the raw COPY rate), so this is a deliberate choice per deployment.
 *
 * <p>The same indexes are created on a hypertable and on a plain table. On a hypertable, TimescaleDB's own default
 * {@code (time DESC)} index is not created ({@code create_default_indexes => false}), so that each mode means the
 * same on both; chunk exclusion already narrows time-range queries on a hypertable. Modes only ever add indexes:
 * switching from one mode to another does not drop the indexes of the former.
 */
public enum IndexMode {

    /** A btree on {@code (source_id, time DESC)}: fast "latest values of one source" and per-source ranges. */
    DEFAULT,

    /** No index at all: the fastest ingest; every query scans (chunks of) the table. */
    NONE,

    /** A BRIN index on {@code time}: tiny and cheap to maintain for time-ordered rows; coarse time filtering. */
    BRIN_TIME
}
