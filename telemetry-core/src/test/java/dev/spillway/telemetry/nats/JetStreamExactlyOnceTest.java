package dev.spillway.telemetry.nats;

import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.Sink;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.DedicatedPostgres;
import dev.spillway.telemetry.testsupport.NatsServer;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.telemetry.timescale.TimescaleSink;
import io.nats.client.Connection;
import io.nats.client.JetStreamManagement;
import io.nats.client.api.AckPolicy;
import io.nats.client.api.ConsumerInfo;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Edges publishing batches to a real nats-server (JetStream, file storage) and writers committing them to a real
 * PostgreSQL: every event an edge counted as written (acknowledged by JetStream) is in the table exactly once,
 * across two edges and two writers, a writer crash between commit and ack, a nats-server restart and a database
 * outage (the minute, time-scaled by 20 with every delay that the minute exercises: see
 * {@link #databaseOutageIsBufferedInTheStreamAndWrittenOnceAfterwards()}).
 */
class JetStreamExactlyOnceTest {

    @TempDir
    static Path dir;
    private static NatsServer nats;

    @BeforeAll
    static void startNats() {
        nats = NatsServer.startOrSkip(dir);
    }

    @AfterEach
    void closeWritersLeftOpen() throws Exception {
        JetStreamCluster.Writer.closeAll();
    }

    @AfterAll
    static void stopNats() {
        if (nats != null) {
            nats.close();
        }
    }

    private static JetStreamTopology topology(String name) {
        return JetStreamTopology.builder().stream(name).subject(name + ".batches").consumer(name + "-writers")
            .ackWait(Duration.ofSeconds(2)).maxAge(Duration.ofMinutes(2)).build();
    }

    private static String unique(String prefix) {
        return prefix + "_" + UUID.randomUUID().toString().substring(0, 8);
    }

    private static UnaryOperator<Sink> plain() {
        return s -> s;
    }

    @Test
    void twoEdgesAndTwoWritersWriteEveryAcknowledgedEventExactlyOnce() throws Exception {
        final JetStreamTopology topology = topology(unique("two"));
        try (TestDatabase db = TestDatabase.create("js_two_two")) {
            final JetStreamCluster.Writer w1 = new JetStreamCluster.Writer(nats, topology, db.jdbcUrl(), db.user(),
                db.password(), "w1", plain());
            final JetStreamCluster.Writer w2 = new JetStreamCluster.Writer(nats, topology, db.jdbcUrl(), db.user(),
                db.password(), "w2", plain());
            final JetStreamCluster.Edge e1 = new JetStreamCluster.Edge(nats, topology, "edge1");
            final JetStreamCluster.Edge e2 = new JetStreamCluster.Edge(nats, topology, "edge2");
            w1.start();
            w2.start();
            e1.produce(0, 40_000);
            e2.produce(100, 40_000);
            e1.awaitProduced();
            e2.awaitProduced();
            final long expected = closeEdge(e1) + closeEdge(e2);
            assertEquals(80_000, expected);
            final Rows rows = Rows.of(db.jdbcUrl(), db.user(), db.password());
            Await.until(Duration.ofSeconds(60), () -> rows.count() >= expected, "writers catch up");
            rows.assertExactlyOnce(expected, new int[] {0, 1, 2, 3, 100, 101, 102, 103});
            Await.until(Duration.ofSeconds(10), () -> w1.consumer.acked() + w2.consumer.acked()
                == e1.sink.acked() - e1.sink.deduplicated() + e2.sink.acked() - e2.sink.deduplicated(),
                "every stored message acknowledged by a writer");
            assertTrue(w1.consumer.acked() > 0 && w2.consumer.acked() > 0, "both writers took a share: "
                + w1.consumer.acked() + " / " + w2.consumer.acked());
            final long writerEvents = w1.consumer.writtenEvents() - w1.timescale.eventsAlreadyCommitted()
                + w2.consumer.writtenEvents() - w2.timescale.eventsAlreadyCommitted();
            assertEquals(expected, writerEvents, "writers' account matches the edges'");
            assertEquals(0, w1.consumer.terminated() + w2.consumer.terminated());
            try (Connection nc = nats.connect("check")) {
                Await.untilNoThrow(Duration.ofSeconds(10), () -> nc.jetStreamManagement()
                    .getStreamInfo(topology.stream()).getStreamState().getMsgCount() == 0,
                    "work-queue stream empty once everything is acknowledged");
            }
            w1.close();
            w2.close();
        }
    }

    /** Closes an edge and returns its written count, asserting its account balanced with nothing lost. */
    private static long closeEdge(JetStreamCluster.Edge edge) throws Exception {
        edge.stopProducing();
        final PipelineStats stats = edge.pipeline.close(Duration.ofSeconds(90));
        edge.nc.close();
        assertTrue(stats.isBalanced(), stats.toString());
        assertEquals(0, stats.failed(), stats.toString());
        assertEquals(stats.ingested(), stats.written(), stats.toString());
        assertEquals(stats.written(), edge.sink.ackedEvents(), "edge written == events JetStream acknowledged");
        return stats.written();
    }

    @Test
    void writerCrashBetweenCommitAndAckIsRedeliveredAndNotWrittenTwice() throws Exception {
        final JetStreamTopology topology = topology(unique("crash"));
        try (TestDatabase db = TestDatabase.create("js_crash")) {
            // Writer A commits its first batch, then "dies": its connection goes before the ack is sent, exactly
            // what a kill -9 between commit and ack does to the server's view (in-process simulation).
            final AtomicReference<Connection> aConnection = new AtomicReference<>();
            final AtomicBoolean crashed = new AtomicBoolean();
            final AtomicReference<TimescaleSink> aSink = new AtomicReference<>();
            final JetStreamCluster.Writer a = new JetStreamCluster.Writer(nats, topology, db.jdbcUrl(), db.user(),
                db.password(), "crashing", s -> new Sink() {
                    @Override
                    public int write(EventBatch batch) throws Exception {
                        final int n = s.write(batch);
                        if (crashed.compareAndSet(false, true)) {
                            aConnection.get().close();
                            throw new IllegalStateException("simulated crash after commit, before ack");
                        }
                        return n;
                    }

                    @Override
                    public boolean isRetryable(Throwable failure) {
                        return s.isRetryable(failure);
                    }
                });
            aConnection.set(a.nc);
            aSink.set(a.timescale);
            final JetStreamCluster.Edge edge = new JetStreamCluster.Edge(nats, topology, "edge");
            a.start();
            edge.produce(0, 20_000);
            Await.until(Duration.ofSeconds(30), crashed::get, "writer A committed a batch and crashed");
            final JetStreamCluster.Writer b = new JetStreamCluster.Writer(nats, topology, db.jdbcUrl(), db.user(),
                db.password(), "survivor", plain()).start();
            edge.awaitProduced();
            final long expected = closeEdge(edge);
            assertEquals(20_000, expected);
            final Rows rows = Rows.of(db.jdbcUrl(), db.user(), db.password());
            Await.until(Duration.ofSeconds(60), () -> rows.count() >= expected
                && b.timescale.batchesAlreadyCommitted() >= 1, "survivor writes everything, the crashed batch "
                + "redelivered after AckWait and found in the ledger");
            rows.assertExactlyOnce(expected, new int[] {0, 1, 2, 3});
            assertTrue(b.consumer.redelivered() >= 1, "the batch A committed was redelivered to B");
            a.close();
            b.close();
        }
    }

    /**
     * A commit that takes longer than AckWait (here three times AckWait of 3 s) is kept alive with
     * {@code inProgress}: neither the batch being written nor the fetched ones waiting their turn behind it are
     * redelivered to the other writer meanwhile, and nothing is found twice in the ledger. (With AckWait 1 s, signals
     * every 333 ms, a stall of the writer's JVM or of nats-server over 667 ms on a machine at load 10+ let 3 messages
     * expire: what the test then saw was the machine, not the signal.)
     */
    @Test
    void aCommitLongerThanAckWaitIsKeptInProgressAndNotRedelivered() throws Exception {
        final String name = unique("slow");
        final JetStreamTopology topology = JetStreamTopology.builder().stream(name).subject(name + ".batches")
            .consumer(name + "-writers").ackWait(Duration.ofSeconds(3)).maxAge(Duration.ofMinutes(2)).build();
        try (TestDatabase db = TestDatabase.create("js_slow")) {
            final java.util.concurrent.CountDownLatch entered = new java.util.concurrent.CountDownLatch(1);
            final java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
            final JetStreamCluster.Writer slow = new JetStreamCluster.Writer(nats, topology, db.jdbcUrl(), db.user(),
                db.password(), "slow", s -> new Sink() {
                    @Override
                    public int write(EventBatch batch) throws Exception {
                        if (entered.getCount() > 0) {
                            entered.countDown();
                            if (!release.await(60, java.util.concurrent.TimeUnit.SECONDS)) {
                                throw new IllegalStateException("the test never released the slow commit");
                            }
                        }
                        return s.write(batch);
                    }

                    @Override
                    public boolean isRetryable(Throwable failure) {
                        return s.isRetryable(failure);
                    }
                }).start();
            final JetStreamCluster.Edge edge = new JetStreamCluster.Edge(nats, topology, "edge");
            edge.produce(0, 20_000);
            Await.until(Duration.ofSeconds(30), () -> entered.getCount() == 0, "the slow writer's first commit starts");
            final JetStreamCluster.Writer other = new JetStreamCluster.Writer(nats, topology, db.jdbcUrl(), db.user(),
                db.password(), "other", plain()).start();
            final long heldSince = System.nanoTime();
            final long hold = topology.ackWait().multipliedBy(3).toNanos();
            Await.until(Duration.ofSeconds(60), () -> System.nanoTime() - heldSince >= hold,
                "the commit is held for three AckWaits");
            assertEquals(0, other.consumer.redelivered() + slow.consumer.redelivered(), "nothing redelivered while "
                + "the slow commit was held for 3 x AckWait");
            release.countDown();
            edge.awaitProduced();
            final long expected = closeEdge(edge);
            final Rows rows = Rows.of(db.jdbcUrl(), db.user(), db.password());
            Await.until(Duration.ofSeconds(60), () -> rows.count() >= expected && slow.consumer.acked()
                + other.consumer.acked() == edge.sink.acked(), "both writers finish");
            rows.assertExactlyOnce(expected, new int[] {0, 1, 2, 3});
            assertEquals(0, other.consumer.redelivered() + slow.consumer.redelivered(), "no redelivery at all");
            assertEquals(0, slow.timescale.batchesAlreadyCommitted() + other.timescale.batchesAlreadyCommitted(),
                "nothing reached a writer twice");
            slow.close();
            other.close();
        }
    }

    @Test
    void aBatchRepublishedAfterTheDedupWindowIsCaughtByTheLedger() throws Exception {
        final String name = unique("late");
        final JetStreamTopology topology = JetStreamTopology.builder().stream(name).subject(name + ".b")
            .consumer(name + "-w").ackWait(Duration.ofSeconds(2)).maxAge(Duration.ofMinutes(1))
            .duplicateWindow(Duration.ofMillis(200)).build();
        try (TestDatabase db = TestDatabase.create("js_late");
             Connection nc = nats.connect("edge")) {
            topology.ensureStream(nc);
            final JetStreamCluster.Writer w = new JetStreamCluster.Writer(nats, topology, db.jdbcUrl(), db.user(),
                db.password(), "w", plain()).start();
            final NatsSink sink = NatsSink.builder().connection(nc).topology(topology).runId("edge-run-7").build();
            final ArrayBatch batch = new ArrayBatch(100);
            batch.reset(42);
            for (int i = 0; i < 100; i++) {
                batch.append(1_700_000_000_000_000_000L + i, 5, (short) 1, i, i);
            }
            assertEquals(100, sink.write(batch));
            assertEquals(100, sink.write(batch)); // within the window: JetStream drops it
            assertEquals(1, sink.deduplicated());
            final Rows rows = Rows.of(db.jdbcUrl(), db.user(), db.password());
            Await.until(Duration.ofSeconds(30), () -> w.consumer.acked() == 1, "first copy written");
            final long windowEnds = System.nanoTime() + Duration.ofMillis(400).toNanos();
            Await.until(Duration.ofSeconds(5), () -> System.nanoTime() - windowEnds > 0, "dedup window passes");
            assertEquals(100, sink.write(batch)); // after the window: JetStream stores it again
            assertEquals(1, sink.deduplicated(), "JetStream no longer recognised it");
            Await.until(Duration.ofSeconds(30), () -> w.consumer.acked() == 2, "second copy consumed");
            assertEquals(1, w.timescale.batchesAlreadyCommitted(), "the ledger recognised the edge's key");
            rows.assertExactlyOnce(100, new int[] {5});
            w.close();
        }
    }

    @Test
    void writerRefusesToStartWhenItsLedgerIsShorterThanTheRedeliveryHorizon() throws Exception {
        final String name = unique("horizon");
        final JetStreamTopology topology = JetStreamTopology.builder().stream(name).subject(name + ".b")
            .consumer(name + "-w").maxAge(Duration.ofMinutes(10)).build();
        try (TestDatabase db = TestDatabase.create("js_horizon");
             Connection nc = nats.connect("w");
             TimescaleSink sink = TimescaleSink.builder().jdbcUrl(db.jdbcUrl()).username(db.user())
                 .password(db.password()).ledgerRetention(Duration.ofMinutes(5)).build()) {
            topology.ensureStream(nc);
            final NatsBatchConsumer consumer = NatsBatchConsumer.builder().connection(nc).topology(topology)
                .sink(sink).build();
            final IllegalStateException e = assertThrows(IllegalStateException.class, consumer::start);
            assertTrue(e.getMessage().contains("must exceed the max_age"), e.getMessage());
        }
    }

    @Test
    void streamAndConsumerAreEnsuredIdempotentlyWithExplicitLimits() throws Exception {
        final String name = unique("ensure");
        final JetStreamTopology topology = JetStreamTopology.builder().stream(name).subject(name + ".b")
            .consumer(name + "-w").maxBytes(8L << 20).maxAckPending(64).build();
        try (Connection nc = nats.connect("setup")) {
            topology.ensureStream(nc);
            topology.ensureStream(nc);
            topology.ensureConsumer(nc);
            topology.ensureConsumer(nc);
            final JetStreamManagement jsm = nc.jetStreamManagement();
            var cfg = jsm.getStreamInfo(name).getConfiguration();
            assertEquals(8L << 20, cfg.getMaxBytes());
            assertEquals(io.nats.client.api.DiscardPolicy.New, cfg.getDiscardPolicy());
            assertEquals(io.nats.client.api.RetentionPolicy.WorkQueue, cfg.getRetentionPolicy());
            assertEquals(io.nats.client.api.StorageType.File, cfg.getStorageType());
            final ConsumerInfo ci = jsm.getConsumerInfo(name, name + "-w");
            assertEquals(AckPolicy.Explicit, ci.getConsumerConfiguration().getAckPolicy());
            assertEquals(64, ci.getConsumerConfiguration().getMaxAckPending());

            JetStreamTopology.builder().stream(name).subject(name + ".b").consumer(name + "-w").maxBytes(16L << 20)
                .build().ensureStream(nc);
            assertEquals(16L << 20, jsm.getStreamInfo(name).getConfiguration().getMaxBytes(), "limits updated");
            final IllegalStateException e = assertThrows(IllegalStateException.class, () -> JetStreamTopology
                .builder().stream(name).subject(name + ".other").build().ensureStream(nc));
            assertTrue(e.getMessage().contains("subjects"), e.getMessage());
        }
    }

    @Test
    void aFullStreamIsReportedAsRetryableUnavailable() throws Exception {
        final String name = unique("full");
        final JetStreamTopology topology = JetStreamTopology.builder().stream(name).subject(name + ".b")
            .consumer(name + "-w").maxBytes(1L << 20).build();
        try (Connection nc = nats.connect("edge")) {
            topology.ensureStream(nc);
            final NatsSink sink = NatsSink.builder().connection(nc).topology(topology).build();
            final ArrayBatch batch = new ArrayBatch(4096);
            final java.util.Random r = new java.util.Random(3);
            Exception failure = null;
            for (int id = 0; id < 1000 && failure == null; id++) {
                batch.reset(id);
                for (int i = 0; i < 4096; i++) {
                    batch.append(r.nextLong(), r.nextInt(), (short) 1, r.nextDouble(), r.nextLong());
                }
                try {
                    sink.write(batch);
                } catch (Exception e) {
                    failure = e;
                }
            }
            assertTrue(failure instanceof JetStreamUnavailableException, "full stream -> " + failure);
            assertTrue(sink.isRetryable(failure), "retryable: the pipeline retries, spools or answers 503");
            assertTrue(sink.acked() > 0 && sink.publishFailures() == 1, "acked " + sink.acked());
        }
    }

    @Test
    void natsServerRestartUnderLoadLosesAndDuplicatesNothing() throws Exception {
        final JetStreamTopology topology = topology(unique("restart"));
        try (TestDatabase db = TestDatabase.create("js_restart")) {
            final JetStreamCluster.Writer w = new JetStreamCluster.Writer(nats, topology, db.jdbcUrl(), db.user(),
                db.password(), "w", plain()).start();
            final JetStreamCluster.Edge edge = new JetStreamCluster.Edge(nats, topology, "edge");
            edge.produce(0, 20_000);
            edge.awaitProduced();
            Await.until(Duration.ofSeconds(30), () -> edge.pipeline.stats().written() == 20_000, "edge publishes");
            nats.stop();
            edge.produce(0, 20_000); // under load: these meet a stopped server
            Await.until(Duration.ofSeconds(30), () -> edge.pipeline.stats().retries() > 0,
                "publishes fail while nats-server is down");
            nats.start();
            edge.awaitProduced();
            final long expected = closeEdge(edge);
            assertEquals(40_000, expected);
            final Rows rows = Rows.of(db.jdbcUrl(), db.user(), db.password());
            Await.until(Duration.ofSeconds(60), () -> rows.count() >= expected, "writer catches up");
            rows.assertExactlyOnce(expected, new int[] {0, 1, 2, 3});
            w.close();
        }
    }

    /**
     * The "stop the database for a minute", time-scaled: every duration the minute exercises is divided by
     * {@code -Dspillway.test.outageScale} (default 20): the outage lasts 60 s / scale (3 s), the writer's NAK delay
     * starts at 250 ms / scale and doubles up to its cap of 15 s / scale (the production defaults
     * {@link NatsBatchConsumer#DEFAULT_NAK_DELAY} and {@link NatsBatchConsumer#DEFAULT_MAX_NAK_DELAY}), and AckWait
     * is 30 s / scale (the collector's default). So the same code paths run as in a real minute, the same number
     * of times: the database stays down until the outage time has passed <em>and</em> a batch has come back as
     * often as it would in a minute with production settings (9 deliveries, three of them after the capped delay),
     * MaxDeliver stays unbounded (nothing is terminated however often a batch comes back), the edge keeps
     * publishing into the stream throughout, and afterwards every event is in the table exactly once. Run with
     * {@code -Dspillway.test.outageScale=1} for the real minute (see docs/scaling-out.md).
     */
    @Test
    void databaseOutageIsBufferedInTheStreamAndWrittenOnceAfterwards() throws Exception {
        final long scale = Long.getLong("spillway.test.outageScale", 20);
        final Duration outage = Duration.ofMinutes(1).dividedBy(scale);
        final Duration nakDelay = NatsBatchConsumer.DEFAULT_NAK_DELAY.dividedBy(scale);
        final Duration maxNakDelay = NatsBatchConsumer.DEFAULT_MAX_NAK_DELAY.dividedBy(scale);
        final int deliveriesInAMinute = deliveriesWithin(Duration.ofMinutes(1),
            NatsBatchConsumer.DEFAULT_NAK_DELAY, NatsBatchConsumer.DEFAULT_MAX_NAK_DELAY);
        assertEquals(9, deliveriesInAMinute, "deliveries of one batch in a minute with the default NAK delays");
        final String name = unique("dbdown");
        final JetStreamTopology topology = JetStreamTopology.builder().stream(name).subject(name + ".batches")
            .consumer(name + "-writers").ackWait(Duration.ofSeconds(30).dividedBy(scale))
            .maxAge(Duration.ofMinutes(2).plus(outage)).build();
        final Duration patience = outage.plus(Duration.ofSeconds(60));
        try (DedicatedPostgres pg = TestDatabase.dedicated(dir.resolve("pg-" + UUID.randomUUID()),
            TestDatabase.freePort())) {
            pg.createDatabase("outage");
            final String url = pg.jdbcUrl("outage");
            final JetStreamCluster.Writer w = new JetStreamCluster.Writer(nats, topology, url, pg.user(), "", "w",
                plain(), nakDelay, maxNakDelay).start();
            final JetStreamCluster.Edge edge = new JetStreamCluster.Edge(nats, topology, "edge");
            edge.produce(0, 20_000);
            edge.awaitProduced();
            final Rows rows = Rows.of(url, pg.user(), "");
            Await.until(Duration.ofSeconds(30), () -> rows.count() == 20_000, "writer commits the first part");
            final long down = System.nanoTime();
            pg.stop();
            edge.produce(0, 40_000);
            edge.awaitProduced();
            Await.until(patience, () -> System.nanoTime() - down >= outage.toNanos()
                    && w.consumer.highestDeliveryCount() >= deliveriesInAMinute
                    && edge.pipeline.stats().written() == 60_000,
                "the database stays down for " + outage + " (a minute / " + scale + ") and until a batch came back "
                + deliveriesInAMinute + " times (highest so far: " + w.consumer.highestDeliveryCount() + "), while "
                + "the edge keeps publishing into the stream");
            assertEquals(0, w.consumer.terminated(), "MaxDeliver unbounded: nothing given up during the outage");
            assertTrue(w.consumer.nakked() >= deliveriesInAMinute, "nakked " + w.consumer.nakked());
            final Duration downFor = Duration.ofNanos(System.nanoTime() - down);
            final long nakkedInOutage = w.consumer.nakked();
            final long highest = w.consumer.highestDeliveryCount();
            pg.startServer();
            final long expected = closeEdge(edge);
            assertEquals(60_000, expected);
            Await.until(patience, () -> rows.count() >= expected, "writer catches up");
            rows.assertExactlyOnce(expected, new int[] {0, 1, 2, 3});
            assertEquals(0, w.consumer.terminated(), "nothing given up");
            assertEquals(expected, w.consumer.writtenEvents(), "the writer's account");
            System.out.println("database outage (scale 1/" + scale + "): down " + downFor.toMillis() + " ms, "
                + nakkedInOutage + " NAKs, highest delivery count " + highest + ", " + expected + " events, "
                + rows.query("SELECT count(DISTINCT (source_id, seq)) FROM telemetry_events") + " distinct (source, seq), "
                + w.consumer.terminated() + " terminated");
            w.close();
        }
    }

    /** How many times a batch is delivered within {@code span} when each failed delivery NAKs with the delay. */
    private static int deliveriesWithin(Duration span, Duration nakDelay, Duration maxNakDelay) {
        int deliveries = 1;
        Duration elapsed = Duration.ZERO;
        Duration delay = nakDelay;
        while (true) {
            elapsed = elapsed.plus(delay);
            if (elapsed.compareTo(span) > 0) {
                return deliveries;
            }
            deliveries++;
            delay = delay.multipliedBy(2).compareTo(maxNakDelay) > 0 ? maxNakDelay : delay.multipliedBy(2);
        }
    }

    /** Queries on the events table. */
    static final class Rows {
        private final String url;
        private final String user;
        private final String password;

        private Rows(String url, String user, String password) {
            this.url = url;
            this.user = user;
            this.password = password;
        }

        static Rows of(String url, String user, String password) {
            return new Rows(url, user, password);
        }

        long count() {
            try {
                return query("SELECT count(*) FROM telemetry_events");
            } catch (Exception e) {
                return -1;
            }
        }

        long query(String sql) throws Exception {
            try (var c = DriverManager.getConnection(url, user, password); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery(sql)) {
                rs.next();
                return rs.getLong(1);
            }
        }

        /** Exactly {@code expected} rows, no (source, seq) twice, and every source's sequences 0..n-1 complete. */
        void assertExactlyOnce(long expected, int[] sources) throws Exception {
            assertEquals(expected, query("SELECT count(*) FROM telemetry_events"), "rows");
            assertEquals(expected, query("SELECT count(DISTINCT (source_id, seq)) FROM telemetry_events"),
                "distinct (source, seq)");
            long sum = 0;
            for (int s : sources) {
                final long n = query("SELECT count(*) FROM telemetry_events WHERE source_id = " + s);
                final long next = query("SELECT coalesce(max(seq) + 1, 0) FROM telemetry_events WHERE source_id = " + s);
                assertEquals(n, next, "source " + s + " holds every sequence from 0 to its last, once");
                sum += n;
            }
            assertEquals(expected, sum, "no rows of other sources");
        }
    }
}
