package dev.spillway.telemetry.timescale;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import com.zaxxer.hikari.pool.HikariPool;
import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.Sink;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import java.util.regex.Pattern;

/**
 * A {@link Sink} that writes batches into PostgreSQL / TimescaleDB with binary {@code COPY}, one transaction per
 * batch, without ever duplicating a batch on retry.
 *
 * <pre>{@code
 * TimescaleSink sink = TimescaleSink.builder()
 *     .jdbcUrl("jdbc:postgresql://db:5432/metrics").username("spillway").password(secret)
 *     .compressAfter(Duration.ofDays(7)).retention(Duration.ofDays(90))
 *     .build();                                  // creates the schema if needed
 * Pipeline pipeline = Pipeline.builder().sink(sink).build();
 * }</pre>
 *
 * <h2>Exactly-once per batch</h2>
 * A commit whose acknowledgement is lost (the connection dies after the server committed) leaves the outcome
 * unknown, and the pipeline retries the same batch. Each write therefore inserts a row {@code (run id, batch id)}
 * into the ledger table {@code <table>_batches} in the same transaction as the COPY. The run id is a random UUID
 * chosen when the sink is built, so batch ids of different pipeline runs never collide. On a retry, an existing
 * ledger row means "already committed": the write reports the whole batch as written without copying it again.
 * Ledger rows older than {@code ledgerRetention} are pruned now and then, so the retention must be longer than
 * any batch can spend in retries ({@link dev.spillway.telemetry.sink.RetryPolicy#maxElapsed()}). Because batch ids
 * are only unique within one pipeline, a sink must serve exactly one pipeline: two pipelines sharing a sink would
 * see each other's batch ids as "already committed" and lose events.
 *
 * <p>A batch that carries an {@link EventBatch#originRunId() origin run id} (consumed from NATS JetStream, replayed
 * from a spool) is keyed by {@code (origin run id, batch id)} instead: the key its first writer used, so a second
 * delivery of the same batch, by any writer sharing this database, is detected by the ledger and not copied again.
 *
 * <h2>Bad rows</h2>
 * When the COPY fails because of the data (SQLSTATE class 22 or 23, e.g. a CHECK constraint), the batch is split in
 * halves that are written in separate transactions, recursively, down to single rows; every part uses its own
 * ledger key, so a retry in the middle of this cannot duplicate anything either. {@code write} returns the number
 * of rows written, and the pipeline counts the rest as rejected-invalid. The rejected rows are logged once per
 * batch (count, first few rows, the SQL error).
 *
 * <h2>Connections</h2>
 * Either the sink builds its own HikariCP pool from a JDBC URL (and closes it in {@link #close()}), or it uses a
 * caller's {@link DataSource}, which the caller keeps owning and closing. Each concurrent {@code write} holds one
 * connection, so the pool should be at least as large as the pipeline's worker count. After an I/O failure the
 * connection is evicted from a HikariCP pool explicitly, because HikariCP cannot see failures raised on the
 * unwrapped PgJDBC connection that COPY uses.
 *
 * <p>Thread-safe. Each thread encodes into its own reusable buffer (no allocation per row).
 */
public final class TimescaleSink implements Sink {

    private static final Logger LOG = LoggerFactory.getLogger(TimescaleSink.class);
    private static final int REJECTED_ROWS_LOGGED = 5;

    private final DataSource dataSource;
    private final HikariDataSource ownedPool;
    private final String table;
    private final boolean timescale;
    private final String runId;
    private final String copySql;
    private final String ledgerInsertSql;
    private final String ledgerPruneSql;
    private final long pruneIntervalNanos;
    private final Duration ledgerRetention;
    private final LongAdder ledgerHits = new LongAdder();
    private final LongAdder ledgerHitEvents = new LongAdder();
    private final AtomicLong nextPruneAt;
    private final ThreadLocal<BinaryCopyEncoder> encoders = ThreadLocal.withInitial(BinaryCopyEncoder::new);
    /**
     * Batches known to hold bad rows: a retry goes straight to the split path (see {@link #write}). Keyed by the
     * batch id (a Long) for this run's own batches and by "origin:batch" (a String) for batches of other runs.
     */
    private final Set<Object> splitBatches = ConcurrentHashMap.newKeySet();
    /** The pipeline this sink serves: ledger keys are (run id, batch id), and batch ids repeat across pipelines. */
    private final AtomicReference<String> pipeline = new AtomicReference<>();

    private TimescaleSink(Builder b, DataSource dataSource, HikariDataSource ownedPool, boolean timescale) {
        this.dataSource = dataSource;
        this.ownedPool = ownedPool;
        this.table = b.table;
        this.timescale = timescale;
        this.runId = UUID.randomUUID().toString();
        final String ledger = SchemaManager.quote(SchemaManager.ledgerTable(table));
        this.copySql = "COPY " + SchemaManager.quote(table) + " (time, source_id, kind, value, seq) FROM STDIN "
            + "(FORMAT binary)";
        this.ledgerInsertSql = "INSERT INTO " + ledger + " (run_id, batch_id) VALUES (?, ?) ON CONFLICT DO NOTHING";
        this.ledgerPruneSql = "DELETE FROM " + ledger + " WHERE committed_at < now() - "
            + SchemaManager.interval(b.ledgerRetention);
        // A few prunes per retention period keep the ledger small without a DELETE per batch.
        this.pruneIntervalNanos = Math.min(b.ledgerRetention.toNanos() / 4, Duration.ofMinutes(5).toNanos());
        this.ledgerRetention = b.ledgerRetention;
        this.nextPruneAt = new AtomicLong(System.nanoTime());
    }

    /** A builder; either {@link Builder#jdbcUrl} or {@link Builder#dataSource} is required. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The DataSource the sink writes through (its own pool, or the caller's), e.g. for the collector's own queries
     * against the same database. Do not close it: {@link #close()} does that for a pool the sink built.
     */
    public DataSource dataSource() {
        return dataSource;
    }

    /** Whether the events table is a TimescaleDB hypertable (false: a plain PostgreSQL table). */
    public boolean isTimescale() {
        return timescale;
    }

    /** The events table's name. */
    public String table() {
        return table;
    }

    /** This sink's run id: the first part of the ledger key of every batch without an origin run id. */
    public String runId() {
        return runId;
    }

    /** How long ledger rows are kept: the horizon within which a second delivery of a batch is detected. */
    public Duration ledgerRetention() {
        return ledgerRetention;
    }

    /**
     * Whole batches found already committed in the ledger and therefore not copied again (retries after an
     * ambiguous commit, redelivered messages). Parts of a batch split around bad rows are not counted.
     */
    public long batchesAlreadyCommitted() {
        return ledgerHits.sum();
    }

    /** The events of {@link #batchesAlreadyCommitted()}: reported as written, but not copied a second time. */
    public long eventsAlreadyCommitted() {
        return ledgerHitEvents.sum();
    }

    /**
     * Binds the sink to one pipeline. A second pipeline would reuse batch ids, and its batches would be taken for
     * "already committed" by the ledger and silently skipped, so it is refused.
     */
    @Override
    public void attach(String pipelineName) {
        if (!pipeline.compareAndSet(null, pipelineName)) {
            throw new IllegalStateException("this TimescaleSink (run " + runId + ") already serves pipeline '"
                + pipeline.get() + "'; build one sink per pipeline");
        }
    }

    /** Transient database failures (connection loss, deadlock, shutdown, ...) only; see {@link SqlStates}. */
    @Override
    public boolean isRetryable(Throwable failure) {
        return SqlStates.isTransient(failure);
    }

    /**
     * Writes the batch in one transaction (or, when it holds bad rows, in several, see the class comment).
     *
     * @return the number of rows written; {@code batch.size()} unless rows were rejected as invalid data
     * @throws SQLException when nothing new was written; retrying the same batch is always safe
     */
    @Override
    public int write(EventBatch batch) throws SQLException {
        final BinaryCopyEncoder encoder = encoders.get();
        final String origin = batch.originRunId();
        final String run = origin == null ? runId : origin;
        final Object splitKey = origin == null ? (Object) batch.batchId() : origin + ':' + batch.batchId();
        try (Connection conn = dataSource.getConnection()) {
            try {
                if (conn.getAutoCommit()) {
                    conn.setAutoCommit(false);
                }
                if (!splitBatches.contains(splitKey)) {
                    try {
                        final int written = writeRange(conn, encoder, batch, 0, batch.size(), run);
                        maybePruneLedger(conn);
                        return written;
                    } catch (SQLException e) {
                        if (!SqlStates.isDataError(e)) {
                            throw e;
                        }
                        // Remembered so that a retry after a later transient failure does not try the whole batch
                        // again: it would fail again, or (if the bad data became acceptable) duplicate the parts
                        // already committed under their own ledger keys.
                        splitBatches.add(splitKey);
                    }
                }
                final Rejections rejections = new Rejections(batch);
                final int written = writeSplit(conn, encoder, batch, 0, batch.size(), 1L, run, rejections);
                splitBatches.remove(splitKey);
                rejections.log();
                maybePruneLedger(conn);
                return written;
            } catch (SQLException | RuntimeException e) {
                if (SqlStates.isConnectionBroken(e)) {
                    evict(conn);
                }
                throw e;
            }
        }
    }

    /**
     * Writes {@code [from, to)} of the batch below split-tree node {@code node} (heap numbering: the root, the
     * whole batch, is 1; the halves of node n are 2n and 2n+1), splitting further on data errors.
     */
    private int writeSplit(Connection conn, BinaryCopyEncoder encoder, EventBatch batch, int from, int to,
                           long node, String run, Rejections rejections) throws SQLException {
        if (node != 1L) {
            try {
                return writeRange(conn, encoder, batch, from, to, run + '#' + node);
            } catch (SQLException e) {
                if (!SqlStates.isDataError(e)) {
                    throw e;
                }
                if (to - from == 1) {
                    rejections.add(from, e);
                    return 0;
                }
            }
        } else if (to - from == 1) {
            // The whole batch was one row and it already failed with a data error.
            rejections.add(from, null);
            return 0;
        }
        final int mid = (from + to) >>> 1;
        return writeSplit(conn, encoder, batch, from, mid, 2 * node, run, rejections)
            + writeSplit(conn, encoder, batch, mid, to, 2 * node + 1, run, rejections);
    }

    /** One transaction: the ledger row, then the COPY, then the commit; or nothing if the ledger row exists. */
    private int writeRange(Connection conn, BinaryCopyEncoder encoder, EventBatch batch, int from, int to,
                           String ledgerKey) throws SQLException {
        try {
            try (PreparedStatement ps = conn.prepareStatement(ledgerInsertSql)) {
                ps.setString(1, ledgerKey);
                ps.setLong(2, batch.batchId());
                if (ps.executeUpdate() == 0) {
                    conn.rollback();
                    if (to - from == batch.size()) {
                        ledgerHitEvents.add(to - from);
                        ledgerHits.increment();
                    }
                    LOG.debug("batch {} part {} was committed by an earlier attempt; not copying it again",
                        batch.batchId(), ledgerKey);
                    return to - from;
                }
            }
            copy(conn, encoder, batch, from, to);
            conn.commit();
            return to - from;
        } catch (SQLException | RuntimeException e) {
            try {
                conn.rollback();
            } catch (SQLException rollbackFailure) {
                e.addSuppressed(rollbackFailure);
            }
            throw e;
        }
    }

    private void copy(Connection conn, BinaryCopyEncoder encoder, EventBatch batch, int from, int to)
            throws SQLException {
        final CopyIn copyIn = conn.unwrap(PGConnection.class).getCopyAPI().copyIn(copySql);
        try {
            encoder.encode(batch, from, to, copyIn::writeToCopy);
            final long rows = copyIn.endCopy();
            if (rows != to - from) {
                throw new IllegalStateException("COPY into " + table + " reported " + rows + " rows for "
                    + (to - from) + " sent");
            }
        } finally {
            // With CopyIn the caller must end a COPY that failed on the client side, or the connection stays in
            // COPY mode; after a server-side error PgJDBC has already ended it.
            if (copyIn.isActive()) {
                try {
                    copyIn.cancelCopy();
                } catch (SQLException e) {
                    LOG.debug("cancelCopy failed", e);
                }
            }
        }
    }

    private void maybePruneLedger(Connection conn) {
        final long due = nextPruneAt.get();
        final long now = System.nanoTime();
        if (now - due < 0 || !nextPruneAt.compareAndSet(due, now + pruneIntervalNanos)) {
            return;
        }
        try (PreparedStatement ps = conn.prepareStatement(ledgerPruneSql)) {
            final int deleted = ps.executeUpdate();
            conn.commit();
            LOG.debug("pruned {} ledger rows of {}", deleted, table);
        } catch (SQLException e) {
            // The batch is already committed; a missed prune only leaves the ledger a little longer.
            LOG.warn("pruning the ledger of {} failed: {}", table, e.toString());
            try {
                conn.rollback();
            } catch (SQLException ignored) {
                // the connection is broken; the pool will notice
            }
        }
    }

    private void evict(Connection conn) {
        if (dataSource instanceof HikariDataSource) {
            try {
                ((HikariDataSource) dataSource).evictConnection(conn);
            } catch (RuntimeException e) {
                LOG.debug("evicting a broken connection failed", e);
            }
        }
    }

    /** Closes the pool the sink built; a caller's DataSource is left open. */
    @Override
    public void close() {
        if (ownedPool != null) {
            ownedPool.close();
        }
    }

    @Override
    public String toString() {
        return "TimescaleSink{table=" + table + ", timescale=" + timescale + ", runId=" + runId + '}';
    }

    /** The rows of one batch rejected as invalid, collected so that they are logged once, not once per row. */
    private final class Rejections {
        private final EventBatch batch;
        private final StringBuilder sample = new StringBuilder();
        private int count;
        private SQLException firstError;

        Rejections(EventBatch batch) {
            this.batch = batch;
        }

        void add(int index, SQLException error) {
            if (firstError == null && error != null) {
                firstError = error;
            }
            if (count < REJECTED_ROWS_LOGGED) {
                sample.append(count == 0 ? "" : ", ").append("{source=").append(batch.sourceId(index))
                    .append(" seq=").append(batch.sequence(index))
                    .append(" time=").append(instant(batch.timestampNanos(index)))
                    .append(" kind=").append(batch.kind(index))
                    .append(" value=").append(batch.value(index)).append('}');
            }
            count++;
        }

        void log() {
            if (count > 0) {
                LOG.warn("table {}: batch {}: rejected {} of {} rows as invalid data (not written); first rows: {}; "
                        + "error: {}", table, batch.batchId(), count, batch.size(), sample,
                    firstError == null ? "see the batch-level error" : "SQLSTATE " + firstError.getSQLState() + " "
                        + firstError.getMessage());
            }
        }

        private Instant instant(long epochNanos) {
            return Instant.ofEpochSecond(Math.floorDiv(epochNanos, 1_000_000_000L),
                Math.floorMod(epochNanos, 1_000_000_000L));
        }
    }

    /**
     * Builds a {@link TimescaleSink}. Every setting is validated by {@link #build()}, whose message names the
     * setting and its valid range.
     */
    public static final class Builder {
        private static final Pattern POOL_NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}");
        private static final Duration MAX_AGE = Duration.ofDays(36_500);

        private String jdbcUrl;
        private String username;
        private String password;
        private DataSource dataSource;
        private String table = "telemetry_events";
        private boolean createSchema = true;
        private Duration chunkInterval = Duration.ofDays(1);
        private Duration compressAfter;
        private Duration retention;
        private IndexMode indexMode = IndexMode.DEFAULT;
        private int poolSize = 2;
        private String poolName;
        private Duration connectionTimeout = Duration.ofSeconds(5);
        private Duration ledgerRetention = Duration.ofHours(1);

        private Builder() {
        }

        /** PostgreSQL JDBC URL ({@code jdbc:postgresql://...}); the sink builds its own pool. Excludes dataSource. */
        public Builder jdbcUrl(String jdbcUrl) {
            this.jdbcUrl = jdbcUrl;
            return this;
        }

        /** User for {@link #jdbcUrl}; optional (may also be given in the URL). */
        public Builder username(String username) {
            this.username = username;
            return this;
        }

        /** Password for {@link #jdbcUrl}; optional. */
        public Builder password(String password) {
            this.password = password;
            return this;
        }

        /**
         * A DataSource the caller owns (and closes after the sink); excludes {@link #jdbcUrl}. Its connections must
         * be PgJDBC connections (directly or through a pool that supports {@code unwrap}).
         */
        public Builder dataSource(DataSource dataSource) {
            this.dataSource = dataSource;
            return this;
        }

        /**
         * Events table; default {@code telemetry_events}. A plain lower-case identifier {@code [a-z_][a-z0-9_]*} of
         * 1 to 55 characters (so that the ledger {@code <table>_batches} fits PostgreSQL's 63-byte names),
         * resolved through the connection's {@code search_path}.
         */
        public Builder table(String table) {
            this.table = table;
            return this;
        }

        /** Whether {@link #build()} creates the schema (table, indexes, hypertable, policies, ledger); default on. */
        public Builder createSchema(boolean createSchema) {
            this.createSchema = createSchema;
            return this;
        }

        /** Hypertable chunk interval, 1 minute to 100 years; default 1 day. Applies when the table is created. */
        public Builder chunkInterval(Duration chunkInterval) {
            this.chunkInterval = chunkInterval;
            return this;
        }

        /**
         * Compress (columnstore) chunks older than this, segmented by {@code source_id}, ordered by {@code time
         * DESC}; 1 minute to 100 years, or null (the default) for no compression. TimescaleDB only.
         */
        public Builder compressAfter(Duration compressAfter) {
            this.compressAfter = compressAfter;
            return this;
        }

        /** Drop chunks older than this; 1 minute to 100 years, or null (the default) to keep all. TimescaleDB only. */
        public Builder retention(Duration retention) {
            this.retention = retention;
            return this;
        }

        /** Secondary indexes of the events table; default {@link IndexMode#DEFAULT}. */
        public Builder indexMode(IndexMode indexMode) {
            this.indexMode = indexMode;
            return this;
        }

        /** Connections in the sink's own pool, 1 to 256; default 2 (match the pipeline's workers). */
        public Builder poolSize(int poolSize) {
            this.poolSize = poolSize;
            return this;
        }

        /** Name of the sink's own pool (threads, logs, JMX); default {@code spillway-<table>}. */
        public Builder poolName(String poolName) {
            this.poolName = poolName;
            return this;
        }

        /**
         * How long a write waits for a pooled connection before failing (retryably), 250 ms to 10 minutes; default
         * 5 s. Keep it well below the retry policy's total budget. Applies to the sink's own pool.
         */
        public Builder connectionTimeout(Duration connectionTimeout) {
            this.connectionTimeout = connectionTimeout;
            return this;
        }

        /**
         * How long ledger rows are kept, 1 minute to 30 days; default 1 hour. Must exceed the longest time a batch
         * can spend in retries, or a very late retry of a committed batch could write it twice.
         */
        public Builder ledgerRetention(Duration ledgerRetention) {
            this.ledgerRetention = ledgerRetention;
            return this;
        }

        /**
         * Validates every setting, opens the pool (if the sink owns one) and creates or checks the schema.
         *
         * @throws IllegalArgumentException naming the first invalid setting and its valid range
         * @throws SQLException when the database cannot be reached or the schema cannot be created; a pool the
         *     sink opened is closed again
         */
        public TimescaleSink build() throws SQLException {
            check(jdbcUrl == null ^ dataSource == null, "exactly one of jdbcUrl and dataSource must be set, "
                + (jdbcUrl == null ? "neither was" : "both were"));
            if (jdbcUrl != null) {
                check(jdbcUrl.startsWith("jdbc:postgresql:"),
                    "jdbcUrl must start with jdbc:postgresql:, was \"" + jdbcUrl + '"');
            } else {
                check(username == null && password == null, "username/password apply to jdbcUrl only; "
                    + "configure them on the dataSource");
            }
            try {
                SchemaManager.requireTableName(table);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("TimescaleSink." + e.getMessage());
            }
            checkDuration("chunkInterval", chunkInterval, Duration.ofMinutes(1), MAX_AGE, false);
            checkDuration("compressAfter", compressAfter, Duration.ofMinutes(1), MAX_AGE, true);
            checkDuration("retention", retention, Duration.ofMinutes(1), MAX_AGE, true);
            check(indexMode != null, "indexMode must be one of DEFAULT, NONE, BRIN_TIME, was null");
            check(poolSize >= 1 && poolSize <= 256, "poolSize must be 1..256, was " + poolSize);
            final String effectivePoolName = poolName == null ? "spillway-" + table : poolName;
            check(POOL_NAME.matcher(effectivePoolName).matches(),
                "poolName must be 1-64 of [A-Za-z0-9._-], was \"" + poolName + '"');
            checkDuration("connectionTimeout", connectionTimeout, Duration.ofMillis(250), Duration.ofMinutes(10),
                false);
            checkDuration("ledgerRetention", ledgerRetention, Duration.ofMinutes(1), Duration.ofDays(30), false);

            final HikariDataSource pool = jdbcUrl == null ? null : openPool(effectivePoolName);
            final DataSource ds = pool != null ? pool : dataSource;
            try {
                final SchemaManager schema = new SchemaManager(table, chunkInterval, compressAfter, retention,
                    indexMode);
                final boolean timescale;
                try (Connection conn = ds.getConnection()) {
                    timescale = createSchema ? schema.ensureSchema(conn) : schema.isHypertable(conn);
                    if (!conn.getAutoCommit()) {
                        conn.commit(); // end the read-only transaction of isHypertable cleanly
                    }
                }
                final TimescaleSink sink = new TimescaleSink(this, ds, pool, timescale);
                if (timescale) {
                    LOG.info("TimescaleSink: table {} is a TimescaleDB hypertable (chunk interval {}, compress after {},"
                            + " retention {}, indexes {}); run id {}", table, chunkInterval,
                        compressAfter == null ? "never" : compressAfter, retention == null ? "none" : retention,
                        indexMode, sink.runId);
                } else {
                    LOG.info("TimescaleSink: table {} is a plain PostgreSQL table (TimescaleDB not available; indexes"
                        + " {}); run id {}", table, indexMode, sink.runId);
                }
                return sink;
            } catch (SQLException | RuntimeException e) {
                if (pool != null) {
                    pool.close();
                }
                throw e;
            }
        }

        private HikariDataSource openPool(String name) throws SQLException {
            final HikariConfig config = new HikariConfig();
            config.setJdbcUrl(jdbcUrl);
            config.setUsername(username);
            config.setPassword(password);
            config.setPoolName(name);
            config.setMaximumPoolSize(poolSize);
            config.setMinimumIdle(poolSize);
            // Every write is an explicit transaction; starting in that mode saves a round trip per batch.
            config.setAutoCommit(false);
            config.setConnectionTimeout(connectionTimeout.toMillis());
            config.addDataSourceProperty("ApplicationName", name);
            try {
                return new HikariDataSource(config);
            } catch (HikariPool.PoolInitializationException e) {
                if (e.getCause() instanceof SQLException) {
                    throw (SQLException) e.getCause();
                }
                throw e;
            }
        }

        private static void checkDuration(String setting, Duration value, Duration min, Duration max,
                                          boolean nullable) {
            if (value == null) {
                check(nullable, setting + " must be " + min + ".." + max + ", was null");
                return;
            }
            check(value.compareTo(min) >= 0 && value.compareTo(max) <= 0,
                setting + " must be " + min + ".." + max + (nullable ? " or null" : "") + ", was " + value);
        }

        private static void check(boolean ok, String message) {
            if (!ok) {
                throw new IllegalArgumentException("TimescaleSink." + message);
            }
        }
    }
}
