package dev.spillway.collector;

import dev.spillway.collector.config.CollectorOptions;
import dev.spillway.collector.db.DataDirectoryLock;
import dev.spillway.collector.db.EmbeddedDatabase;
import dev.spillway.telemetry.testsupport.Await;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The collector's own PostgreSQL: durable settings, password authentication with a private password file, a
 * non-superuser writer that owns the tables, one collector per data directory, and a server that comes back
 * after {@code kill -9} with the writes sent meanwhile stored.
 */
class EmbeddedDatabaseTest {

    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    static Path dataDir;
    private static Collector collector;
    private static EmbeddedDatabase db;
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @BeforeAll
    static void start() throws Exception {
        collector = Collector.start(config("--data-dir", dataDir.toString(), "--db-port", "0", "--http",
            "127.0.0.1:0", "--flush-interval", "10ms", "--retry-max-elapsed", "120s", "--retry-attempts", "30"));
        db = collector.embeddedDatabase();
    }

    @AfterAll
    static void stop() {
        if (collector != null) {
            collector.close();
        }
    }

    static dev.spillway.collector.config.CollectorConfig config(String... args) {
        return ((CollectorOptions.Run) CollectorOptions.parse(args, Map.of(),
            new PrintStream(OutputStream.nullOutputStream()))).config();
    }

    private static Connection connect(String user, String password) throws SQLException {
        return DriverManager.getConnection(db.jdbcUrl(), user, password);
    }

    private static String show(String setting) throws SQLException {
        try (Connection c = connect(db.user(), db.password()); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SHOW " + setting)) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static long count(String sql) throws SQLException {
        try (Connection c = connect(db.user(), db.password()); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static HttpResponse<String> post(String body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + collector.httpAddress().getPort()
            + "/api/v2/write")).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
            HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void durableSettingsAreOn() throws Exception {
        assertEquals("on", show("fsync"));
        assertEquals("on", show("full_page_writes"));
        assertEquals("on", show("synchronous_commit"));
        assertEquals("127.0.0.1", show("listen_addresses"));
        try (Connection c = connect("postgres", superuserPassword()); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SHOW unix_socket_directories")) {
            rs.next();
            assertEquals("", rs.getString(1), "no Unix socket");
        }
    }

    private static String superuserPassword() throws java.io.IOException {
        final String line = Files.readAllLines(db.passwordFile()).stream()
            .filter(l -> l.startsWith("127.0.0.1:*:*:postgres:")).findFirst().orElseThrow();
        return line.substring(line.lastIndexOf(':') + 1);
    }

    @Test
    void everyConnectionNeedsThePasswordFromAPrivateFile() throws Exception {
        final Path pgpass = db.passwordFile();
        assertEquals(dataDir.resolve("pgpass"), pgpass);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(pgpass)));
        final SQLException guess = assertThrows(SQLException.class, () -> connect("postgres", "postgres"));
        assertEquals("28P01", guess.getSQLState(), guess.getMessage()); // password authentication failed
        final SQLException writerGuess = assertThrows(SQLException.class, () -> connect("spillway", "spillway"));
        assertEquals("28P01", writerGuess.getSQLState(), writerGuess.getMessage());
        // The file works as PGPASSFILE: its superuser line logs in.
        try (Connection c = connect("postgres", superuserPassword())) {
            assertTrue(c.isValid(5));
        }
    }

    @Test
    void theWriterIsNoSuperuserAndOwnsTheTables() throws Exception {
        assertEquals(0, count("SELECT count(*) FROM pg_roles WHERE rolname = current_user AND rolsuper"));
        assertEquals(0, count("SELECT count(*) FROM pg_class WHERE relname IN ('telemetry_events', "
            + "'telemetry_sources', 'telemetry') AND pg_get_userbyid(relowner) <> 'spillway'"));
        assertEquals(3, count("SELECT count(*) FROM pg_class WHERE relname IN ('telemetry_events', "
            + "'telemetry_sources', 'telemetry')"));
        // What the issue reproduced as a superuser: the writer may not run programs.
        try (Connection c = connect(db.user(), db.password()); Statement st = c.createStatement()) {
            final SQLException e = assertThrows(SQLException.class, () -> st.execute("COPY (SELECT 1) TO PROGRAM 'true'"));
            assertEquals("42501", e.getSQLState(), e.getMessage()); // insufficient privilege
        }
    }

    @Test
    void aSecondCollectorOnTheSameDataDirectoryFailsBeforeBindingItsPort() throws Exception {
        final int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        final DataDirectoryLock.InUseException e = assertThrows(DataDirectoryLock.InUseException.class,
            () -> Collector.start(config("--data-dir", dataDir.toString(), "--db-port", "0", "--http",
                "127.0.0.1:" + port)));
        assertTrue(e.getMessage().contains("in use by another collector") && e.getMessage().contains("--data-dir"),
            e.getMessage());
        try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
            assertTrue(s.isBound(), "the second collector never bound its HTTP port");
        }
    }

    @Test
    void serverKilledWithSigkillIsRestartedAndWritesSentMeanwhileAreStored() throws Exception {
        assertEquals(204, post("beforekill v=1\n").statusCode());
        Await.untilNoThrow(WAIT, () -> count("SELECT count(*) FROM telemetry WHERE measurement = 'beforekill'") == 1,
            "row before the kill");
        final long pid = db.pid();
        assertTrue(pid > 0);
        final int restartsBefore = db.restarts();
        ProcessHandle.of(pid).orElseThrow().destroyForcibly();
        // Accepted into the ring while the server is down or coming back; the sink retries until it is up.
        final List<Integer> statuses = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            statuses.add(post("beforekill v=" + (i + 2) + " " + (1_700_000_000_000_000_000L + i) + "\n").statusCode());
        }
        assertEquals(List.of(204, 204, 204, 204, 204), statuses);
        Await.until(WAIT, () -> db.restarts() == restartsBefore + 1 && db.pid() > 0 && db.pid() != pid,
            "server restarted");
        Await.untilNoThrow(WAIT, () -> count("SELECT count(*) FROM telemetry WHERE measurement = 'beforekill'") == 6,
            "writes sent while the server was down are stored");
        assertEquals(null, db.problem());
        Await.untilNoThrow(WAIT, () -> HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
            + collector.httpAddress().getPort() + "/health")).build(), HttpResponse.BodyHandlers.ofString())
            .statusCode() == 200, "/health passes again");
        assertFalse(collector.stats().failed() > 0, "nothing failed: " + collector.stats());
    }
}
