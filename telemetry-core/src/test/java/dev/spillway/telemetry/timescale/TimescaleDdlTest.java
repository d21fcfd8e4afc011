package dev.spillway.telemetry.timescale;

import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Runs {@link SchemaManager}'s TimescaleDB DDL against a real TimescaleDB build: the project's shared
 * {@code timescaledb-lite} tool (TimescaleDB compiled to WASM inside PGlite, served on a PostgreSQL socket).
 *
 * <p>The tool is found at {@code $SPILLWAY_TIMESCALEDB_LITE}, or at {@code shared/tools/timescaledb-lite} next to
 * the repository (searched upwards from the working directory). The shared directory is read-only, so its files
 * are copied to a temporary directory and {@code npm ci} runs there. Skipped (with a reason) only when Node.js/npm
 * or the tool directory is missing; an {@code npm ci} or start-up failure fails the test.
 *
 * <p>The tool allows one session at a time and no COPY, so this test only does DDL, over single connections.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class TimescaleDdlTest {

    private static final String ENV_TOOL = "SPILLWAY_TIMESCALEDB_LITE";
    private static final String TABLE = "ts_events";

    private static Path work;
    private static Process server;
    private static Path serverLog;
    private static String url;

    /** Surefire does not print a class-level assumption's message: it is said on the console too. */
    private static void skipUnless(boolean present, String why) {
        if (!present) {
            System.out.println("SKIPPED: TimescaleDdlTest: " + why);
        }
        assumeTrue(present, why);
    }

    @BeforeAll
    static void startTimescaleDbLite() throws Exception {
        final Path tool = locateTool();
        skipUnless(tool != null, "timescaledb-lite not found: set " + ENV_TOOL
            + " or place it at ../shared/tools/timescaledb-lite relative to the repository");
        skipUnless(commandWorks("node", "--version"), "Node.js (node) is not installed");
        skipUnless(commandWorks("npm", "--version"), "npm is not installed");

        work = Files.createTempDirectory("timescaledb-lite-");
        for (String name : new String[] {"package.json", "package-lock.json", "server.mjs", ".npmrc"}) {
            final Path source = tool.resolve(name);
            if (Files.exists(source)) {
                Files.copy(source, work.resolve(name), StandardCopyOption.REPLACE_EXISTING);
                work.resolve(name).toFile().setWritable(true);
            }
        }
        final Path npmLog = work.resolve("npm-ci.log");
        final Process npm = new ProcessBuilder("npm", "ci", "--no-audit", "--no-fund").directory(work.toFile())
            .redirectErrorStream(true).redirectOutput(npmLog.toFile()).start();
        if (!npm.waitFor(5, TimeUnit.MINUTES)) {
            npm.destroyForcibly();
            throw new AssertionError("npm ci timed out:\n" + read(npmLog));
        }
        assertEquals(0, npm.exitValue(), "npm ci failed:\n" + read(npmLog));

        final int port = TestDatabase.freePort();
        serverLog = work.resolve("server.log");
        server = new ProcessBuilder("node", "server.mjs", Integer.toString(port)).directory(work.toFile())
            .redirectErrorStream(true).redirectOutput(serverLog.toFile()).start();
        // prepareThreshold=0: the tool is one backend shared by every connection, so server-side named statements
        // of an earlier connection ("S_1") would still exist and collide with the next connection's.
        url = "jdbc:postgresql://127.0.0.1:" + port + "/postgres?sslmode=disable&gssEncMode=disable&prepareThreshold=0";
        // A real protocol handshake as the probe: the tool serves one session at a time, so probes must end cleanly.
        Await.untilNoThrow(Duration.ofSeconds(120), () -> {
            if (!server.isAlive()) {
                throw new AssertionError("timescaledb-lite exited:\n" + read(serverLog));
            }
            try (Connection c = DriverManager.getConnection(url, "postgres", "postgres")) {
                return c.isValid(5);
            }
        }, "timescaledb-lite accepts connections on port " + port);
    }

    @AfterAll
    static void stopTimescaleDbLite() throws Exception {
        if (server != null) {
            server.destroy();
            if (!server.waitFor(10, TimeUnit.SECONDS)) {
                server.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        }
        if (work != null) {
            try (Stream<Path> paths = Files.walk(work)) {
                paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static SchemaManager schema() {
        return new SchemaManager(TABLE, Duration.ofHours(6), Duration.ofDays(7), Duration.ofDays(90),
            IndexMode.DEFAULT);
    }

    @Test
    @Order(1)
    void createsHypertableWithColumnstoreAndPolicies() throws Exception {
        try (Connection c = connect()) {
            assertTrue(schema().ensureSchema(c), "TimescaleDB detected");
        }
        assertEquals(List.of("ts_events 1"), query("select hypertable_name || ' ' || num_dimensions"
            + " from timescaledb_information.hypertables where hypertable_name = '" + TABLE + "'"));
        assertEquals(List.of("time 06:00:00"), query("select column_name || ' ' || time_interval"
            + " from timescaledb_information.dimensions where hypertable_name = '" + TABLE + "'"));
        assertEquals(List.of("true"), query("select compression_enabled::text"
            + " from timescaledb_information.hypertables where hypertable_name = '" + TABLE + "'"));
        assertEquals(List.of("source_id segmentby", "time orderby DESC"), query(
            "select attname || ' ' || case when segmentby_column_index is not null then 'segmentby'"
                + " else 'orderby ' || case when orderby_asc then 'ASC' else 'DESC' end end"
                + " from timescaledb_information.compression_settings where hypertable_name = '" + TABLE + "'"
                + " order by attname"));
        assertEquals(List.of("policy_compression", "policy_retention"), jobs());
        assertEquals(List.of("ts_events_src_time_idx"), query("select indexname from pg_indexes"
            + " where tablename = '" + TABLE + "' order by indexname"), "only the IndexMode's index");
        assertEquals(List.of("1"), query("select count(*) from pg_tables where tablename = '" + TABLE + "_batches'"));
    }

    @Test
    @Order(2)
    void secondCreationIsIdempotent() throws Exception {
        try (Connection c = connect()) {
            assertTrue(schema().ensureSchema(c));
        }
        try (Connection c = connect()) {
            assertTrue(schema().ensureSchema(c));
        }
        assertEquals(List.of("policy_compression", "policy_retention"), jobs(), "no duplicated policies");
        assertEquals(List.of("1"), query("select count(*) from timescaledb_information.hypertables"
            + " where hypertable_name = '" + TABLE + "'"));
        // The hypertable takes rows (no COPY on this server: a plain INSERT).
        try (Connection c = connect(); Statement st = c.createStatement()) {
            st.execute("insert into " + TABLE + " values (now(), 1, 1, 1.5, 0), (now() - interval '1 day', 1, 1, 2.5, 1)");
        }
        assertEquals(List.of("2"), query("select count(*) from " + TABLE));
    }

    @Test
    @Order(3)
    void sinkBuilderReportsTimescale() throws Exception {
        // the rows layout's index names; blocksLayoutMakesBothTablesHypertablesBehindTheView covers blocks
        final TimescaleSink.Builder creating = TimescaleSink.builder().storageLayout(StorageLayout.ROWS).jdbcUrl(url).username("postgres")
            .password("postgres").table("ts_sink_events").poolSize(1).indexMode(IndexMode.BRIN_TIME)
            .compressAfter(Duration.ofDays(1));
        try (TimescaleSink sink = buildWhenToolIsFree(creating)) {
            assertTrue(sink.isTimescale());
        }
        assertEquals(List.of("ts_sink_events_time_brin"), query("select indexname from pg_indexes"
            + " where tablename = 'ts_sink_events'"));
        // the rows layout's index names; blocksLayoutMakesBothTablesHypertablesBehindTheView covers blocks
        final TimescaleSink.Builder detecting = TimescaleSink.builder().storageLayout(StorageLayout.ROWS).jdbcUrl(url).username("postgres")
            .password("postgres").table("ts_sink_events").poolSize(1).createSchema(false);
        try (TimescaleSink sink = buildWhenToolIsFree(detecting)) {
            assertTrue(sink.isTimescale(), "detected without creating anything");
        }
    }

    @Test
    @Order(4)
    void changedSettingsReplaceThePoliciesAndTheChunkIntervalOfAnExistingTable() throws Exception {
        try (Connection c = connect()) {
            assertTrue(new SchemaManager(TABLE, Duration.ofHours(12), Duration.ofDays(3), Duration.ofDays(30),
                IndexMode.DEFAULT).ensureSchema(c));
        }
        assertEquals(List.of("time 12:00:00"), query("select column_name || ' ' || time_interval"
            + " from timescaledb_information.dimensions where hypertable_name = '" + TABLE + "'"),
            "the new interval, for chunks created from now on");
        assertEquals(List.of("policy_compression true", "policy_retention true"), query("select proc_name || ' ' || "
            + "coalesce((config->>'compress_after')::interval = interval '3 days',"
            + " (config->>'drop_after')::interval = interval '30 days')"
            + " from timescaledb_information.jobs where hypertable_name = '" + TABLE + "' order by proc_name"),
            "one job each, with the new ages (if_not_exists alone would have kept 7 and 90 days)");
        // Settings left out keep what exists (it may have been added by hand): nothing is removed.
        try (Connection c = connect()) {
            assertTrue(new SchemaManager(TABLE, Duration.ofHours(12), null, null, IndexMode.DEFAULT).ensureSchema(c));
        }
        assertEquals(List.of("policy_compression", "policy_retention"), jobs());
    }

    /** The tool may still be ending the previous session (see {@link #connect()}): retry the pool's first connect. */
    private static TimescaleSink buildWhenToolIsFree(TimescaleSink.Builder builder) {
        final TimescaleSink[] sink = new TimescaleSink[1];
        Await.untilNoThrow(Duration.ofSeconds(10), () -> {
            sink[0] = builder.build();
            return true;
        }, "building a sink against timescaledb-lite");
        return sink[0];
    }

    @Test
    @Order(5)
    void blocksLayoutMakesBothTablesHypertablesBehindTheView() throws Exception {
        final String t = "ts_blocks";
        try (Connection c = connect()) {
            assertTrue(new SchemaManager(t, Duration.ofHours(6), Duration.ofDays(7), Duration.ofDays(90),
                IndexMode.DEFAULT, StorageLayout.BLOCKS).ensureSchema(c));
        }
        try (Connection c = connect()) {
            assertTrue(new SchemaManager(t, Duration.ofHours(6), Duration.ofDays(7), Duration.ofDays(90),
                IndexMode.DEFAULT, StorageLayout.BLOCKS).ensureSchema(c), "idempotent");
        }
        assertEquals(List.of("ts_blocks_blocks time_min", "ts_blocks_rows time"), query("select hypertable_name || ' '"
            + " || column_name from timescaledb_information.dimensions where hypertable_name like 'ts_blocks%'"
            + " order by 1"));
        assertEquals(List.of("ts_blocks_blocks policy_retention", "ts_blocks_rows policy_compression",
            "ts_blocks_rows policy_retention"), query("select hypertable_name || ' ' || proc_name from "
            + "timescaledb_information.jobs where hypertable_name like 'ts_blocks%' order by 1"),
            "retention on both, compression on the rows (blocks are compact already), once each");
        assertEquals(List.of("v"), query("select relkind::text from pg_class where relname = '" + t + "'"));
        // No COPY on this server: a block and a row by plain INSERT, read back through the view.
        try (Connection c = connect(); Statement st = c.createStatement()) {
            st.execute("insert into ts_blocks_blocks values (1, 1, '2026-01-01 00:00:00+00', '2026-01-01 00:00:02+00',"
                + " 5, 7, 3, array['2026-01-01 00:00:00+00', '2026-01-01 00:00:01+00', '2026-01-01 00:00:02+00']"
                + "::timestamptz[], array[1.5, 2.5, 3.5], null)");
            st.execute("insert into ts_blocks_rows values ('2026-01-01 00:00:03+00', 1, 1, 4.5, 8)");
        }
        assertEquals(List.of("5 1.5", "6 2.5", "7 3.5", "8 4.5"), query("select seq || ' ' || value from " + t
            + " order by seq"));
    }

    private static List<String> jobs() throws SQLException {
        return query("select proc_name from timescaledb_information.jobs where hypertable_name = '" + TABLE + "'"
            + " order by proc_name");
    }

    /**
     * A new session. The tool can still be ending the previous session when the next one starts and then resets
     * the new connection, so the attempt is repeated for a few seconds.
     */
    private static Connection connect() {
        final Connection[] session = new Connection[1];
        Await.untilNoThrow(Duration.ofSeconds(10), () -> {
            session[0] = DriverManager.getConnection(url, "postgres", "postgres");
            return true;
        }, "a session on timescaledb-lite; its log:\n" + read(serverLog));
        return session[0];
    }

    private static List<String> query(String sql) throws SQLException {
        try (Connection c = connect(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            final List<String> out = new ArrayList<>();
            while (rs.next()) {
                out.add(rs.getString(1));
            }
            return out;
        }
    }

    private static Path locateTool() {
        final String override = System.getenv(ENV_TOOL);
        if (override != null && !override.isBlank()) {
            final Path p = Paths.get(override);
            return Files.isRegularFile(p.resolve("server.mjs")) ? p : null;
        }
        for (Path dir = Paths.get(System.getProperty("user.dir")).toAbsolutePath(); dir != null;
             dir = dir.getParent()) {
            final Path candidate = dir.resolve("shared").resolve("tools").resolve("timescaledb-lite");
            if (Files.isRegularFile(candidate.resolve("server.mjs"))) {
                return candidate;
            }
        }
        return null;
    }

    private static boolean commandWorks(String... command) {
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

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(no output: " + e + ")";
        }
    }
}
