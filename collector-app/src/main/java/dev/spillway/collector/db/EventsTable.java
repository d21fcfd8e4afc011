package dev.spillway.collector.db;

import dev.spillway.collector.config.DatabaseSettings;
import dev.spillway.runtime.config.ConfigException;
import dev.spillway.runtime.config.OptionValues;
import dev.spillway.runtime.config.Units;
import dev.spillway.telemetry.timescale.StorageLayout;
import dev.spillway.telemetry.timescale.TimescaleSink;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The events table as the options describe it: the sink that creates and writes it with {@code --chunk-interval},
 * {@code --compress-after}, {@code --retention} and {@code --index-mode}, and the one warning an operator gets when
 * the TimescaleDB-only ones cannot apply (plain PostgreSQL, such as the embedded server, keeps every row).
 */
public final class EventsTable {

    /** The table line-protocol events go to. */
    public static final String NAME = "telemetry_events";
    /** {@code --chunk-interval}'s default; any other value is a request to report on plain PostgreSQL. */
    public static final Duration DEFAULT_CHUNK_INTERVAL = Duration.ofDays(1);

    private static final Logger LOG = LoggerFactory.getLogger(EventsTable.class);

    private EventsTable() {
    }

    /**
     * How long the sink's dedup ledger keeps a batch: longer than the longest retry of a batch and, for a JetStream
     * writer, than a batch's longest stay in the stream (capped at 30 days).
     */
    public static Duration ledgerRetention(Duration retryMaxElapsed, Duration writerRetention) {
        Duration d = Duration.ofHours(1);
        d = d.compareTo(retryMaxElapsed.multipliedBy(2)) >= 0 ? d : retryMaxElapsed.multipliedBy(2);
        d = d.compareTo(writerRetention) >= 0 ? d : writerRetention;
        return d.compareTo(Duration.ofDays(30)) > 0 ? Duration.ofDays(30) : d;
    }

    /**
     * The sink for the events table with the configured TimescaleDB settings and index mode.
     *
     * @param ledgerRetention how long the deduplication ledger keeps its rows
     */
    public static TimescaleSink.Builder sink(DatabaseSettings cfg, DataSource dataSource, Duration ledgerRetention) {
        final TimescaleSink.Builder b = TimescaleSink.builder()
            .dataSource(dataSource)
            .table(NAME)
            .chunkInterval(cfg.chunkInterval())
            .compressAfter(cfg.compressAfter())
            .retention(cfg.retention())
            .indexMode(cfg.indexMode())
            .ledgerRetention(ledgerRetention);
        // --storage-layout auto: the sink keeps an existing table's layout and creates blocks for a new one
        return cfg.storageLayout() == null ? b : b.storageLayout(cfg.storageLayout());
    }

    /**
     * Refuses an explicit {@code --storage-layout} that contradicts the existing events table (a table is the rows
     * layout, a view the blocks layout), in the option's own words; the sink would refuse it too, naming its
     * library setting. Nothing to check for {@code auto} or a new database.
     *
     * @throws ConfigException naming {@code --storage-layout}, the value given and the table's layout
     */
    public static void checkStorageLayout(DatabaseSettings cfg, DataSource dataSource) throws SQLException {
        if (cfg.storageLayout() == null) {
            return;
        }
        final String kind;
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT relkind::text FROM pg_class WHERE oid = to_regclass(?)")) {
            ps.setString(1, NAME);
            try (ResultSet rs = ps.executeQuery()) {
                kind = rs.next() ? rs.getString(1) : null;
            }
            if (!c.getAutoCommit()) {
                c.commit();
            }
        }
        if (kind == null) {
            return;
        }
        final StorageLayout existing = "v".equals(kind) ? StorageLayout.BLOCKS : StorageLayout.ROWS;
        if (existing != cfg.storageLayout()) {
            throw new ConfigException("--storage-layout " + OptionValues.spelling(cfg.storageLayout()) + ": "
                + NAME + " exists in the " + OptionValues.spelling(existing) + " layout (" + (existing
                == StorageLayout.BLOCKS ? "a view over " + NAME + "_blocks and " + NAME + "_rows" : "a table")
                + "); give --storage-layout " + OptionValues.spelling(existing) + " or auto (the default keeps "
                + "the existing layout)");
        }
    }

    /**
     * Logs one warning naming the TimescaleDB-only options that were given but do not apply because the table is
     * a plain PostgreSQL table. The collector still runs: the same configuration serves both kinds of database.
     *
     * @param timescale whether the events table is a hypertable
     * @return the warning, or null when nothing was given that does not apply
     */
    public static String reportNotApplicable(DatabaseSettings cfg, boolean timescale) {
        return reportNotApplicable(cfg, timescale, StorageLayout.ROWS);
    }

    /**
     * As above, for the layout the sink chose: with blocks, {@code telemetry_events} is a view and the rows to delete
     * are in {@code telemetry_events_blocks} and {@code telemetry_events_rows}.
     */
    public static String reportNotApplicable(DatabaseSettings cfg, boolean timescale, StorageLayout layout) {
        if (timescale) {
            return null;
        }
        final List<String> given = new ArrayList<>();
        if (cfg.retention() != null) {
            given.add("--retention " + Units.formatDuration(cfg.retention()));
        }
        if (cfg.compressAfter() != null) {
            given.add("--compress-after " + Units.formatDuration(cfg.compressAfter()));
        }
        if (!cfg.chunkInterval().equals(DEFAULT_CHUNK_INTERVAL)) {
            given.add("--chunk-interval " + Units.formatDuration(cfg.chunkInterval()));
        }
        if (given.isEmpty()) {
            return null;
        }
        final boolean blocks = layout == StorageLayout.BLOCKS;
        final String older = cfg.retention() == null ? "" : " < now() - interval '" + cfg.retention().toSeconds()
            + " seconds'";
        final String warning = String.join(", ", given) + (given.size() == 1 ? " does" : " do")
            + " not apply: the database has no TimescaleDB, " + (blocks ? NAME + "_blocks and " + NAME
                + "_rows (behind the view " + NAME + ") are plain tables and keep" : NAME + " is a plain table and keeps")
            + " every row"
            + (cfg.retention() == null ? "" : blocks
                ? " (delete old rows yourself, e.g. DELETE FROM " + NAME + "_blocks WHERE time_max" + older
                    + "; DELETE FROM " + NAME + "_rows WHERE time" + older + ")"
                : " (delete old rows yourself, e.g. DELETE FROM " + NAME + " WHERE time" + older + ")");
        LOG.warn(warning);
        return warning;
    }

    /** In the options' own syntax, the largest unit that is exact: {@code 30d}, {@code 6h}, {@code 90s}. */
}
