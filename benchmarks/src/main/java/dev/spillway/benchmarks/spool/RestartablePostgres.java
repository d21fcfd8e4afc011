package dev.spillway.benchmarks.spool;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;

/**
 * An embedded PostgreSQL (stock durability) on a fixed data directory and port, so it can be stopped and started
 * again with its data intact: the collector reconnects to the same address and finds the same rows.
 */
final class RestartablePostgres implements AutoCloseable {

    private final Path dataDirectory;
    private final int port;
    private EmbeddedPostgres running;

    RestartablePostgres(Path dataDirectory) throws IOException {
        this.dataDirectory = dataDirectory;
        try (ServerSocket s = new ServerSocket(0)) {
            this.port = s.getLocalPort();
        }
        start();
    }

    synchronized void start() throws IOException {
        running = EmbeddedPostgres.builder().setDataDirectory(dataDirectory).setCleanDataDirectory(false)
            .setPort(port).setServerConfig("fsync", "on").setServerConfig("synchronous_commit", "on")
            .setPGStartupWait(Duration.ofSeconds(60)).start();
    }

    /** Fast shutdown: sessions are terminated, committed data stays. */
    synchronized void stop() throws IOException {
        if (running != null) {
            running.close();
            running = null;
        }
    }

    String jdbcUrl() {
        return "jdbc:postgresql://localhost:" + port + "/postgres";
    }

    @Override
    public void close() throws IOException {
        stop();
    }
}
