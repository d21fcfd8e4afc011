package dev.spillway.statuspage;

import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.telemetry.timescale.StorageLayout;
import dev.spillway.telemetry.timescale.TimescaleSink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Instant;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The rollups' ledger cursor after a long pause with nothing written: the refresh marks every event time since the
 * cursor and moves the cursor to now, so the next refresh does not mark the whole, growing range again.
 */
class RollupCursorTest {

    private static TestDatabase db;

    @BeforeAll
    static void start() throws Exception {
        db = TestDatabase.create("rollup_cursor");
        try (TimescaleSink sink = TimescaleSink.builder().dataSource(db.dataSource()).table(CheckSeeder.EVENTS)
            .storageLayout(StorageLayout.ROWS).build()) {
            sink.storageLayout(); // the sink creates the events table and its batch ledger
        }
        CheckSeeder.createSchema(db.dataSource());
    }

    @AfterAll
    static void stop() {
        if (db != null) {
            db.close();
        }
    }

    @Test
    void aRefreshAfterALongIdlePauseMovesTheCursorToNowEvenWithoutNewBatches() throws Exception {
        final CheckRollups rollups = new CheckRollups(db.dataSource(), CheckSeeder.EVENTS, Instant::now);
        rollups.refresh();
        assertEquals(1, db.queryLong("SELECT count(*) FROM " + CheckRollups.CURSOR), "the first refresh sets it");
        // 40 minutes without a refresh and without a batch (longer than the ledger's safe window of 30 minutes).
        db.execute("UPDATE " + CheckRollups.CURSOR + " SET ledger_seen = now() - interval '40 minutes'");
        rollups.refresh();
        assertEquals(1, db.queryLong("SELECT count(*) FROM " + CheckRollups.CURSOR
            + " WHERE ledger_seen > now() - interval '1 minute'"),
            "the cursor moved to now: the next refresh does not redo the 40 minutes again");
    }
}
