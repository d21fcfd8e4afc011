package dev.spillway.telemetry.timescale;

import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The sink's write path called directly: ledger deduplication, bad-row isolation, classification. */
class SinkWriteTest {

    private static TestDatabase db;

    @BeforeAll
    static void createDatabase() {
        db = TestDatabase.create("sinkwrite");
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    private static TimescaleSink.Builder sink(String table) {
        return TimescaleSink.builder().jdbcUrl(db.jdbcUrl()).username(db.user()).password(db.password())
            .table(table);
    }

    private static TestBatch batch(long id, int rows, int badEvery) {
        final TestBatch b = new TestBatch(id);
        for (int i = 0; i < rows; i++) {
            b.add(1_700_000_000_000_000_000L + i * 1_000_000L, i % 3, (short) 1,
                badEvery > 0 && i % badEvery == badEvery - 1 ? -1.0 : i, id * 1_000_000 + i);
        }
        return b;
    }

    @Test
    void aSinkServesOnePipelineOnlyBecauseBatchIdsRepeatAcrossPipelines() throws Exception {
        try (TimescaleSink s = sink("shared").build()) {
            final Pipeline first = Pipeline.builder().name("first").sink(s).build();
            try {
                final IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> Pipeline.builder().name("second").sink(s).build());
                assertTrue(e.getMessage().contains("already serves pipeline 'first'"), e.getMessage());
            } finally {
                first.close(Duration.ofSeconds(10));
            }
        }
    }

    @Test
    void retryOfACommittedBatchIsNotCopiedAgain() throws Exception {
        try (TimescaleSink s = sink("dedup").build()) {
            final TestBatch b = batch(5, 100, 0);
            assertEquals(100, s.write(b));
            assertEquals(100, s.write(b), "the retry reports the batch as written");
            assertEquals(100, db.queryLong("select count(*) from dedup"), "and does not copy it again");
            assertEquals(1, db.queryLong("select count(*) from dedup_batches where run_id = '" + s.runId()
                + "' and batch_id = 5"));
            assertEquals(100, s.write(batch(6, 100, 0)));
            assertEquals(200, db.queryLong("select count(*) from dedup"));
        }
        try (TimescaleSink other = sink("dedup").build()) {
            assertEquals(100, other.write(batch(5, 100, 0)), "another run's batch 5 is a different batch");
            assertEquals(300, db.queryLong("select count(*) from dedup"));
        }
    }

    @Test
    void badRowsAreIsolatedAndTheRestIsWritten() throws Exception {
        // CHECK constraints (the bad rows here) exist on the rows table only: a view over blocks cannot carry one
        try (TimescaleSink s = sink("poison").storageLayout(StorageLayout.ROWS).build()) {
            db.execute("alter table poison add constraint no_minus_one check (value <> -1)");
            try (LogCapture log = new LogCapture(TimescaleSink.class)) {
                final TestBatch b = batch(1, 1000, 97); // 10 bad rows spread over the batch
                assertEquals(990, s.write(b));
                assertEquals(990, db.queryLong("select count(*) from poison"));
                assertEquals(0, db.queryLong("select count(*) from poison where value = -1"));
                assertEquals(990, s.write(b), "a retry of a split batch writes nothing twice");
                assertEquals(990, db.queryLong("select count(*) from poison"));
                assertEquals(2, log.messages("WARN").size(), "one line per write, not per row: "
                    + log.messages("WARN"));
                final String line = log.messages("WARN").get(0);
                assertTrue(line.contains("rejected 10 of 1000") && line.contains("23514")
                    && line.contains("seq=1000096"), line);
            }
            final TestBatch single = batch(2, 1, 1);
            assertEquals(0, s.write(single), "a batch of one bad row writes nothing and does not throw");
        }
    }

    @Test
    void classifiesRealServerErrors() throws Exception {
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            final SQLException division = expectFailure(st, "select 1/0");
            assertEquals("22012", division.getSQLState());
            assertFalse(SqlStates.isTransient(division));
            assertTrue(SqlStates.isDataError(division));
            final SQLException undefined = expectFailure(st, "select * from no_such_table");
            assertFalse(SqlStates.isTransient(undefined));
            assertFalse(SqlStates.isDataError(undefined));
            final SQLException canceled = expectFailure(st, "set statement_timeout = 1; select pg_sleep(5)");
            assertEquals("57014", canceled.getSQLState());
            assertTrue(SqlStates.isTransient(canceled));
        }
        // A connection killed by the server: terminated sessions are transient and mark the connection broken.
        try (Connection victim = db.connect(); Connection killer = db.connect();
             Statement st = victim.createStatement()) {
            final int pid;
            try (var rs = st.executeQuery("select pg_backend_pid()")) {
                rs.next();
                pid = rs.getInt(1);
            }
            try (Statement k = killer.createStatement()) {
                k.execute("select pg_terminate_backend(" + pid + ")");
            }
            final SQLException gone = expectFailure(st, "select 1");
            assertTrue(SqlStates.isTransient(gone), gone.getSQLState() + " " + gone);
            assertTrue(SqlStates.isConnectionBroken(gone));
        }
    }

    private static SQLException expectFailure(Statement st, String sql) {
        try {
            st.execute(sql);
        } catch (SQLException e) {
            return e;
        }
        throw new AssertionError("expected failure: " + sql);
    }
}
