package dev.spillway.telemetry.timescale;

import com.zaxxer.hikari.HikariDataSource;
import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.PartialWriteException;
import dev.spillway.telemetry.sink.Sink;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;

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
 * <p>A batch that carries an {@link EventBatch#runId() origin run id} (consumed from NATS JetStream, replayed
 * from a spool) is keyed by {@code (origin run id, batch id)} instead: the key its first writer used, so a second
 * delivery of the same batch, by any writer sharing this database, is detected by the ledger and not copied again.
 *
 * <h2>Bad rows</h2>
 * When the COPY fails because of the data (SQLSTATE class 22 or 23, e.g. a CHECK constraint), the batch is split in
 * halves that are written in separate transactions, recursively, down to single rows; every part uses its own
 * ledger key, so a retry in the middle of this cannot duplicate anything either. {@code write} returns the number
 * of rows written, and the pipeline counts the rest as rejected-invalid. The rejected rows are logged once per
 * batch (count, first few rows, the SQL error). If another failure (a lost connection) interrupts the split after
 * some parts committed, {@code write} throws a {@link PartialWriteException} naming exactly the committed and the
 * refused rows: if the pipeline then gives the batch up, only the uncommitted rest is counted failed and handed to
 * the failed-batch handler, so the table holds exactly the rows counted written.
 *
 * <h2>Close</h2>
 * {@link #abortWrites()} aborts the connections of writes still running at the pipeline's close deadline (for
 * example blocked on a lock): the socket is closed, the write fails at once, and the server rolls the open
 * transaction back, so an abandoned batch never lands later. Only a COMMIT already sent when the abort comes may
 * still land; its ledger row then says so.
 *
 * <h2>Connections</h2>
 * Either the sink builds its own HikariCP pool from a JDBC URL (and closes it in {@link #close()}), or it uses a
 * caller's {@link DataSource}, which the caller keeps owning and closing. Each concurrent {@code write} holds one
 * connection, so the pool should be at least as large as the pipeline's worker count. After an I/O failure the
 * connection is evicted from a HikariCP pool explicitly, because HikariCP cannot see failures raised on the
 * unwrapped PgJDBC connection that COPY uses.
 *
 * <p>Thread-safe. Each thread encodes into its own reusable buffer (no allocation per row). Parts:
 * {@link SinkSettings} (validation, pool), {@link BatchLedger} (exactly-once keys, split progress),
 * {@link CopyWriter} (one transaction per part), {@link SplitWriter} (bad-row isolation).
 */
public final class TimescaleSink implements Sink {

    private static final Logger LOG = LoggerFactory.getLogger(TimescaleSink.class);

    private final DataSource dataSource;
    private final HikariDataSource ownedPool;
    private final String table;
    private final boolean timescale;
    private final BatchLedger ledger;
    private final CopyWriter copyWriter;
    private final SplitWriter splitWriter;
    private final StorageLayout layout;
    private final RowCompactor compactor;
    private final InFlightConnections inFlight = new InFlightConnections();
    /** The pipeline this sink serves: ledger keys are (run id, batch id), and batch ids repeat across pipelines. */
    private final AtomicReference<String> pipeline = new AtomicReference<>();

    TimescaleSink(String table, Duration ledgerRetention, DataSource dataSource, HikariDataSource ownedPool,
                  boolean timescale) {
        this(table, ledgerRetention, dataSource, ownedPool, timescale, StorageLayout.ROWS, null);
    }

    TimescaleSink(String table, Duration ledgerRetention, DataSource dataSource, HikariDataSource ownedPool,
                  boolean timescale, StorageLayout layout, Duration compactRowsAfter) {
        this.dataSource = dataSource;
        this.ownedPool = ownedPool;
        this.table = table;
        this.timescale = timescale;
        this.layout = layout;
        this.ledger = new BatchLedger(table, ledgerRetention);
        this.copyWriter = new CopyWriter(table, layout, ledger);
        this.splitWriter = new SplitWriter(table, ledger, copyWriter);
        this.compactor = layout == StorageLayout.BLOCKS && compactRowsAfter != null
            ? new RowCompactor(dataSource, table, compactRowsAfter) : null;
        if (compactor != null) {
            compactor.start();
        }
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

    /** The events table's name (with {@link StorageLayout#BLOCKS}: the view's). */
    public String table() {
        return table;
    }

    /** How events are stored. */
    public StorageLayout storageLayout() {
        return layout;
    }

    /**
     * With {@link StorageLayout#BLOCKS}: moves the rows of every hour that ended at least
     * {@link Builder#compactRowsAfter} ago into blocks now, one per series and hour
     * (the background compaction does this periodically), in one transaction.
     *
     * @return the blocks written; 0 with {@link StorageLayout#ROWS} or without compaction
     */
    public int compactRows() throws SQLException {
        return compactor == null ? 0 : compactor.pass();
    }

    /**
     * This sink's run id: the first part of the ledger key of every batch of this run. A batch replayed from a
     * spool carries the run id it was first tried under ({@link EventBatch#runId()}) and is keyed by that.
     */
    @Override
    public String runId() {
        return ledger.runId();
    }

    /** How long ledger rows are kept: the horizon within which a second delivery of a batch is detected. */
    public Duration ledgerRetention() {
        return ledger.retention();
    }

    /**
     * Whole batches found already committed in the ledger and therefore not copied again (retries after an
     * ambiguous commit, redelivered messages). Parts of a batch split around bad rows are not counted.
     */
    public long batchesAlreadyCommitted() {
        return ledger.hits();
    }

    /** The events of {@link #batchesAlreadyCommitted()}: reported as written, but not copied a second time. */
    public long eventsAlreadyCommitted() {
        return ledger.hitEvents();
    }

    /**
     * Binds the sink to one pipeline. A second pipeline would reuse batch ids, and its batches would be taken for
     * "already committed" by the ledger and silently skipped, so it is refused.
     */
    @Override
    public void attach(String pipelineName) {
        if (!pipeline.compareAndSet(null, pipelineName)) {
            throw new IllegalStateException("this TimescaleSink (run " + runId() + ") already serves pipeline '"
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
     * @throws PartialWriteException when a split batch failed part-way: it names the committed and refused rows
     * @throws SQLException when nothing new was written; retrying the same batch is always safe
     */
    @Override
    public int write(EventBatch batch) throws SQLException, PartialWriteException {
        try (Connection conn = dataSource.getConnection()) {
            inFlight.add(conn);
            try {
                if (conn.getAutoCommit()) {
                    conn.setAutoCommit(false);
                }
                BatchLedger.Progress progress = ledger.splitProgress(batch);
                if (progress == null) {
                    try {
                        final int written = copyWriter.writeRange(conn, batch, 0, batch.size(), ledger.wholeBatchKey(batch));
                        ledger.maybePrune(conn);
                        return written;
                    } catch (SQLException e) {
                        if (!SqlStates.isDataError(e)) {
                            throw e;
                        }
                        progress = ledger.startSplit(batch);
                    }
                }
                final int written = splitWriter.write(conn, batch, progress);
                ledger.maybePrune(conn);
                return written;
            } catch (SQLException | PartialWriteException | RuntimeException e) {
                final Throwable cause = e instanceof PartialWriteException ? e.getCause() : e;
                if (SqlStates.isConnectionBroken(cause)) {
                    evict(conn);
                }
                throw e;
            } finally {
                inFlight.remove(conn);
            }
        }
    }

    /**
     * Aborts the connections of the writes still running (see the class comment): each fails at once, and its open
     * transaction is rolled back by the server.
     */
    @Override
    public void abortWrites() {
        final int aborted = inFlight.abortAll();
        if (aborted > 0) {
            LOG.warn("table {}: aborted {} connection(s) with a "
                + "write still running at the pipeline's close deadline; their transactions roll back", table, aborted);
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

    /**
     * Closes the pool the sink built; a caller's DataSource is left open. Bounded: HikariCP waits up to 10 s for
     * connections it is closing, and a connection aborted at the close deadline (its backend still queued on a
     * lock) can hold it that long, so after {@link #POOL_CLOSE_WAIT} the pool finishes closing on a daemon thread
     * and this returns, keeping the pipeline's close deadline.
     */
    @Override
    public void close() {
        if (compactor != null) {
            compactor.close();
        }
        if (ownedPool == null) {
            return;
        }
        final Thread closer = new Thread(ownedPool::close, "spillway-pool-close-" + table);
        closer.setDaemon(true);
        closer.start();
        try {
            closer.join(POOL_CLOSE_WAIT.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (closer.isAlive()) {
            LOG.warn("table {}: the connection pool is still closing after {} ms; it finishes in the background",
                table, POOL_CLOSE_WAIT.toMillis());
        }
    }

    /** How long {@link #close()} waits for the pool to close before leaving it to finish in the background. */
    static final java.time.Duration POOL_CLOSE_WAIT = java.time.Duration.ofMillis(250);

    @Override
    public String toString() {
        return "TimescaleSink{table=" + table + ", timescale=" + timescale + ", runId=" + runId() + '}';
    }

    /**
     * Builds a {@link TimescaleSink}. Every setting is validated by {@link #build()}, whose message names the
     * setting and its valid range.
     */
    public static final class Builder {
        String jdbcUrl;
        String username;
        String password;
        DataSource dataSource;
        String table = "telemetry_events";
        boolean createSchema = true;
        Duration chunkInterval = Duration.ofDays(1);
        Duration compressAfter;
        Duration retention;
        IndexMode indexMode = IndexMode.DEFAULT;
        /** Null until {@link #storageLayout} is called: then the layout is chosen automatically. */
        StorageLayout storageLayout;
        boolean storageLayoutSet;
        Duration compactRowsAfter = Duration.ofMinutes(10);
        int poolSize = 2;
        String poolName;
        Duration connectionTimeout = Duration.ofSeconds(5);
        Duration ledgerRetention = Duration.ofHours(1);

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

        /**
         * How events are stored. {@link StorageLayout#BLOCKS} stores a batch's events per source as one row of arrays
         * behind a view {@code <table>} that reads like the rows table; {@link StorageLayout#ROWS} one row per event.
         *
         * <p>Not set (the default), the layout is chosen from the catalog when the sink is built: an existing
         * {@code <table>} keeps its layout (a table: ROWS; the view over blocks: BLOCKS), and a new one is created
         * as BLOCKS. Set, it must match an existing {@code <table>}, or {@link #build()} fails naming this setting.
         * {@link TimescaleSink#storageLayout()} tells which layout was chosen.
         */
        public Builder storageLayout(StorageLayout storageLayout) {
            this.storageLayout = storageLayout;
            this.storageLayoutSet = true;
            return this;
        }

        /**
         * With {@link StorageLayout#BLOCKS}: events stored as rows (sources with few events per batch) are moved
         * into blocks, one per series and hour, once their hour ended at least this long ago, by a background thread
         * of the sink; 1 minute to 30 days, or null for never; default 10 minutes.
         */
        public Builder compactRowsAfter(Duration compactRowsAfter) {
            this.compactRowsAfter = compactRowsAfter;
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
            return SinkSettings.validate(this).open();
        }
    }
}
