package dev.spillway.collector.db;

import dev.spillway.runtime.lifecycle.ServiceThreads;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The PostgreSQL the collector runs itself when no database is configured: its own {@code initdb} and
 * {@code postgres} process (binaries from {@link PostgresBinaries}), so that every setting that matters is the
 * collector's choice, not a test library's:
 *
 * <ul>
 *   <li>durable: {@code fsync}, {@code full_page_writes} and {@code synchronous_commit} on;</li>
 *   <li>private: listens on 127.0.0.1 only, no Unix socket, and every connection needs a password (SCRAM);
 *       the passwords are generated on first start and kept in {@link DatabaseSecrets} (mode 0600);</li>
 *   <li>least privilege: the collector writes as {@code spillway}, which owns its tables and is not a
 *       superuser;</li>
 *   <li>supervised: when the server dies it is restarted with backoff (1 s doubling to 30 s, at most
 *       {@value #MAX_FAILED_STARTS} failed starts in a row), one log line per state change.</li>
 * </ul>
 *
 * <p>The data directory persists across restarts. The cluster lives in {@code <data-dir>/postgres}; a data
 * directory that is itself a cluster (made by earlier versions) is used in place and converted to password
 * authentication on first start.
 */
public final class EmbeddedDatabase implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedDatabase.class);
    static final int MAX_FAILED_STARTS = 10;
    private static final Duration READY_WAIT = Duration.ofSeconds(60);
    private static final long MAX_BACKOFF_MILLIS = 30_000;
    private static final boolean RUN_AS_ROOT = isRoot();

    private final Path dataDir;
    private final Path cluster;
    private final Path logFile;
    private final PostgresBinaries binaries;
    private final DatabaseSecrets secrets;
    private final int port;
    private final ScheduledExecutorService supervisor;
    private final AtomicInteger restarts = new AtomicInteger();
    private volatile Process process;
    private volatile boolean closing;
    private volatile String problem;
    private int failedStarts; // supervisor thread only

    private EmbeddedDatabase(Path dataDir, Path cluster, PostgresBinaries binaries, DatabaseSecrets secrets,
                             int port) {
        this.dataDir = dataDir;
        this.cluster = cluster;
        this.logFile = dataDir.resolve("postgres.log");
        this.binaries = binaries;
        this.secrets = secrets;
        this.port = port;
        this.supervisor = Executors.newSingleThreadScheduledExecutor(ServiceThreads.single("embedded-postgres-supervisor"));
    }

    /**
     * Starts PostgreSQL on {@code dataDir}, creating the cluster, the passwords and the writer role on first use.
     * The caller holds the {@link DataDirectoryLock} of {@code dataDir}.
     *
     * @param preferredPort the port to listen on; when it is taken (or 0) a free port is used instead
     */
    public static EmbeddedDatabase start(Path dataDir, int preferredPort) throws IOException, SQLException {
        final PostgresBinaries bin = PostgresBinaries.prepare(dataDir);
        final boolean legacy = Files.exists(dataDir.resolve("PG_VERSION"));
        final Path cluster = legacy ? dataDir : dataDir.resolve("postgres");
        final boolean fresh = !Files.exists(cluster.resolve("PG_VERSION"));
        final boolean hadSecrets = Files.exists(dataDir.resolve("pgpass"));
        final DatabaseSecrets secrets = DatabaseSecrets.loadOrCreate(dataDir.resolve("pgpass"));
        int port = preferredPort;
        if (port == 0 || !isFree(port)) {
            final int free = freePort();
            if (port != 0) {
                LOG.warn("port {} (--db-port) is taken; the embedded PostgreSQL uses port {} instead", port, free);
            }
            port = free;
        }
        final EmbeddedDatabase db = new EmbeddedDatabase(dataDir, cluster, bin, secrets, port);
        if (!Files.exists(db.logFile)) {
            // The server log can hold statements and data: as private as the data itself.
            Files.createFile(db.logFile, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        }
        if (fresh) {
            db.initdb();
        } else if (!hadSecrets) {
            db.setSuperuserPasswordOffline();
        }
        db.writeHba();
        try {
            db.spawnAndWait();
            db.ensureWriterRole();
        } catch (IOException | SQLException | RuntimeException e) {
            db.close();
            throw e;
        }
        db.watch(db.process);
        LOG.info("embedded PostgreSQL {} {} on 127.0.0.1:{} (fsync on, password authentication), data in {}",
            PostgresBinaries.version(), fresh ? "initialised and started" : "started", port, cluster);
        return db;
    }

    private void initdb() throws IOException {
        Files.createDirectories(cluster.getParent());
        final Path pwfile = Files.createTempFile(dataDir, "initdb-pw", ".tmp",
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        try {
            Files.writeString(pwfile, secrets.superuserPassword() + "\n", StandardCharsets.UTF_8);
            run(command(binaries.bin("initdb").toString(), "-D", cluster.toString(), "-U", DatabaseSecrets.SUPERUSER,
                "--pwfile=" + pwfile, "--auth=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-instructions"), null);
        } finally {
            Files.deleteIfExists(pwfile);
        }
    }

    /**
     * A cluster made before passwords existed: give the superuser its password in single-user mode, which
     * needs no connection and so no authentication that could be bypassed.
     */
    private void setSuperuserPasswordOffline() throws IOException {
        LOG.info("converting the embedded PostgreSQL in {} to password authentication; passwords in {}", cluster,
            secrets.file());
        run(command(binaries.bin("postgres").toString(), "--single", "-D", cluster.toString(), "-c",
                "unix_socket_directories=", "postgres"),
            "ALTER ROLE " + DatabaseSecrets.SUPERUSER + " PASSWORD '" + secrets.superuserPassword() + "';\n");
    }

    /** Rewritten at every start, so a hand-edited or legacy {@code trust} file cannot reopen the door. */
    private void writeHba() throws IOException {
        Files.writeString(cluster.resolve("pg_hba.conf"), "# Written by spillway-collector at every start: "
            + "password (SCRAM) authentication only.\n"
            + "local all all scram-sha-256\n"
            + "host  all all 127.0.0.1/32 scram-sha-256\n"
            + "host  all all ::1/128 scram-sha-256\n", StandardCharsets.UTF_8);
    }

    private void spawnAndWait() throws IOException {
        final ProcessBuilder pb = new ProcessBuilder(command(binaries.bin("postgres").toString(), "-D", cluster.toString(),
            "-p", Integer.toString(port),
            "-c", "listen_addresses=127.0.0.1",
            "-c", "unix_socket_directories=",
            "-c", "fsync=on",
            "-c", "full_page_writes=on",
            "-c", "synchronous_commit=on",
            "-c", "password_encryption=scram-sha-256"));
        pb.redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()));
        final Process p = pb.start();
        process = p;
        final long deadline = System.nanoTime() + READY_WAIT.toNanos();
        SQLException last = null;
        while (System.nanoTime() < deadline) {
            if (!p.isAlive()) {
                throw new IOException("embedded PostgreSQL exited with code " + p.exitValue() + " while starting; "
                    + "see " + logFile + ": " + lastLogLines());
            }
            try (Connection c = superuser()) {
                problem = null;
                return;
            } catch (SQLException e) {
                last = e;
            }
            try {
                // Polling a starting server: there is nothing to wait on but its port.
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while PostgreSQL was starting");
            }
        }
        p.destroyForcibly();
        throw new IOException("embedded PostgreSQL did not accept connections within " + READY_WAIT.toSeconds()
            + " s (last error: " + (last == null ? "none" : last.getMessage()) + "); see " + logFile);
    }

    private Connection superuser() throws SQLException {
        return DriverManager.getConnection(jdbcUrl(), DatabaseSecrets.SUPERUSER, secrets.superuserPassword());
    }

    /**
     * The collector's role: may log in and create tables in {@code public}, owns the tables it writes, and is no
     * superuser, so a leaked password cannot run programs as the collector's OS user. Tables created before this
     * role existed are handed over to it.
     */
    private void ensureWriterRole() throws SQLException {
        final String w = DatabaseSecrets.WRITER;
        try (Connection c = superuser(); Statement st = c.createStatement()) {
            boolean exists;
            try (PreparedStatement ps = c.prepareStatement("SELECT 1 FROM pg_roles WHERE rolname = ?")) {
                ps.setString(1, w);
                try (ResultSet rs = ps.executeQuery()) {
                    exists = rs.next();
                }
            }
            if (!exists) {
                st.execute("CREATE ROLE " + w + " LOGIN");
            }
            // The password is generated from [A-Za-z0-9] only (DatabaseSecrets), never from input.
            st.execute("ALTER ROLE " + w + " WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD '"
                + secrets.writerPassword() + "'");
            st.execute("GRANT USAGE, CREATE ON SCHEMA public TO " + w);
            final List<String> foreign = new ArrayList<>();
            try (ResultSet rs = st.executeQuery("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = "
                + "c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') "
                + "AND pg_get_userbyid(c.relowner) <> '" + w + "'")) {
                while (rs.next()) {
                    foreign.add(rs.getString(1));
                }
            }
            for (String table : foreign) {
                st.execute("ALTER TABLE public." + quoteIdent(table) + " OWNER TO " + w);
            }
            if (!foreign.isEmpty()) {
                LOG.info("handed {} existing tables and views to role {}", foreign.size(), w);
            }
        }
    }

    private static String quoteIdent(String name) {
        return "\"" + name.replace("\"", "\"\"") + "\"";
    }

    private void watch(Process p) {
        p.onExit().thenRun(() -> {
            if (closing) {
                return;
            }
            problem = "embedded PostgreSQL exited (code " + p.exitValue() + "); restarting";
            LOG.warn("embedded PostgreSQL (pid {}) exited unexpectedly with code {}; restarting in 1 s", p.pid(),
                p.exitValue());
            try {
                supervisor.schedule(this::restart, 1, TimeUnit.SECONDS);
            } catch (java.util.concurrent.RejectedExecutionException closed) {
                LOG.debug("supervisor stopped; no restart");
            }
        });
    }

    private void restart() {
        if (closing) {
            return;
        }
        try {
            spawnAndWait();
            failedStarts = 0;
            restarts.incrementAndGet();
            LOG.info("embedded PostgreSQL restarted on 127.0.0.1:{}", port);
            watch(process);
        } catch (IOException e) {
            failedStarts++;
            if (failedStarts >= MAX_FAILED_STARTS) {
                problem = "embedded PostgreSQL is down; gave up restarting after " + failedStarts + " attempts";
                LOG.error("embedded PostgreSQL could not be restarted after {} attempts ({}); /health reports fail "
                    + "until the collector is restarted", failedStarts, e.getMessage());
                return;
            }
            final long delay = Math.min(MAX_BACKOFF_MILLIS, 1000L << Math.min(failedStarts, 15));
            problem = "embedded PostgreSQL is down; restart attempt " + (failedStarts + 1) + " of "
                + MAX_FAILED_STARTS + " in " + delay + " ms";
            LOG.warn("embedded PostgreSQL restart failed ({}); retrying in {} ms (attempt {} of {})", e.getMessage(),
                delay, failedStarts + 1, MAX_FAILED_STARTS);
            try {
                supervisor.schedule(this::restart, delay, TimeUnit.MILLISECONDS);
            } catch (java.util.concurrent.RejectedExecutionException closed) {
                LOG.debug("supervisor stopped; no restart");
            }
        }
    }

    /**
     * PostgreSQL refuses to run as root. Run as root (as in a container), the programs start in a new user
     * namespace ({@code unshare -U}) where they are not root, keeping the same process id; the files stay the
     * collector's user's. Otherwise they run as the collector's user.
     */
    private static List<String> command(String... args) {
        final List<String> cmd = new ArrayList<>();
        if (RUN_AS_ROOT) {
            cmd.add("unshare");
            cmd.add("-U");
        }
        cmd.addAll(List.of(args));
        return cmd;
    }

    private static boolean isRoot() {
        try {
            return new com.sun.security.auth.module.UnixSystem().getUid() == 0;
        } catch (RuntimeException | LinkageError e) {
            return "root".equals(System.getProperty("user.name"));
        }
    }

    private String lastLogLines() {
        try {
            final List<String> lines = Files.readAllLines(logFile, StandardCharsets.UTF_8);
            return String.join(" | ", lines.subList(Math.max(0, lines.size() - 3), lines.size()));
        } catch (IOException e) {
            return "(log unreadable: " + e.getMessage() + ")";
        }
    }

    /** Runs a helper program to completion, output into the log; fails with its last lines. */
    private void run(List<String> command, String stdin) throws IOException {
        final Process p = new ProcessBuilder(command).redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile())).start();
        try (OutputStream in = p.getOutputStream()) {
            if (stdin != null) {
                in.write(stdin.getBytes(StandardCharsets.UTF_8));
            }
        }
        try {
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(command.get(0) + " did not finish within 120 s; see " + logFile);
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while running " + command.get(0));
        }
        if (p.exitValue() != 0) {
            throw new IOException(Path.of(command.get(0)).getFileName() + " failed with exit code " + p.exitValue()
                + "; see " + logFile + ": " + lastLogLines());
        }
    }

    /** The JDBC URL of the {@code postgres} database. */
    public String jdbcUrl() {
        return "jdbc:postgresql://127.0.0.1:" + port + "/postgres";
    }

    /** The role the collector writes as. */
    public String user() {
        return DatabaseSecrets.WRITER;
    }

    /** Password of {@link #user()}. */
    public String password() {
        return secrets.writerPassword();
    }

    /** The password file, for {@code PGPASSFILE}. */
    public Path passwordFile() {
        return secrets.file();
    }

    /** Listening port. */
    public int port() {
        return port;
    }

    /** Data directory. */
    public Path dataDir() {
        return dataDir;
    }

    /** Process id of the running postmaster, or -1. */
    public long pid() {
        final Process p = process;
        return p != null && p.isAlive() ? p.pid() : -1;
    }

    /** Times the server was restarted after dying. */
    public int restarts() {
        return restarts.get();
    }

    /** Null while the server runs; else what is wrong, for {@code /health}. */
    public String problem() {
        return problem;
    }

    /** Stops the server (fast shutdown: sessions end, committed data stays) and the supervision. */
    @Override
    public void close() throws IOException {
        closing = true;
        supervisor.shutdownNow();
        final Process p = process;
        if (p == null || !p.isAlive()) {
            return;
        }
        try {
            run(command(binaries.bin("pg_ctl").toString(), "stop", "-D", cluster.toString(), "-m", "fast", "-w",
                "-t", "60"), null);
        } catch (IOException e) {
            LOG.warn("pg_ctl stop failed ({}); terminating the server", e.getMessage());
        }
        try {
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
        }
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
