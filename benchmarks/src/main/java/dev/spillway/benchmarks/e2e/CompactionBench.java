package dev.spillway.benchmarks.e2e;

import dev.spillway.telemetry.timescale.GapQuery;
import dev.spillway.telemetry.timescale.StorageLayout;
import dev.spillway.telemetry.timescale.TimescaleSink;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;

/**
 * Issue #25, the low-rate case of the blocks layout: {@code SERIES} series (default 1,000) reporting once a second
 * for {@code MINUTES} minutes (default 60) land as rows (one event per series per batch is below
 * {@link StorageLayout#MIN_BLOCK_EVENTS}); this measures what the background compaction costs to move them into
 * blocks: one {@link TimescaleSink#compactRows()} pass, its wall time and PostgreSQL's CPU per event moved, the
 * rows table before and the blocks after, and that the view and the gap query read the same before and after.
 * Writes {@code compaction.md}.
 *
 * <pre>java -cp benchmarks.jar dev.spillway.benchmarks.e2e.CompactionBench [--series N] [--minutes M] [--out DIR]</pre>
 */
public final class CompactionBench {

    private CompactionBench() {
    }

    public static void main(String[] args) throws Exception {
        int series = 1_000;
        int minutes = 60;
        Path out = Path.of("benchmarks/results");
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--series" -> series = Integer.parseInt(args[++i]);
                case "--minutes" -> minutes = Integer.parseInt(args[++i]);
                case "--out" -> out = Path.of(args[++i]);
                default -> {
                    System.err.println("usage: CompactionBench [--series N] [--minutes M] [--out DIR]");
                    System.exit(2);
                }
            }
        }
        Files.createDirectories(out);
        final String loadStart = IngestRace.loadAverage();
        try (BenchDatabase db = BenchDatabase.open()) {
            // The schema first, without compaction; the measured sink is built after the rows are in, and its
            // explicit pass runs before its background thread's first one (a period later).
            TimescaleSink.builder().jdbcUrl(db.jdbcUrl()).username(db.user()).password(db.password()).table("low_rate")
                .storageLayout(StorageLayout.BLOCKS).compactRowsAfter(null).build().close();
            // Old enough to be compacted: compaction moves whole hours that ended at least compactRowsAfter (10 min)
            // ago, so the points end at the last hour boundary at least 11 minutes back.
            final long reach = Instant.now().getEpochSecond() - 660;
            final long end = reach - Math.floorMod(reach, 3_600L);
            final long start = end - minutes * 60L;
            db.execute("INSERT INTO low_rate_rows (time, source_id, kind, value, seq) SELECT to_timestamp(" + start
                + " + k + s / " + series + ".0), s, 1, ((s * 7919 + k * 104729) % 100000) / 100.0, k "
                + "FROM generate_series(0, " + (minutes * 60 - 1) + ") k CROSS JOIN LATERAL generate_series(0, "
                + (series - 1) + ") s WHERE NOT (s = 3 AND k = 100)", "VACUUM ANALYZE low_rate_rows");
            final long events = db.count("low_rate");
            final String rowsSize = size(db, "low_rate_rows");
            final String sumBefore = checksum(db);
            final long gapsBefore = gaps(db);
            db.checkpoint();
            final int blocks;
            final double seconds;
            final long pg0;
            final long pg1;
            try (TimescaleSink sink = TimescaleSink.builder().jdbcUrl(db.jdbcUrl()).username(db.user())
                    .password(db.password()).table("low_rate").storageLayout(StorageLayout.BLOCKS)
                    .compactRowsAfter(Duration.ofMinutes(10)).build()) {
                pg0 = db.serverCpuNanos();
                final long t0 = System.nanoTime();
                blocks = sink.compactRows();
                seconds = (System.nanoTime() - t0) / 1e9;
                pg1 = db.serverCpuNanos();
            }
            db.execute("VACUUM low_rate_rows");
            if (!checksum(db).equals(sumBefore) || gaps(db) != gapsBefore || db.count("low_rate") != events
                || db.count("low_rate_rows") != 0) {
                throw new IllegalStateException("compaction changed what the view reads: checksum " + sumBefore + " -> "
                    + checksum(db) + ", gaps " + gapsBefore + " -> " + gaps(db) + ", events " + events + " -> "
                    + db.count("low_rate") + ", rows left " + db.count("low_rate_rows") + ", blocks " + blocks);
            }
            final String md = String.format(Locale.ROOT, "# Compaction of the blocks layout's rows (issue #25)%n%n"
                    + "%,d series once a second for %d minutes: %,d events written as rows (the low-rate case), %s "
                    + "(table + index). One `compactRows()` pass moved them into %,d blocks (one per series and hour) "
                    + "in %.2f s: %,.0f events/s, PostgreSQL CPU %.2f us per event moved; blocks table afterwards %s. "
                    + "The view and the gap query (%d gap) read the same before and after. Load average %s at the "
                    + "start, %s at the end.%n", series, minutes, events, rowsSize, blocks, seconds, events / seconds,
                pg0 < 0 || pg1 < 0 ? Double.NaN : (pg1 - pg0) / 1e3 / events, size(db, "low_rate_blocks"), gapsBefore,
                loadStart, IngestRace.loadAverage());
            Files.writeString(out.resolve("compaction.md"), md);
            System.out.println(md);
        }
        System.exit(0);
    }

    private static String checksum(BenchDatabase db) throws Exception {
        try (Connection c = db.connect(); Statement st = c.createStatement();
             // value summed as numeric: a float8 sum depends on the order rows are read (rows vs blocks).
             ResultSet rs = st.executeQuery("SELECT count(*), sum(seq), sum(value::numeric), "
                 + "sum(extract(epoch FROM time)) FROM low_rate")) {
            rs.next();
            return rs.getString(1) + "/" + rs.getString(2) + "/" + rs.getString(3) + "/" + rs.getString(4);
        }
    }

    private static long gaps(BenchDatabase db) throws Exception {
        try (Connection c = db.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM (" + GapQuery.sql("low_rate", StorageLayout.BLOCKS)
                 + ") g")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static String size(BenchDatabase db, String rel) throws Exception {
        try (Connection c = db.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT pg_size_pretty(pg_total_relation_size('" + rel + "'))")) {
            rs.next();
            return rs.getString(1);
        }
    }
}
