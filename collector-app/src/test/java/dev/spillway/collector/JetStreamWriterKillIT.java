package dev.spillway.collector;

import dev.spillway.telemetry.nats.NatsBatchConsumer;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.NatsServer;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A writer collector, a real process from the shaded jar, is killed with SIGKILL ({@code kill -9}) in the middle
 * of a commit: its COPY waits on a table lock the test holds. The batch it held is redelivered after AckWait to a
 * second writer, and the rolled-back attempt leaves neither rows nor a ledger row behind: every line the edge
 * acknowledged is in the table exactly once. (A kill between commit and ack, as a real process too:
 * {@link JetStreamCommitAckKillIT}.)
 */
class JetStreamWriterKillIT {

    private static final int LINES = 2_000;

    @TempDir
    Path dir;

    @Test
    void writerKilledMidCommitLosesAndDuplicatesNothing() throws Exception {
        final String jar = System.getProperty("spillway.collector.jar", "target/spillway-collector.jar");
        assertTrue(Files.exists(Path.of(jar)), "shaded jar missing: " + jar);
        try (NatsServer nats = NatsServer.startOrSkip(dir);
             TestDatabase db = TestDatabase.create("js_kill")) {
            final String[] natsArgs = {"--nats", nats.url(), "--nats-stream", "kill", "--nats-subject", "kill.b",
                "--nats-consumer", "kill-writers", "--nats-ack-wait", "2s"};
            final CollectorHarness edge = CollectorHarness.start(db, concat(new String[] {"--role", "edge"}, natsArgs));
            final Path log = dir.resolve("writer.log");
            final List<String> cmd = new java.util.ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar", jar, "--role", "writer",
                "--jdbc-url", db.jdbcUrl(), "--db-user", db.user(), "--db-password", db.password(), "--http",
                "127.0.0.1:0", "--writer-threads", "1", "--spool-dir", dir.resolve("writer-spool").toString()));
            cmd.addAll(List.of(natsArgs));
            final Process writer = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
                .start();
            try (Connection lock = db.connect()) {
                Await.untilNoThrow(Duration.ofSeconds(60), () -> Files.readString(log)
                    .contains("JetStream writer 'writer' started"), "writer process started; log in " + log);
                lock.setAutoCommit(false);
                try (Statement st = lock.createStatement()) {
                    st.execute("LOCK TABLE telemetry_events IN ACCESS EXCLUSIVE MODE");
                }
                final StringBuilder body = new StringBuilder();
                for (int id = 0; id < LINES; id++) {
                    body.append("kill,line=L").append(id % 4).append(" id=").append(id).append("i ")
                        .append(1_700_000_000_000_000_000L + id).append('\n');
                }
                assertEquals(204, edge.post("/api/v2/write?bucket=b", body.toString()).statusCode());
                Await.until(Duration.ofSeconds(30), () -> db.queryLong("SELECT count(*) FROM pg_stat_activity WHERE "
                    + "wait_event_type = 'Lock' AND query LIKE 'COPY%'") >= 1, "the writer's COPY waits on the lock");
                writer.destroyForcibly(); // SIGKILL
                assertTrue(writer.waitFor(30, TimeUnit.SECONDS), "writer process gone");
                lock.rollback(); // releases the lock; the dead writer's transaction rolls back
            } finally {
                writer.destroyForcibly();
            }
            final var edgeAccount = edge.collector.shutdown();
            assertEquals(LINES, edgeAccount.stats().written(), edgeAccount.toString());
            final CollectorHarness survivor = CollectorHarness.start(db, concat(new String[] {"--role", "writer"},
                natsArgs));
            final NatsBatchConsumer consumer = survivor.collector.jetStreamWriter();
            Await.until(Duration.ofSeconds(60), () -> survivor.count("measurement = 'kill'") >= LINES,
                "the batch held by the killed writer is redelivered to the survivor");
            assertEquals(LINES, db.queryLong("SELECT count(*) FROM telemetry WHERE measurement = 'kill'"));
            assertEquals(LINES, db.queryLong("SELECT count(DISTINCT value) FROM telemetry WHERE measurement = 'kill'"));
            assertTrue(consumer.redelivered() >= 1, "redelivered: " + consumer.redelivered());
            survivor.close();
        }
    }

    private static String[] concat(String[] a, String[] b) {
        final String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
