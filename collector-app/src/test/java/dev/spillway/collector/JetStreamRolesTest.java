package dev.spillway.collector;

import dev.spillway.collector.config.CollectorOptions;
import dev.spillway.runtime.config.ConfigException;
import dev.spillway.telemetry.nats.NatsBatchConsumer;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.NatsServer;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.TargetServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Collectors in the edge and writer roles against a real nats-server and a real PostgreSQL: two edges take line
 * protocol over HTTP and publish batches to JetStream, two writers commit them. Every line answered 204 is in
 * the table exactly once, and a series seen by both edges has one source id.
 */
class JetStreamRolesTest {

    private static final int LINES_PER_REQUEST = 500;
    private static final int REQUESTS_PER_EDGE = 40;
    private static final int SERIES = 10;

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

    private static String[] role(String role, String stream) {
        return new String[] {"--role", role, "--nats", nats.url(), "--nats-stream", stream, "--nats-subject",
            stream + ".batches", "--nats-consumer", stream + "-writers", "--workers", "4"};
    }

    @Test
    void twoEdgesTwoWritersEveryAcknowledgedLineExactlyOnce() throws Exception {
        final String stream = "roles";
        try (TestDatabase db = TestDatabase.create("js_roles")) {
            final CollectorHarness w1 = CollectorHarness.start(db, role("writer", stream));
            final CollectorHarness w2 = CollectorHarness.start(db, role("writer", stream));
            final CollectorHarness e1 = CollectorHarness.start(db, role("edge", stream));
            final CollectorHarness e2 = CollectorHarness.start(db, role("edge", stream));
            final AtomicLong nextId = new AtomicLong();
            final AtomicLong acknowledged = new AtomicLong();
            final ExecutorService clients = Executors.newFixedThreadPool(4);
            try {
                final List<Future<?>> done = new ArrayList<>();
                for (CollectorHarness edge : List.of(e1, e2)) {
                    for (int c = 0; c < 2; c++) {
                        done.add(clients.submit(() -> {
                            for (int r = 0; r < REQUESTS_PER_EDGE / 2; r++) {
                                final StringBuilder body = new StringBuilder();
                                final long first = nextId.getAndAdd(LINES_PER_REQUEST);
                                for (long id = first; id < first + LINES_PER_REQUEST; id++) {
                                    // The same ten series arrive at both edges.
                                    body.append("load,line=L").append(id % SERIES).append(" id=").append(id)
                                        .append("i ").append(1_700_000_000_000_000_000L + id).append('\n');
                                }
                                final var response = edge.post("/api/v2/write?bucket=b", body.toString());
                                assertEquals(204, response.statusCode(), response.body());
                                acknowledged.addAndGet(LINES_PER_REQUEST);
                            }
                            return null;
                        }));
                    }
                }
                for (Future<?> f : done) {
                    f.get();
                }
            } finally {
                clients.shutdown();
            }
            final long expected = acknowledged.get();
            assertEquals(2L * REQUESTS_PER_EDGE * LINES_PER_REQUEST, expected);
            for (CollectorHarness edge : List.of(e1, e2)) {
                final var account = edge.collector.shutdown();
                assertTrue(account.stats().isBalanced(), account.toString());
                assertEquals(0, account.stats().failed(), account.toString());
            }
            Await.until(Duration.ofSeconds(60), () -> e1.count("measurement = 'load'") >= expected,
                "writers commit every acknowledged line");
            assertEquals(expected, db.queryLong("SELECT count(*) FROM telemetry WHERE measurement = 'load'"));
            assertEquals(expected, db.queryLong("SELECT count(DISTINCT value) FROM telemetry WHERE measurement = 'load'"),
                "each id once");
            assertEquals(expected - 1, db.queryLong("SELECT max(value)::bigint FROM telemetry WHERE measurement = 'load'"));
            assertEquals(SERIES, db.queryLong("SELECT count(DISTINCT e.source_id) FROM telemetry_events e JOIN "
                + "telemetry_sources s ON s.id = e.source_id WHERE s.measurement = 'load'"),
                "a series seen by both edges has one source id");
            final NatsBatchConsumer c1 = w1.collector.jetStreamWriter();
            final NatsBatchConsumer c2 = w2.collector.jetStreamWriter();
            assertEquals(expected, c1.writtenEvents() + c2.writtenEvents(), "the writers' account matches");
            assertEquals(0, c1.terminated() + c2.terminated());
            final String metrics = w1.get("/metrics").body();
            assertTrue(metrics.contains("spillway_nats_writer_acked_total"), "writer meters exported");
            w1.close();
            w2.close();
        }
    }

    /**
     * Back-pressure: with no writer, the stream fills (discard-new at max_bytes), the edge's publishes fail
     * retryably and are retried, its ring fills, and HTTP answers 503; once a writer drains the stream, every line
     * that was answered 204 is written exactly once.
     */
    @Test
    void fullStreamPushesBackAsHttp503AndRecoversWhenAWriterDrainsIt() throws Exception {
        final String stream = "full";
        final String[] limits = {"--nats-max-bytes", "1MiB", "--ring-size", "16384", "--batch-size", "1024",
            "--retry-attempts", "1000", "--retry-max-elapsed", "10m"};
        try (TestDatabase db = TestDatabase.create("js_full")) {
            final CollectorHarness edge = CollectorHarness.start(db, concat(role("edge", stream), limits));
            long acknowledged = 0;
            int refused = 0;
            for (int r = 0; r < 1_000 && refused == 0; r++) {
                final StringBuilder body = new StringBuilder();
                for (long id = acknowledged; id < acknowledged + 1_000; id++) {
                    body.append("full,line=L").append(id % SERIES).append(" id=").append(id).append("i ")
                        .append(1_700_000_000_000_000_000L + id).append('\n');
                }
                final var response = edge.post("/api/v2/write?bucket=b", body.toString());
                if (response.statusCode() == 204) {
                    acknowledged += 1_000;
                    continue;
                }
                assertEquals(503, response.statusCode(), response.body());
                assertTrue(response.headers().firstValue("Retry-After").isPresent(), "503 says when to retry");
                if (publishFailures(edge) > 0) {
                    refused++; // the stream is full: the push-back this test is about
                } else {
                    // Not yet full: on a loaded machine the ring can pass its high-water mark while JetStream's acks
                    // are slow. Such a 503 takes nothing of the body; wait for the ring to drain, then send it again.
                    assertTrue(response.body().contains("saturated"), response.body());
                    Await.until(Duration.ofSeconds(60), () -> edge.collector.stats().ringOccupancy() < 8_192,
                        "the edge's ring drains into JetStream");
                    r--;
                }
            }
            assertEquals(1, refused, "the edge pushed back after " + acknowledged + " lines");
            assertTrue(publishFailures(edge) > 0, "publish failures counted");
            final CollectorHarness writer = CollectorHarness.start(db, concat(role("writer", stream), limits));
            final var account = edge.collector.shutdown();
            assertTrue(account.stats().isBalanced(), account.toString());
            assertEquals(0, account.stats().failed(), account.toString());
            assertEquals(acknowledged, account.stats().written(), account.toString());
            final long expected = acknowledged;
            Await.until(Duration.ofSeconds(60), () -> writer.count("measurement = 'full'") >= expected,
                "the writer drains the stream");
            assertEquals(expected, db.queryLong("SELECT count(DISTINCT value) FROM telemetry WHERE measurement = 'full'"));
            assertEquals(expected, db.queryLong("SELECT count(*) FROM telemetry WHERE measurement = 'full'"));
            writer.close();
        }
    }

    /** The edge's {@code spillway_nats_publish_failures_total}. */
    private static double publishFailures(CollectorHarness edge) throws Exception {
        return edge.get("/metrics").body().lines().filter(l -> l.startsWith("spillway_nats_publish_failures_total"))
            .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
    }

    private static String[] concat(String[] a, String[] b) {
        final String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /**
     * An edge given the database and the monitors duty checks monitors, and their results travel the edge's way:
     * points into its pipeline, batches to JetStream, written by the writer (which checks none itself here).
     */
    @Test
    void monitorsAtAnEdgeReportThroughJetStream() throws Exception {
        final String stream = "edgemon";
        try (TestDatabase db = TestDatabase.create("js_edgemon");
             TargetServer target = TargetServer.http().on("/ok", TargetServer.Behaviour.ok("ok"))) {
            final CollectorHarness writer = CollectorHarness.start(db, concat(role("writer", stream),
                new String[] {"--duties", "ingest"}));
            final CollectorHarness edge = CollectorHarness.start(db, concat(role("edge", stream),
                new String[] {"--duties", "ingest,monitors"}));
            assertEquals(201, edge.put("/api/v1/monitors/web", "{\"url\":\"" + target.url("/ok")
                + "\",\"interval\":\"1s\"}").statusCode());
            Await.until(Duration.ofSeconds(60), () -> db.queryLong("SELECT count(*) FROM telemetry WHERE "
                + "measurement = 'monitor' AND tags->>'monitor' = 'web'") >= 3, "the edge's check results are stored");
            assertTrue(edge.collector.stats().written() > 0, "written by the edge's pipeline: published to JetStream");
            // The writer counts a batch after its commit (NatsBatchConsumer: sink.write, then writtenEvents.add), so
            // the rows can be visible a moment before the count: wait for it rather than read it once.
            Await.until(Duration.ofSeconds(60), () -> writer.collector.jetStreamWriter().writtenEvents() >= 3,
                "and written by the writer");
            edge.close();
            writer.close();
        }
    }

    @Test
    void edgeRoleNeedsNatsAndTheSharedDatabaseForMoreThanIngest() {
        final PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        final ConfigException noNats = assertThrows(ConfigException.class,
            () -> CollectorOptions.parse(new String[] {"--role", "edge", "--jdbc-url", "jdbc:postgresql://db/x"},
                Map.of(), quiet));
        assertTrue(noNats.getMessage().contains("--nats"), noNats.getMessage());
        // Without a database an edge ingests only (NatsOnlyEdgeTest); the duties of the database need --jdbc-url.
        final ConfigException noDb = assertThrows(ConfigException.class,
            () -> CollectorOptions.parse(new String[] {"--role", "edge", "--nats", "nats://127.0.0.1:4222",
                "--duties", "all"}, Map.of(), quiet));
        assertTrue(noDb.getMessage().contains("--jdbc-url"), noDb.getMessage());
        final ConfigException badWindow = assertThrows(ConfigException.class,
            () -> CollectorOptions.parse(new String[] {"--role", "writer", "--nats", "nats://127.0.0.1:4222",
                "--nats-max-age", "10m", "--nats-dedup-window", "1h"}, Map.of(), quiet));
        assertTrue(badWindow.getMessage().contains("--nats-dedup-window"), badWindow.getMessage());
    }
}
