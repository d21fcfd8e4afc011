package dev.spillway.collector;

import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.NatsServer;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A writer collector, a real process from the shaded jar, is killed with SIGKILL exactly between the commit of a
 * batch and its JetStream ack. The moment is hit deterministically with the test-only switch
 * {@code -Dspillway.test.nats.stallAfterCommit=3} of {@code NatsBatchConsumer}: the writer's third committed batch
 * is not acknowledged, its thread waits, and the test sends {@code kill -9} while the process is in exactly that
 * state (checked: the batch's rows are in the table, the writer's own meters say it wrote them and acknowledged one
 * batch fewer). A new writer then receives the batch again after AckWait, finds its ledger row, acknowledges it
 * without writing it a second time, and every line the edge acknowledged is in the table once. The account is
 * checked on both processes: the edge's {@code written} equals the lines, and the killed writer's written events
 * plus the new writer's, minus the new writer's deduplicated events, equal them too.
 */
class JetStreamCommitAckKillIT {

    private static final int REQUESTS = 8;
    private static final int LINES_PER_REQUEST = 500;
    private static final int LINES = REQUESTS * LINES_PER_REQUEST;
    private static final Pattern HOOK = Pattern.compile(
        "TEST HOOK spillway.test.nats.stallAfterCommit: batch (\\S+) \\((\\d+) events");
    private static final Pattern HTTP_PORT = Pattern.compile("HTTP listening on http://127\\.0\\.0\\.1:(\\d+)");

    @TempDir
    Path dir;

    @Test
    void writerKilledBetweenCommitAndAckIsRedeliveredAndFoundInTheLedger() throws Exception {
        final String jar = System.getProperty("spillway.collector.jar", "target/spillway-collector.jar");
        assertTrue(Files.exists(Path.of(jar)), "shaded jar missing: " + jar);
        try (NatsServer nats = NatsServer.startOrSkip(dir);
             TestDatabase db = TestDatabase.create("js_cut")) {
            final String[] natsArgs = {"--nats", nats.url(), "--nats-stream", "cut", "--nats-subject", "cut.b",
                "--nats-consumer", "cut-writers", "--nats-ack-wait", "2s"};
            // Batches of at most 500 lines: the 4,000 lines make at least 8 messages.
            final CollectorHarness edge = CollectorHarness.start(db, concat(new String[] {"--role", "edge",
                "--batch-size", "500"}, natsArgs));
            final Path log = dir.resolve("writer.log");
            final List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dspillway.test.nats.stallAfterCommit=3", "-jar", jar, "--role", "writer",
                "--jdbc-url", db.jdbcUrl(), "--db-user", db.user(), "--db-password", db.password(), "--http",
                "127.0.0.1:0", "--writer-threads", "1", "--spool-dir", dir.resolve("writer-spool").toString()));
            cmd.addAll(List.of(natsArgs));
            final Process writer = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
                .start();
            final String stalledKey;
            final long stalledEvents;
            final long killedWritten;
            try {
                Await.untilNoThrow(Duration.ofSeconds(60), () -> Files.readString(log)
                    .contains("JetStream writer 'writer' started"), "writer process started; log in " + log);
                for (int r = 0; r < REQUESTS; r++) {
                    final StringBuilder body = new StringBuilder();
                    for (int id = r * LINES_PER_REQUEST; id < (r + 1) * LINES_PER_REQUEST; id++) {
                        body.append("cut,line=L").append(id % 4).append(" id=").append(id).append("i ")
                            .append(1_700_000_000_000_000_000L + id).append('\n');
                    }
                    assertEquals(204, edge.post("/api/v2/write?bucket=b", body.toString()).statusCode());
                }
                final Matcher hook = HOOK.matcher("");
                Await.untilNoThrow(Duration.ofSeconds(60), () -> hook.reset(Files.readString(log)).find(),
                    "the writer committed its third batch and stopped before the ack; log in " + log);
                stalledKey = hook.group(1);
                stalledEvents = Long.parseLong(hook.group(2));
                final Matcher port = HTTP_PORT.matcher("");
                Await.untilNoThrow(Duration.ofSeconds(60), () -> port.reset(Files.readString(log)).find(),
                    "the writer logs its HTTP port; log in " + log);
                final String metrics = scrape(Integer.parseInt(port.group(1)));
                killedWritten = meter(metrics, "spillway_nats_written_events_total");
                // The state being killed: three batches committed (the stalled one included), two acknowledged.
                assertEquals(2, meter(metrics, "spillway_nats_writer_acked_total"), metrics);
                assertEquals(3, ledgerRows(db, stalledKey), "three of the edge's batches committed");
                assertEquals(killedWritten, edge.count("measurement = 'cut'"), "the stalled batch's rows are committed");
                assertTrue(stalledEvents > 0 && killedWritten > stalledEvents, "written " + killedWritten);
                writer.destroyForcibly(); // SIGKILL: the ack of the committed batch is never sent
                assertTrue(writer.waitFor(30, TimeUnit.SECONDS), "writer process gone");
                assertEquals(137, writer.exitValue(), "killed by SIGKILL");
            } finally {
                writer.destroyForcibly();
            }
            final var edgeAccount = edge.collector.shutdown();
            assertTrue(edgeAccount.stats().isBalanced(), edgeAccount.toString());
            assertEquals(LINES, edgeAccount.stats().written(), edgeAccount.toString());

            final CollectorHarness survivor = CollectorHarness.start(db, concat(new String[] {"--role", "writer"},
                natsArgs));
            try {
                final var consumer = survivor.collector.jetStreamWriter();
                Await.untilNoThrow(Duration.ofSeconds(60), () -> {
                    final String m = survivor.get("/metrics").body();
                    return killedWritten + meter(m, "spillway_nats_written_events_total")
                        - meter(m, "spillway_nats_deduplicated_events_total") >= LINES
                        && meter(m, "spillway_nats_deduplicated_events_total") >= stalledEvents;
                }, "the new writer takes over every unacknowledged batch, the stalled one included");
                assertEquals(LINES, db.queryLong("SELECT count(*) FROM telemetry_events e JOIN telemetry_sources s "
                    + "ON s.id = e.source_id WHERE s.measurement = 'cut'"), "rows");
                assertEquals(LINES, db.queryLong("SELECT count(DISTINCT (e.source_id, e.seq)) FROM telemetry_events e "
                    + "JOIN telemetry_sources s ON s.id = e.source_id WHERE s.measurement = 'cut'"),
                    "no (source_id, seq) twice");
                assertEquals(LINES, db.queryLong("SELECT count(DISTINCT value) FROM telemetry WHERE measurement = 'cut'"),
                    "every line once");
                final String m = survivor.get("/metrics").body();
                assertEquals(1, meter(m, "spillway_nats_deduplicated_total"), "only the stalled batch " + stalledKey
                    + " was found in the ledger");
                assertEquals(stalledEvents, meter(m, "spillway_nats_deduplicated_events_total"));
                assertTrue(consumer.redelivered() >= 1, "redelivered: " + consumer.redelivered());
                assertEquals(LINES, killedWritten + consumer.writtenEvents() - stalledEvents,
                    "edge acked = killed writer's written + new writer's written - deduplicated");
                assertEquals(0, consumer.terminated() + consumer.failedEvents() + consumer.rejectedEvents());
            } finally {
                survivor.close();
            }
        }
    }

    /** Ledger rows of the run that published {@code key} ({@code <run id>:<batch id>}): the edge's. */
    private static long ledgerRows(TestDatabase db, String key) {
        final String runId = key.substring(0, key.lastIndexOf(':'));
        // The run id is a UUID (checked), so it can be quoted into the statement safely.
        assertTrue(runId.matches("[0-9a-f-]{36}"), runId);
        return db.queryLong("SELECT count(*) FROM telemetry_events_batches WHERE run_id = '" + runId + "'");
    }

    private static String scrape(int port) throws Exception {
        final HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
            URI.create("http://127.0.0.1:" + port + "/metrics")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return r.body();
    }

    /** The sum of every series of a Prometheus meter (all tag sets). */
    static long meter(String exposition, String name) {
        double sum = 0;
        for (String line : exposition.split("\n")) {
            if (line.startsWith(name + "{") || line.startsWith(name + " ")) {
                sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return (long) sum;
    }

    private static String[] concat(String[] a, String[] b) {
        final String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
