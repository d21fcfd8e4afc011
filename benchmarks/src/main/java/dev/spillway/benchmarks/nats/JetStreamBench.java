package dev.spillway.benchmarks.nats;

import dev.spillway.benchmarks.e2e.BenchDatabase;
import dev.spillway.benchmarks.e2e.RowSet;
import dev.spillway.telemetry.OverflowPolicy;
import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.nats.JetStreamTopology;
import dev.spillway.telemetry.nats.NatsBatchConsumer;
import dev.spillway.telemetry.nats.NatsSink;
import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.Sink;
import dev.spillway.telemetry.timescale.BinaryCopyEncoder;
import dev.spillway.telemetry.timescale.TimescaleSink;
import io.nats.client.Nats;
import io.nats.client.Options;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;

import java.io.File;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Issue #15: end-to-end throughput through NATS JetStream (edges publish batches, writers commit them) against the
 * same run's standalone pipeline and the database's parallel-COPY ceiling, plus JetStream's own publish and consume
 * rates. Everything runs on this one machine and in this one JVM (edges, writers, nats-server, PostgreSQL share the
 * cores), so the scale-out figures here are per-node figures, not a cluster's.
 *
 * <pre>
 * java -Xms2g -Xmx2g -cp benchmarks/target/benchmarks.jar dev.spillway.benchmarks.nats.JetStreamBench \
 *     [--rows N] [--quick] [--out DIR]
 * </pre>
 *
 * nats-server is started on a free port with JetStream and a temporary store (found like the tests find it:
 * {@code NATS_SERVER}, the PATH, {@code /usr/sbin}); the database is {@link BenchDatabase}'s (embedded PostgreSQL
 * with stock durability, or {@code SPILLWAY_BENCH_JDBC_URL}).
 */
public final class JetStreamBench {

    private static final int SOURCES = 100;
    private static final int BATCH = 4096;
    private static final String TABLE = "telemetry_events";

    private final int rows;
    private final BenchDatabase db;
    private final String natsUrl;
    private final RowSet rowSet;
    private final List<String> lines = new ArrayList<>();
    private int streams;
    private String loadAverage = "n/a";

    private JetStreamBench(int rows, BenchDatabase db, String natsUrl) {
        this.rows = rows;
        this.db = db;
        this.natsUrl = natsUrl;
        this.rowSet = new RowSet(rows, SOURCES);
    }

    public static void main(String[] args) throws Exception {
        int rows = 1_000_000;
        Path out = Path.of("benchmarks", "results");
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--rows" -> rows = Integer.parseInt(args[++i]);
                case "--quick" -> rows = 200_000;
                case "--out" -> out = Path.of(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        final Path store = Files.createTempDirectory("jetstream-bench");
        final int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        final Process nats = new ProcessBuilder(natsServer(), "-a", "127.0.0.1", "-p", Integer.toString(port), "-js",
            "-sd", store.toString()).redirectErrorStream(true).redirectOutput(store.resolve("nats.log").toFile())
            .start();
        try (BenchDatabase db = BenchDatabase.open()) {
            final JetStreamBench bench = new JetStreamBench(rows, db, "nats://127.0.0.1:" + port);
            bench.awaitNats();
            bench.run();
            Files.createDirectories(out);
            final String md = bench.report();
            Files.writeString(out.resolve("jetstream.md"), md);
            System.out.println(md);
        } finally {
            nats.destroy();
            nats.waitFor();
        }
    }

    private static String natsServer() {
        final String env = System.getenv("NATS_SERVER");
        if (env != null && !env.isBlank()) {
            return env;
        }
        for (String dir : (System.getenv("PATH") + File.pathSeparator + "/usr/sbin").split(File.pathSeparator)) {
            final Path p = Path.of(dir.isEmpty() ? "." : dir, "nats-server");
            if (Files.isExecutable(p)) {
                return p.toString();
            }
        }
        throw new IllegalStateException("nats-server not found (apt-get install nats-server)");
    }

    private void awaitNats() throws Exception {
        final long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (true) {
            try (io.nats.client.Connection c = connect()) {
                c.jetStreamManagement().getAccountStatistics();
                return;
            } catch (Exception e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                LockSupport.parkNanos(Duration.ofMillis(100).toNanos());
            }
        }
    }

    private io.nats.client.Connection connect() throws Exception {
        return Nats.connect(new Options.Builder().server(natsUrl).maxReconnects(-1).build());
    }

    private void run() throws Exception {
        final Path loadavg = Path.of("/proc/loadavg");
        if (Files.isReadable(loadavg)) {
            loadAverage = String.join(" ", java.util.Arrays.copyOf(Files.readString(loadavg).trim().split(" "), 3));
        }
        line("| what | events | seconds | events/s | batches/s | note |");
        line("| --- | ---: | ---: | ---: | ---: | --- |");
        standalone(); // warm-up, not recorded
        lines.subList(2, lines.size()).clear();
        parallelCopyCeiling(2);
        standalone();
        publishThenConsume(1);
        publishThenConsume(2);
        endToEnd(1, 1);
        endToEnd(2, 1);
        endToEnd(2, 2);
    }

    private String report() throws Exception {
        final StringBuilder b = new StringBuilder();
        b.append("# JetStream scale-out (issue #15)\n\n");
        b.append("Rows: ").append(rows).append(" (").append(SOURCES).append(" sources), batch ").append(BATCH)
            .append(", one JetStream message per batch; nats-server ").append(serverVersion())
            .append(", file storage, 1 replica; ").append(db.version()).append(". Edges: pipelines with ")
            .append("`NatsSink` (4 workers); writers: `NatsBatchConsumer` (2 threads, fetch 4) into a `TimescaleSink`")
            .append(" (pool 2). All in one JVM on ").append(Runtime.getRuntime().availableProcessors())
            .append(" cores, with nats-server and PostgreSQL on the same machine; load average before the run: ")
            .append(loadAverage).append(".\n\n");
        lines.forEach(l -> b.append(l).append('\n'));
        return b.toString();
    }

    private String serverVersion() throws Exception {
        try (io.nats.client.Connection c = connect()) {
            return c.getServerInfo().getVersion();
        }
    }

    private void line(String s) {
        lines.add(s);
        System.out.println(s);
    }

    private void record(String what, long events, double seconds, long messages, String note) {
        line(String.format("| %s | %,d | %.2f | %,.0f | %s | %s |", what, events, seconds, events / seconds,
            messages < 0 ? "" : String.format("%,.0f", messages / seconds), note));
    }

    private TimescaleSink freshTable() throws Exception {
        db.dropEventsTable(TABLE);
        final TimescaleSink sink = sink();
        db.checkpoint();
        return sink;
    }

    private TimescaleSink sink() throws Exception {
        // The rows layout: measured beside raw COPY of rows into the same table.
        return TimescaleSink.builder().jdbcUrl(db.jdbcUrl()).username(db.user()).password(db.password()).poolSize(2)
            .storageLayout(dev.spillway.telemetry.timescale.StorageLayout.ROWS).ledgerRetention(Duration.ofHours(2)).build();
    }

    private JetStreamTopology topology() throws Exception {
        final String name = "bench" + (++streams);
        final JetStreamTopology t = JetStreamTopology.builder().stream(name).subject(name + ".b")
            .consumer(name + "-w").maxBytes(8L << 30).maxAge(Duration.ofHours(1)).build();
        try (io.nats.client.Connection c = connect()) {
            t.ensureStream(c);
        }
        return t;
    }

    /** Two (or n) connections COPY their share of the pre-encoded rows at once, one transaction each. */
    private void parallelCopyCeiling(int connections) throws Exception {
        freshTable().close();
        final long start = System.nanoTime();
        final List<Thread> threads = new ArrayList<>();
        final AtomicLong copied = new AtomicLong();
        for (int i = 0; i < connections; i++) {
            final int from = (int) ((long) rows * i / connections);
            final int to = (int) ((long) rows * (i + 1) / connections);
            final Thread t = new Thread(() -> {
                try (java.sql.Connection conn = db.connect()) {
                    conn.setAutoCommit(false);
                    final CopyIn copy = conn.unwrap(PGConnection.class).getCopyAPI().copyIn("COPY " + TABLE
                        + " (time, source_id, kind, value, seq) FROM STDIN (FORMAT binary)");
                    new BinaryCopyEncoder().encode(rowSet, from, to, copy::writeToCopy);
                    copied.addAndGet(copy.endCopy());
                    conn.commit();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
        final double s = (System.nanoTime() - start) / 1e9;
        record("database ceiling: " + connections + " parallel COPY, one transaction each", copied.get(), s, -1,
            "encoding included; count " + db.count(TABLE));
    }

    private void standalone() throws Exception {
        final TimescaleSink sink = freshTable();
        final Pipeline p = Pipeline.builder().name("standalone").sink(sink).workers(2).batchSize(BATCH)
            .overflowPolicy(OverflowPolicy.BLOCK).build();
        final long start = System.nanoTime();
        produce(p, 0, rows);
        final PipelineStats stats = p.close(Duration.ofMinutes(10));
        final double s = (System.nanoTime() - start) / 1e9;
        record("standalone: pipeline -> TimescaleSink (2 workers)", stats.written(), s, stats.batchesWritten(),
            "count " + db.count(TABLE) + (stats.isBalanced() ? "" : " UNBALANCED"));
    }

    private static void produce(Pipeline p, int from, int to) {
        for (int i = from; i < to; i++) {
            p.ingest(RowSet.timestampOf(i), i % SOURCES, (short) 1, i, i / SOURCES);
        }
    }

    /** Edges publish everything with no writer running; then one writer drains it into a sink that only counts. */
    private void publishThenConsume(int edges) throws Exception {
        final JetStreamTopology t = topology();
        final long start = System.nanoTime();
        final List<Edge> running = startEdges(t, edges);
        long published = 0;
        long messages = 0;
        for (Edge e : running) {
            published += e.finish().written();
            messages += e.sink.acked();
        }
        final double s = (System.nanoTime() - start) / 1e9;
        record("JetStream publish alone: " + edges + " edge(s)", published, s, messages, "producers + codec + acks");
        final AtomicLong consumed = new AtomicLong();
        final Sink counting = new Sink() {
            @Override
            public int write(EventBatch batch) {
                consumed.addAndGet(batch.size());
                return batch.size();
            }
        };
        try (io.nats.client.Connection c = connect()) {
            final long start2 = System.nanoTime();
            final NatsBatchConsumer consumer = NatsBatchConsumer.builder().connection(c).topology(t).sink(counting)
                .threads(2).fetchBatch(16).build().start();
            while (consumed.get() < published) {
                LockSupport.parkNanos(1_000_000);
            }
            final double s2 = (System.nanoTime() - start2) / 1e9;
            consumer.close(Duration.ofSeconds(10));
            record("JetStream consume alone: 1 consumer, 2 threads, ack each", consumed.get(), s2, consumer.acked(),
                "decode + ack, no database");
        }
    }

    private void endToEnd(int edges, int writers) throws Exception {
        freshTable().close();
        final JetStreamTopology t = topology();
        final List<Writer> ws = new ArrayList<>();
        for (int i = 0; i < writers; i++) {
            ws.add(new Writer(t));
        }
        final long start = System.nanoTime();
        final List<Edge> es = startEdges(t, edges);
        long published = 0;
        for (Edge e : es) {
            published += e.finish().written();
        }
        while (ws.stream().mapToLong(w -> w.consumer.writtenEvents()).sum() < published) {
            LockSupport.parkNanos(1_000_000);
        }
        final double s = (System.nanoTime() - start) / 1e9;
        long messages = 0;
        for (Writer w : ws) {
            messages += w.consumer.acked();
            w.close();
        }
        final long counted = db.count(TABLE);
        record(edges + " edge(s) -> JetStream -> " + writers + " writer(s)", published, s, messages,
            "count " + counted + (counted == rows ? "" : " MISMATCH"));
    }

    private List<Edge> startEdges(JetStreamTopology t, int edges) throws Exception {
        final List<Edge> es = new ArrayList<>();
        for (int i = 0; i < edges; i++) {
            es.add(new Edge(t, "edge" + i, (int) ((long) rows * i / edges), (int) ((long) rows * (i + 1) / edges)));
        }
        es.forEach(e -> e.producer.start());
        return es;
    }

    private final class Edge {
        final io.nats.client.Connection nc;
        final NatsSink sink;
        final Pipeline pipeline;
        final Thread producer;

        Edge(JetStreamTopology t, String name, int from, int to) throws Exception {
            nc = connect();
            sink = NatsSink.builder().connection(nc).topology(t).build();
            pipeline = Pipeline.builder().name(name).sink(sink).workers(4).batchSize(BATCH)
                .overflowPolicy(OverflowPolicy.BLOCK).build();
            producer = new Thread(() -> produce(pipeline, from, to), name + "-producer");
        }

        PipelineStats finish() throws Exception {
            producer.join();
            final PipelineStats stats = pipeline.close(Duration.ofMinutes(10));
            nc.close();
            if (!stats.isBalanced() || stats.failed() > 0) {
                throw new IllegalStateException("edge account: " + stats);
            }
            return stats;
        }
    }

    private final class Writer {
        final io.nats.client.Connection nc;
        final TimescaleSink sink;
        final NatsBatchConsumer consumer;

        Writer(JetStreamTopology t) throws Exception {
            nc = connect();
            sink = sink();
            consumer = NatsBatchConsumer.builder().connection(nc).topology(t).sink(sink).threads(2).build().start();
        }

        void close() throws Exception {
            consumer.close(Duration.ofSeconds(10));
            sink.close();
            nc.close();
        }
    }
}
