package dev.spillway.telemetry.nats;

import dev.spillway.telemetry.sink.Sink;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.NatsServer;
import dev.spillway.telemetry.testsupport.TestDatabase;
import io.nats.client.Connection;
import io.nats.client.JetStreamManagement;
import io.nats.client.api.ConsumerInfo;
import io.nats.client.api.StreamState;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Comparator;
import java.util.UUID;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A writer recovers from what a nats-server restart can do to its stream, with a real nats-server and a real
 * PostgreSQL: acknowledged messages a crash leaves in the work-queue stream (the consumer's acknowledgement floor
 * reached the disk, the messages' removal did not; JetStream never delivers them again, so without the writer's
 * sweep the stream never empties until max_age), and a consumer or stream that is gone (the pulls then return
 * nothing, and the writer would idle silently).
 */
class JetStreamWriterRecoveryTest {

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

    private static JetStreamTopology topology(String prefix) {
        final String name = prefix + "_" + UUID.randomUUID().toString().substring(0, 8);
        return JetStreamTopology.builder().stream(name).subject(name + ".batches").consumer(name + "-writers")
            .ackWait(Duration.ofSeconds(2)).maxAge(Duration.ofMinutes(2)).build();
    }

    private static UnaryOperator<Sink> plain() {
        return s -> s;
    }

    /**
     * The state a crash leaves, made exactly: the stream's message files saved while it held k batches, the batches
     * written and acknowledged (stream empty), then the saved files put back with the server stopped. JetStream then
     * holds k messages at or below the consumer's floor with nothing to deliver; the sweep purges exactly those,
     * nothing is written twice, and the writer goes on consuming.
     */
    @Test
    void acknowledgedMessagesBackInTheStreamArePurgedNotWrittenAgain() throws Exception {
        final JetStreamTopology topology = topology("left");
        try (TestDatabase db = TestDatabase.create("js_leftovers");
             Connection check = nats.connect("check")) {
            final JetStreamManagement jsm = check.jetStreamManagement();
            topology.ensureStream(check);
            topology.ensureConsumer(check);
            final JetStreamCluster.Edge edge = new JetStreamCluster.Edge(nats, topology, "edge");
            edge.produce(0, 4_000);
            edge.awaitProduced();
            Await.until(Duration.ofSeconds(30), () -> edge.pipeline.stats().written() == 4_000, "edge publishes");
            final long published = jsm.getStreamInfo(topology.stream()).getStreamState().getMsgCount();
            assertTrue(published > 0, "batches in the stream: " + published);

            final Path msgs = nats.storeDir().resolve("jetstream").resolve("$G").resolve("streams")
                .resolve(topology.stream()).resolve("msgs");
            final Path saved = dir.resolve("saved-" + topology.stream());
            nats.stop();
            copyTree(msgs, saved);
            nats.start();

            // A sweep interval far beyond the test: the sweep runs at start (nothing to purge), then only when called.
            final JetStreamCluster.Writer w = new JetStreamCluster.Writer(nats, topology, db.jdbcUrl(), db.user(),
                db.password(), "w", plain(), Duration.ofMillis(50), Duration.ofMillis(500), Duration.ofMinutes(10))
                .start();
            final JetStreamExactlyOnceTest.Rows rows = JetStreamExactlyOnceTest.Rows.of(db.jdbcUrl(), db.user(),
                db.password());
            Await.untilNoThrow(Duration.ofSeconds(60), () -> rows.count() == 4_000
                && jsm.getStreamInfo(topology.stream()).getStreamState().getMsgCount() == 0, "written, stream empty");
            Await.until(Duration.ofSeconds(10), () -> w.consumer.acked() == published, "every batch acknowledged");

            nats.stop();
            deleteTree(msgs);
            copyTree(saved, msgs);
            nats.start();

            final StreamState back = jsm.getStreamInfo(topology.stream()).getStreamState();
            final ConsumerInfo consumer = jsm.getConsumerInfo(topology.stream(), topology.consumer());
            assertEquals(published, back.getMsgCount(), "the acknowledged batches are back in the stream");
            assertTrue(back.getLastSequence() <= consumer.getAckFloor().getStreamSequence(),
                "all of them at or below the acknowledgement floor: " + back + " / " + consumer.getAckFloor());
            assertEquals(0, consumer.getNumPending(), "JetStream has nothing left to deliver");
            assertEquals(0, consumer.getNumAckPending(), "and nothing waiting for an ack");

            Await.until(Duration.ofSeconds(30), () -> w.consumer.sweepAcknowledged() == published,
                "the sweep purges the " + published + " acknowledged batches once NATS answers again");
            assertEquals(published, w.consumer.leftoversPurged());
            assertEquals(0, jsm.getStreamInfo(topology.stream()).getStreamState().getMsgCount(), "stream empty");
            assertEquals(0, w.consumer.sweepAcknowledged(), "nothing left to purge");
            assertEquals(published, w.consumer.acked(), "none delivered again");

            edge.produce(0, 2_000); // the writer goes on consuming after the purge
            edge.awaitProduced();
            Await.untilNoThrow(Duration.ofSeconds(60), () -> rows.count() >= 6_000
                && jsm.getStreamInfo(topology.stream()).getStreamState().getMsgCount() == 0, "new batches written");
            edge.close();
            rows.assertExactlyOnce(6_000, new int[] {0, 1, 2, 3});
            w.close();
        }
    }

    /**
     * The crash itself: nats-server killed with SIGKILL three times while the writer acknowledges batches (and the
     * edge publishes). What the killed server had not yet recorded as removed comes back; with the sweep (every
     * 500 ms here) the stream empties after each restart and every event is stored exactly once.
     */
    @Test
    void killNineOfNatsServerWhileAcknowledgingLeavesTheStreamEmpty() throws Exception {
        final JetStreamTopology topology = topology("kill");
        try (TestDatabase db = TestDatabase.create("js_leftovers_kill");
             Connection check = nats.connect("check")) {
            final JetStreamManagement jsm = check.jetStreamManagement();
            final JetStreamCluster.Writer w = new JetStreamCluster.Writer(nats, topology, db.jdbcUrl(), db.user(),
                db.password(), "w", plain(), Duration.ofMillis(50), Duration.ofMillis(500), Duration.ofMillis(500))
                .start();
            final JetStreamCluster.Edge edge = new JetStreamCluster.Edge(nats, topology, "edge");
            final JetStreamExactlyOnceTest.Rows rows = JetStreamExactlyOnceTest.Rows.of(db.jdbcUrl(), db.user(),
                db.password());
            long expected = 0;
            for (int round = 0; round < 3; round++) {
                final long before = w.consumer.acked();
                edge.produce(0, 60_000); // 60 batches of 1,000
                expected += 60_000;
                // Killed in the middle of a run of acknowledgements: the consumer's floor reaches the disk at once,
                // the removals of the acknowledged messages later.
                Await.until(Duration.ofSeconds(60), () -> w.consumer.acked() >= before + 20,
                    "the writer acknowledges 20 batches");
                nats.kill();
                nats.start();
                edge.awaitProduced();
                final long all = expected;
                Await.until(Duration.ofSeconds(60), () -> edge.pipeline.stats().written() == all, "edge publishes");
                Await.untilNoThrow(Duration.ofSeconds(90), () -> rows.count() >= all
                    && jsm.getStreamInfo(topology.stream()).getStreamState().getMsgCount() == 0,
                    "round " + round + ": every event written and the stream empty after kill -9 of nats-server ("
                    + w.consumer.leftoversPurged() + " acknowledged batches purged so far)");
            }
            edge.close();
            rows.assertExactlyOnce(expected, new int[] {0, 1, 2, 3});
            System.out.println("kill -9 of nats-server 3 times while acknowledging: " + expected + " events once, "
                + w.consumer.acked() + " batches acknowledged, " + w.consumer.redelivered() + " redelivered, "
                + w.consumer.leftoversPurged() + " acknowledged batches found back in the stream and purged");
            w.close();
        }
    }

    /**
     * The consumer deleted, then nats-server restarted without the stream's files (as with a store that was not
     * kept): the pulls find nobody to answer them, and the writer's sweep creates the consumer, then the stream and
     * consumer, again; the writer goes on consuming and every event is stored once.
     */
    @Test
    void aConsumerOrStreamThatIsGoneIsCreatedAgainAndConsumingGoesOn() throws Exception {
        final JetStreamTopology topology = topology("gone");
        try (TestDatabase db = TestDatabase.create("js_gone");
             Connection check = nats.connect("check")) {
            final JetStreamManagement jsm = check.jetStreamManagement();
            final JetStreamCluster.Writer w = new JetStreamCluster.Writer(nats, topology, db.jdbcUrl(), db.user(),
                db.password(), "w", plain(), Duration.ofMillis(50), Duration.ofMillis(500), Duration.ofMillis(200))
                .start();
            final JetStreamCluster.Edge edge = new JetStreamCluster.Edge(nats, topology, "edge");
            final JetStreamExactlyOnceTest.Rows rows = JetStreamExactlyOnceTest.Rows.of(db.jdbcUrl(), db.user(),
                db.password());
            edge.produce(0, 2_000);
            edge.awaitProduced();
            Await.until(Duration.ofSeconds(60), () -> rows.count() >= 2_000, "first part written");

            try {
                jsm.deleteConsumer(topology.stream(), topology.consumer());
            } catch (io.nats.client.JetStreamApiException e) {
                // nats-server drops the consumer first, then removes its directory; when the consumer's state file is
                // written meanwhile (the writer is acking) the removal fails with "directory not empty" (10051, seen at
                // load 10+; nats-server pull request 7886 added the missing retry, after Debian's version) although the
                // consumer is gone: the writer must notice it either way (asserted next).
                if (e.getApiErrorCode() != 10051) {
                    throw e;
                }
            }
            Await.until(Duration.ofSeconds(30), () -> w.consumer.recreated() == 1, "the consumer created again");
            edge.produce(0, 2_000);
            edge.awaitProduced();
            Await.untilNoThrow(Duration.ofSeconds(60), () -> rows.count() >= 4_000
                && jsm.getStreamInfo(topology.stream()).getStreamState().getMsgCount() == 0,
                "written through the new consumer");

            // A nats-server restarted without the stream's files (a store that was not kept).
            nats.stop();
            deleteTree(nats.storeDir().resolve("jetstream").resolve("$G").resolve("streams")
                .resolve(topology.stream()));
            nats.start();
            Await.until(Duration.ofSeconds(30), () -> w.consumer.recreated() == 2, "the stream created again");
            edge.produce(0, 2_000);
            edge.awaitProduced();
            Await.untilNoThrow(Duration.ofSeconds(60), () -> rows.count() >= 6_000
                && jsm.getStreamInfo(topology.stream()).getStreamState().getMsgCount() == 0,
                "written through the new stream");
            edge.close();
            rows.assertExactlyOnce(6_000, new int[] {0, 1, 2, 3});
            assertEquals(2, w.consumer.recreated(), "created again once per loss");
            w.close();
        }
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> files = Files.walk(from)) {
            files.forEach(p -> {
                try {
                    final Path target = to.resolve(from.relativize(p).toString());
                    if (Files.isDirectory(p)) {
                        Files.createDirectories(target);
                    } else {
                        Files.copy(p, target, StandardCopyOption.REPLACE_EXISTING);
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
    }

    private static void deleteTree(Path root) throws IOException {
        try (Stream<Path> files = Files.walk(root)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.delete(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
    }
}
