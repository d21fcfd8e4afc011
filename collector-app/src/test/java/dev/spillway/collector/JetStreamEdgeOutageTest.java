package dev.spillway.collector;

import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.NatsServer;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An edge collector whose nats-server goes away (a real nats-server, stopped and started again on the same port
 * and store directory): its {@code /health} and {@code /ready} answer 503 saying NATS is unreachable, the lines it
 * keeps accepting (204) are spooled to its local disk once the publish retries are exhausted, and when NATS
 * returns the spool is replayed into JetStream under the batches' original message ids, the health check passes
 * again, and a writer commits every acknowledged line exactly once. The edge's account shows the path: batches
 * spooled, then replayed, every event written (acknowledged by JetStream), nothing failed.
 */
class JetStreamEdgeOutageTest {

    private static final int LINES_PER_REQUEST = 500;

    @TempDir
    Path dir;

    private static String body(long first) {
        final StringBuilder body = new StringBuilder();
        for (long id = first; id < first + LINES_PER_REQUEST; id++) {
            body.append("edgeout,line=L").append(id % 4).append(" id=").append(id).append("i ")
                .append(1_700_000_000_000_000_000L + id).append('\n');
        }
        return body.toString();
    }

    @Test
    void edgeReportsNatsUnreachableSpoolsAndDeliversEverythingOnceWhenNatsReturns() throws Exception {
        try (NatsServer nats = NatsServer.startOrSkip(dir);
             TestDatabase db = TestDatabase.create("js_edge_out")) {
            final String[] natsArgs = {"--nats", nats.url(), "--nats-stream", "edgeout", "--nats-subject",
                "edgeout.b", "--nats-consumer", "edgeout-writers", "--nats-ack-wait", "2s"};
            // A short publish retry budget, so batches reach the spool within a second or two of the outage.
            final CollectorHarness edge = CollectorHarness.start(db, concat(new String[] {"--role", "edge",
                "--batch-size", "500", "--retry-attempts", "3", "--retry-max-elapsed", "1s",
                "--spool-fsync", "50ms"}, natsArgs));
            final CollectorHarness writer = CollectorHarness.start(db, concat(new String[] {"--role", "writer"},
                natsArgs));
            try {
                Await.untilNoThrow(Duration.ofSeconds(30), () -> edge.get("/health").statusCode() == 200,
                    "edge healthy with NATS up");
                assertEquals(200, edge.get("/ready").statusCode());
                long next = 0;
                long acknowledged = 0;
                for (int r = 0; r < 4; r++, next += LINES_PER_REQUEST) {
                    assertEquals(204, edge.post("/api/v2/write?bucket=b", body(next)).statusCode());
                    acknowledged += LINES_PER_REQUEST;
                }
                final long before = acknowledged;
                Await.until(Duration.ofSeconds(30), () -> edge.collector.stats().written() == before,
                    "published before the outage");

                nats.stop();
                Await.untilNoThrow(Duration.ofSeconds(30), () -> edge.get("/health").statusCode() == 503,
                    "edge reports NATS unreachable");
                final HttpResponse<String> health = edge.get("/health");
                assertTrue(health.body().contains("NATS unreachable") && health.body().contains(nats.url()),
                    health.body());
                assertEquals(503, edge.get("/ready").statusCode());
                long acceptedInOutage = 0;
                for (int r = 0; r < 10; r++, next += LINES_PER_REQUEST) {
                    final HttpResponse<String> response = edge.post("/api/v2/write?bucket=b", body(next));
                    if (response.statusCode() == 204) {
                        acknowledged += LINES_PER_REQUEST;
                        acceptedInOutage += LINES_PER_REQUEST;
                    } else {
                        assertEquals(503, response.statusCode(), response.body());
                    }
                }
                assertTrue(acceptedInOutage > 0, "the edge keeps accepting while NATS is down");
                final long expectedSpooled = acceptedInOutage;
                await(() -> edge.collector.stats().spooled() == expectedSpooled, () -> "every line accepted during the outage is in the spool: " + edge.collector.stats());
                final PipelineStats during = edge.collector.stats();
                assertTrue(during.isBalanced(), "balanced mid-outage, spooled counted: " + during);
                assertEquals(before, during.written(), during.toString());
                assertEquals(0, during.failed(), during.toString());
                assertTrue(during.batchesSpooled() > 0, during.toString());

                nats.start(); // same port, same store directory
                Await.untilNoThrow(Duration.ofSeconds(30), () -> edge.get("/health").statusCode() == 200,
                    "edge healthy again once NATS is back");
                final long expected = acknowledged;
                await(() -> edge.collector.stats().spooled() == 0 && edge.collector.stats().written() == expected,
                    () -> "the spool is replayed into JetStream: " + edge.collector.stats());
                Await.until(Duration.ofSeconds(60), () -> edge.count("measurement = 'edgeout'") >= expected,
                    "the writer commits every acknowledged line");
                final var account = edge.collector.shutdown();
                final PipelineStats after = account.stats();
                assertTrue(after.isBalanced(), account.toString());
                assertEquals(expected, after.written(), account.toString());
                assertEquals(0, after.failed() + after.spooled(), account.toString());
                assertEquals(during.batchesSpooled(), after.batchesReplayed(), "every spooled batch replayed: "
                    + account);
                assertEquals(expected, db.queryLong("SELECT count(*) FROM telemetry WHERE measurement = 'edgeout'"));
                assertEquals(expected, db.queryLong("SELECT count(DISTINCT value) FROM telemetry WHERE "
                    + "measurement = 'edgeout'"), "every line once");
                final var consumer = writer.collector.jetStreamWriter();
                await(() -> consumer.writtenEvents() - dedupEvents(writer) == expected, () -> "the writer's account: written " + consumer.writtenEvents() + ", deduplicated "
                        + dedupEvents(writer) + ", expected " + expected);
                assertEquals(0, consumer.terminated() + consumer.failedEvents());
            } finally {
                writer.close();
                edge.close();
            }
        }
    }

    /** {@link Await#until} with a failure message computed when it fails (the state at the deadline). */
    private static void await(java.util.function.BooleanSupplier condition, java.util.function.Supplier<String> why) {
        try {
            Await.until(Duration.ofSeconds(60), condition, "condition");
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + ": " + why.get(), e);
        }
    }

    private static long dedupEvents(CollectorHarness writer) {
        try {
            return JetStreamCommitAckKillIT.meter(writer.get("/metrics").body(),
                "spillway_nats_deduplicated_events_total");
        } catch (Exception e) {
            throw new AssertionError("metrics of the writer", e);
        }
    }

    private static String[] concat(String[] a, String[] b) {
        final String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
