package dev.spillway.collector.db;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.spillway.collector.config.DatabaseSettings;
import dev.spillway.runtime.lifecycle.Service;
import dev.spillway.runtime.lifecycle.ServiceStack;

import java.nio.file.Path;
import java.time.Duration;

/**
 * The database the collector writes to, and its connection pool: the embedded PostgreSQL (behind the data
 * directory lock) when no JDBC URL is configured, an external one otherwise.
 *
 * @param jdbcUrl where it is
 * @param user who the collector is there
 * @param embedded the embedded database, or null for an external one
 * @param dataSource the pool
 */
public record CollectorDatabase(String jdbcUrl, String user, EmbeddedDatabase embedded, HikariDataSource dataSource) {

    /** Connections beyond the sink's and the series threads'. */
    private static final int EXTRA_CONNECTIONS = 5;

    /**
     * Opens the database and its pool, pushing each part onto {@code stack} (so a failure later still closes them).
     *
     * @param settings an external database, or the embedded one's data directory and port
     * @param writers connections the sink and writer threads hold; the pool adds the series threads', the
     *     readiness probe's and {@value #EXTRA_CONNECTIONS} for the API, monitor and heartbeat state changes and
     *     the notification relay (one held while it waits for a webhook)
     */
    public static CollectorDatabase open(ServiceStack stack, DatabaseSettings settings, int writers, int seriesThreads)
        throws Exception {
        String jdbcUrl = settings.jdbcUrl();
        String user = settings.user();
        String password = settings.password();
        EmbeddedDatabase embedded = null;
        if (jdbcUrl == null) {
            final Path dataDir = settings.dataDir();
            // First of all: a second collector on this directory stops here, before any port or process.
            stack.push(Service.closing("data directory lock", DataDirectoryLock.acquire(dataDir)), Duration.ofSeconds(5));
            embedded = EmbeddedDatabase.start(dataDir, settings.port());
            stack.push(Service.closing("embedded PostgreSQL", embedded), Duration.ofSeconds(60));
            jdbcUrl = embedded.jdbcUrl();
            user = embedded.user();
            password = embedded.password();
        }
        final HikariConfig hc = new HikariConfig();
        hc.setJdbcUrl(jdbcUrl);
        hc.setUsername(user);
        hc.setPassword(password);
        hc.setPoolName("collector-db");
        hc.setMaximumPoolSize(writers + seriesThreads + 1 + EXTRA_CONNECTIONS);
        hc.setConnectionTimeout(5_000);
        hc.setInitializationFailTimeout(10_000);
        final HikariDataSource ds = new HikariDataSource(hc);
        stack.push(Service.closing("database pool", ds), Duration.ofSeconds(10));
        return new CollectorDatabase(jdbcUrl, user, embedded, ds);
    }
}
