package dev.spillway.benchmarks.e2e;

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
 * 10,000) each with one point every 259.2 s (the rate of 100 M rows over 30 days) for {@code DAYS} days (default 3:
 * 10 M rows; {@code --days 30} is the 100 M). Both tables are built by the sink ({@link TimescaleSink}, index
 * mode DEFAULT), then filled hour by hour in time order: the rows layout with one row per point, the blocks layout
 * as its compaction leaves it (one block per series and hour, the last 10 minutes still rows). Queries, each run
 * {@code --runs} times per layout (default 15), the layouts alternating, with other series and times each run:
 * <ol>
 *   <li>latest value of 1,000 series;</li>
 *   <li>one series over 24 h;</li>
 *   <li>a 5-minute range over all series (one day before the end, so recency does not help either layout).</li>
 * </ol>
 * Every query's answer is checked to be the same on both layouts (row count and a checksum of times and values).
 * <ol>
 * </ol>
 * Writes {@code queries.md}: median and p90 per query and layout, rows returned, table sizes, load average.
 *
 * <pre>java -cp benchmarks.jar dev.spillway.benchmarks.e2e.QueryBench [--series N] [--days D] [--runs R] [--out DIR]</pre>
 */
public final class QueryBench {

    private static final double STEP_SECONDS = 259.2;
    private static final String ROWS = "q_rows";
    private static final String BLOCKS = "q_blocks";

    private QueryBench() {
    }

    public static void main(String[] args) throws Exception {
        int series = 10_000;
        int days = 3;
        int runs = 15;
        Path out = Path.of("benchmarks/results");
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--series" -> series = Integer.parseInt(args[++i]);
                case "--days" -> days = Integer.parseInt(args[++i]);
                case "--runs" -> runs = Integer.parseInt(args[++i]);
                case "--out" -> out = Path.of(args[++i]);
                default -> {
                    System.err.println("usage: QueryBench [--series N] [--days D] [--runs R] [--out DIR]");
                    System.exit(2);
                }
            }
        }
        Files.createDirectories(out);
        final String loadStart = IngestRace.loadAverage();
        final String started = Instant.now().toString();
        final Map<String, String> table = new LinkedHashMap<>();
        try (BenchDatabase db = BenchDatabase.open()) {
            final long end = Instant.parse("2026-01-31T00:00:00Z").getEpochSecond();
            final long t0 = System.nanoTime();
            final long points = fill(db, series, days, end);
            final double fillSeconds = (System.nanoTime() - t0) / 1e9;
            System.out.printf(Locale.ROOT, "[query] %,d points per layout loaded in %.0f s%n", points, fillSeconds);
            final List<String> lines = new ArrayList<>();
            lines.add("| query | layout | median ms | p90 ms | rows returned (median) |");
            lines.add("| --- | --- | ---: | ---: | ---: |");
            try (Connection c = db.connect()) {
                final SplittableRandom random = new SplittableRandom(25);
                for (String q : new String[] {"latest value of 1,000 series", "one series over 24 h",
                    "5-minute range over all series"}) {
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
                table.put("blocks", size(c, BLOCKS + "_blocks") + " + rows " + size(c, BLOCKS + "_rows"));
            }
            final StringBuilder md = new StringBuilder();
            md.append("# Queries on the two storage layouts (issue #25)\n\n");
            md.append(String.format(Locale.ROOT, "Started %s; %,d series, one point per series every %.1f s for %d days: "
                    + "%,d points per layout (loaded in %.0f s); index mode DEFAULT; %d timed runs per query and layout "
                    + "(after 2 untimed), layouts alternating; load average %s at the start, %s at the end; embedded "
                    + "PostgreSQL (%s).\n\n", started, series, STEP_SECONDS, days, points, fillSeconds, runs, loadStart,
                IngestRace.loadAverage(), db.version().split(",")[0]));
            md.append(String.join("\n", lines)).append("\n\n");
            md.append("Sizes (table + indexes): rows layout ").append(table.get("rows")).append("; blocks layout ")
                .append(table.get("blocks")).append(".\n\nThe SQL of each query is in `QueryBench.sql`.\n");
            Files.writeString(out.resolve("queries.md"), md.toString());
            System.out.println(md);
        }
        System.exit(0);
    }

    /** Builds both layouts with the sink, then fills them hour by hour; returns the points per layout. */
    private static long fill(BenchDatabase db, int series, int days, long endEpochSecond) throws Exception {
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            st.execute("DROP VIEW IF EXISTS " + BLOCKS + " CASCADE");
            st.execute("DROP TABLE IF EXISTS " + ROWS + ", " + ROWS + "_batches, " + BLOCKS + "_blocks, "
                + BLOCKS + "_rows, " + BLOCKS + "_batches CASCADE");
        }
        for (StorageLayout layout : StorageLayout.values()) {
            try (TimescaleSink sink = TimescaleSink.builder().jdbcUrl(db.jdbcUrl()).username(db.user())
                    .password(db.password()).table(layout == StorageLayout.ROWS ? ROWS : BLOCKS)
                    .indexMode(IndexMode.DEFAULT).storageLayout(layout).compactRowsAfter(null).build()) {
                System.out.println("[query] created " + sink);
            }
        }
        final long perSeries = (long) (days * 86_400L / STEP_SECONDS);
        final long start = endEpochSecond - (long) (perSeries * STEP_SECONDS);
        final long hours = (endEpochSecond - start + 3_599) / 3_600;
        // point k of series s is at start + k * STEP + s * STEP / series; value and seq are functions of (s, k)
        final String gen = "SELECT s, k, to_timestamp(" + start + " + k * " + STEP_SECONDS + " + s * " + STEP_SECONDS
            + " / " + series + ") AS t, ((s * 7919 + k * 104729) % 100000) / 100.0 AS v "
            + "FROM generate_series(greatest(0, ceil((?::float8 - " + start + " - " + STEP_SECONDS + ") / "
            + STEP_SECONDS + "))::bigint, least(" + (perSeries - 1) + ", floor((?::float8 - " + start + ") / "
            + STEP_SECONDS + "))::bigint) k CROSS JOIN LATERAL generate_series(0, " + (series - 1) + ") s";
        final String hourFilter = " WHERE t >= to_timestamp(?) AND t < to_timestamp(?)";
        final long recentFrom = endEpochSecond - 600;
        try (Connection c = db.connect();
             PreparedStatement rows = c.prepareStatement("INSERT INTO " + ROWS + " (time, source_id, kind, value, seq) "
                 + "SELECT t, s, 1, v, k FROM (" + gen + ") g" + hourFilter + " ORDER BY k, s");
             PreparedStatement blocks = c.prepareStatement("INSERT INTO " + BLOCKS + "_blocks (source_id, kind, "
                 + "time_min, time_max, first_seq, last_seq, n, times, vals, seqs) SELECT s, 1, min(t), max(t), min(k), "
                 + "max(k), count(*)::int, array_agg(t ORDER BY k), array_agg(v ORDER BY k), NULL FROM (" + gen
                 + ") g" + hourFilter + " GROUP BY s ORDER BY s");
             PreparedStatement recent = c.prepareStatement("INSERT INTO " + BLOCKS + "_rows (time, source_id, kind, "
                 + "value, seq) SELECT t, s, 1, v, k FROM (" + gen + ") g" + hourFilter + " ORDER BY k, s")) {
            for (long h = 0; h < hours; h++) {
                final long from = start + h * 3_600;
                final long to = Math.min(from + 3_600, endEpochSecond + 1);
                bind(rows, from, to);
                rows.executeUpdate();
                // the blocks layout as compaction leaves it: whole hours as blocks, the last 10 minutes as rows
                bind(blocks, from, Math.min(to, recentFrom));
                if (from < recentFrom) {
                    blocks.executeUpdate();
                }
                if (to > recentFrom) {
                    bind(recent, Math.max(from, recentFrom), to);
                    recent.executeUpdate();
                }
                if (h % 12 == 11) {
                    System.out.printf(Locale.ROOT, "[query] %d of %d hours loaded%n", h + 1, hours);
                }
            }
        }
        db.execute("VACUUM ANALYZE " + ROWS, "VACUUM ANALYZE " + BLOCKS + "_blocks", "VACUUM ANALYZE " + BLOCKS + "_rows");
        final long a = db.count(ROWS);
        final long b = db.count(BLOCKS);
        if (a != b) {
            throw new IllegalStateException("the layouts hold different points: rows " + a + ", blocks " + b);
        }
        return a;
    }

    private static void bind(PreparedStatement ps, long from, long to) throws SQLException {
        ps.setDouble(1, from);
        ps.setDouble(2, to);
        ps.setLong(3, from);
        ps.setLong(4, to);
    }

    /** The SQL of a query on a layout; parameters are bound by {@link #run}. */
    static String sql(String query, String layout) {
        final boolean rows = layout.equals("rows");
        switch (query) {
            case "latest value of 1,000 series":
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
                case "latest value of 1,000 series" -> {
                    final Integer[] ids = new Integer[1_000];
                    final int first = random.nextInt(series - 1_000);
                    for (int i = 0; i < ids.length; i++) {
                        ids[i] = first + i;
                    }
                    ps.setArray(1, c.createArrayOf("int4", ids));
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
