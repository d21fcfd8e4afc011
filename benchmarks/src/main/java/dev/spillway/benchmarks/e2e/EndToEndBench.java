package dev.spillway.benchmarks.e2e;

import dev.spillway.benchmarks.report.MachineInfo;
import dev.spillway.telemetry.OverflowPolicy;
import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.timescale.BinaryCopyEncoder;
import dev.spillway.telemetry.timescale.IndexMode;
import dev.spillway.telemetry.timescale.TimescaleSink;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Issue #4: Spillway end to end against the database's own ceiling, on a real PostgreSQL.
 *
 * <pre>
 * java -Xmx3g -cp benchmarks/target/benchmarks.jar dev.spillway.benchmarks.e2e.EndToEndBench [--quick | --smoke]
 *     [--rows N] [--overload-seconds S] [--out DIR]
 * </pre>
 *
 * <ol>
 *   <li>End-to-end rows/s, producers -> Pipeline (BLOCK policy: throughput, not loss) -> workers -> TimescaleSink ->
 *       committed rows, for workers 1, 2, 4 x batch 512, 4096, 16384, into the default schema; the clock runs from
 *       the first ingest until {@code close()} returned (every row committed; checked with count(*)). In the same
 *       run, on the same table: the CEILING (the same rows pre-encoded in binary COPY format by
 *       {@link BinaryCopyEncoder}, streamed by one raw {@code CopyManager.copyIn}, one transaction) and the USUAL
 *       ALTERNATIVE (JDBC {@code addBatch} INSERT with {@code reWriteBatchedInserts=true}, 10,000 rows per
 *       transaction, one connection).</li>
 *   <li>Index cost: the same for {@link IndexMode#NONE} and {@link IndexMode#BRIN_TIME}.</li>
 *   <li>Drain: a 1,048,576-slot ring filled against a paused sink, then released and closed.</li>
 *   <li>Overload: producers paced at several times the sink's measured rate, OVERWRITE_OLDEST, heap after GC and
 *       RSS every 10 s.</li>
 * </ol>
 * The table is dropped and re-created (by the sink's own schema code) before every measurement, then a CHECKPOINT.
 * Writes {@code e2e.csv}, {@code e2e-overload.csv} and {@code e2e.md} into the output directory.
 */
public final class EndToEndBench {

    static final String TABLE = "telemetry_events";
    static final String COPY_SQL = "COPY " + TABLE + " (time, source_id, kind, value, seq) FROM STDIN (FORMAT binary)";
    static final String INSERT_SQL = "INSERT INTO " + TABLE + " (time, source_id, kind, value, seq) VALUES (?, ?, ?, ?, ?)";

    /** What to run. */
    public static final class Config {
        String mode = "full";
        int rows = 2_000_000;
        int sources = 1_000;
        int producers = 1;
        int[] workers = {1, 2, 4};
        int[] batches = {512, 4_096, 16_384};
        /**
         * Issue #14 item 3: every Spillway point at more than one worker is measured with batches in arrival order
         * (kind {@code spillway}) and routed by source (kind {@code spillway-by-source}), back to back, the order
         * alternating from point to point and from repetition to repetition (ABBA), so the machine's drift hits both.
         */
        boolean compareRouting = true;
        /** Repetitions of the Spillway grid (each a full pass; the report takes medians). */
        int reps = 1;
        /** Index modes measured after the default schema (step 2). */
        IndexMode[] otherModes = {IndexMode.NONE, IndexMode.BRIN_TIME};
        /** Only the library (steps 1 and 2): skips the collector end to end, the drain and the overload. */
        boolean libraryOnly;
        /** The grid point used for the index-cost comparison, the drain and the overload. */
        int refWorkers = 2;
        int refBatch = Pipeline.DEFAULT_BATCH_SIZE;
        /** Also measured per index mode. */
        int bigBatch = 4_096; // the pre-#14 default
        int pipelineRing = 65_536;
        int drainRing = 1 << 20;
        int insertRowsPerTransaction = 10_000;
        int overloadSeconds = 60;
        /** Ceiling variants: connections (rows sharded by source) x rows per commit (0 = one transaction each). */
        int[] ceilingConnections = {1, 2, 4};
        int[] ceilingCommits = {0, 16_384, 65_536};
        /** Collector end to end: lines per HTTP body and concurrent connections of the load process. */
        int lineBodyLines = 5_000;
        int loadConnections = 4;
        int sampleSeconds = 10;
        double overloadFactor = 4.0;
        Path out = Path.of("benchmarks/results");

        public static Config full() {
            return new Config();
        }

        public static Config quick() {
            final Config c = new Config();
            c.mode = "quick";
            c.rows = 200_000;
            c.overloadSeconds = 20;
            c.sampleSeconds = 5;
            return c;
        }

        /** For the unit test: tiny and fast, still every step. */
        public static Config smoke(Path out) {
            final Config c = new Config();
            c.mode = "smoke";
            c.rows = 20_000;
            c.workers = new int[] {1, 2};
            c.batches = new int[] {512, 4_096};
            c.refBatch = 512;
            c.bigBatch = 4_096;
            c.drainRing = 16_384;
            c.insertRowsPerTransaction = 2_000;
            c.ceilingConnections = new int[] {1, 4};
            c.ceilingCommits = new int[] {0};
            c.overloadSeconds = 2;
            c.sampleSeconds = 1;
            c.out = out;
            return c;
        }

        public Config rows(int rows) {
            this.rows = rows;
            return this;
        }

        public Config out(Path out) {
            this.out = out;
            return this;
        }

        /** Routing used by the drain, the overload and step 2's reference point: the library's default. */
        boolean refRouting() {
            return Pipeline.DEFAULT_ROUTE_BY_SOURCE;
        }
    }

    /** Kind of a Spillway run: arrival order, or routed by source. */
    static String spillwayKind(boolean bySource) {
        return bySource ? "spillway-by-source" : "spillway";
    }

    /** One measurement. */
    public record Run(String kind, IndexMode index, int workers, int batch, long rows, double seconds, long written,
                      long counted, String note, double jvmCpuSeconds, double pgCpuSeconds) {
        public double rowsPerSecond() {
            return rows / seconds;
        }

        /** Cores kept busy on average by this JVM and the server (NaN when the server's CPU is unknown). */
        public double coresBusy() {
            return (jvmCpuSeconds + pgCpuSeconds) / seconds;
        }
    }

    /** CPU used so far by this JVM and by the embedded server (-1 when unknown), in nanoseconds. */
    record Cpu(long jvm, long pg) {
        double jvmSecondsSince(Cpu start) {
            return (jvm - start.jvm) / 1e9;
        }

        double pgSecondsSince(Cpu start) {
            return pg < 0 || start.pg < 0 ? Double.NaN : (pg - start.pg) / 1e9;
        }
    }

    private Cpu cpu() {
        final java.lang.management.OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
        final long jvm = os instanceof com.sun.management.OperatingSystemMXBean
            ? ((com.sun.management.OperatingSystemMXBean) os).getProcessCpuTime() : -1;
        return new Cpu(jvm, db.serverCpuNanos());
    }

    /** CPU at the end of a measurement: the server's exiting backends get a moment to be reaped and counted. */
    private Cpu cpuAfter() throws InterruptedException {
        final long jvm = cpu().jvm();
        Thread.sleep(100);
        return new Cpu(jvm, db.serverCpuNanos());
    }

    /** One overload sample. */
    public record Sample(double atSeconds, long ingestCalls, double ingestPerSecond, long written,
                         double writtenPerSecond, long overwritten, long heapAfterGcBytes, long rssBytes) {
    }

    /** Everything one harness run measured. */
    public static final class Results {
        public final List<Run> runs = new ArrayList<>();
        public final List<Sample> overload = new ArrayList<>();
        public final List<LineProtocolE2e.LineRun> lineRuns = new ArrayList<>();
        /** Why the InfluxDB comparison is missing, or null. */
        public String influxSkipped;
        public Run drain;
        public double drainExpectedSeconds;
        public long drainFill;
        public double overloadTargetRate;
        public PipelineStats overloadFinal;
        public String pgVersion;
        public Map<String, String> pgSettings;
        public boolean embedded;
        public boolean timescale;

        public Run find(String kind, IndexMode index, int workers, int batch) {
            for (Run r : runs) {
                if (r.kind.equals(kind) && r.index == index && (workers == 0 || r.workers == workers)
                    && (batch == 0 || r.batch == batch)) {
                    return r;
                }
            }
            return null;
        }

        /** The best of a kind's runs for an index mode (ceilings are measured twice: before and after). */
        public Run best(String kind, IndexMode index) {
            Run best = null;
            for (Run r : runs) {
                if (r.kind.equals(kind) && r.index == index && (best == null || r.rowsPerSecond() > best.rowsPerSecond())) {
                    best = r;
                }
            }
            return best;
        }
    }

    private final Config config;
    private final BenchDatabase db;
    private final RowSet rows;
    private final Results results = new Results();
    private byte[] encoded;

    EndToEndBench(Config config, BenchDatabase db) {
        this.config = config;
        this.db = db;
        this.rows = new RowSet(config.rows, config.sources);
    }

    public static void main(String[] args) throws Exception {
        Config config = Config.full();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--quick":
                    config = Config.quick().out(config.out);
                    break;
                case "--smoke":
                    config = Config.smoke(config.out);
                    break;
                case "--rows":
                    config.rows = Integer.parseInt(args[++i]);
                    break;
                case "--overload-seconds":
                    config.overloadSeconds = Integer.parseInt(args[++i]);
                    break;
                case "--out":
                    config.out = Path.of(args[++i]);
                    break;
                case "--workers":
                    config.workers = ints(args[++i]);
                    break;
                case "--batches":
                    config.batches = ints(args[++i]);
                    break;
                case "--reps":
                    config.reps = Integer.parseInt(args[++i]);
                    break;
                case "--modes": // the index modes of step 2, e.g. NONE or NONE,BRIN_TIME, or "" for none
                    config.otherModes = java.util.Arrays.stream(args[++i].split(",")).filter(m -> !m.isBlank())
                        .map(m -> IndexMode.valueOf(m.trim().toUpperCase(Locale.ROOT))).toArray(IndexMode[]::new);
                    break;
                case "--library-only":
                    config.libraryOnly = true;
                    break;
                case "--no-routing":
                    config.compareRouting = false;
                    break;
                default:
                    System.err.println("usage: EndToEndBench [--quick|--smoke] [--rows N] [--overload-seconds S] "
                        + "[--workers 1,2,4] [--batches 4096,16384] [--reps N] [--modes NONE,BRIN_TIME] "
                        + "[--library-only] [--no-routing] [--out DIR]");
                    System.exit(2);
            }
        }
        final Results r = run(config);
        System.out.println(Files.readString(config.out.resolve("e2e.md")));
        if (r.runs.isEmpty()) {
            System.exit(1);
        }
        System.exit(0); // HikariCP housekeeping and logback threads are not daemons
    }

    private static int[] ints(String csv) {
        return java.util.Arrays.stream(csv.split(",")).mapToInt(v -> Integer.parseInt(v.trim())).toArray();
    }

    /** Runs every step against the configured database and writes the result files. */
    public static Results run(Config config) throws Exception {
        Files.createDirectories(config.out);
        try (BenchDatabase db = BenchDatabase.open()) {
            return new EndToEndBench(config, db).runAll();
        }
    }

    Results runAll() throws Exception {
        results.embedded = db.isEmbedded();
        results.pgVersion = db.version();
        results.pgSettings = db.settings();
        log("PostgreSQL: %s (%s)", results.pgVersion, results.embedded ? "embedded" : db.jdbcUrl());
        encoded = encodeAll();
        log("%,d rows, %,d bytes of binary COPY", config.rows, encoded.length);

        // Untimed warm-up: the server's caches and WAL, the client's JIT (encoder, pipeline, COPY path).
        warmUp();

        // 1. The grid on the default schema, bracketed by the ceiling (every variant before, the best again after)
        // and the INSERT baseline.
        ceilings(IndexMode.DEFAULT);
        batchedInsert(IndexMode.DEFAULT);
        chunkedCeiling(IndexMode.DEFAULT, config.refBatch);
        int point = 0;
        for (int rep = 0; rep < config.reps; rep++) {
            for (int w : config.workers) {
                for (int b : config.batches) {
                    spillwayPair(IndexMode.DEFAULT, w, b, point++ + rep);
                }
            }
        }
        bestCeilingAgain(IndexMode.DEFAULT);

        // 2. Index cost at the reference grid point (and at the largest batch), with both baselines per mode.
        for (IndexMode mode : config.otherModes) {
            ceilings(mode);
            batchedInsert(mode);
            chunkedCeiling(mode, config.refBatch);
            for (int rep = 0; rep < config.reps; rep++) {
                spillwayPair(mode, config.refWorkers, config.refBatch, point++ + rep);
                if (config.bigBatch != config.refBatch) {
                    spillwayPair(mode, config.refWorkers, config.bigBatch, point++ + rep);
                }
            }
            bestCeilingAgain(mode);
        }
        if (config.libraryOnly) {
            writeFiles();
            return results;
        }

        // 2b. The collector end to end (line protocol over HTTP from a separate process) on its real schema, and
        // InfluxDB on the same bodies; the ceilings above are those of the same table definition.
        final LineProtocolE2e lines = new LineProtocolE2e(config, db);
        results.lineRuns.add(lines.collector(IndexMode.DEFAULT));
        final LineProtocolE2e.LineRun influx = lines.influx();
        if (influx != null) {
            results.lineRuns.add(influx);
        } else {
            results.influxSkipped = LineProtocolE2e.INFLUXD + " not installed (Debian package influxdb)";
        }
        results.lineRuns.add(lines.collector(IndexMode.BRIN_TIME));
        encoded = null; // 100 MB we no longer need, before the heap is watched

        // 3. Drain time.
        drain();

        // 4. Overload.
        overload();

        writeFiles();
        return results;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Writers

    private void warmUp() throws Exception {
        final int keep = results.runs.size();
        parallelCeiling(IndexMode.DEFAULT, 2, 0);
        spillway(IndexMode.DEFAULT, config.refWorkers, config.refBatch);
        log("(the two runs above were the untimed warm-up and are not reported)");
        results.runs.subList(keep, results.runs.size()).clear();
    }

    /**
     * Arrival order and routing by source at one grid point, back to back; which goes first alternates with
     * {@code order} (ABBA over the grid and the repetitions). With one worker the two are the same: measured once.
     */
    private void spillwayPair(IndexMode mode, int workers, int batch, int order) throws Exception {
        if (!config.compareRouting || workers == 1) {
            spillway(mode, workers, batch, config.compareRouting ? false : config.refRouting());
            return;
        }
        final boolean first = order % 2 == 1;
        spillway(mode, workers, batch, first);
        spillway(mode, workers, batch, !first);
    }

    private void spillway(IndexMode mode, int workers, int batch) throws Exception {
        spillway(mode, workers, batch, config.refRouting());
    }

    private void spillway(IndexMode mode, int workers, int batch, boolean bySource) throws Exception {
        final TimescaleSink sink = freshTable(mode, workers);
        db.checkpoint();
        final Pipeline pipeline = Pipeline.builder()
            .name("e2e")
            .sink(sink)
            .workers(workers)
            .batchSize(batch)
            .routeBySource(bySource)
            .ringSize(Math.max(config.pipelineRing, Integer.highestOneBit(batch) * 4))
            .overflowPolicy(OverflowPolicy.BLOCK)
            .flushInterval(Duration.ofMillis(20))
            .closeTimeout(Duration.ofMinutes(10))
            .build();
        final Cpu cpu0 = cpu();
        final long start = System.nanoTime();
        produce(pipeline, config.rows);
        final PipelineStats stats = pipeline.close(Duration.ofMinutes(10));
        final double seconds = (System.nanoTime() - start) / 1e9;
        final Cpu cpu1 = cpuAfter();
        final long counted = db.count(TABLE);
        record(new Run(spillwayKind(bySource), mode, workers, batch, config.rows, seconds, stats.written(), counted,
            stats.isBalanced() ? "" : "UNBALANCED " + stats, cpu1.jvmSecondsSince(cpu0), cpu1.pgSecondsSince(cpu0)));
    }

    /** Every ceiling variant: connections x commit sizes. */
    private void ceilings(IndexMode mode) throws Exception {
        for (int connections : config.ceilingConnections) {
            for (int commit : config.ceilingCommits) {
                parallelCeiling(mode, connections, commit);
            }
        }
    }

    /** The best ceiling variant measured so far, once more (after the Spillway runs: the server has aged too). */
    private void bestCeilingAgain(IndexMode mode) throws Exception {
        final Run best = results.best("ceiling", mode);
        parallelCeiling(mode, best.workers, best.batch == config.rows ? 0 : best.batch);
    }

    /**
     * The ceiling: the same rows, pre-encoded, through {@code connections} raw COPY streams in parallel, rows sharded
     * by source (source % connections, so no two connections touch one source's index pages), each connection one
     * transaction ({@code commitRows == 0}) or a COPY + commit per {@code commitRows} of its rows. Recorded as kind
     * "ceiling" with workers = connections and batch = rows per commit (all rows when one transaction).
     */
    private void parallelCeiling(IndexMode mode, int connections, int commitRows) throws Exception {
        final List<List<byte[]>> shards = new ArrayList<>();
        for (int k = 0; k < connections; k++) {
            final int shard = k;
            final List<byte[]> chunks = new ArrayList<>();
            final int[] idx = java.util.stream.IntStream.range(0, config.rows)
                .filter(i -> rows.sourceId(i) % connections == shard).toArray();
            final int per = commitRows == 0 ? idx.length : commitRows;
            for (int from = 0; from < idx.length; from += per) {
                final int to = Math.min(idx.length, from + per);
                final ByteArrayOutputStream out = new ByteArrayOutputStream((to - from) * BinaryCopyEncoder.ROW_BYTES + 64);
                new BinaryCopyEncoder(1 << 20).encode(new Subset(rows, idx, from, to), 0, to - from, out::write);
                chunks.add(out.toByteArray());
            }
            shards.add(chunks);
        }
        freshTable(mode, 1).close();
        db.checkpoint();
        final Connection[] conns = new Connection[connections];
        for (int k = 0; k < connections; k++) {
            conns[k] = db.connect();
            conns[k].setAutoCommit(false);
        }
        final AtomicLong copied = new AtomicLong();
        final java.util.concurrent.atomic.AtomicReference<Exception> failure = new java.util.concurrent.atomic.AtomicReference<>();
        final java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
        final Thread[] threads = new Thread[connections];
        for (int k = 0; k < connections; k++) {
            final Connection conn = conns[k];
            final List<byte[]> chunks = shards.get(k);
            threads[k] = new Thread(() -> {
                try {
                    final org.postgresql.copy.CopyManager api = conn.unwrap(PGConnection.class).getCopyAPI();
                    go.await();
                    for (byte[] bytes : chunks) {
                        final CopyIn copy = api.copyIn(COPY_SQL);
                        final int step = 1 << 20;
                        for (int off = 0; off < bytes.length; off += step) {
                            copy.writeToCopy(bytes, off, Math.min(step, bytes.length - off));
                        }
                        copied.addAndGet(copy.endCopy());
                        conn.commit();
                    }
                } catch (Exception e) {
                    failure.compareAndSet(null, e);
                }
            }, "copy-" + k);
            threads[k].start();
        }
        final Cpu cpu0 = cpu();
        final long start = System.nanoTime();
        go.countDown();
        for (Thread t : threads) {
            t.join();
        }
        final double seconds = (System.nanoTime() - start) / 1e9;
        final Cpu cpu1 = cpuAfter();
        for (Connection c : conns) {
            c.close();
        }
        if (failure.get() != null) {
            throw failure.get();
        }
        record(new Run("ceiling", mode, connections, commitRows == 0 ? config.rows : commitRows, config.rows, seconds,
            copied.get(), db.count(TABLE), "", cpu1.jvmSecondsSince(cpu0), cpu1.pgSecondsSince(cpu0)));
    }

    /** Rows {@code idx[from, to)} of a row set, as a batch for the encoder. */
    private record Subset(RowSet rows, int[] idx, int from, int to) implements dev.spillway.telemetry.sink.EventBatch {
        @Override
        public long batchId() {
            return 0;
        }

        @Override
        public int size() {
            return to - from;
        }

        @Override
        public long timestampNanos(int i) {
            return rows.timestampNanos(idx[from + i]);
        }

        @Override
        public int sourceId(int i) {
            return rows.sourceId(idx[from + i]);
        }

        @Override
        public short kind(int i) {
            return rows.kind(idx[from + i]);
        }

        @Override
        public double value(int i) {
            return rows.value(idx[from + i]);
        }

        @Override
        public long sequence(int i) {
            return rows.sequence(idx[from + i]);
        }

        @Override
        public long minTimestampNanos() {
            return timestampNanos(0);
        }

        @Override
        public long maxTimestampNanos() {
            return timestampNanos(size() - 1);
        }
    }

    /**
     * Control: the same pre-encoded rows through one raw connection, but one COPY + commit per {@code chunk} rows
     * (no ledger, no pipeline): what PostgreSQL itself charges per transaction-sized COPY.
     */
    private void chunkedCeiling(IndexMode mode, int chunk) throws Exception {
        final List<byte[]> chunks = new ArrayList<>();
        for (int from = 0; from < config.rows; from += chunk) {
            final int to = Math.min(config.rows, from + chunk);
            final ByteArrayOutputStream out = new ByteArrayOutputStream((to - from) * BinaryCopyEncoder.ROW_BYTES + 64);
            new BinaryCopyEncoder(1 << 16).encode(rows, from, to, out::write);
            chunks.add(out.toByteArray());
        }
        freshTable(mode, 1).close();
        db.checkpoint();
        final long start;
        long copied = 0;
        final Cpu cpu0;
        try (Connection conn = db.connect()) {
            conn.setAutoCommit(false);
            final org.postgresql.copy.CopyManager copyApi = conn.unwrap(PGConnection.class).getCopyAPI();
            cpu0 = cpu();
            start = System.nanoTime();
            for (byte[] bytes : chunks) {
                final CopyIn copy = copyApi.copyIn(COPY_SQL);
                copy.writeToCopy(bytes, 0, bytes.length);
                copied += copy.endCopy();
                conn.commit();
            }
        }
        final double seconds = (System.nanoTime() - start) / 1e9;
        final Cpu cpu1 = cpuAfter();
        record(new Run("copy-chunked", mode, 1, chunk, config.rows, seconds, copied, db.count(TABLE), "",
            cpu1.jvmSecondsSince(cpu0), cpu1.pgSecondsSince(cpu0)));
    }

    /** The usual alternative: JDBC batched INSERT with the driver's multi-row rewrite. */
    private void batchedInsert(IndexMode mode) throws Exception {
        freshTable(mode, 1).close();
        db.checkpoint();
        final int perTx = config.insertRowsPerTransaction;
        final long start;
        long written = 0;
        final Cpu cpu0;
        try (Connection conn = db.connect(Map.of("reWriteBatchedInserts", "true"))) {
            conn.setAutoCommit(false);
            cpu0 = cpu();
            start = System.nanoTime();
            try (PreparedStatement ps = conn.prepareStatement(INSERT_SQL)) {
                for (int i = 0; i < config.rows; i++) {
                    final long ts = rows.timestampNanos(i);
                    ps.setObject(1, OffsetDateTime.ofInstant(
                        Instant.ofEpochSecond(Math.floorDiv(ts, 1_000_000_000L), Math.floorMod(ts, 1_000_000_000L)),
                        ZoneOffset.UTC));
                    ps.setInt(2, rows.sourceId(i));
                    ps.setShort(3, rows.kind(i));
                    ps.setDouble(4, rows.value(i));
                    ps.setLong(5, rows.sequence(i));
                    ps.addBatch();
                    if ((i + 1) % perTx == 0 || i + 1 == config.rows) {
                        for (int n : ps.executeBatch()) {
                            written += n == PreparedStatement.SUCCESS_NO_INFO ? 1 : n;
                        }
                        conn.commit();
                    }
                }
            }
        }
        final double seconds = (System.nanoTime() - start) / 1e9;
        final Cpu cpu1 = cpuAfter();
        record(new Run("insert", mode, 1, perTx, config.rows, seconds, written, db.count(TABLE), "",
            cpu1.jvmSecondsSince(cpu0), cpu1.pgSecondsSince(cpu0)));
    }

    // ---------------------------------------------------------------------------------------------------------
    // Drain and overload

    private void drain() throws Exception {
        final int w = config.refWorkers;
        final int b = config.refBatch;
        final GatedSink gated = new GatedSink(freshTable(IndexMode.DEFAULT, w));
        db.checkpoint();
        final Pipeline pipeline = Pipeline.builder()
            .name("e2e-drain")
            .sink(gated)
            .workers(w)
            .batchSize(b)
            .routeBySource(config.refRouting())
            .ringSize(config.drainRing)
            .overflowPolicy(OverflowPolicy.DROP_NEWEST)
            .flushInterval(Duration.ofMillis(20))
            .closeTimeout(Duration.ofMinutes(10))
            .build();
        // The pump takes one batch per worker (they block in the sink) and fills the other pooled batches (how many
        // depends on the routing); then it stops, and the ring fills up completely. The producer offers until the
        // first refusal (DROP_NEWEST): everything accepted is what the drain must write.
        final long fill = fillUntilRefused(pipeline);
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (pipeline.stats().ringOccupancy() < config.drainRing && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        final long occupancy = pipeline.stats().ringOccupancy();
        final Cpu cpu0 = cpu();
        final long start = System.nanoTime();
        gated.open();
        final PipelineStats stats = pipeline.close(Duration.ofMinutes(10));
        final double seconds = (System.nanoTime() - start) / 1e9;
        final Cpu cpu1 = cpuAfter();
        final Run ref = results.find(spillwayKind(config.refRouting()), IndexMode.DEFAULT, w, b);
        results.drainFill = fill;
        results.drainExpectedSeconds = ref == null ? Double.NaN : fill / ref.rowsPerSecond();
        results.drain = new Run("drain", IndexMode.DEFAULT, w, b, fill, seconds, stats.written(), db.count(TABLE),
            "ring occupancy at release " + occupancy + (stats.isBalanced() ? "" : "; UNBALANCED " + stats),
            cpu1.jvmSecondsSince(cpu0), cpu1.pgSecondsSince(cpu0));
        log("drain: %,d events buffered (ring %,d full: %s), drained and committed in %.2f s; at the measured e2e rate: %.2f s",
            fill, config.drainRing, occupancy == config.drainRing, seconds, results.drainExpectedSeconds);
        check(results.drain);
    }

    private void overload() throws Exception {
        final int w = config.refWorkers;
        final int b = config.refBatch;
        final Run ref = results.find(spillwayKind(config.refRouting()), IndexMode.DEFAULT, w, b);
        final double sinkRate = ref == null ? 100_000 : ref.rowsPerSecond();
        final double target = sinkRate * config.overloadFactor;
        results.overloadTargetRate = target;
        final TimescaleSink sink = freshTable(IndexMode.DEFAULT, w);
        db.checkpoint();
        final Pipeline pipeline = Pipeline.builder()
            .name("e2e-overload")
            .sink(sink)
            .workers(w)
            .batchSize(b)
            .routeBySource(config.refRouting())
            .ringSize(config.pipelineRing)
            .overflowPolicy(OverflowPolicy.OVERWRITE_OLDEST)
            .closeTimeout(Duration.ofMinutes(5))
            .build();
        log("overload: producer paced at %,.0f events/s (%.1fx the measured sink rate %,.0f rows/s) for %d s",
            target, config.overloadFactor, sinkRate, config.overloadSeconds);
        final AtomicLong calls = new AtomicLong();
        final long start = System.nanoTime();
        final long end = start + TimeUnit.SECONDS.toNanos(config.overloadSeconds);
        final Thread producer = new Thread(() -> {
            final double nanosPerEvent = 1e9 / target;
            long i = 0;
            while (true) {
                final long now = System.nanoTime();
                if (now - end >= 0) {
                    break;
                }
                final long due = (long) ((now - start) / nanosPerEvent); // events that should have been offered by now
                if (i >= due) {
                    LockSupport.parkNanos(50_000);
                    continue;
                }
                final long upTo = Math.min(due, i + 1_000);
                for (; i < upTo; i++) {
                    pipeline.ingest(RowSet.timestampOf(i), (int) (i % config.sources), (short) 1, i * 0.5,
                        i / config.sources);
                }
                calls.lazySet(i);
            }
            calls.set(i);
        }, "overload-producer");
        producer.start();
        long lastCalls = 0;
        long lastWritten = 0;
        double lastAt = 0;
        for (int s = config.sampleSeconds; s <= config.overloadSeconds; s += config.sampleSeconds) {
            final long wakeAt = start + TimeUnit.SECONDS.toNanos(s);
            long left;
            while ((left = wakeAt - System.nanoTime()) > 0) {
                Thread.sleep(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
            }
            final double at = (System.nanoTime() - start) / 1e9;
            final long c = calls.get();
            final PipelineStats st = pipeline.stats();
            System.gc();
            final long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
            final long rss = rssBytes();
            final Sample sample = new Sample(at, c, (c - lastCalls) / (at - lastAt), st.written(),
                (st.written() - lastWritten) / (at - lastAt), st.overwritten(), heap, rss);
            results.overload.add(sample);
            log("overload t=%4.1fs ingest %,.0f/s written %,.0f/s overwritten %,d heap-after-GC %.1f MB RSS %.1f MB",
                at, sample.ingestPerSecond, sample.writtenPerSecond, sample.overwritten, heap / 1048576.0,
                rss / 1048576.0);
            lastCalls = c;
            lastWritten = st.written();
            lastAt = at;
        }
        producer.join();
        results.overloadFinal = pipeline.close(Duration.ofMinutes(5));
        log("overload final: %s", results.overloadFinal);
    }

    private static long rssBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Helpers

    /** Drops the table and its ledger, and lets the sink create them again with {@code mode}'s indexes. */
    private TimescaleSink freshTable(IndexMode mode, int poolSize) throws SQLException {
        db.dropEventsTable(TABLE);
        // The rows layout: the library is measured against raw COPY of rows into the same table.
        final TimescaleSink sink = TimescaleSink.builder()
            .storageLayout(dev.spillway.telemetry.timescale.StorageLayout.ROWS)
            .jdbcUrl(db.jdbcUrl())
            .username(db.user())
            .password(db.password())
            .indexMode(mode)
            .poolSize(poolSize)
            .build();
        results.timescale = sink.isTimescale();
        return sink;
    }

    /** The fixed rows, split over the producer threads (producer p ingests rows p, p+P, p+2P, ...). */
    private void produce(Pipeline pipeline, int n) throws InterruptedException {
        final int producers = config.producers;
        final Thread[] threads = new Thread[producers];
        for (int p = 0; p < producers; p++) {
            final int first = p;
            threads[p] = new Thread(() -> {
                for (int i = first; i < n; i += producers) {
                    pipeline.ingest(rows.timestampNanos(i), rows.sourceId(i), rows.kind(i), rows.value(i),
                        rows.sequence(i));
                }
            }, "producer-" + p);
        }
        for (Thread t : threads) {
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
    }

    /**
     * Offers events until the ring stays full: a refusal (DROP_NEWEST) means full right now, but the pump may still
     * be reading into its last free batches, so the producer waits and offers again (the same event, so sequences
     * stay contiguous) until the ring is still full 50 ms later. Returns how many events were accepted.
     */
    private long fillUntilRefused(Pipeline pipeline) throws InterruptedException {
        final long giveUpAt = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        long i = 0;
        while (System.nanoTime() - giveUpAt < 0) {
            if (pipeline.ingest(RowSet.timestampOf(i), (int) (i % config.sources), (short) 1, i * 0.5,
                i / config.sources)) {
                i++;
                continue;
            }
            final long occupancy = pipeline.stats().ringOccupancy();
            Thread.sleep(50);
            if (occupancy >= config.drainRing && pipeline.stats().ringOccupancy() >= config.drainRing) {
                break; // the pump has stopped: every pooled batch is filled or with a (paused) worker
            }
        }
        return i;
    }

    private byte[] encodeAll() throws SQLException {
        final ByteArrayOutputStream out = new ByteArrayOutputStream(config.rows * BinaryCopyEncoder.ROW_BYTES + 64);
        new BinaryCopyEncoder(1 << 20).encode(rows, 0, rows.size(), out::write);
        return out.toByteArray();
    }

    private void record(Run run) {
        results.runs.add(run);
        log("%-8s %-9s workers=%d batch=%-7d %,10.0f rows/s  (%,d rows in %.2f s, written %,d, count(*) %,d; CPU s: JVM %.2f, PostgreSQL %.2f) %s",
            run.kind, run.index, run.workers, run.batch, run.rowsPerSecond(), run.rows, run.seconds, run.written,
            run.counted, run.jvmCpuSeconds, run.pgCpuSeconds, run.note);
        check(run);
    }

    private static void check(Run run) {
        if (run.written != run.rows || run.counted != run.rows || !run.note.isEmpty() && run.note.contains("UNBALANCED")) {
            throw new IllegalStateException("lost rows: " + run);
        }
    }

    private static void log(String format, Object... args) {
        System.out.println("[e2e] " + String.format(Locale.ROOT, format, args));
    }

    // ---------------------------------------------------------------------------------------------------------
    // Output

    private void writeFiles() throws IOException {
        final StringBuilder csv = new StringBuilder(
            "kind,index,workers,batch,rows,seconds,rows_per_s,written,counted,ratio_to_ceiling,ratio_to_insert,jvm_cpu_s,pg_cpu_s\n");
        final List<Run> all = new ArrayList<>(results.runs);
        if (results.drain != null) {
            all.add(results.drain);
        }
        for (Run r : all) {
            final Run ceil = results.best("ceiling", r.index);
            final Run ins = results.best("insert", r.index);
            csv.append(String.format(Locale.ROOT, "%s,%s,%d,%d,%d,%.4f,%.0f,%d,%d,%.4f,%.4f,%.3f,%.3f%n", r.kind, r.index,
                r.workers, r.batch, r.rows, r.seconds, r.rowsPerSecond(), r.written, r.counted,
                ceil == null ? Double.NaN : r.rowsPerSecond() / ceil.rowsPerSecond(),
                ins == null ? Double.NaN : r.rowsPerSecond() / ins.rowsPerSecond(), r.jvmCpuSeconds, r.pgCpuSeconds));
        }
        Files.writeString(config.out.resolve("e2e.csv"), csv);
        final StringBuilder ocsv = new StringBuilder(
            "at_s,ingest_calls,ingest_per_s,written,written_per_s,overwritten,heap_after_gc_bytes,rss_bytes\n");
        for (Sample s : results.overload) {
            ocsv.append(String.format(Locale.ROOT, "%.2f,%d,%.0f,%d,%.0f,%d,%d,%d%n", s.atSeconds, s.ingestCalls,
                s.ingestPerSecond, s.written, s.writtenPerSecond, s.overwritten, s.heapAfterGcBytes, s.rssBytes));
        }
        Files.writeString(config.out.resolve("e2e-overload.csv"), ocsv);
        Files.writeString(config.out.resolve("e2e.md"), E2eReport.markdown(config, results));
    }
}
