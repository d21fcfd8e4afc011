package dev.spillway.telemetry.timescale;

import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Schema creation on vanilla PostgreSQL (the embedded server has no TimescaleDB): the plain-table fallback. */
class SchemaTest {

    private static TestDatabase db;

    @BeforeAll
    static void createDatabase() {
        db = TestDatabase.create("schema");
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    private static TimescaleSink.Builder sink(String table) {
        // the rows table's DDL (indexes, NOT NULL columns); BlockLayoutTest covers the blocks layout's
        return TimescaleSink.builder().storageLayout(StorageLayout.ROWS).jdbcUrl(db.jdbcUrl()).username(db.user()).password(db.password())
            .table(table);
    }

    @Test
    void fallsBackToPlainTableAndSaysSo() throws Exception {
        try (LogCapture log = new LogCapture(TimescaleSink.class);
             TimescaleSink s = sink("plain_events").compressAfter(Duration.ofDays(7)).build()) {
            assertFalse(s.isTimescale());
            assertTrue(log.messages("INFO").stream().anyMatch(m -> m.contains("plain PostgreSQL table")),
                "INFO log names the fallback: " + log.messages("INFO"));
        }
        assertEquals(List.of("time timestamp with time zone NO", "source_id integer NO", "kind smallint NO",
            "value double precision NO", "seq bigint NO"), columns("plain_events"));
        assertEquals(List.of("run_id text NO", "batch_id bigint NO", "committed_at timestamp with time zone NO",
            "time_min timestamp with time zone YES", "time_max timestamp with time zone YES"),
            columns("plain_events_batches"));
    }

    /**
     * A ledger from before the event-time columns gets them at the next start; a start on an up-to-date ledger takes
     * no ACCESS EXCLUSIVE lock, so it does not wait for (or stall) writers in the middle of a commit.
     */
    @Test
    void anOldLedgerGetsItsTimeRangeAndAStartDoesNotWaitForWritersMidCommit() throws Exception {
        try (TimescaleSink s = sink("upgraded").build()) {
            assertFalse(s.isTimescale());
        }
        try (Connection c = java.sql.DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password());
             java.sql.Statement st = c.createStatement()) {
            st.execute("ALTER TABLE upgraded_batches DROP COLUMN time_min, DROP COLUMN time_max");
        }
        try (TimescaleSink s = sink("upgraded").build()) {
            assertEquals(1, s.write(new TestBatch(1).add(1_000L, 1, (short) 1, 1.0, 0)));
        }
        assertEquals(List.of("run_id text NO", "batch_id bigint NO", "committed_at timestamp with time zone NO",
            "time_min timestamp with time zone YES", "time_max timestamp with time zone YES"),
            columns("upgraded_batches"));

        final ExecutorService pool = Executors.newSingleThreadExecutor();
        try (Connection writer = java.sql.DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password())) {
            writer.setAutoCommit(false);
            try (java.sql.Statement st = writer.createStatement()) {
                // What a writer mid-commit holds on the ledger.
                st.execute("LOCK TABLE upgraded_batches IN ROW EXCLUSIVE MODE");
            }
            final Future<Integer> start = pool.submit(() -> {
                try (TimescaleSink s = sink("upgraded").build()) {
                    return s.write(new TestBatch(2).add(2_000L, 1, (short) 1, 2.0, 1));
                }
            });
            // A deadline, not a timing: before the fix this start waited until the writer's transaction ended.
            assertEquals(1, start.get(60, TimeUnit.SECONDS), "a start and a write beside a writer mid-commit");
            writer.rollback();
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void creatingTwiceIsIdempotent() throws Exception {
        for (int i = 0; i < 2; i++) {
            try (TimescaleSink s = sink("twice").build()) {
                assertEquals(1, s.write(new TestBatch(1).add(1_000L, 1, (short) 1, 1.0, i)));
            }
        }
        assertEquals(2, db.queryLong("select count(*) from twice"), "the second build kept the first one's rows");
        assertEquals(List.of("twice_src_time_idx"), indexes("twice"));
    }

    @Test
    void concurrentStartsDoNotRace() throws Exception {
        final int starters = 4;
        final CyclicBarrier barrier = new CyclicBarrier(starters);
        final ExecutorService pool = Executors.newFixedThreadPool(starters);
        try {
            final List<Future<Boolean>> results = new ArrayList<>();
            for (int i = 0; i < starters; i++) {
                final Callable<Boolean> start = () -> {
                    barrier.await(10, TimeUnit.SECONDS);
                    try (TimescaleSink s = sink("raced").poolSize(1).build()) {
                        return s.isTimescale();
                    }
                };
                results.add(pool.submit(start));
            }
            for (Future<Boolean> r : results) {
                assertFalse(r.get(60, TimeUnit.SECONDS)); // throws if any start failed
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(List.of("raced_src_time_idx"), indexes("raced"));
    }

    @Test
    void indexModes() throws Exception {
        try (TimescaleSink s = sink("idx_default").indexMode(IndexMode.DEFAULT).build()) {
            assertEquals(List.of("idx_default_src_time_idx"), indexes("idx_default"));
            assertTrue(indexDef("idx_default_src_time_idx").contains("btree (source_id, \"time\" DESC)"),
                indexDef("idx_default_src_time_idx"));
        }
        try (TimescaleSink s = sink("idx_none").indexMode(IndexMode.NONE).build()) {
            assertEquals(List.of(), indexes("idx_none"));
        }
        try (TimescaleSink s = sink("idx_brin").indexMode(IndexMode.BRIN_TIME).build()) {
            assertEquals(List.of("idx_brin_time_brin"), indexes("idx_brin"));
            assertTrue(indexDef("idx_brin_time_brin").contains("USING brin (\"time\")"),
                indexDef("idx_brin_time_brin"));
        }
    }

    @Test
    void reservedWordTableNamesAreQuoted() throws Exception {
        try (TimescaleSink s = sink("user").build()) {
            assertEquals(1, s.write(new TestBatch(1).add(0L, 1, (short) 1, 1.0, 1)));
        }
        assertEquals(1, db.queryLong("select count(*) from \"user\""));
    }

    @Test
    void existingSchemaIsUsedWhenCreationIsOff() throws Exception {
        try (TimescaleSink s = sink("precreated").build()) {
            assertFalse(s.isTimescale());
        }
        try (TimescaleSink s = sink("precreated").createSchema(false).build()) {
            assertFalse(s.isTimescale());
            assertEquals(1, s.write(new TestBatch(1).add(0L, 1, (short) 1, 1.0, 1)));
        }
        try (TimescaleSink s = sink("never_created").createSchema(false).build()) {
            final SQLException e = assertThrows(SQLException.class,
                () -> s.write(new TestBatch(1).add(0L, 1, (short) 1, 1.0, 1)));
            assertEquals("42P01", e.getSQLState(), "undefined table is reported, and it is permanent");
            assertFalse(s.isRetryable(e));
        }
    }

    @Test
    void invalidSettingsAreNamedWithTheirRange() {
        assertInvalid(sink("bad-name"), "TimescaleSink.table must match");
        assertInvalid(sink("Upper"), "TimescaleSink.table must match");
        assertInvalid(sink("x; drop table y"), "TimescaleSink.table must match");
        assertInvalid(sink("a".repeat(56)), "TimescaleSink.table must match");
        assertInvalid(sink("t").poolSize(0), "TimescaleSink.poolSize must be 1..256, was 0");
        assertInvalid(sink("t").chunkInterval(Duration.ofSeconds(1)), "TimescaleSink.chunkInterval must be PT1M..");
        assertInvalid(sink("t").compressAfter(Duration.ofSeconds(-1)), "TimescaleSink.compressAfter must be");
        assertInvalid(sink("t").retention(Duration.ZERO), "TimescaleSink.retention must be");
        assertInvalid(sink("t").indexMode(null), "TimescaleSink.indexMode must be one of");
        assertInvalid(sink("t").ledgerRetention(Duration.ofSeconds(5)), "TimescaleSink.ledgerRetention must be");
        assertInvalid(sink("t").connectionTimeout(Duration.ofMillis(1)), "TimescaleSink.connectionTimeout must be");
        assertInvalid(sink("t").poolName("has space"), "TimescaleSink.poolName must be");
        assertInvalid(TimescaleSink.builder(), "TimescaleSink.exactly one of jdbcUrl and dataSource");
        assertInvalid(sink("t").dataSource(db.dataSource()), "TimescaleSink.exactly one of jdbcUrl and dataSource");
        assertInvalid(TimescaleSink.builder().jdbcUrl("jdbc:mysql://x/y"), "TimescaleSink.jdbcUrl must start with");
    }

    @Test
    void callerOwnedDataSourceStaysUsable() throws Exception {
        final javax.sql.DataSource ds = db.dataSource();
        try (TimescaleSink s = TimescaleSink.builder().dataSource(ds).table("caller_owned").build()) {
            assertEquals(ds, s.dataSource());
            assertEquals(1, s.write(new TestBatch(1).add(0L, 1, (short) 1, 1.0, 1)));
        }
        try (Connection c = ds.getConnection()) {
            assertTrue(c.isValid(5));
        }
    }

    private static void assertInvalid(TimescaleSink.Builder builder, String messageStart) {
        final IllegalArgumentException e = assertThrows(IllegalArgumentException.class, builder::build);
        assertTrue(e.getMessage().startsWith(messageStart), "message was: " + e.getMessage());
    }

    private static List<String> columns(String table) throws SQLException {
        return strings("select column_name || ' ' || data_type || ' ' || is_nullable from information_schema.columns"
            + " where table_name = ? order by ordinal_position", table);
    }

    private static List<String> indexes(String table) throws SQLException {
        return strings("select indexname from pg_indexes where tablename = ? and indexname not like '%_pkey'"
            + " order by indexname", table);
    }

    private static String indexDef(String index) throws SQLException {
        return strings("select indexdef from pg_indexes where indexname = ?", index).get(0);
    }

    private static List<String> strings(String sql, String param) throws SQLException {
        try (Connection c = db.connect(); PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, param);
            try (ResultSet rs = ps.executeQuery()) {
                final List<String> out = new ArrayList<>();
                while (rs.next()) {
                    out.add(rs.getString(1));
                }
                return out;
            }
        }
    }
}
