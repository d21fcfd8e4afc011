package dev.spillway.benchmarks.e2e;

import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.timescale.GapQuery;
import dev.spillway.telemetry.timescale.IndexMode;
import dev.spillway.telemetry.timescale.StorageLayout;
import dev.spillway.telemetry.timescale.TimescaleSink;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Issue #25's queries on the two storage layouts, same data, same server, same run: {@code SERIES} series (default
 * 10,000) each with one point every 259.2 s (the rate of 100 M rows of 10,000 series over 30 days) for {@code DAYS}
 * days (default 3: 10 M rows; {@code --days 30} is the 100 M). Both tables are created by the sink
 * ({@link TimescaleSink}, index mode DEFAULT); their indexes are dropped, the points generated on the server
 * ({@code INSERT ... SELECT} from {@code generate_series}, one statement per layout and day, in time order), then the
 * sink is built again so that it creates the indexes exactly as the library does, and the tables are vacuumed and
 * analysed. The rows layout gets one row per point; the blocks layout the form its compaction leaves: one block
 * per series and {@code --block-minutes} (default 60: whole hours, what a compaction pass over a backlog writes; the
 * sequence numbers consecutive, so {@code seqs} is NULL), the last 10 minutes still rows. Before the load, a few
 * series are written through the real sink (batches of rows) and compacted by it ({@link TimescaleSink#compactRows()}
 * once per block interval), and the result is compared, array for array, with what the generator writes for them:
 * the run stops if they differ.
 *
 * <p>Queries, each run {@code --runs} times per layout (default 15), the layouts alternating, with other series and
 * times each run:
 * <ol>
 *   <li>latest value of 1,000 series, with {@code <table>_latest(ids)}, the function the sink creates (what the
 *   docs tell users to run);</li>
 *   <li>the same, on 1,000 series read once just before (untimed): what a refreshing dashboard sees, index pages in
 *   the buffer pool;</li>
 *   <li>latest value of 1,000 series with the SQL of the first 100 M run (rows: a LATERAL {@code ORDER BY time DESC
 *   LIMIT 1}; blocks: that UNION ALL the newest block, unnested and sorted), for comparison in the same run, on the
 *   other half of the series than the function's, and the same again on series read once before;</li>
 *   <li>one series over 24 h;</li>
 *   <li>a 5-minute range over all series (one day before the end, so recency does not help either layout);</li>
 *   <li>last, latest value of 1,000 series with the function after each layout's btree was read once, whole (as far as
 *   it fits in the buffer pool): what a server that has been writing holds.</li>
 * </ol>
 * Every query's answer is checked to be the same on both layouts (row count and a checksum of times and values).
 * Writes {@code queries.md} (or {@code --report NAME}): median and p90 per query and layout, rows returned, load
 * time, table sizes, PostgreSQL version, load average.
 *
 * <p>{@code --data-dir DIR} keeps the embedded database in DIR: the first run loads it, later runs with the same
 * {@code --series/--days/--block-minutes} only run the queries (loading 100 M points per layout takes a while).
 *
 * <p>{@code --explain} prints, and writes to {@code <report>-explain.txt}, EXPLAIN (ANALYZE, BUFFERS, TIMING) of the
 * latest-value queries (the function and the first run's SQL, both layouts, on series not read before and then again)
 * and stops without timing anything.
 *
 * <pre>java -cp benchmarks.jar dev.spillway.benchmarks.e2e.QueryBench [--series N] [--days D] [--runs R]
 *     [--block-minutes M] [--data-dir DIR] [--out DIR] [--report NAME] [--explain]</pre>
 */
public final class QueryBench {

    private static final double STEP_SECONDS = 259.2;
    private static final String ROWS = "q_rows";
    private static final String BLOCKS = "q_blocks";
    private static final String CHECK = "q_check";
    /** Series written through the real sink for the check. */
    private static final int CHECK_SERIES = 40;
    /** The sink's default: rows younger than this stay rows. */
    private static final long RECENT_SECONDS = 600;

    private static final String LATEST = "latest value of 1,000 series";
    private static final String LATEST_AGAIN = "latest value of the same 1,000 series again";
    private static final String LATEST_BEFORE = "latest value of 1,000 series, SQL of the first 100 M run";
    private static final String LATEST_BEFORE_AGAIN = "latest value of the same 1,000 series again, SQL of the first "
        + "100 M run";
    private static final String LATEST_BTREE_READ = "latest value of 1,000 series, the layout's btree read once before "
        + "all runs";
    private static final String[] QUERIES = {LATEST, LATEST_BEFORE, LATEST_AGAIN, LATEST_BEFORE_AGAIN,
        "one series over 24 h", "5-minute range over all series", LATEST_BTREE_READ};

    private QueryBench() {
    }

    /**
     * Reads each layout's latest-value btree once, whole, into the buffer pool as far as it fits (an index-only scan
     * of {@code (source_id, time[_max] DESC)}): what a server that has been writing holds, since each write of a
     * series touches its newest leaf page. Returns a sentence for the report.
     */
    private static String readBtrees(Connection c) throws SQLException {
        final StringBuilder out = new StringBuilder("Before the last query each layout's btree was read once (an "
            + "index-only scan of the whole index");
        try (Statement st = c.createStatement()) {
            try (ResultSet rs = st.executeQuery("SELECT current_setting('shared_buffers')")) {
                rs.next();
                out.append(", shared_buffers ").append(rs.getString(1)).append(")");
            }
            for (String[] t : new String[][] {{ROWS, ROWS + "_src_time_idx"},
                {BLOCKS + "_blocks", BLOCKS + "_blocks_src_time_idx"}}) {
                st.execute("SET enable_seqscan = off");
                st.execute("SET enable_bitmapscan = off");
                final long t0 = System.nanoTime();
                try (ResultSet rs = st.executeQuery("SELECT count(*) FROM " + t[0] + " WHERE source_id >= 0")) {
                    rs.next();
                }
                final double s = (System.nanoTime() - t0) / 1e9;
                st.execute("RESET enable_seqscan");
                st.execute("RESET enable_bitmapscan");
                out.append(String.format(Locale.ROOT, "; %s %s in %.1f s", t[1], size(c, t[1]), s));
            }
        }
        final String sentence = out.append(".").toString();
        System.out.println("[query] " + sentence);
        return sentence;
    }

    /**
     * EXPLAIN (ANALYZE, BUFFERS, TIMING) of the latest-value queries, each layout, {@code <table>_latest} and the SQL
     * of the first 100 M run, each on 1,000 series not read before in this server's life and then on the same
     * series again; with the buffer pool size.
     */
    private static String explain(BenchDatabase db, int series) throws SQLException {
        final StringBuilder out = new StringBuilder();
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            try (ResultSet rs = st.executeQuery("SELECT current_setting('shared_buffers'), version()")) {
                rs.next();
                out.append("shared_buffers = ").append(rs.getString(1)).append("; ").append(rs.getString(2))
                    .append("; load average ").append(IngestRace.loadAverage()).append("\n\n");
            }
            int first = 0;
            final int step = (series - 1_000) / 4;
            for (String q : new String[] {LATEST, LATEST_BEFORE}) {
                for (String layout : new String[] {"blocks", "rows"}) {
                    for (String when : new String[] {"first read", "read again"}) {
                        final StringBuilder ids = new StringBuilder("'{");
                        for (int i = 0; i < 1_000; i++) {
                            ids.append(i == 0 ? "" : ",").append(first + i);
                        }
                        ids.append("}'");
                        final String sql = "EXPLAIN (ANALYZE, BUFFERS, TIMING) " + sql(q, layout).replace("?", ids);
                        out.append("== ").append(q).append(", ").append(layout).append(", series ").append(first)
                            .append("..").append(first + 999).append(", ").append(when).append("\n");
                        try (ResultSet rs = st.executeQuery(sql)) {
                            while (rs.next()) {
                                out.append(rs.getString(1)).append("\n");
                            }
                        }
                        out.append("\n");
                    }
                    first += step;
                }
            }
        }
        System.out.println(out);
        return out.toString();
    }

    public static void main(String[] args) throws Exception {
        int series = 10_000;
        int days = 3;
        int runs = 15;
        int blockMinutes = 60;
        Path dataDir = null;
        Path out = Path.of("benchmarks/results");
        String report = "queries.md";
        boolean explain = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--series" -> series = Integer.parseInt(args[++i]);
                case "--days" -> days = Integer.parseInt(args[++i]);
                case "--runs" -> runs = Integer.parseInt(args[++i]);
                case "--block-minutes" -> blockMinutes = Integer.parseInt(args[++i]);
                case "--data-dir" -> dataDir = Path.of(args[++i]);
                case "--out" -> out = Path.of(args[++i]);
                case "--report" -> report = args[++i];
                case "--explain" -> explain = true;
                default -> {
                    System.err.println("usage: QueryBench [--series N] [--days D] [--runs R] [--block-minutes M] "
                        + "[--data-dir DIR] [--out DIR] [--report NAME] [--explain]");
                    System.exit(2);
                }
            }
        }
        if (series < 2_002 || days < 1 || runs < 1 || blockMinutes < 1 || 60 % blockMinutes != 0) {
            throw new IllegalArgumentException("need --series > 2001, --days >= 1, --runs >= 1 and --block-minutes "
                + "dividing 60");
        }
        Files.createDirectories(out);
        final String loadStart = IngestRace.loadAverage();
        final String started = Instant.now().toString();
        System.out.println("[query] command: QueryBench " + String.join(" ", args));
        System.out.println("[query] started " + started + ", " + Runtime.getRuntime().availableProcessors()
            + " CPUs, load average " + loadStart);
        final Map<String, String> table = new LinkedHashMap<>();
        try (BenchDatabase db = dataDir == null ? BenchDatabase.open() : BenchDatabase.openKept(dataDir)) {
            final String version = db.version();
            System.out.println("[query] PostgreSQL: " + version + (dataDir == null ? "" : ", data in " + dataDir));
            final long end = Instant.parse("2026-01-31T00:00:00Z").getEpochSecond();
            final Load load = load(db, series, days, blockMinutes, end);
            System.out.printf(Locale.ROOT, "[query] %,d points per layout, %s%n", load.points, load.how);
            for (StorageLayout layout : StorageLayout.values()) { // a kept database from before <table>_latest gets it
                sink(db, layout == StorageLayout.ROWS ? ROWS : BLOCKS, layout, null).close();
            }
            if (explain) {
                final Path file = out.resolve(report.replaceAll("\\.md$", "") + "-explain.txt");
                Files.writeString(file, explain(db, series));
                System.out.println("[query] plans written to " + file);
                System.exit(0);
            }
            final List<String> lines = new ArrayList<>();
            String prewarm = "";
            lines.add("| query | layout | median ms | p90 ms | rows returned (median) |");
            lines.add("| --- | --- | ---: | ---: | ---: |");
            final String loadBefore = IngestRace.loadAverage();
            try (Connection c = db.connect()) {
                final SplittableRandom random = new SplittableRandom(25);
                for (String q : QUERIES) {
                    if (q.equals(LATEST_BTREE_READ)) {
                        prewarm = readBtrees(c);
                    }
                    final Map<String, List<double[]>> byLayout = new LinkedHashMap<>();
                    byLayout.put("rows", new ArrayList<>());
                    byLayout.put("blocks", new ArrayList<>());
                    for (int r = -2; r < runs; r++) { // two untimed warm-up runs per layout
                        final long seed = random.nextLong();
                        final String[] order = r % 2 == 0 ? new String[] {"rows", "blocks"}
                            : new String[] {"blocks", "rows"};
                        final double[][] both = new double[2][];
                        for (int l = 0; l < 2; l++) {
                            both[l] = run(c, q, order[l], series, days, end, new SplittableRandom(seed));
                            if (r >= 0) {
                                byLayout.get(order[l]).add(both[l]);
                            }
                        }
                        if (both[0][1] != both[1][1] || both[0][2] != both[1][2]) {
                            throw new IllegalStateException(q + ": the layouts answered differently: " + order[0] + " "
                                + (long) both[0][1] + " rows (checksum " + both[0][2] + "), " + order[1] + " "
                                + (long) both[1][1] + " rows (checksum " + both[1][2] + ")");
                        }
                    }
                    for (Map.Entry<String, List<double[]>> e : byLayout.entrySet()) {
                        final double[] ms = e.getValue().stream().mapToDouble(m -> m[0]).sorted().toArray();
                        final double[] rows = e.getValue().stream().mapToDouble(m -> m[1]).toArray();
                        lines.add(String.format(Locale.ROOT, "| %s | %s | %.1f | %.1f | %,.0f |", q, e.getKey(),
                            IngestRace.median(ms), ms[(int) Math.min(ms.length - 1, Math.ceil(ms.length * 0.9) - 1)],
                            IngestRace.median(rows)));
                        System.out.println("[query] " + lines.get(lines.size() - 1));
                    }
                }
                table.put("rows", size(c, ROWS));
                table.put("blocks", size(c, BLOCKS + "_blocks") + " (" + String.format(Locale.ROOT, "%,d",
                    count(c, BLOCKS + "_blocks")) + " blocks) + rows " + size(c, BLOCKS + "_rows"));
            }
            final StringBuilder md = new StringBuilder();
            md.append("# Queries on the two storage layouts (issue #25)\n\n");
            md.append("`QueryBench ").append(String.join(" ", args)).append("`\n\n");
            md.append(String.format(Locale.ROOT, "Started %s; %,d series, one point per series every %.1f s for %d days: "
                    + "%,d points per layout (%s); blocks of %d min per series; index mode DEFAULT; %d timed runs per "
                    + "query and layout (after 2 untimed), layouts alternating; %d CPUs; load average %s at the start, "
                    + "%s before the queries, %s at the end; embedded PostgreSQL (%s).\n\n", started, series,
                STEP_SECONDS, days, load.points, load.how, blockMinutes, runs,
                Runtime.getRuntime().availableProcessors(), loadStart, loadBefore, IngestRace.loadAverage(),
                version.split(",")[0]));
            md.append(String.join("\n", lines)).append("\n\n");
            md.append(prewarm).append("\n\n");
            md.append("Sizes (table + indexes): rows layout ").append(table.get("rows")).append("; blocks layout ")
                .append(table.get("blocks")).append(".\n\nThe SQL of each query is in `QueryBench.sql`.\n");
            Files.writeString(out.resolve(report), md.toString());
            System.out.println(md);
        }
        System.exit(0);
    }

    /** How the points came to be in the tables. */
    private record Load(long points, String how) {
    }

    /**
     * The loaded tables: reused when the data directory holds a load of the same shape (recorded in {@code q_meta}),
     * else loaded now.
     */
    private static Load load(BenchDatabase db, int series, int days, int blockMinutes, long end) throws Exception {
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE IF NOT EXISTS q_meta (series int, days int, block_minutes int, points bigint, "
                + "load_seconds float8, loaded_at timestamptz, postgres text)");
            try (ResultSet rs = st.executeQuery("SELECT series, days, block_minutes, points, load_seconds, loaded_at "
                + "FROM q_meta")) {
                if (rs.next()) {
                    if (rs.getInt(1) != series || rs.getInt(2) != days || rs.getInt(3) != blockMinutes) {
                        throw new IllegalStateException("the data directory holds " + rs.getInt(1) + " series, "
                            + rs.getInt(2) + " days, blocks of " + rs.getInt(3) + " min: use another --data-dir");
                    }
                    return new Load(rs.getLong(4), String.format(Locale.ROOT, "loaded in %.0f s by an earlier run "
                        + "at %s, data directory kept", rs.getDouble(5), rs.getObject(6, OffsetDateTime.class)));
                }
            }
        }
        final long t0 = System.nanoTime();
        final long points = fill(db, series, days, blockMinutes, end);
        final double seconds = (System.nanoTime() - t0) / 1e9;
        try (Connection c = db.connect();
             PreparedStatement ps = c.prepareStatement("INSERT INTO q_meta VALUES (?, ?, ?, ?, ?, now(), version())")) {
            ps.setInt(1, series);
            ps.setInt(2, days);
            ps.setInt(3, blockMinutes);
            ps.setLong(4, points);
            ps.setDouble(5, seconds);
            ps.executeUpdate();
        }
        return new Load(points, String.format(Locale.ROOT, "loaded in %.0f s", seconds));
    }

    /** The generator of the points: series s, point k at start + k * STEP + s * STEP / series. */
    private static final class Points {
        final int series;
        final long perSeries;
        final long start;

        Points(int series, int days, long end) {
            this.series = series;
            this.perSeries = (long) (days * 86_400L / STEP_SECONDS);
            this.start = end - (long) (perSeries * STEP_SECONDS);
        }

        /**
         * {@code (s, k, t, v)} of series {@code 0 .. seriesCount - 1} with {@code t} in {@code [from, to)} (epoch
         * seconds), in time order: k outermost, then s (a series' offset within a step is below one step).
         */
        String sql(int seriesCount, long from, long to) {
            final long kFrom = Math.max(0, (long) Math.floor((from - start) / STEP_SECONDS) - 1);
            final long kTo = Math.min(perSeries - 1, (long) Math.ceil((to - start) / STEP_SECONDS) + 1);
            return "SELECT s, k, t, v FROM (SELECT s, k, to_timestamp(" + start + " + k * " + STEP_SECONDS + " + s * "
                + STEP_SECONDS + " / " + series + ") AS t, (((s * 7919 + k * 104729) % 100000) / 100.0)::float8 AS v "
                + "FROM generate_series(" + kFrom + "::bigint, " + kTo + "::bigint) k CROSS JOIN LATERAL "
                + "generate_series(0, " + (seriesCount - 1) + ") s) p WHERE t >= to_timestamp(" + from + ") AND t < "
                + "to_timestamp(" + to + ")";
        }

        /**
         * The blocks of those points as the sink's compaction writes them (see RowCompactor): per series and
         * {@code blockMinutes} bin, arrays in sequence order, {@code seqs} only when not consecutive; in time order.
         */
        String blocksSql(int seriesCount, long from, long to, int blockMinutes) {
            final String bin = "date_bin(INTERVAL '" + blockMinutes + " minutes', t, TIMESTAMPTZ '2000-01-01 00:00:00+00')";
            return "SELECT s, 1::smallint, min(t), max(t), min(k), max(k), count(*)::integer, array_agg(t ORDER BY k), "
                + "array_agg(v ORDER BY k), CASE WHEN max(k) - min(k) + 1 = count(*) THEN NULL "
                + "ELSE array_agg(k ORDER BY k) END FROM (" + sql(seriesCount, from, to) + ") g GROUP BY " + bin
                + ", s ORDER BY " + bin + ", s";
        }

        String rowsSql(int seriesCount, long from, long to) {
            return "SELECT t, s, 1::smallint, v, k FROM (" + sql(seriesCount, from, to) + ") g";
        }
    }

    private static final String BLOCK_COLUMNS = " (source_id, kind, time_min, time_max, first_seq, last_seq, n, "
        + "times, vals, seqs) ";
    private static final String ROW_COLUMNS = " (time, source_id, kind, value, seq) ";

    private static TimescaleSink sink(BenchDatabase db, String table, StorageLayout layout, Duration compactAfter)
        throws SQLException {
        return TimescaleSink.builder().jdbcUrl(db.jdbcUrl()).username(db.user()).password(db.password()).table(table)
            .indexMode(IndexMode.DEFAULT).storageLayout(layout).compactRowsAfter(compactAfter).build();
    }

    /**
     * Creates both layouts with the sink, checks the generator against the sink, loads day by day without
     * indexes, has the sink create the indexes, vacuums and analyses; returns the points per layout.
     */
    private static long fill(BenchDatabase db, int series, int days, int blockMinutes, long end) throws Exception {
        for (String t : new String[] {ROWS, BLOCKS, CHECK}) {
            db.dropEventsTable(t);
        }
        final Points points = new Points(series, days, end);
        checkAgainstSink(db, points, blockMinutes);
        for (StorageLayout layout : StorageLayout.values()) {
            try (TimescaleSink sink = sink(db, layout == StorageLayout.ROWS ? ROWS : BLOCKS, layout, null)) {
                System.out.println("[query] created " + sink);
            }
        }
        // the sink's indexes go now and come back after the load (the sink creates them again)
        final List<String> indexes = new ArrayList<>();
        try (Connection c = db.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                 + "AND tablename IN ('" + ROWS + "', '" + BLOCKS + "_blocks', '" + BLOCKS + "_rows')")) {
            while (rs.next()) {
                indexes.add(rs.getString(1));
            }
        }
        for (String index : indexes) {
            db.execute("DROP INDEX \"" + index + "\"");
        }
        System.out.println("[query] dropped the indexes " + indexes + " for the load");
        final long recentFrom = end - RECENT_SECONDS;
        final long first = points.start - Math.floorMod(points.start, 86_400L);
        long t0 = System.nanoTime();
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            for (long from = first; from < end; from += 86_400) {
                final long to = Math.min(from + 86_400, end + 1);
                st.executeUpdate("INSERT INTO " + ROWS + ROW_COLUMNS + points.rowsSql(series, from, to));
                if (from < recentFrom) {
                    st.executeUpdate("INSERT INTO " + BLOCKS + "_blocks" + BLOCK_COLUMNS
                        + points.blocksSql(series, from, Math.min(to, recentFrom), blockMinutes));
                }
                if (to > recentFrom) {
                    st.executeUpdate("INSERT INTO " + BLOCKS + "_rows" + ROW_COLUMNS
                        + points.rowsSql(series, Math.max(from, recentFrom), to));
                }
                System.out.printf(Locale.ROOT, "[query] loaded up to %s, %.0f s, load average %s%n",
                    Instant.ofEpochSecond(to), (System.nanoTime() - t0) / 1e9, IngestRace.loadAverage());
            }
        }
        t0 = System.nanoTime();
        db.execute("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET maintenance_work_mem = %L', current_database(), "
            + "'1GB'); END $$");
        try {
            for (StorageLayout layout : StorageLayout.values()) {
                try (TimescaleSink sink = sink(db, layout == StorageLayout.ROWS ? ROWS : BLOCKS, layout, null)) {
                    System.out.printf(Locale.ROOT, "[query] indexes of %s created by the sink, %.0f s%n", sink,
                        (System.nanoTime() - t0) / 1e9);
                }
            }
        } finally {
            db.execute("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET maintenance_work_mem', current_database()); "
                + "END $$");
        }
        t0 = System.nanoTime();
        db.execute("VACUUM ANALYZE " + ROWS, "VACUUM ANALYZE " + BLOCKS + "_blocks", "VACUUM ANALYZE " + BLOCKS + "_rows");
        System.out.printf(Locale.ROOT, "[query] VACUUM ANALYZE %.0f s%n", (System.nanoTime() - t0) / 1e9);
        final long a = db.count(ROWS);
        final long b = db.count(BLOCKS);
        if (a != b) {
            throw new IllegalStateException("the layouts hold different points: rows " + a + ", blocks " + b);
        }
        return a;
    }

    /**
     * Writes the first three block intervals (at least three steps) of {@link #CHECK_SERIES} series through a real sink (blocks
     * layout, batches of one point per series: all rows, as at this rate), has the sink compact them after each
     * block interval, then one more step left as rows; then compares its blocks and rows with what the
     * generator writes for the same points, and runs the layout's gap query (consecutive sequences: no gaps).
     */
    private static void checkAgainstSink(BenchDatabase db, Points points, int blockMinutes) throws Exception {
        final long bin = blockMinutes * 60L;
        final long first = points.start - Math.floorMod(points.start, bin) + bin; // a whole first bin
        final long perStep = (long) Math.ceil(STEP_SECONDS / bin); // bins a step spans: each window holds points
        final long compactedTo = first + Math.max(3, 3 * perStep) * bin;
        final long rowsTo = compactedTo + perStep * bin;
        long batchId = 1;
        try (TimescaleSink sink = sink(db, CHECK, StorageLayout.BLOCKS, Duration.ofMinutes(10));
             Connection c = db.connect(); Statement st = c.createStatement()) {
            for (long from = first; from < rowsTo; from += bin) {
                final CheckBatch batch = new CheckBatch();
                try (ResultSet rs = st.executeQuery(points.sql(CHECK_SERIES, from, from + bin) + " ORDER BY t, s")) {
                    while (rs.next()) {
                        final OffsetDateTime t = rs.getObject(3, OffsetDateTime.class);
                        batch.add(t.toEpochSecond() * 1_000_000_000L + t.getNano(), rs.getInt(1), rs.getDouble(4),
                            rs.getLong(2));
                        if (batch.size() == CHECK_SERIES) {
                            batch.id = batchId++;
                            sink.write(batch);
                            batch.clear();
                        }
                    }
                }
                if (batch.size() > 0) {
                    batch.id = batchId++;
                    sink.write(batch);
                }
                if (from + bin <= compactedTo) {
                    sink.compactRows(); // the data is months old: every row is moved
                }
            }
            final String[][] pairs = {
                {"SELECT" + BLOCK_COLUMNS.replace("(", "").replace(")", "") + "FROM " + CHECK + "_blocks",
                    points.blocksSql(CHECK_SERIES, first, compactedTo, blockMinutes)},
                {"SELECT" + ROW_COLUMNS.replace("(", "").replace(")", "") + "FROM " + CHECK + "_rows",
                    points.rowsSql(CHECK_SERIES, compactedTo, rowsTo)}};
            for (String[] pair : pairs) {
                for (int dir = 0; dir < 2; dir++) {
                    final String sql = "SELECT count(*) FROM ((" + pair[dir] + ") EXCEPT ALL (" + pair[1 - dir]
                        + ")) x";
                    try (ResultSet rs = st.executeQuery(sql)) {
                        rs.next();
                        if (rs.getLong(1) != 0) {
                            throw new IllegalStateException("the generated data differs from what the sink wrote: "
                                + rs.getLong(1) + " rows of " + (dir == 0 ? "the sink's" : "the generator's") + " in "
                                + sql);
                        }
                    }
                }
            }
            final long blocks = count(c, CHECK + "_blocks");
            final long rows = count(c, CHECK + "_rows");
            if (blocks == 0 || rows == 0) {
                throw new IllegalStateException("the check wrote " + blocks + " blocks and " + rows + " rows");
            }
            try (ResultSet rs = st.executeQuery("SELECT count(*) FROM (" + GapQuery.sql(CHECK, StorageLayout.BLOCKS)
                    + ") g")) {
                rs.next();
                if (rs.getLong(1) != 0) {
                    throw new IllegalStateException("the gap query finds " + rs.getLong(1) + " gaps in the check data");
                }
            }
            System.out.printf(Locale.ROOT, "[query] check: %d series written through the sink and compacted every "
                + "%d min: %,d blocks and %,d rows, identical to the generator's; gap query: none%n", CHECK_SERIES,
                blockMinutes, blocks, rows);
        }
        db.dropEventsTable(CHECK);
    }

    /** A batch of the check's points. */
    private static final class CheckBatch implements EventBatch {
        long id;
        private final List<long[]> events = new ArrayList<>(); // {time nanos, source, value bits, seq}

        void add(long nanos, int source, double value, long seq) {
            events.add(new long[] {nanos, source, Double.doubleToRawLongBits(value), seq});
        }

        void clear() {
            events.clear();
        }

        @Override
        public long batchId() {
            return id;
        }

        @Override
        public int size() {
            return events.size();
        }

        @Override
        public long timestampNanos(int index) {
            return events.get(index)[0];
        }

        @Override
        public int sourceId(int index) {
            return (int) events.get(index)[1];
        }

        @Override
        public short kind(int index) {
            return 1;
        }

        @Override
        public double value(int index) {
            return Double.longBitsToDouble(events.get(index)[2]);
        }

        @Override
        public long sequence(int index) {
            return events.get(index)[3];
        }

        @Override
        public long minTimestampNanos() {
            return events.stream().mapToLong(e -> e[0]).min().orElseThrow();
        }

        @Override
        public long maxTimestampNanos() {
            return events.stream().mapToLong(e -> e[0]).max().orElseThrow();
        }
    }

    private static long count(Connection c, String table) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT count(*) FROM " + table)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /** The SQL of a query on a layout; parameters are bound by {@link #run}. */
    static String sql(String query, String layout) {
        final boolean rows = layout.equals("rows");
        switch (query) {
            case LATEST, LATEST_AGAIN, LATEST_BTREE_READ:
                // what users run (docs/library.md): the function the sink creates
                return "SELECT source_id, time, value FROM " + (rows ? ROWS : BLOCKS) + "_latest(?::int[])";
            case LATEST_BEFORE, LATEST_BEFORE_AGAIN:
                return rows
                    ? "SELECT s.id, l.time, l.value FROM unnest(?::int[]) s(id) CROSS JOIN LATERAL (SELECT time, value "
                        + "FROM " + ROWS + " WHERE source_id = s.id ORDER BY time DESC LIMIT 1) l"
                    : "SELECT s.id, l.time, l.value FROM unnest(?::int[]) s(id) CROSS JOIN LATERAL ("
                        + "SELECT time, value FROM ((SELECT time, value FROM " + BLOCKS + "_rows WHERE source_id = s.id "
                        + "ORDER BY time DESC LIMIT 1) UNION ALL (SELECT u.time, u.value FROM (SELECT times, vals FROM "
                        + BLOCKS + "_blocks WHERE source_id = s.id ORDER BY time_max DESC LIMIT 1) b, "
                        + "unnest(b.times, b.vals) u(time, value) ORDER BY u.time DESC LIMIT 1)) x "
                        + "ORDER BY time DESC LIMIT 1) l";
            case "one series over 24 h":
                return rows
                    ? "SELECT time, value FROM " + ROWS + " WHERE source_id = ? AND time >= ? AND time < ? ORDER BY time"
                    : "SELECT time, value FROM (SELECT u.time, u.value FROM " + BLOCKS + "_blocks b, "
                        + "unnest(b.times, b.vals) u(time, value) WHERE b.source_id = ? AND b.time_max >= ? "
                        + "AND b.time_min < ? AND u.time >= ? AND u.time < ? UNION ALL SELECT time, value FROM "
                        + BLOCKS + "_rows WHERE source_id = ? AND time >= ? AND time < ?) x ORDER BY time";
            case "5-minute range over all series":
                return rows
                    ? "SELECT source_id, time, value FROM " + ROWS + " WHERE time >= ? AND time < ?"
                    : "SELECT b.source_id, u.time, u.value FROM " + BLOCKS + "_blocks b, unnest(b.times, b.vals) "
                        + "u(time, value) WHERE b.time_max >= ? AND b.time_min < ? AND u.time >= ? AND u.time < ? "
                        + "UNION ALL SELECT source_id, time, value FROM " + BLOCKS + "_rows WHERE time >= ? AND time < ?";
            default:
                throw new IllegalArgumentException(query);
        }
    }

    /**
     * One timed execution: {milliseconds, rows returned, checksum of the answer}; the checksum (a sum over the rows
     * of their time in microseconds and value) lets the caller check that both layouts answered the same.
     */
    private static double[] run(Connection c, String query, String layout, int series, int days, long end,
                                SplittableRandom random) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql(query, layout))) {
            switch (query) {
                case LATEST, LATEST_AGAIN, LATEST_BEFORE, LATEST_BEFORE_AGAIN, LATEST_BTREE_READ -> {
                    // the function and the first run's SQL read disjoint halves of the series, so that neither
                    // finds the other's index pages in the buffer pool (the first half for the function)
                    final int half = series / 2;
                    final Integer[] ids = new Integer[1_000];
                    final boolean before = query.endsWith("SQL of the first 100 M run");
                    final int first = query.equals(LATEST_BTREE_READ) ? random.nextInt(series - 1_000)
                        : random.nextInt(half - 1_000) + (before ? half : 0);
                    for (int i = 0; i < ids.length; i++) {
                        ids[i] = first + i;
                    }
                    ps.setArray(1, c.createArrayOf("int4", ids));
                    if (query.contains("again")) { // the same series read once before, untimed
                        try (ResultSet rs = ps.executeQuery()) {
                            while (rs.next()) {
                                rs.getDouble(3);
                            }
                        }
                    }
                }
                case "one series over 24 h" -> {
                    final int s = random.nextInt(series);
                    final OffsetDateTime to = ts(end - random.nextInt(3_600));
                    final OffsetDateTime from = to.minusSeconds(86_400);
                    int p = 1;
                    ps.setInt(p++, s);
                    ps.setObject(p++, from);
                    ps.setObject(p++, to);
                    if (layout.equals("blocks")) {
                        ps.setObject(p++, from);
                        ps.setObject(p++, to);
                        ps.setInt(p++, s);
                        ps.setObject(p++, from);
                        ps.setObject(p, to);
                    }
                }
                default -> {
                    // a day before the end (mid-data when there is less than two days)
                    final OffsetDateTime from = ts(end - Math.min(86_400, days * 43_200L) - random.nextInt(3_600));
                    final OffsetDateTime to = from.plusSeconds(300);
                    ps.setObject(1, from);
                    ps.setObject(2, to);
                    if (layout.equals("blocks")) {
                        ps.setObject(3, from);
                        ps.setObject(4, to);
                        ps.setObject(5, from);
                        ps.setObject(6, to);
                    }
                }
            }
            final long t0 = System.nanoTime();
            long n = 0;
            long sum = 0;
            try (ResultSet rs = ps.executeQuery()) {
                final int cols = rs.getMetaData().getColumnCount();
                while (rs.next()) {
                    n++;
                    final OffsetDateTime t = rs.getObject(cols - 1, OffsetDateTime.class);
                    sum += t.toEpochSecond() * 1_000_000L + t.getNano() / 1_000 + Math.round(rs.getDouble(cols) * 100);
                }
            }
            final double ms = (System.nanoTime() - t0) / 1e6;
            return new double[] {ms, n, sum};
        }
    }

    private static OffsetDateTime ts(long epochSecond) {
        return OffsetDateTime.ofInstant(Instant.ofEpochSecond(epochSecond), ZoneOffset.UTC);
    }

    private static String size(Connection c, String rel) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT pg_size_pretty(pg_total_relation_size(?::regclass))")) {
            ps.setString(1, rel);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getString(1);
            }
        }
    }
}
