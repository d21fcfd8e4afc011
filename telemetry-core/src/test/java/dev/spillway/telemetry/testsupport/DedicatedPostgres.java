package dev.spillway.telemetry.testsupport;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;

/**
 * An embedded PostgreSQL of one's own, with a fixed data directory and port so it can be stopped and started
 * again with its data intact: clients reconnect to the same address and find the same rows. For fault tests.
 */
public final class DedicatedPostgres implements AutoCloseable {

    private final Path dataDirectory;
    private final int port;
    private volatile EmbeddedPostgres running;

    private DedicatedPostgres(Path dataDirectory, int port) {
        this.dataDirectory = dataDirectory;
        this.port = port;
    }

    /** Starts a server on {@code port}; initialises {@code dataDirectory} if it is empty, else reuses it. */
    public static DedicatedPostgres start(Path dataDirectory, int port) {
        final DedicatedPostgres pg = new DedicatedPostgres(dataDirectory, port);
        pg.startServer();
        return pg;
    }

    /** Starts the server again after {@link #stop()}, on the same data directory and port. */
    public synchronized void startServer() {
        if (running != null) {
            throw new IllegalStateException("already running");
        }
        try {
            running = EmbeddedPostgres.builder()
                .setDataDirectory(dataDirectory)
                .setCleanDataDirectory(false)
                .setPort(port)
                .setPGStartupWait(Duration.ofSeconds(30))
                .start();
        } catch (IOException e) {
            throw new UncheckedIOException("could not start PostgreSQL on port " + port, e);
        }
    }

    /** Stops the server (fast shutdown: sessions are terminated, committed data stays). */
    public synchronized void stop() {
        final EmbeddedPostgres pg = running;
        running = null;
        if (pg != null) {
            try {
                pg.close();
            } catch (IOException e) {
                throw new UncheckedIOException("could not stop PostgreSQL on port " + port, e);
            }
        }
    }

    /** Whether the server is started. */
    public boolean isRunning() {
        return running != null;
    }

    /** The port. */
    public int port() {
        return port;
    }

    /** JDBC URL of database {@code dbName} on this server. */
    public String jdbcUrl(String dbName) {
        return "jdbc:postgresql://localhost:" + port + "/" + dbName;
    }

    /** The superuser to connect as (password empty). */
    public String user() {
        return "postgres";
    }

    /** Creates a database, e.g. so the test does not share {@code postgres} with the server's own sessions. */
    public void createDatabase(String dbName) {
        try (Connection c = DriverManager.getConnection(jdbcUrl("postgres"), user(), "");
             Statement st = c.createStatement()) {
            st.execute("CREATE DATABASE " + dbName);
        } catch (SQLException e) {
            throw new IllegalStateException("could not create database " + dbName, e);
        }
    }

    @Override
    public void close() {
        stop();
    }
}
