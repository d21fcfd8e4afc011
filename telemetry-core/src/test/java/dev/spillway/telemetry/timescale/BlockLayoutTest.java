package dev.spillway.telemetry.timescale;

import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link StorageLayout#BLOCKS}: what goes in comes back out of the view {@code <table>} exactly as the rows layout
 * returns it (times to the microsecond, values to the bit, kinds, sequences), whether a source's events became a block
 * with consecutive sequences, a block with stored sequences, or rows; the ledger keeps retries exactly-once; the
 * compaction moves old rows into blocks without changing what the view or the gap query read.
 */
class BlockLayoutTest {

    private static final long T0 = 1_700_000_000_000_000_000L;
    private static TestDatabase db;

    @BeforeAll
    static void createDatabase() {
        db = TestDatabase.create("blocks");
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    private static TimescaleSink.Builder sink(String table, StorageLayout layout) {
        return TimescaleSink.builder().dataSource(db.dataSource()).table(table).storageLayout(layout);
    }

    /**
     * A batch mixing every case: source 1 with 40 consecutive events (a block, sequences not stored), source 2 with
     * 20 events with gaps and out of order (a block with stored sequences), source 3 with two kinds of 10 events each
     * (two blocks), sources 10..29 with 2 events each (rows), values that need every bit (NaN payloads aside), times
     * before 1970 and with sub-microsecond parts.
     */
    private static TestBatch mixed(long id, long seqBase) {
        final TestBatch b = new TestBatch(id);
        final SplittableRandom r = new SplittableRandom(id);
        for (int i = 0; i < 40; i++) {
            b.add(T0 + i * 1_000_123L, 1, (short) 1, r.nextDouble() * 1e6, seqBase + i);
        }
        final long[] seqs = {0, 1, 2, 5, 4, 9, 10, 11, 12, 20, 21, 22, 23, 24, 30, 31, 32, 33, 34, 35};
        for (int i = 0; i < seqs.length; i++) {
            b.add(-5_000_000_001L + i * 999L, 2, (short) 2, -i / 3.0, seqBase + seqs[i]);
        }
        for (int i = 0; i < 20; i++) {
            b.add(T0 + i, 3, (short) (1 + i % 2), i == 7 ? Double.MAX_VALUE : i == 8 ? Double.MIN_VALUE : i * 0.1,
                seqBase + i);
        }
        for (int s = 10; s < 30; s++) {
            b.add(T0 + s * 7L, s, (short) 4, s, seqBase);
            b.add(T0 + s * 7L + 1_000, s, (short) 4, s + 0.5, seqBase + 1);
        }
        return b;
    }

    @Test
    void theViewReadsLikeTheRowsTable() throws Exception {
        try (TimescaleSink rows = sink("rt_rows", StorageLayout.ROWS).build();
             TimescaleSink blocks = sink("rt_blocks", StorageLayout.BLOCKS).build()) {
            for (long id = 1; id <= 3; id++) {
                final TestBatch b = mixed(id, id * 100);
                assertEquals(b.size(), rows.write(b));
                assertEquals(b.size(), blocks.write(b));
            }
        }
        final List<String> expected = dump("rt_rows");
        assertEquals(3 * (40 + 20 + 20 + 40), expected.size());
        assertEquals(expected, dump("rt_blocks"), "the view returns exactly the rows layout's rows");
        // 3 batches x (source 1, source 2, source 3 kind 1, source 3 kind 2) blocks; the 2-event sources as rows
        assertEquals(12, db.queryLong("select count(*) from rt_blocks_blocks"));
        assertEquals(9, db.queryLong("select count(*) from rt_blocks_blocks where seqs is not null"),
            "only source 2's blocks and source 3's (its two kinds interleave their sequences) store sequences");
        assertEquals(3 * 40, db.queryLong("select count(*) from rt_blocks_rows"));
        assertEquals(gaps(GapQuery.sql("rt_rows")), gaps(GapQuery.sql("rt_blocks", StorageLayout.BLOCKS)));
        assertEquals(gaps(GapQuery.sql("rt_rows")), gaps(GapQuery.sql("rt_blocks")));
        assertTrue(gaps(GapQuery.sql("rt_rows")).contains("2 102 104 1"), gaps(GapQuery.sql("rt_rows")).toString());
    }

    @Test
    void aRetriedBatchIsNotWrittenTwice() throws Exception {
        try (TimescaleSink s = sink("dedup_blocks", StorageLayout.BLOCKS).build()) {
            final TestBatch b = mixed(7, 0);
            assertEquals(b.size(), s.write(b));
            assertEquals(b.size(), s.write(b), "the retry reports the batch as written");
            assertEquals(1, s.batchesAlreadyCommitted());
            assertEquals(b.size(), db.queryLong("select count(*) from dedup_blocks"));
            assertEquals(b.size(), db.queryLong("select count(distinct (source_id, kind, seq)) from dedup_blocks"));
        }
    }

    @Test
    void compactionMovesOldRowsIntoBlocksAndKeepsWhatTheViewReads() throws Exception {
        // 30 s of events inside one hour, three hours back (not across an hour boundary: that hour would become two
        // blocks per source, as a run at 21:59:50 found)
        final long threeHoursBack = System.currentTimeMillis() - Duration.ofHours(3).toMillis();
        final long old = (threeHoursBack - Math.floorMod(threeHoursBack, Duration.ofHours(1).toMillis())
            + Duration.ofMinutes(10).toMillis()) * 1_000_000L;
        try (TimescaleSink s = sink("compact", StorageLayout.BLOCKS).compactRowsAfter(Duration.ofMinutes(30))
                .build()) {
            // The low-rate case: every batch holds one event per source, so everything is written as rows.
            long id = 1;
            for (int second = 0; second < 30; second++) {
                final TestBatch b = new TestBatch(id++);
                for (int src = 1; src <= 5; src++) {
                    if (src == 3 && second == 17) {
                        continue; // a lost event: a gap that must survive the compaction
                    }
                    b.add(old + second * 1_000_000_000L + src, src, (short) 1, second * 10 + src, second);
                }
                s.write(b);
            }
            final TestBatch recent = new TestBatch(id);
            recent.add(System.currentTimeMillis() * 1_000_000L, 1, (short) 1, -1, 30);
            s.write(recent);
            assertEquals(0, db.queryLong("select count(*) from compact_blocks"));
            final List<String> before = dump("compact");
            final List<String> gapsBefore = gaps(GapQuery.sql("compact", StorageLayout.BLOCKS));
            assertEquals(List.of("3 16 18 1"), gapsBefore);

            final String latestByView = "select distinct on (source_id) " + LATEST_COLUMNS + " from compact "
                + "order by source_id, time desc, seq desc";
            final String latest = "select " + LATEST_COLUMNS + " from compact_latest(ARRAY[1, 2, 3, 4, 5]) "
                + "order by source_id";
            final List<String> latestBefore = rowsOf(latestByView);
            assertEquals(5, latestBefore.size());
            assertEquals(latestBefore, rowsOf(latest), "all rows");
            assertEquals(5, s.compactRows(), "one block per source for the hour");
            assertEquals(1, db.queryLong("select count(*) from compact_rows"), "the recent row stays a row");
            assertEquals(1, db.queryLong("select count(*) from compact_blocks where seqs is not null"),
                "the block with the gap stores its sequences");
            assertEquals(before, dump("compact"));
            assertEquals(latestBefore, rowsOf(latestByView));
            assertEquals(latestBefore, rowsOf(latest), "sources 2-5 only blocks, source 1 a recent row too");
            assertEquals(gapsBefore, gaps(GapQuery.sql("compact", StorageLayout.BLOCKS)));
            assertEquals(gapsBefore, gaps(GapQuery.sql("compact")));
            assertEquals(0, s.compactRows(), "nothing left to move");
        }
    }

    @Test
    void compactionMovesOnlyHoursThatEndedCompactRowsAfterAgoSoASeriesGetsOneBlockPerHour() throws Exception {
        final long hour = Duration.ofHours(1).toMillis();
        try (TimescaleSink s = sink("hourly", StorageLayout.BLOCKS).compactRowsAfter(Duration.ofMinutes(30))
                .build()) {
            // Rows older than compactRowsAfter, in the hour that compactRowsAfter reaches into: they stay rows until
            // that hour ended 30 min ago, so a pass every minute cannot cut a series' hour into one-minute blocks.
            // A pass that crosses an hour boundary is retried (the hour reached moves with the clock).
            for (int attempt = 0; ; attempt++) {
                db.execute("TRUNCATE hourly_rows, hourly_blocks, hourly_batches");
                final long now = System.currentTimeMillis();
                final long reached = now - Duration.ofMinutes(30).toMillis();
                final long hourStart = reached - Math.floorMod(reached, hour);
                final long openHourMs = hourStart + 500; // in the open hour, older than 30 min unless just past it
                final long closedHourMs = hourStart - hour + 1_000; // in the hour before: that one ended >= 30 min ago
                final TestBatch b = new TestBatch(attempt * 10L + 1);
                for (int src = 1; src <= 3; src++) {
                    b.add(closedHourMs * 1_000_000L + src, src, (short) 1, src, 0);
                    b.add(openHourMs * 1_000_000L + src, src, (short) 1, src, 1);
                }
                s.write(b);
                final int blocks = s.compactRows();
                final long after = System.currentTimeMillis() - Duration.ofMinutes(30).toMillis();
                if (after - Math.floorMod(after, hour) != hourStart && attempt < 3) {
                    continue;
                }
                assertEquals(3, blocks, "one block per series for the closed hour");
                assertEquals(3, db.queryLong("select count(*) from hourly_rows"), "the open hour's rows stay rows");
                assertEquals(0, db.queryLong("select count(*) from hourly_rows where time < to_timestamp("
                    + hourStart / 1000 + ")"), "nothing of the closed hour is left as rows");
                assertEquals(0, s.compactRows(), "the open hour waits until it ended 30 min ago");
                break;
            }
        }
    }

    /**
     * {@code <table>_latest(ids)} answers what the view answers with {@code DISTINCT ON (source_id) ... ORDER BY
     * source_id, time DESC, seq DESC}, on both layouts, for every way a source's newest event can be stored.
     */
    @Test
    void theLatestFunctionAnswersLikeTheViewInEveryCase() throws Exception {
        final long us = 1_000L;
        final List<TestBatch> batches = new ArrayList<>();
        final TestBatch first = new TestBatch(1);
        for (int i = 0; i < 40; i++) {
            first.add(T0 + i * us, 1, (short) 1, i, i); // source 1: one block, nothing else
            first.add(T0 + i * us, 3, (short) 1, 300 + i, i); // source 3: a block ending at T0 + 39 us ...
            first.add(T0 + i * us, 4, (short) 1, 400 + i, i); // 4: a block ending where a row with a higher seq is
            first.add(T0 + i * us, 5, (short) 1, 500 + i, 10 + i); // 5: ... where a row with a lower seq is
            first.add(T0 + i * us, 8, (short) 1, 800 + i, i); // 8: a block, then a newer row
            first.add(T0 + i * us, 9, (short) (1 + i % 2), 900 + i, i); // 9: two kinds, two blocks
        }
        for (int i = 0; i < 10; i++) { // 6: times not in sequence order, the newest in the middle of the block
            first.add(T0 + (i == 4 ? 100 : i) * us, 6, (short) 1, 600 + i, i);
        }
        for (int i = 0; i < 10; i++) { // 7: two blocks with the same last time; the later sequence wins
            first.add(T0 + (i == 9 ? 50 : i) * us, 7, (short) 1, 700 + i, i);
        }
        for (int i = 0; i < 10; i++) { // 10: the last element has the last time but not the greatest sequence
            first.add(T0 + (i >= 8 ? 50 : i) * us, 10, (short) 1, 1000 + i, i == 8 ? 20 : i);
        }
        batches.add(first);
        final TestBatch second = new TestBatch(2);
        for (int i = 0; i < 10; i++) {
            second.add(T0 + (i == 5 ? 50 : 20 + i) * us, 7, (short) 1, 710 + i, 10 + i);
        }
        second.add(T0 + 5 * us, 2, (short) 3, 200, 0); // source 2: rows only
        second.add(T0 + 6 * us, 2, (short) 3, 201, 1);
        second.add(T0 + 10 * us, 3, (short) 1, -3, 100); // 3: a late row, older than the source's block
        second.add(T0 + 39 * us, 4, (short) 1, -4, 99); // 4: same time as the block's end, higher seq: the row
        second.add(T0 + 39 * us, 5, (short) 1, -5, 0); // 5: same time, lower seq: the block's event
        second.add(T0 + 41 * us, 8, (short) 1, -8, 40); // 8: newer than the block: the row
        batches.add(second);
        try (TimescaleSink rows = sink("lt_rows", StorageLayout.ROWS).build();
             TimescaleSink blocks = sink("lt_blocks", StorageLayout.BLOCKS).compactRowsAfter(null).build()) {
            for (TestBatch b : batches) {
                assertEquals(b.size(), rows.write(b));
                assertEquals(b.size(), blocks.write(b));
            }
        }
        // the cases are stored as meant
        assertEquals(0, db.queryLong("select count(*) from lt_blocks_rows where source_id in (1, 6, 7, 9, 10)"));
        assertEquals(0, db.queryLong("select count(*) from lt_blocks_blocks where source_id = 2"));
        assertEquals(1, db.queryLong("select count(*) from lt_blocks_rows r join lt_blocks_blocks b using (source_id) "
            + "where source_id = 3 and b.time_max > r.time"), "source 3: a late row beside a newer block");
        assertEquals(2, db.queryLong("select count(*) from lt_blocks_blocks where source_id = 7 and time_max = "
            + "to_timestamp(" + T0 / 1_000_000_000L + ") + interval '50 microseconds'"));
        final String ids = "ARRAY[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 99]";
        final List<String> expected = rowsOf("select distinct on (source_id) " + LATEST_COLUMNS + " from lt_rows "
            + "where source_id = any(" + ids + ") order by source_id, time desc, seq desc");
        assertEquals(List.of("1 1 39 39", "2 3 6 201", "3 1 39 339", "4 1 39 -4", "5 1 39 539", "6 1 100 604",
            "7 1 50 715", "8 1 41 -8", "9 2 39 939", "10 1 50 1008"), expected.stream().map(BlockLayoutTest::brief).toList());
        assertEquals(expected, rowsOf("select distinct on (source_id) " + LATEST_COLUMNS + " from lt_blocks "
            + "where source_id = any(" + ids + ") order by source_id, time desc, seq desc"), "the view");
        assertEquals(expected, rowsOf("select " + LATEST_COLUMNS + " from lt_blocks_latest(" + ids + ") "
            + "order by source_id"), "the function on blocks");
        assertEquals(expected, rowsOf("select " + LATEST_COLUMNS + " from lt_rows_latest(" + ids + ") "
            + "order by source_id"), "the function on rows");
        assertEquals(List.of(), rowsOf("select " + LATEST_COLUMNS + " from lt_blocks_latest(ARRAY[99, NULL])"),
            "no events, no row");
        // A caller whose search_path finds other tables of the same names first still reads the sink's tables.
        final String home = rowsOf1("select current_schema()");
        db.execute("create schema if not exists lt_decoy; create table lt_decoy.lt_rows (like " + home + ".lt_rows); "
            + "create table lt_decoy.lt_blocks_rows (like " + home + ".lt_blocks_rows); "
            + "insert into lt_decoy.lt_rows (time, source_id, kind, value, seq) select time + interval '1 hour', "
            + "source_id, kind, -1, seq + 1000 from " + home + ".lt_rows; insert into lt_decoy.lt_blocks_rows "
            + "(time, source_id, kind, value, seq) select time, source_id, kind, value, seq from lt_decoy.lt_rows");
        final String path = "set search_path = lt_decoy, " + home;
        assertEquals(expected, rowsOf(path, "select " + LATEST_COLUMNS + " from " + home + ".lt_blocks_latest(" + ids
            + ") order by source_id"), "the function on blocks, another schema first on the path");
        assertEquals(expected, rowsOf(path, "select " + LATEST_COLUMNS + " from " + home + ".lt_rows_latest(" + ids
            + ") order by source_id"), "the function on rows, another schema first on the path");
    }

    private static String rowsOf1(String sql) throws SQLException {
        try (Connection c = db.connect(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    @Test
    void aTableOfTheOtherLayoutIsRefusedByName() throws Exception {
        try (TimescaleSink s = sink("was_rows", StorageLayout.ROWS).build()) {
            assertEquals(StorageLayout.ROWS, s.storageLayout());
        }
        final IllegalStateException e = assertThrows(IllegalStateException.class,
            () -> sink("was_rows", StorageLayout.BLOCKS).build());
        assertTrue(e.getMessage().contains("use storageLayout(ROWS)"), e.getMessage());
        try (TimescaleSink s = sink("was_blocks", StorageLayout.BLOCKS).build()) {
            assertEquals(StorageLayout.BLOCKS, s.storageLayout());
        }
        final IllegalStateException back = assertThrows(IllegalStateException.class,
            () -> sink("was_blocks", StorageLayout.ROWS).build());
        assertTrue(back.getMessage().contains("use storageLayout(BLOCKS)"), back.getMessage());
    }

    /**
     * No storageLayout set (the default): a new table gets blocks; an existing rows table (a database from before
     * blocks became the default) keeps rows, starts, takes writes and reads them back; an existing blocks view keeps
     * blocks. Setting the other layout explicitly still fails naming the setting.
     */
    @Test
    void withoutAnExplicitLayoutANewTableGetsBlocksAndAnExistingTableKeepsItsLayout() throws Exception {
        try (TimescaleSink s = TimescaleSink.builder().dataSource(db.dataSource()).table("auto_new").build()) {
            assertEquals(StorageLayout.BLOCKS, s.storageLayout());
        }
        assertEquals(1, db.queryLong("SELECT count(*) FROM pg_class WHERE relname = 'auto_new' AND relkind = 'v'"),
            "auto_new is the view over blocks");
        try (TimescaleSink s = sink("auto_old", StorageLayout.ROWS).build()) {
            assertEquals(StorageLayout.ROWS, s.storageLayout());
        }
        try (TimescaleSink s = TimescaleSink.builder().dataSource(db.dataSource()).table("auto_old").build()) {
            assertEquals(StorageLayout.ROWS, s.storageLayout(), "an existing rows table keeps its layout");
            assertEquals(120, s.write(mixed(1, 0)));
        }
        assertEquals(1, db.queryLong("SELECT count(*) FROM pg_class WHERE relname = 'auto_old' AND relkind = 'r'"),
            "auto_old is still a table");
        assertEquals(120, db.queryLong("SELECT count(*) FROM auto_old"), "the batch landed as rows");
        assertEquals(0, db.queryLong("SELECT count(*) FROM pg_class WHERE relname = 'auto_old_blocks'"),
            "no blocks table made");
        try (TimescaleSink s = TimescaleSink.builder().dataSource(db.dataSource()).table("auto_new").build()) {
            assertEquals(StorageLayout.BLOCKS, s.storageLayout(), "an existing blocks view keeps its layout");
        }
        final IllegalStateException e = assertThrows(IllegalStateException.class,
            () -> sink("auto_old", StorageLayout.BLOCKS).build());
        assertTrue(e.getMessage().contains("storageLayout BLOCKS; use storageLayout(ROWS)"), e.getMessage());
    }

    @Test
    void invalidSettingsAreNamed() {
        final IllegalArgumentException layout = assertThrows(IllegalArgumentException.class,
            () -> sink("x", null).build());
        assertTrue(layout.getMessage().contains("storageLayout must be one of ROWS, BLOCKS"), layout.getMessage());
        final IllegalArgumentException after = assertThrows(IllegalArgumentException.class,
            () -> sink("x", StorageLayout.BLOCKS).compactRowsAfter(Duration.ofSeconds(5)).build());
        assertTrue(after.getMessage().contains("compactRowsAfter must be"), after.getMessage());
    }

    private static final String LATEST_COLUMNS = "source_id, kind, (extract(epoch from time) * 1000000)::bigint, "
        + "float8send(value)::text, seq, value";

    /** Rows of {@link #LATEST_COLUMNS}, exactly (times in microseconds, values as raw bits). */
    private static List<String> rowsOf(String sql) throws SQLException {
        return rowsOf("select 1", sql);
    }

    /** {@link #rowsOf(String)} on a connection that first ran {@code setup}. */
    private static List<String> rowsOf(String setup, String sql) throws SQLException {
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            st.execute(setup);
            try (ResultSet rs = st.executeQuery(sql)) {
                return rowsOfResult(rs);
            }
        }
    }

    private static List<String> rowsOfResult(ResultSet rs) throws SQLException {
        final List<String> out = new ArrayList<>();
        while (rs.next()) {
            out.add(rs.getInt(1) + " " + rs.getShort(2) + " " + rs.getLong(3) + " " + rs.getString(4) + " "
                + rs.getLong(5) + " " + rs.getDouble(6));
        }
        return out;
    }

    /** "source kind microseconds-after-T0 value" of a {@link #rowsOf} row. */
    private static String brief(String row) {
        final String[] f = row.split(" ");
        return f[0] + " " + f[1] + " " + (Long.parseLong(f[2]) - T0 / 1_000L) + " " + (long) Double.parseDouble(f[5]);
    }

    /** Every event, in a total order, with times in microseconds and values as raw bits. */
    private static List<String> dump(String relation) throws SQLException {
        try (Connection c = db.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select (extract(epoch from time) * 1000000)::bigint, source_id, kind, "
                 + "float8send(value)::text, seq from " + relation + " order by source_id, kind, seq")) {
            final List<String> out = new ArrayList<>();
            while (rs.next()) {
                out.add(rs.getLong(1) + " " + rs.getInt(2) + " " + rs.getShort(3) + " " + rs.getString(4) + " "
                    + rs.getLong(5));
            }
            return out;
        }
    }

    private static List<String> gaps(String sql) throws SQLException {
        try (Connection c = db.connect(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            final List<String> out = new ArrayList<>();
            while (rs.next()) {
                out.add(rs.getInt("source_id") + " " + rs.getLong("after_seq") + " " + rs.getLong("before_seq") + " "
                    + rs.getLong("missing"));
            }
            return out;
        }
    }
}
