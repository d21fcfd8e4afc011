package dev.spillway.telemetry.timescale;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Statement;
import java.time.Duration;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Creates the events table, its indexes, its TimescaleDB settings and the batch ledger, idempotently.
 *
 * <p>All DDL runs in one transaction holding a transaction-scoped advisory lock, so two collectors that start
 * together do not race on {@code CREATE ... IF NOT EXISTS} (which is not safe against concurrent creation of the
 * same object in PostgreSQL) and a failure leaves nothing half-created.
 *
 * <p>TimescaleDB is used when the extension is available ({@code pg_available_extensions}); otherwise, or if
 * {@code CREATE EXTENSION} is refused, a plain table with the same columns and indexes is created and
 * compression / retention are skipped with a warning.
 *
 * <p>Every identifier comes from a validated table name ({@link #requireTableName}) and is double-quoted; every
 * interval is rendered from a number. No SQL is ever built from unvalidated input.
 */
final class SchemaManager {

    private static final Logger LOG = LoggerFactory.getLogger(SchemaManager.class);

    /** Plain, lower-case identifiers; at most 55 chars so that {@code <table>_batches} fits in 63 bytes. */
    static final Pattern TABLE_NAME = Pattern.compile("[a-z_][a-z0-9_]{0,54}");

    /** Any identifier this class quotes: the table name, or a name derived from it. */
    private static final Pattern IDENTIFIER = Pattern.compile("[a-z_][a-z0-9_]{0,62}");

    /** Suffix of the ledger table's name. */
    static final String LEDGER_SUFFIX = "_batches";

    /** High bits of the advisory lock key, so that Spillway's key is unlikely to collide with an application's. */
    private static final long LOCK_NAMESPACE = 0x5350_494C_0000_0000L; // "SPIL"

    private final String table;
    private final Duration chunkInterval;
    private final Duration compressAfter;
    private final Duration retention;
    private final IndexMode indexMode;
    private final StorageLayout layout;

    /**
     * @param table validated table name
     * @param chunkInterval hypertable chunk interval
     * @param compressAfter age after which chunks are compressed, or null for no compression
     * @param retention age after which chunks are dropped, or null to keep everything
     * @param indexMode which indexes to create
     */
    SchemaManager(String table, Duration chunkInterval, Duration compressAfter, Duration retention,
                  IndexMode indexMode) {
        this(table, chunkInterval, compressAfter, retention, indexMode, StorageLayout.ROWS);
    }

    /** As above, in a given {@link StorageLayout}. */
    SchemaManager(String table, Duration chunkInterval, Duration compressAfter, Duration retention,
                  IndexMode indexMode, StorageLayout layout) {
        this.table = requireTableName(table);
        this.chunkInterval = Objects.requireNonNull(chunkInterval, "chunkInterval");
        this.compressAfter = compressAfter;
        this.retention = retention;
        this.indexMode = Objects.requireNonNull(indexMode, "indexMode");
        this.layout = Objects.requireNonNull(layout, "layout");
    }

    /** The {@link StorageLayout#BLOCKS} layout's table of blocks. */
    static String blocksTable(String table) {
        return table + "_blocks";
    }

    /** The {@link StorageLayout#BLOCKS} layout's table of single events (sources with few events per batch). */
    static String rowsTable(String table) {
        return table + "_rows";
    }

    /**
     * The view {@code <table>} of the {@link StorageLayout#BLOCKS} layout: every event as a row, with the columns and
     * types of the {@link StorageLayout#ROWS} table. A block's sequences are {@code first_seq + i} unless it stores
     * them ({@code seqs}); a multi-argument {@code unnest} pads the NULL array.
     */
    static String viewSql(String table) {
        return "CREATE OR REPLACE VIEW " + quote(table) + " AS "
            + "SELECT u.time, b.source_id, b.kind, u.value, coalesce(u.seq, b.first_seq + u.ord - 1) AS seq "
            + "FROM " + quote(blocksTable(table)) + " b, "
            + "unnest(b.times, b.vals, b.seqs) WITH ORDINALITY AS u(time, value, seq, ord) "
            + "UNION ALL SELECT time, source_id, kind, value, seq FROM " + quote(rowsTable(table));
    }

    /** The function {@code <table>_latest(integer[])}: the latest event of each source given ({@link #latestSql}). */
    static String latestFunction(String table) {
        return table + "_latest";
    }

    /**
     * {@code CREATE OR REPLACE FUNCTION <table>_latest(source_ids integer[])}: per source id given, its latest event
     * (greatest {@code time}; of equal times, the greatest {@code seq}), as {@code (source_id, kind, time, value,
     * seq)}; a source without events gives no row. A set-returning SQL function, STABLE and not STRICT, so PostgreSQL
     * inlines it into the calling query (it can be joined LATERAL, e.g. to a catalogue of sources).
     *
     * <p>ROWS: one descent of the {@code (source_id, time DESC)} btree per source. BLOCKS: the rows table first (its
     * btree is small: it holds the recent events), then only the entries of the blocks' {@code (source_id, time_max
     * DESC)} btree with {@code time_max} at or after that row's time, read from the index alone ({@code max}), so a
     * source whose latest event is a row costs two index descents and no block is read. A block is read only when it
     * holds an event at least as new as the source's newest row (or the source has no rows): a source written in
     * blocks, one that stopped reporting, or one with a late row in the rows table from an hour older than its newest
     * block (the row does not hide that block); its value is taken by subscript (the last element, which normally has
     * the block's last time and greatest sequence), the block unnested only when not. The view {@code <table>} gives
     * the same answer but slower: it unnests every block of the source (measured: {@code docs/performance.md}).
     *
     * <p>The body names its tables with {@code schema} (the schema they were created in): a SQL function's body is
     * resolved with the caller's {@code search_path}, so unqualified names would read whatever tables of that name a
     * caller's path finds first. (A {@code SET search_path} clause would do the same but stops PostgreSQL inlining it.)
     */
    static String latestSql(String schema, String table, StorageLayout layout) {
        final String head = "CREATE OR REPLACE FUNCTION " + quote(latestFunction(table)) + "(source_ids integer[]) "
            + "RETURNS TABLE (source_id integer, kind smallint, \"time\" timestamptz, value double precision, "
            + "seq bigint) LANGUAGE sql STABLE AS $latest$ ";
        final String rows = quote(schema) + "." + quote(layout == StorageLayout.ROWS ? table : rowsTable(table));
        // the newest row (of equal times the greatest seq: an incremental sort of the rows at the newest time; a
        // max(time) first and then the rows at that time touched more buffers: 9 against 6 per source on rows)
        final String newestRow = "SELECT x.kind, x.time, x.value, x.seq FROM " + rows + " x WHERE x.source_id = s.id "
            + "ORDER BY x.time DESC, x.seq DESC LIMIT 1";
        if (layout == StorageLayout.ROWS) {
            return head + "SELECT s.id, e.kind, e.time, e.value, e.seq FROM unnest(source_ids) AS s(id) "
                + "CROSS JOIN LATERAL (" + newestRow + ") e $latest$";
        }
        final String blocks = quote(schema) + "." + quote(blocksTable(table));
        return head + "SELECT s.id, CASE WHEN w.blk THEN b.kind ELSE r.kind END, "
            + "CASE WHEN w.blk THEN b.time ELSE r.time END, CASE WHEN w.blk THEN b.value ELSE r.value END, "
            + "CASE WHEN w.blk THEN b.seq ELSE r.seq END "
            + "FROM unnest(source_ids) AS s(id) "
            + "LEFT JOIN LATERAL (" + newestRow + ") r ON true "
            // the newest block end at or after that row (from the btree alone; NULL when there is none)
            + "LEFT JOIN LATERAL (SELECT max(y.time_max) AS tm FROM " + blocks + " y "
            + "WHERE y.source_id = s.id AND y.time_max >= coalesce(r.time, '-infinity'::timestamptz)) m ON true "
            // the event at that end (of the blocks ending there, the one with the greatest sequence): in a block,
            // the last element when it has both the block's last time and its greatest sequence (the normal case: no
            // unnest), else the element of greatest sequence among those at time_max
            + "LEFT JOIN LATERAL (SELECT z.kind, z.time_max AS time, z.vals[k.i] AS value, "
            + "coalesce(z.seqs[k.i], z.first_seq + k.i - 1) AS seq FROM " + blocks + " z "
            + "CROSS JOIN LATERAL (SELECT CASE WHEN z.times[cardinality(z.times)] = z.time_max AND (z.seqs IS NULL "
            + "OR z.seqs[cardinality(z.times)] = z.last_seq) THEN cardinality(z.times) ELSE (SELECT u.ord::integer "
            + "FROM unnest(z.times, z.seqs) WITH ORDINALITY AS u(time, seq, ord) WHERE u.time = z.time_max "
            + "ORDER BY coalesce(u.seq, z.first_seq + u.ord - 1) DESC LIMIT 1) END AS i) k "
            + "WHERE z.source_id = s.id AND z.time_max = m.tm ORDER BY 4 DESC LIMIT 1) b ON true "
            + "CROSS JOIN LATERAL (SELECT b.time IS NOT NULL AND (r.time IS NULL OR b.time > r.time "
            + "OR (b.time = r.time AND b.seq > r.seq)) AS blk) w "
            + "WHERE r.time IS NOT NULL OR b.time IS NOT NULL $latest$";
    }

    /** Returns {@code name} if it is a valid table name, else throws naming the rule. */
    static String requireTableName(String name) {
        if (name == null || !TABLE_NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("table must match " + TABLE_NAME.pattern()
                + " (a plain lower-case identifier of at most 55 characters), was "
                + (name == null ? "null" : '"' + name + '"'));
        }
        return name;
    }

    /** A validated identifier in double quotes, so that reserved words (e.g. {@code user}) work too. */
    static String quote(String identifier) {
        if (identifier == null || !IDENTIFIER.matcher(identifier).matches()) {
            throw new IllegalArgumentException("not a plain identifier: " + identifier);
        }
        return '"' + identifier + '"';
    }

    /** The ledger table's name for an events table. */
    static String ledgerTable(String table) {
        return table + LEDGER_SUFFIX;
    }

    /** Whether the table (a name, resolved like the statements resolve it) has the column. */
    private static boolean hasColumn(Connection conn, String table, String column) throws SQLException {
        try (PreparedStatement ps = conn.prepareStatement("SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(?) "
                + "AND attname = ? AND NOT attisdropped")) {
            ps.setString(1, quote(table));
            ps.setString(2, column);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        }
    }

    /** An interval literal rendered from a number of milliseconds (never from text). */
    static String interval(Duration d) {
        return "INTERVAL '" + d.toMillis() + " milliseconds'";
    }

    /**
     * Creates whatever is missing, in one transaction under an advisory lock. Leaves the connection's auto-commit
     * setting as it found it.
     *
     * @return true when the events table is a TimescaleDB hypertable, false for a plain table
     */
    boolean ensureSchema(Connection conn) throws SQLException {
        final boolean autoCommit = conn.getAutoCommit();
        conn.setAutoCommit(false);
        try {
            final boolean timescale;
            try (Statement st = conn.createStatement()) {
                lock(conn);
                checkRelationKind(conn);
                timescale = ensureExtension(conn, st);
                final String rows = layout == StorageLayout.BLOCKS ? rowsTable(table) : table;
                st.execute("CREATE TABLE IF NOT EXISTS " + quote(rows) + " ("
                    + "time timestamptz NOT NULL, "
                    + "source_id integer NOT NULL, "
                    + "kind smallint NOT NULL, "
                    + "value double precision NOT NULL, "
                    + "seq bigint NOT NULL)");
                if (layout == StorageLayout.BLOCKS) {
                    st.execute("CREATE TABLE IF NOT EXISTS " + quote(blocksTable(table)) + " ("
                        + "source_id integer NOT NULL, "
                        + "kind smallint NOT NULL, "
                        + "time_min timestamptz NOT NULL, "
                        + "time_max timestamptz NOT NULL, "
                        + "first_seq bigint NOT NULL, "
                        + "last_seq bigint NOT NULL, "
                        + "n integer NOT NULL, "
                        + "times timestamptz[] NOT NULL, "
                        + "vals double precision[] NOT NULL, "
                        + "seqs bigint[])");
                }
                if (timescale) {
                    createHypertable(conn, st, rows, "time");
                    applyChunkInterval(conn, st, rows, "time");
                    if (layout == StorageLayout.BLOCKS) {
                        createHypertable(conn, st, blocksTable(table), "time_min");
                        applyChunkInterval(conn, st, blocksTable(table), "time_min");
                    }
                }
                createIndexes(st, rows, "time", "rows");
                if (layout == StorageLayout.BLOCKS) {
                    createBlockIndexes(st);
                    st.execute(viewSql(table));
                }
                final String schema;
                try (ResultSet rs = st.executeQuery("SELECT current_schema()")) {
                    rs.next();
                    schema = rs.getString(1);
                }
                st.execute(latestSql(schema, table, layout));
                st.execute("CREATE TABLE IF NOT EXISTS " + quote(ledgerTable(table)) + " ("
                    + "run_id text NOT NULL, "
                    + "batch_id bigint NOT NULL, "
                    + "committed_at timestamptz NOT NULL DEFAULT now(), "
                    + "time_min timestamptz, "
                    + "time_max timestamptz, "
                    + "PRIMARY KEY (run_id, batch_id))");
                // Each part's event-time range, so readers can redo what a late batch touched (status page). A
                // ledger from before those columns gets them; only then, because ALTER TABLE takes an ACCESS
                // EXCLUSIVE lock even when there is nothing to add, and queued behind the running writers' commits it
                // would stall every writer of the table each time one more process starts.
                if (!hasColumn(conn, ledgerTable(table), "time_max")) {
                    st.execute("ALTER TABLE " + quote(ledgerTable(table)) + " ADD COLUMN IF NOT EXISTS time_min "
                        + "timestamptz, ADD COLUMN IF NOT EXISTS time_max timestamptz");
                }
                if (timescale) {
                    // Blocks are compact already: compression applies to the table of rows.
                    if (compressAfter != null) {
                        enableCompression(conn, st, rows);
                    } else {
                        reportUnmanaged(conn, rows, "policy_compression", "compress_after", "compressAfter",
                            "remove_compression_policy");
                    }
                    for (String rel : layout == StorageLayout.BLOCKS ? new String[] {rows, blocksTable(table)}
                            : new String[] {rows}) {
                        if (retention != null) {
                            if (replaceIfDifferent(conn, st, rel, "policy_retention", "drop_after", retention,
                                "remove_retention_policy")) {
                                st.execute("SELECT add_retention_policy('" + quote(rel) + "', drop_after => "
                                    + interval(retention) + ", if_not_exists => true)");
                            }
                        } else {
                            reportUnmanaged(conn, rel, "policy_retention", "drop_after", "retention",
                                "remove_retention_policy");
                        }
                    }
                } else if (compressAfter != null || retention != null) {
                    LOG.warn("table {}: compressAfter/retention need TimescaleDB and are ignored on plain PostgreSQL",
                        table);
                }
            }
            conn.commit();
            return timescale;
        } catch (SQLException | RuntimeException e) {
            rollbackQuietly(conn, e);
            throw e;
        } finally {
            restoreAutoCommit(conn, autoCommit);
        }
    }

    /**
     * Whether the table is a hypertable, without changing anything (for sinks that do not create the schema).
     */
    boolean isHypertable(Connection conn) throws SQLException {
        try (Statement st = conn.createStatement();
             ResultSet rs = st.executeQuery("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")) {
            if (!rs.next()) {
                return false;
            }
        }
        try (PreparedStatement ps = conn.prepareStatement(
                "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = ?"
                    + " AND hypertable_schema = ANY (current_schemas(false))")) {
            ps.setString(1, layout == StorageLayout.BLOCKS ? blocksTable(table) : table);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        }
    }

    /**
     * The layout of an existing relation {@code <table>} (resolved through the search path): a view is the
     * {@link StorageLayout#BLOCKS} layout's, anything else (a table, a hypertable) the {@link StorageLayout#ROWS}
     * table; no relation yet: {@link StorageLayout#BLOCKS}, the layout of new tables. Leaves the connection's
     * transaction state alone when it is in auto-commit; otherwise the caller ends the transaction.
     */
    static StorageLayout existingLayout(Connection conn, String table) throws SQLException {
        try (PreparedStatement ps = conn.prepareStatement("SELECT c.relkind::text FROM pg_class c WHERE c.oid = "
                + "to_regclass(?)")) {
            ps.setString(1, quote(requireTableName(table)));
            try (ResultSet rs = ps.executeQuery()) {
                return !rs.next() || "v".equals(rs.getString(1)) ? StorageLayout.BLOCKS : StorageLayout.ROWS;
            }
        }
    }

    /**
     * Refuses a relation {@code <table>} of the other layout (a table where the view belongs, or the reverse): the
     * sink would otherwise copy into, or build a view over, the wrong thing.
     */
    private void checkRelationKind(Connection conn) throws SQLException {
        try (PreparedStatement ps = conn.prepareStatement("SELECT c.relkind::text FROM pg_class c WHERE c.oid = "
                + "to_regclass(?)")) {
            ps.setString(1, quote(table));
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return;
                }
                final boolean view = "v".equals(rs.getString(1));
                if (view != (layout == StorageLayout.BLOCKS)) {
                    throw new IllegalStateException("table " + table + " exists as " + (view
                        ? "the view of the BLOCKS storage layout" : "a table (the ROWS storage layout)")
                        + ", but the sink is configured with storageLayout " + layout + "; use storageLayout("
                        + (view ? "BLOCKS" : "ROWS") + "), leave storageLayout unset (an existing table keeps its"
                        + " layout) or use another table name");
                }
            }
        }
    }

    private void lock(Connection conn) throws SQLException {
        try (PreparedStatement ps = conn.prepareStatement("SELECT pg_advisory_xact_lock(?)")) {
            ps.setLong(1, LOCK_NAMESPACE | (table.hashCode() & 0xFFFF_FFFFL));
            ps.execute();
        }
    }

    private boolean ensureExtension(Connection conn, Statement st) throws SQLException {
        try (ResultSet rs = st.executeQuery("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")) {
            if (!rs.next()) {
                return false;
            }
        }
        // The extension can be listed yet unusable (not in shared_preload_libraries, or no privilege): a savepoint
        // keeps that failure from aborting the rest of the DDL, which then falls back to a plain table.
        final Savepoint sp = conn.setSavepoint();
        try {
            st.execute("CREATE EXTENSION IF NOT EXISTS timescaledb");
            conn.releaseSavepoint(sp);
            return true;
        } catch (SQLException e) {
            conn.rollback(sp);
            LOG.warn("timescaledb is available but CREATE EXTENSION failed ({}: {}); using a plain table",
                e.getSQLState(), e.getMessage());
            return false;
        }
    }

    private void createHypertable(Connection conn, Statement st, String rel, String timeColumn) throws SQLException {
        final String quoted = "'" + quote(rel) + "'";
        final Savepoint sp = conn.setSavepoint();
        try {
            // 2.13+ API. Default indexes are off so that IndexMode means the same on plain tables.
            st.execute("SELECT create_hypertable(" + quoted + ", by_range('" + timeColumn + "', " + interval(chunkInterval)
                + "), create_default_indexes => false, if_not_exists => true)");
            conn.releaseSavepoint(sp);
        } catch (SQLException e) {
            conn.rollback(sp);
            LOG.debug("create_hypertable with by_range failed ({}), trying the pre-2.13 signature", e.getMessage());
            st.execute("SELECT create_hypertable(" + quoted + ", '" + timeColumn + "', chunk_time_interval => "
                + interval(chunkInterval) + ", create_default_indexes => false, if_not_exists => true)");
        }
    }

    /** The index mode's index on a table of rows ({@code prefix} tells the index names of the two layouts apart). */
    private void createIndexes(Statement st, String rel, String timeColumn, String prefix) throws SQLException {
        final String p = layout == StorageLayout.BLOCKS ? prefix + "_" : "";
        switch (indexMode) {
            case DEFAULT:
                st.execute("CREATE INDEX IF NOT EXISTS " + quote(indexName(p + "src_time_idx")) + " ON " + quote(rel)
                    + " (source_id, " + timeColumn + " DESC)");
                break;
            case BRIN_TIME:
                st.execute("CREATE INDEX IF NOT EXISTS " + quote(indexName(p + "time_brin")) + " ON " + quote(rel)
                    + " USING brin (" + timeColumn + ")");
                break;
            case NONE:
                break;
            default:
                throw new IllegalStateException("unknown index mode " + indexMode);
        }
    }

    /**
     * The blocks' indexes: DEFAULT, a btree {@code (source_id, time_max DESC)} ("latest value of a series", "one
     * series over a range": a block is found by its source and its last time) and a BRIN on {@code (time_min,
     * time_max)} ("all series in a range": {@code time_max >= start AND time_min < end} prunes on both ends; blocks
     * arrive in time order, so their block ranges stay narrow); BRIN_TIME only the BRIN;
     * NONE nothing. One entry per block, not per event, so the btree costs little here.
     */
    private void createBlockIndexes(Statement st) throws SQLException {
        final String rel = quote(blocksTable(table));
        if (indexMode == IndexMode.DEFAULT) {
            st.execute("CREATE INDEX IF NOT EXISTS " + quote(indexName("blocks_src_time_idx")) + " ON " + rel
                + " (source_id, time_max DESC)");
        }
        if (indexMode == IndexMode.DEFAULT || indexMode == IndexMode.BRIN_TIME) {
            st.execute("CREATE INDEX IF NOT EXISTS " + quote(indexName("blocks_time_brin")) + " ON " + rel
                + " USING brin (time_min, time_max)");
        }
    }

    /** {@code <table>_<suffix>}, cut to PostgreSQL's 63-byte limit the same way every time. */
    private String indexName(String suffix) {
        final String name = table + "_" + suffix;
        return name.length() <= 63 ? name : name.substring(0, 63);
    }

    private void enableCompression(Connection conn, Statement st, String rel) throws SQLException {
        final String quoted = "'" + quote(rel) + "'";
        // Re-applying the ALTER on a table with compressed chunks can be refused, and it is a no-op anyway.
        if (!compressionEnabled(conn, rel)) {
            final Savepoint sp = conn.setSavepoint();
            try {
                st.execute("ALTER TABLE " + quote(rel) + " SET (timescaledb.enable_columnstore, "
                    + "timescaledb.segmentby = 'source_id', timescaledb.orderby = 'time DESC')");
                conn.releaseSavepoint(sp);
            } catch (SQLException e) {
                conn.rollback(sp);
                LOG.debug("columnstore options refused ({}), using the pre-2.18 compression options", e.getMessage());
                st.execute("ALTER TABLE " + quote(rel) + " SET (timescaledb.compress, "
                    + "timescaledb.compress_segmentby = 'source_id', timescaledb.compress_orderby = 'time DESC')");
            }
        }
        if (!replaceIfDifferent(conn, st, rel, "policy_compression", "compress_after", compressAfter,
                "remove_compression_policy")) {
            return;
        }
        final Savepoint sp = conn.setSavepoint();
        try {
            st.execute("CALL add_columnstore_policy(" + quoted + ", after => " + interval(compressAfter)
                + ", if_not_exists => true)");
            conn.releaseSavepoint(sp);
        } catch (SQLException e) {
            conn.rollback(sp);
            LOG.debug("add_columnstore_policy failed ({}), using add_compression_policy", e.getMessage());
            st.execute("SELECT add_compression_policy(" + quoted + ", compress_after => " + interval(compressAfter)
                + ", if_not_exists => true)");
        }
    }

    /**
     * The chunk interval applies when the hypertable is created; a table made earlier with another interval gets
     * the configured one for its future chunks ({@code set_chunk_time_interval}), so changing the setting works.
     */
    private void applyChunkInterval(Connection conn, Statement st, String rel, String timeColumn)
        throws SQLException {
        try (PreparedStatement ps = conn.prepareStatement("SELECT time_interval::text, time_interval = "
                + interval(chunkInterval) + " FROM timescaledb_information.dimensions WHERE hypertable_name = ?"
                + " AND hypertable_schema = ANY (current_schemas(false)) AND column_name = ?")) {
            ps.setString(1, rel);
            ps.setString(2, timeColumn);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next() || rs.getBoolean(2)) {
                    return;
                }
                LOG.info("table {}: chunk interval changed from {} to {} (for chunks created from now on)", rel,
                    rs.getString(1), chunkInterval);
            }
        }
        st.execute("SELECT set_chunk_time_interval('" + quote(rel) + "', " + interval(chunkInterval) + ")");
    }

    /**
     * Whether the policy {@code proc} must be (re)added: true when there is none, or when the existing one has
     * another {@code key} (then it is removed first and the change logged); false when it already matches.
     * {@code add_..._policy(if_not_exists => true)} alone would keep the old setting, silently.
     */
    private boolean replaceIfDifferent(Connection conn, Statement st, String rel, String proc, String key,
                                       Duration wanted, String remove) throws SQLException {
        final String current;
        try (PreparedStatement ps = conn.prepareStatement("SELECT config->>'" + key + "', (config->>'" + key
                + "')::interval = " + interval(wanted) + " FROM timescaledb_information.jobs WHERE hypertable_name = ?"
                + " AND hypertable_schema = ANY (current_schemas(false)) AND proc_name = '" + proc + "'")) {
            ps.setString(1, rel);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return true;
                }
                if (rs.getBoolean(2)) {
                    return false;
                }
                current = rs.getString(1);
            }
        }
        LOG.info("table {}: {} {} changed from {} to {}", rel, proc, key, current, wanted);
        st.execute("SELECT " + remove + "('" + quote(rel) + "', if_exists => true)");
        return true;
    }

    /** A policy this run was not asked for but that exists (an earlier setting, or added by hand) stays; say so. */
    private void reportUnmanaged(Connection conn, String rel, String proc, String key, String setting, String remove)
        throws SQLException {
        try (PreparedStatement ps = conn.prepareStatement("SELECT config->>'" + key + "' FROM "
                + "timescaledb_information.jobs WHERE hypertable_name = ? AND hypertable_schema = "
                + "ANY (current_schemas(false)) AND proc_name = '" + proc + "'")) {
            ps.setString(1, rel);
            try (ResultSet rs = ps.executeQuery()) {
                if (rs.next()) {
                    LOG.warn("table {}: {} is not set, but a {} with {} = {} exists and stays in force (remove it "
                        + "with SELECT {}('{}'))", rel, setting, proc, key, rs.getString(1), remove, rel);
                }
            }
        }
    }

    private boolean compressionEnabled(Connection conn, String rel) throws SQLException {
        try (PreparedStatement ps = conn.prepareStatement(
                "SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = ?"
                    + " AND hypertable_schema = ANY (current_schemas(false))")) {
            ps.setString(1, rel);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() && rs.getBoolean(1);
            }
        }
    }

    private static void rollbackQuietly(Connection conn, Exception cause) {
        try {
            conn.rollback();
        } catch (SQLException e) {
            cause.addSuppressed(e);
        }
    }

    private static void restoreAutoCommit(Connection conn, boolean autoCommit) {
        try {
            if (!conn.isClosed()) {
                conn.setAutoCommit(autoCommit);
            }
        } catch (SQLException ignored) {
            // the connection is broken; the caller's exception (if any) says why
        }
    }
}
