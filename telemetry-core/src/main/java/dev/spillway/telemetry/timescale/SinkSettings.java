package dev.spillway.telemetry.timescale;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import com.zaxxer.hikari.pool.HikariPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.regex.Pattern;

/**
 * The validated settings of a {@link TimescaleSink}, and the opening of one: validation (every message names the
 * setting and its range), the sink's own HikariCP pool, and the schema.
 */
final class SinkSettings {

    private static final Logger LOG = LoggerFactory.getLogger(TimescaleSink.class);
    private static final Pattern POOL_NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}");
    private static final Duration MAX_AGE = Duration.ofDays(36_500);

    private final TimescaleSink.Builder b;
    private final String poolName;

    private SinkSettings(TimescaleSink.Builder b, String poolName) {
        this.b = b;
        this.poolName = poolName;
    }

    /**
     * Validates every setting of the builder.
     *
     * @throws IllegalArgumentException naming the first invalid setting and its valid range
     */
    static SinkSettings validate(TimescaleSink.Builder b) {
        check(b.jdbcUrl == null ^ b.dataSource == null, "exactly one of jdbcUrl and dataSource must be set, "
            + (b.jdbcUrl == null ? "neither was" : "both were"));
        if (b.jdbcUrl != null) {
            check(b.jdbcUrl.startsWith("jdbc:postgresql:"),
                "jdbcUrl must start with jdbc:postgresql:, was \"" + b.jdbcUrl + '"');
        } else {
            check(b.username == null && b.password == null, "username/password apply to jdbcUrl only; "
                + "configure them on the dataSource");
        }
        try {
            SchemaManager.requireTableName(b.table);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("TimescaleSink." + e.getMessage());
        }
        checkDuration("chunkInterval", b.chunkInterval, Duration.ofMinutes(1), MAX_AGE, false);
        checkDuration("compressAfter", b.compressAfter, Duration.ofMinutes(1), MAX_AGE, true);
        checkDuration("retention", b.retention, Duration.ofMinutes(1), MAX_AGE, true);
        check(b.indexMode != null, "indexMode must be one of DEFAULT, NONE, BRIN_TIME, was null");
        check(!b.storageLayoutSet || b.storageLayout != null, "storageLayout must be one of ROWS, BLOCKS, was null");
        checkDuration("compactRowsAfter", b.compactRowsAfter, Duration.ofMinutes(1), Duration.ofDays(30), true);
        check(b.poolSize >= 1 && b.poolSize <= 256, "poolSize must be 1..256, was " + b.poolSize);
        final String effectivePoolName = b.poolName == null ? "spillway-" + b.table : b.poolName;
        check(POOL_NAME.matcher(effectivePoolName).matches(),
            "poolName must be 1-64 of [A-Za-z0-9._-], was \"" + b.poolName + '"');
        checkDuration("connectionTimeout", b.connectionTimeout, Duration.ofMillis(250), Duration.ofMinutes(10), false);
        checkDuration("ledgerRetention", b.ledgerRetention, Duration.ofMinutes(1), Duration.ofDays(30), false);
        return new SinkSettings(b, effectivePoolName);
    }

    /**
     * Opens the pool (if the sink owns one), creates or checks the schema, and builds the sink.
     *
     * @throws SQLException when the database cannot be reached or the schema cannot be created; a pool opened here
     *     is closed again
     */
    TimescaleSink open() throws SQLException {
        final HikariDataSource pool = b.jdbcUrl == null ? null : openPool();
        final DataSource ds = pool != null ? pool : b.dataSource;
        try {
            final boolean timescale;
            final StorageLayout layout;
            try (Connection conn = ds.getConnection()) {
                // Automatic: an existing table keeps its layout (an upgrade starts as before), a new one gets blocks.
                // Concurrent starts on a new database both choose BLOCKS; ensureSchema rechecks under its lock.
                layout = b.storageLayout != null ? b.storageLayout : SchemaManager.existingLayout(conn, b.table);
                final SchemaManager schema = new SchemaManager(b.table, b.chunkInterval, b.compressAfter,
                    b.retention, b.indexMode, layout);
                timescale = b.createSchema ? schema.ensureSchema(conn) : schema.isHypertable(conn);
                if (!conn.getAutoCommit()) {
                    conn.commit(); // end the read-only transaction of isHypertable cleanly
                }
            }
            final TimescaleSink sink = new TimescaleSink(b.table, b.ledgerRetention, ds, pool, timescale,
                layout, b.compactRowsAfter);
            if (timescale) {
                LOG.info("TimescaleSink: table {} is a TimescaleDB hypertable (chunk interval {}, compress after {},"
                        + " retention {}, indexes {}, layout {}{}); run id {}", b.table, b.chunkInterval,
                    b.compressAfter == null ? "never" : b.compressAfter, b.retention == null ? "none" : b.retention,
                    b.indexMode, layout, b.storageLayout == null ? " (automatic)" : "", sink.runId());
            } else {
                LOG.info("TimescaleSink: table {} is a plain PostgreSQL table (TimescaleDB not available; indexes"
                    + " {}, layout {}{}); run id {}", b.table, b.indexMode, layout,
                    b.storageLayout == null ? " (automatic)" : "", sink.runId());
            }
            return sink;
        } catch (SQLException | RuntimeException e) {
            if (pool != null) {
                pool.close();
            }
            throw e;
        }
    }

    private HikariDataSource openPool() throws SQLException {
        final HikariConfig config = new HikariConfig();
        config.setJdbcUrl(b.jdbcUrl);
        config.setUsername(b.username);
        config.setPassword(b.password);
        config.setPoolName(poolName);
        config.setMaximumPoolSize(b.poolSize);
        config.setMinimumIdle(b.poolSize);
        // Every write is an explicit transaction; starting in that mode saves a round trip per batch.
        config.setAutoCommit(false);
        config.setConnectionTimeout(b.connectionTimeout.toMillis());
        config.addDataSourceProperty("ApplicationName", poolName);
        try {
            return new HikariDataSource(config);
        } catch (HikariPool.PoolInitializationException e) {
            if (e.getCause() instanceof SQLException) {
                throw (SQLException) e.getCause();
            }
            throw e;
        }
    }

    private static void checkDuration(String setting, Duration value, Duration min, Duration max, boolean nullable) {
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
