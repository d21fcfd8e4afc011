package dev.spillway.collector.config;

import dev.spillway.runtime.config.ConfigException;
import dev.spillway.runtime.config.OptionValues;
import dev.spillway.telemetry.timescale.IndexMode;
import dev.spillway.telemetry.timescale.StorageLayout;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;

/**
 * The database options (a picocli mixin of the collector's command): the embedded PostgreSQL or an external one,
 * and the events table's TimescaleDB layout.
 */
public final class DatabaseOptions {

    @Option(names = "--jdbc-url", paramLabel = "URL",
        description = "Use this PostgreSQL/TimescaleDB instead of the embedded one.")
    String jdbcUrl;

    @Option(names = "--db-user", paramLabel = "USER", description = "Database user for --jdbc-url.")
    String dbUser;

    @Option(names = "--db-password", paramLabel = "PASSWORD", description = "Database password for --jdbc-url.")
    String dbPassword;

    @Option(names = "--data-dir", paramLabel = "DIR", defaultValue = "spillway-data",
        description = "Data directory of the embedded PostgreSQL (default: ./${DEFAULT-VALUE}).")
    String dataDir;

    @Option(names = "--db-port", paramLabel = "PORT", defaultValue = "5433",
        description = "Port of the embedded PostgreSQL; a free one is used when it is taken; 0 = any "
            + "(default: ${DEFAULT-VALUE}).")
    String dbPort;

    @Option(names = "--chunk-interval", paramLabel = "DURATION", defaultValue = "1d",
        description = "TimescaleDB chunk interval of the events table, applied when it is created "
            + "(default: ${DEFAULT-VALUE}).")
    String chunkInterval;

    @Option(names = "--compress-after", paramLabel = "DURATION",
        description = "Compress TimescaleDB chunks older than this (off unless given; TimescaleDB only).")
    String compressAfter;

    @Option(names = "--retention", paramLabel = "DURATION",
        description = "Drop TimescaleDB chunks older than this (keep everything unless given; TimescaleDB only).")
    String retention;

    @Option(names = "--index-mode", paramLabel = "MODE", defaultValue = "default",
        description = "Indexes of the events table: default (source_id, time), none, or brin-time "
            + "(default: ${DEFAULT-VALUE}).")
    String indexMode;

    @Option(names = "--storage-layout", paramLabel = "LAYOUT", defaultValue = "auto",
        description = "How events are stored: blocks (per batch and series one row of arrays behind the view "
            + "telemetry_events), rows (one row per event), or auto: an existing telemetry_events keeps its layout, "
            + "a new one gets blocks; see docs/performance.md (default: ${DEFAULT-VALUE}).")
    String storageLayout;

    /**
     * Validates the options.
     *
     * @throws ConfigException naming the first bad option as the user set it
     */
    public DatabaseSettings settings(OptionValues v) {
        final String url = OptionValues.trimmedOrNull(jdbcUrl);
        if (url != null && !url.startsWith("jdbc:postgresql:")) {
            throw v.invalid("--jdbc-url", "must start with jdbc:postgresql:, was '" + jdbcUrl + "'");
        }
        if (url == null && (dbUser != null || dbPassword != null)) {
            throw v.invalid(dbUser != null ? "--db-user" : "--db-password", "needs --jdbc-url (--db-user and "
                + "--db-password are for an external database; the embedded one generates its own passwords)");
        }
        if (OptionValues.blank(dataDir)) {
            throw v.invalid("--data-dir", "must not be empty");
        }
        final Path data = Path.of(dataDir.trim()).toAbsolutePath().normalize();
        final int port = v.intIn("--db-port", dbPort, 0, 65_535);
        final Duration chunk = v.durationIn("--chunk-interval", chunkInterval, Duration.ofMinutes(1),
            Duration.ofDays(36_500));
        final Duration compress = OptionValues.blank(compressAfter) ? null
            : v.durationIn("--compress-after", compressAfter, Duration.ofMinutes(1), Duration.ofDays(36_500));
        final Duration keep = OptionValues.blank(retention) ? null
            : v.durationIn("--retention", retention, Duration.ofMinutes(1), Duration.ofDays(36_500));
        final IndexMode index = v.choice("--index-mode", indexMode, IndexMode.class);
        // null: automatic (the sink keeps an existing table's layout and creates blocks for a new one)
        final StorageLayout layout = storageLayout != null && "auto".equalsIgnoreCase(storageLayout.trim()) ? null
            : choiceOrAuto(v, storageLayout);
        return new DatabaseSettings(url, dbUser, dbPassword, data, port, chunk, compress, keep, index, layout);
    }

    private static StorageLayout choiceOrAuto(OptionValues v, String value) {
        try {
            return v.choice("--storage-layout", value, StorageLayout.class);
        } catch (ConfigException e) {
            throw new ConfigException(e.getMessage().replace("expected one of ", "expected one of auto, "));
        }
    }
}
