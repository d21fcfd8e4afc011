package dev.spillway.collector.config;

import dev.spillway.runtime.config.OptionValues;
import dev.spillway.runtime.config.Units;
import dev.spillway.telemetry.timescale.IndexMode;
import dev.spillway.telemetry.timescale.StorageLayout;

import java.nio.file.Path;
import java.time.Duration;

/**
 * Which database the collector writes to and how its events table is laid out. Built by
 * {@link DatabaseOptions#settings}.
 *
 * @param jdbcUrl external database, or null to run the embedded PostgreSQL
 * @param user user for {@code jdbcUrl}
 * @param password password for {@code jdbcUrl}
 * @param dataDir data directory of the embedded PostgreSQL
 * @param port port of the embedded PostgreSQL, 0 for any free port
 * @param chunkInterval hypertable chunk interval (TimescaleDB)
 * @param compressAfter compress chunks older than this, or null (TimescaleDB)
 * @param retention drop chunks older than this, or null to keep everything (TimescaleDB)
 * @param indexMode secondary indexes of the events table
 * @param storageLayout how events are stored (rows, or blocks behind a view), or null: automatic (an existing
 *     events table keeps its layout, a new one gets blocks)
 */
public record DatabaseSettings(
    String jdbcUrl,
    String user,
    String password,
    Path dataDir,
    int port,
    Duration chunkInterval,
    Duration compressAfter,
    Duration retention,
    IndexMode indexMode,
    StorageLayout storageLayout) {

    /** Whether the collector runs its own PostgreSQL. */
    public boolean embedded() {
        return jdbcUrl == null;
    }

    /** The JDBC URL with any {@code password=} parameter masked, for logs and messages; null when embedded. */
    public String maskedJdbcUrl() {
        return jdbcUrl == null ? null : jdbcUrl.replaceAll("(?i)(password=)[^&]*", "$1***");
    }

    /** Password masked, durations as people write them, for logs. */
    @Override
    public String toString() {
        return "db=" + (jdbcUrl != null ? maskedJdbcUrl() + (user != null ? " user=" + user : "")
            : "embedded:" + dataDir) + " retention="
            + (retention == null ? "forever" : Units.formatDuration(retention))
            + (compressAfter == null ? "" : " compressAfter=" + Units.formatDuration(compressAfter))
            + " chunkInterval=" + Units.formatDuration(chunkInterval) + " indexMode=" + OptionValues.spelling(indexMode)
            + " storageLayout=" + (storageLayout == null ? "auto" : OptionValues.spelling(storageLayout));
    }
}
