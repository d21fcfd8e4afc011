package dev.spillway.collector.db;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The PostgreSQL the collector runs itself when no database is configured. Its data directory persists
 * across restarts, so the collector can be stopped and started again without losing what it stored.
 */
public final class EmbeddedDatabase implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedDatabase.class);

    private final EmbeddedPostgres postgres;
    private final Path dataDir;

    private EmbeddedDatabase(EmbeddedPostgres postgres, Path dataDir) {
        this.postgres = postgres;
        this.dataDir = dataDir;
    }

    /**
     * Starts PostgreSQL on {@code dataDir}, creating the cluster on first use.
     *
     * @param preferredPort the port to listen on; when it is taken (or 0) a free port is used instead
     */
    public static EmbeddedDatabase start(Path dataDir, int preferredPort) throws IOException {
        Files.createDirectories(dataDir);
        int port = preferredPort;
        if (port == 0 || !isFree(port)) {
            final int free = freePort();
            if (port != 0) {
                LOG.warn("port {} is taken; the embedded PostgreSQL uses port {} instead", port, free);
            }
            port = free;
        }
        final boolean fresh = !Files.exists(dataDir.resolve("PG_VERSION"));
        final EmbeddedPostgres pg = EmbeddedPostgres.builder()
            .setDataDirectory(dataDir)
            // Keeping the directory is what makes the data survive a restart.
            .setCleanDataDirectory(false)
            .setPort(port)
            .setPGStartupWait(Duration.ofSeconds(60))
            // Listen on loopback only: the embedded database has a passwordless superuser.
            .setServerConfig("listen_addresses", "127.0.0.1")
            // zonky turns this off for test speed; a 204 must survive an OS crash, so keep PostgreSQL's default.
            .setServerConfig("synchronous_commit", "on")
            .start();
        LOG.info("embedded PostgreSQL {} on 127.0.0.1:{}, data in {}", fresh ? "initialised and started" : "started",
            pg.getPort(), dataDir);
        return new EmbeddedDatabase(pg, dataDir);
    }

    /** The JDBC URL of the {@code postgres} database as user {@code postgres}. */
    public String jdbcUrl() {
        return "jdbc:postgresql://127.0.0.1:" + postgres.getPort() + "/postgres";
    }

    /** Superuser name. */
    public String user() {
        return "postgres";
    }

    /** Listening port. */
    public int port() {
        return postgres.getPort();
    }

    /** Data directory. */
    public Path dataDir() {
        return dataDir;
    }

    @Override
    public void close() throws IOException {
        postgres.close();
    }

    private static boolean isFree(int port) {
        try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
            s.setReuseAddress(true);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
