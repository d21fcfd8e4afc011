package dev.spillway.testkit;

import dev.spillway.telemetry.testsupport.TestDatabase;
import org.postgresql.ds.PGSimpleDataSource;

import javax.sql.DataSource;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * The shared {@code timescaledb-lite} tool (real TimescaleDB inside PGlite, one session at a time) started for a
 * test class, found and started the way telemetry-core's {@code TimescaleDdlTest} does: at
 * {@code $SPILLWAY_TIMESCALEDB_LITE} or {@code shared/tools/timescaledb-lite} above the working directory, copied to
 * a temporary directory where {@code npm ci} runs. {@link #start()} returns null when Node.js or the tool is
 * missing (the caller skips, saying why).
 */
public final class TimescaleLite implements AutoCloseable {

    private final Path work;
    private final Process server;
    private final Path log;
    private final String url;

    private TimescaleLite(Path work, Process server, Path log, String url) {
        this.work = work;
        this.server = server;
        this.log = log;
        this.url = url;
    }

    /** Why the tool cannot run here, or null when it can. */
    public static String missing() {
        if (tool() == null) {
            return "timescaledb-lite not found: set SPILLWAY_TIMESCALEDB_LITE or place it at "
                + "../shared/tools/timescaledb-lite relative to the repository";
        }
        if (!works("node", "--version") || !works("npm", "--version")) {
            return "Node.js/npm are not installed";
        }
        return null;
    }

    public static TimescaleLite start() throws Exception {
        final Path tool = tool();
        final Path work = Files.createTempDirectory("timescaledb-lite-page-");
        for (String name : new String[] {"package.json", "package-lock.json", "server.mjs", ".npmrc"}) {
            if (Files.exists(tool.resolve(name))) {
                Files.copy(tool.resolve(name), work.resolve(name), StandardCopyOption.REPLACE_EXISTING);
                work.resolve(name).toFile().setWritable(true);
            }
        }
        final Path npmLog = work.resolve("npm-ci.log");
        final Process npm = new ProcessBuilder("npm", "ci", "--no-audit", "--no-fund").directory(work.toFile())
            .redirectErrorStream(true).redirectOutput(npmLog.toFile()).start();
        if (!npm.waitFor(5, TimeUnit.MINUTES) || npm.exitValue() != 0) {
            npm.destroyForcibly();
            throw new AssertionError("npm ci failed:\n" + read(npmLog));
        }
        final int port = TestDatabase.freePort();
        final Path log = work.resolve("server.log");
        final Process server = new ProcessBuilder("node", "server.mjs", Integer.toString(port)).directory(work.toFile())
            .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        // prepareThreshold=0: all connections share one backend, so named statements would collide.
        final String url = "jdbc:postgresql://127.0.0.1:" + port
            + "/postgres?sslmode=disable&gssEncMode=disable&prepareThreshold=0";
        final TimescaleLite t = new TimescaleLite(work, server, log, url);
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (true) {
            if (!server.isAlive()) {
                throw new AssertionError("timescaledb-lite exited:\n" + read(log));
            }
            try (Connection c = t.dataSource().getConnection()) {
                if (c.isValid(5)) {
                    return t;
                }
            } catch (SQLException e) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("timescaledb-lite did not accept connections:\n" + read(log), e);
                }
                // Polling a starting server: the next attempt follows at once, bounded by the deadline.
                server.waitFor(200, TimeUnit.MILLISECONDS);
            }
        }
    }

    /**
     * Connections one after another. The tool can still be ending the previous session when the next starts and
     * then resets it, so opening is retried for a few seconds.
     */
    public DataSource dataSource() {
        final PGSimpleDataSource pg = new PGSimpleDataSource();
        pg.setUrl(url);
        pg.setUser("postgres");
        pg.setPassword("postgres");
        return new DataSource() {
            @Override
            public Connection getConnection() throws SQLException {
                final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (true) {
                    try {
                        return pg.getConnection();
                    } catch (SQLException e) {
                        if (System.nanoTime() > deadline || !server.isAlive()) {
                            throw e;
                        }
                    }
                }
            }

            @Override
            public Connection getConnection(String user, String password) throws SQLException {
                return getConnection();
            }

            @Override
            public PrintWriter getLogWriter() {
                return null;
            }

            @Override
            public void setLogWriter(PrintWriter out) {
            }

            @Override
            public void setLoginTimeout(int seconds) {
            }

            @Override
            public int getLoginTimeout() {
                return 0;
            }

            @Override
            public Logger getParentLogger() throws SQLFeatureNotSupportedException {
                throw new SQLFeatureNotSupportedException();
            }

            @Override
            public <T> T unwrap(Class<T> iface) throws SQLException {
                throw new SQLException("not a wrapper");
            }

            @Override
            public boolean isWrapperFor(Class<?> iface) {
                return false;
            }
        };
    }

    public String url() {
        return url;
    }

    @Override
    public void close() throws Exception {
        server.destroy();
        if (!server.waitFor(10, TimeUnit.SECONDS)) {
            server.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        try (Stream<Path> paths = Files.walk(work)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    private static Path tool() {
        final String override = System.getenv("SPILLWAY_TIMESCALEDB_LITE");
        if (override != null && !override.isBlank()) {
            final Path p = Paths.get(override);
            return Files.isRegularFile(p.resolve("server.mjs")) ? p : null;
        }
        for (Path dir = Paths.get(System.getProperty("user.dir")).toAbsolutePath(); dir != null; dir = dir.getParent()) {
            final Path candidate = dir.resolve("shared").resolve("tools").resolve("timescaledb-lite");
            if (Files.isRegularFile(candidate.resolve("server.mjs"))) {
                return candidate;
            }
        }
        return null;
    }

    private static boolean works(String... command) {
        try {
            final Process p = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(no output: " + e + ")";
        }
    }

    /** The server's log, for failure messages. */
    public String log() {
        return read(log);
    }
}
