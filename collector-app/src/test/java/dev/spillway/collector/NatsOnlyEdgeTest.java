package dev.spillway.collector;

import dev.spillway.collector.config.CollectorOptions;
import dev.spillway.runtime.config.ConfigException;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.NatsServer;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Edges started with {@code --nats} only (no database option): they number new series themselves, announce them on
 * NATS, and a writer files each (edge, series) once and maps the edges' batches onto the shared catalogue. Real
 * nats-server, real PostgreSQL (the writer's only).
 */
class NatsOnlyEdgeTest {

    private static final int SERIES = 50;
    private static final int REQUESTS = 20;
    private static final int LINES = 250;

    @TempDir
    static Path dir;
    private static NatsServer nats;

    @BeforeAll
    static void startNats() {
        nats = NatsServer.startOrSkip(dir);
    }

    @AfterAll
    static void stopNats() {
        if (nats != null) {
            nats.close();
        }
    }

    private static String[] role(String role, String stream, String... more) {
        final List<String> a = new ArrayList<>(List.of("--role", role, "--nats", nats.url(), "--nats-stream", stream,
            "--nats-subject", stream + ".batches", "--nats-consumer", stream + "-writers", "--workers", "4"));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    /** {@code count} lines with ids from {@code first}, over {@link #SERIES} series (new to the catalogue). */
    private static String body(long first, int count) {
        final StringBuilder b = new StringBuilder();
        for (long id = first; id < first + count; id++) {
            b.append("edge,line=L").append(id % SERIES).append(" id=").append(id).append("i ")
                .append(1_700_000_000_000_000_000L + id).append('\n');
        }
        return b.toString();
    }

    @Test
    void edgesWithoutADatabaseWriteNewSeriesExactlyOnceAndKeepTheirIdsAcrossARestart() throws Exception {
        final String stream = "nodb";
        try (TestDatabase db = TestDatabase.create("js_nodb")) {
            final CollectorHarness writer = CollectorHarness.start(db, role("writer", stream));
            final Path spool1 = Files.createTempDirectory("edge1-spool");
            CollectorHarness e1 = CollectorHarness.startWithoutDatabase(db, role("edge", stream, "--spool-dir",
                spool1.toString()));
            final CollectorHarness e2 = CollectorHarness.startWithoutDatabase(db, role("edge", stream));
            long next = 0;
            for (int r = 0; r < REQUESTS; r++) {
                for (CollectorHarness edge : List.of(e1, e2)) {
                    final var response = edge.post("/api/v2/write?bucket=b", body(next, LINES));
                    assertEquals(204, response.statusCode(), response.body());
                    next += LINES;
                }
            }
            // The writer takes one of the same series over its own HTTP: still one catalogue row per series.
            assertEquals(204, writer.post("/api/v2/write?bucket=b", body(next, 1)).statusCode());
            next++;
            assertTrue(e1.get("/health").statusCode() == 200, "an edge without a database is healthy");
            assertEquals(404, e1.get("/api/v1/monitors").statusCode(), "no database APIs on such an edge");
            final var account = e1.collector.shutdown();
            assertTrue(account.stats().isBalanced(), account.toString());
            assertEquals(0, account.stats().failed(), account.toString());

            // Restarted on its spool directory: same instance, same local ids, numbers continuing above the old ones.
            e1 = CollectorHarness.startWithoutDatabase(db, role("edge", stream, "--spool-dir", spool1.toString()));
            for (int r = 0; r < 4; r++) {
                assertEquals(204, e1.post("/api/v2/write?bucket=b", body(next, LINES)).statusCode());
                next += LINES;
            }
            e1.close();
            e2.close();
            final long expected = next;
            Await.until(Duration.ofSeconds(60), () -> writer.count("measurement = 'edge'") >= expected,
                "the writer commits every acknowledged line");
            assertEquals(expected, db.queryLong("SELECT count(*) FROM telemetry WHERE measurement = 'edge'"));
            assertEquals(expected, db.queryLong("SELECT count(DISTINCT value) FROM telemetry WHERE measurement = 'edge'"),
                "each line once");
            assertEquals(SERIES, db.queryLong("SELECT count(*) FROM telemetry_sources WHERE measurement = 'edge'"),
                "one catalogue row per series, whichever edge or collector saw it");
            assertEquals(2L * SERIES, db.queryLong("SELECT count(*) FROM telemetry_series_edge"),
                "each (edge, series) filed once; the restarted edge kept its ids");
            assertEquals(2L * SERIES, db.queryLong("SELECT count(DISTINCT (source_id, seq_offset)) FROM "
                + "telemetry_series_edge"), "each (edge, series) its own range of numbers");
            assertEquals(expected, db.queryLong("SELECT count(DISTINCT (e.source_id, e.seq)) FROM telemetry_events e "
                + "JOIN telemetry_sources s ON s.id = e.source_id WHERE s.measurement = 'edge'"),
                "no (source_id, seq) twice, across edges and the restart");
            assertEquals(0, writer.collector.jetStreamWriter().terminated());
            assertTrue(writer.get("/metrics").body().contains("spillway_nats_edge_series_filed_total 100.0"),
                "the writer counts the series it filed");
            writer.close();
        }
    }

    /**
     * A body resent to a restarted edge (the client never saw the answer) is recognised from the edge's resend
     * journal; what the earlier run took is looked up through a writer, once the stream holds none of that run's
     * batches, and not taken again. Lines the earlier copy never carried are taken.
     */
    @Test
    void aBodyResentAfterTheEdgeRestartedIsLookedUpThroughAWriterAndStoredOnce() throws Exception {
        final String stream = "nodbresend";
        try (TestDatabase db = TestDatabase.create("js_nodb_resend")) {
            final Path spool = Files.createTempDirectory("edge-resend-spool");
            CollectorHarness edge = CollectorHarness.startWithoutDatabase(db, role("edge", stream, "--spool-dir",
                spool.toString()));
            // No writer yet: the first copy's lines wait in the stream.
            final String first = body(0, 300);
            assertEquals(204, edge.post("/api/v2/write?bucket=b&ack=commit", first, "Idempotency-Key", "k1")
                .statusCode());
            edge.close();
            edge = CollectorHarness.startWithoutDatabase(db, role("edge", stream, "--spool-dir", spool.toString()));
            // The earlier run's batches are still in the stream: the resend must wait, not guess.
            final var early = edge.post("/api/v2/write?bucket=b&ack=commit", first, "Idempotency-Key", "k1");
            assertEquals(503, early.statusCode(), early.body());
            final CollectorHarness writer = CollectorHarness.start(db, role("writer", stream));
            Await.until(Duration.ofSeconds(60), () -> writer.count("measurement = 'edge'") >= 300,
                "the writer stores the first copy");
            final CollectorHarness e = edge;
            Await.untilNoThrow(Duration.ofSeconds(60), () -> e.post("/api/v2/write?bucket=b&ack=commit", first,
                "Idempotency-Key", "k1").statusCode() == 204, "the resend is answered once the stream is drained");
            // A different body under another key is new.
            assertEquals(204, edge.post("/api/v2/write?bucket=b&ack=commit", body(300, 100), "Idempotency-Key", "k2")
                .statusCode());
            edge.close();
            Await.until(Duration.ofSeconds(60), () -> writer.count("measurement = 'edge'") >= 400,
                "the writer stores the second body");
            assertEquals(400, db.queryLong("SELECT count(*) FROM telemetry WHERE measurement = 'edge'"),
                "the resent body's lines stored once");
            assertEquals(400, db.queryLong("SELECT count(DISTINCT value) FROM telemetry WHERE measurement = 'edge'"));
            writer.close();
        }
    }

    /**
     * NATS down under an edge without a database: lines of known series are accepted and spooled (retries spent),
     * a line that needs a new series gets 503 (its announcement cannot be acknowledged); with NATS back, the spool
     * replays, the new series is announced on the client's next try, and every line is stored once.
     */
    @Test
    void natsDownKnownSeriesAreSpooledNewOnesRefusedAndEverythingArrivesOnceWhenItIsBack() throws Exception {
        final String stream = "nodbout";
        try (TestDatabase db = TestDatabase.create("js_nodb_out")) {
            final CollectorHarness writer = CollectorHarness.start(db, role("writer", stream));
            final CollectorHarness edge = CollectorHarness.startWithoutDatabase(db, role("edge", stream,
                "--batch-size", "500", "--retry-attempts", "3", "--retry-max-elapsed", "1s"));
            assertEquals(204, edge.post("/api/v2/write?bucket=b", body(0, 500)).statusCode());
            Await.until(Duration.ofSeconds(60), () -> writer.count("measurement = 'edge'") >= 500, "stored");
            nats.stop();
            try {
                assertEquals(204, edge.post("/api/v2/write?bucket=b", body(500, 1000)).statusCode(),
                    "known series are accepted");
                final var fresh = edge.post("/api/v2/write?bucket=b", "fresh,line=new v=1 1700000000000000000\n");
                assertEquals(503, fresh.statusCode(), "a new series waits for NATS: " + fresh.body());
                Await.until(Duration.ofSeconds(60), () -> edge.collector.stats().spooled() == 1000,
                    "the lines accepted meanwhile are spooled");
            } finally {
                nats.start();
            }
            Await.untilNoThrow(Duration.ofSeconds(60), () -> edge.post("/api/v2/write?bucket=b",
                "fresh,line=new v=1 1700000000000000000\n").statusCode() == 204, "the new series once NATS is back");
            Await.until(Duration.ofSeconds(60), () -> writer.count("measurement = 'edge'") >= 1500
                && writer.count("measurement = 'fresh'") >= 1, "the spool replays and the writer stores everything");
            edge.close();
            assertEquals(1500, db.queryLong("SELECT count(*) FROM telemetry WHERE measurement = 'edge'"));
            assertEquals(1500, db.queryLong("SELECT count(DISTINCT value) FROM telemetry WHERE measurement = 'edge'"));
            assertEquals(1, db.queryLong("SELECT count(*) FROM telemetry WHERE measurement = 'fresh'"));
            writer.close();
        }
    }

    @Test
    void spoolDirectoriesOfEdgesAreTheirOwnOrTheStartSaysWhichOptionToSet() throws Exception {
        final PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        // By default an edge's spool is named after its HTTP port.
        final var parsed = (CollectorOptions.Run) CollectorOptions.parse(new String[] {"--role", "edge", "--nats",
            "nats://127.0.0.1:4222", "--http", "127.0.0.1:18086"}, Map.of(), quiet);
        assertEquals("spillway-edge-18086-spool", parsed.config().pipeline().spoolDir().getFileName().toString());
        final var other = (CollectorOptions.Run) CollectorOptions.parse(new String[] {"--role", "edge", "--nats",
            "nats://127.0.0.1:4222", "--http", "127.0.0.1:18087"}, Map.of(), quiet);
        assertEquals("spillway-edge-18087-spool", other.config().pipeline().spoolDir().getFileName().toString());
        final ConfigException random = assertThrows(ConfigException.class, () -> CollectorOptions.parse(new String[] {
            "--role", "edge", "--nats", "nats://127.0.0.1:4222", "--http", "127.0.0.1:0"}, Map.of(), quiet));
        assertTrue(random.getMessage().contains("--spool-dir"), random.getMessage());
        final ConfigException off = assertThrows(ConfigException.class, () -> CollectorOptions.parse(new String[] {
            "--role", "edge", "--nats", "nats://127.0.0.1:4222", "--spool-dir", "off"}, Map.of(), quiet));
        assertTrue(off.getMessage().contains("--spool-dir"), off.getMessage());
        final ConfigException duties = assertThrows(ConfigException.class, () -> CollectorOptions.parse(new String[] {
            "--role", "edge", "--nats", "nats://127.0.0.1:4222", "--duties", "ingest,monitors"}, Map.of(), quiet));
        assertTrue(duties.getMessage().contains("--duties") && duties.getMessage().contains("--jdbc-url"),
            duties.getMessage());

        // Two edges told to share one spool directory: the second stops, naming the option.
        try (TestDatabase db = TestDatabase.create("js_nodb_spool")) {
            final Path shared = Files.createTempDirectory("shared-spool");
            try (CollectorHarness first = CollectorHarness.startWithoutDatabase(db, role("edge", "nodbspool",
                "--spool-dir", shared.toString()))) {
                final ConfigException second = assertThrows(ConfigException.class,
                    () -> CollectorHarness.startWithoutDatabase(db, role("edge", "nodbspool", "--spool-dir",
                        shared.toString())));
                assertTrue(second.getMessage().contains("--spool-dir"), second.getMessage());
                // The first edge is unharmed. /health is 503 until its readiness probe's first JetStream check has
                // run (a background thread; on a loaded machine that can take longer than the second start), so wait.
                Await.untilNoThrow(Duration.ofSeconds(20), () -> first.get("/health").statusCode() == 200,
                    "the first edge healthy");
            }
        }
    }
}
