package dev.spillway.collector;

import dev.spillway.runtime.config.ConfigException;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.telemetry.timescale.GapQuery;
import dev.spillway.telemetry.timescale.StorageLayout;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --storage-layout blocks}: the collector's schema and migrations apply over the view, lines land in the
 * {@code telemetry} view exactly as with rows, a series with many points in one batch becomes a block, and the gap
 * query reads the stored sequences. Without the option (auto) a new database gets blocks and an existing rows table
 * keeps rows; an explicit option that contradicts the existing table stops the start naming the option.
 */
class StorageLayoutBlocksTest {

    @Test
    void linesLandInTheTelemetryViewThroughBlocksAndRows() throws Exception {
        try (TestDatabase db = TestDatabase.create("collector_blocks")) {
            final CollectorHarness h = CollectorHarness.start(db, "--storage-layout", "blocks");
            try {
                final StringBuilder body = new StringBuilder();
                final List<String> expected = new ArrayList<>();
                // 40 points of one series: however the pump cuts the body into batches, one part holds at least 20
                for (int i = 0; i < 40; i++) {
                    body.append("dense,host=a v=").append(i).append(".5 ").append(1_700_000_000_000L + i).append('\n');
                    expected.add("dense|{\"host\": \"a\"}|v|" + i + ".5|" + (1_700_000_000_000L + i) * 1_000_000L);
                }
                body.append("sparse,host=b v=7 1700000000005\n");
                assertEquals(204, h.post("/write?precision=ms", body.toString()).statusCode());
                Await.until(Duration.ofSeconds(20), () -> h.count("measurement IN ('dense', 'sparse')") == 41,
                    "41 points readable");
                assertEquals(expected, h.rows("measurement = 'dense'"));
                assertEquals(List.of("sparse|{\"host\": \"b\"}|v|7.0|1700000000005000000"),
                    h.rows("measurement = 'sparse'"));
                assertTrue(db.queryLong("SELECT count(*) FROM telemetry_events_blocks") >= 1, "the dense series' block");
                assertEquals(41, db.queryLong("SELECT (SELECT coalesce(sum(n), 0) FROM telemetry_events_blocks) "
                    + "+ (SELECT count(*) FROM telemetry_events_rows)"), "every point once, in a block or as a row");
                assertEquals(0, db.queryLong("SELECT count(*) FROM (" + GapQuery.sql("telemetry_events",
                    StorageLayout.BLOCKS) + ") g"), "no gaps");
            } finally {
                h.close();
            }
        }
    }

    @Test
    void aNewDatabaseGetsBlocksByDefault() throws Exception {
        try (TestDatabase db = TestDatabase.create("collector_auto_new")) {
            final CollectorHarness h = CollectorHarness.start(db);
            try {
                assertEquals(1, db.queryLong("SELECT count(*) FROM pg_class WHERE relname = 'telemetry_events' "
                    + "AND relkind = 'v'"), "telemetry_events is the view over blocks");
                final StringBuilder body = new StringBuilder();
                for (int i = 0; i < 20; i++) {
                    body.append("auto,host=a v=").append(i).append(' ').append(1_700_000_000_000L + i).append('\n');
                }
                assertEquals(204, h.post("/write?precision=ms", body.toString()).statusCode());
                Await.until(Duration.ofSeconds(20), () -> h.count("measurement = 'auto'") == 20, "20 points readable");
            } finally {
                h.close();
            }
        }
    }

    /** A database of a collector from before blocks were the default: its rows table is kept, and it starts. */
    @Test
    void anExistingRowsTableKeepsRowsAndAContradictingOptionIsRefusedByName() throws Exception {
        try (TestDatabase db = TestDatabase.create("collector_auto_rows")) {
            final CollectorHarness old = CollectorHarness.start(db, "--storage-layout", "rows");
            try {
                assertEquals(204, old.post("/write?precision=ms", "before,host=a v=1 1700000000000\n").statusCode());
                Await.until(Duration.ofSeconds(20), () -> old.count("measurement = 'before'") == 1, "1 point");
            } finally {
                old.close();
            }
            final CollectorHarness h = CollectorHarness.start(db);
            try {
                assertEquals(1, db.queryLong("SELECT count(*) FROM pg_class WHERE relname = 'telemetry_events' "
                    + "AND relkind = 'r'"), "still a table");
                assertEquals(0, db.queryLong("SELECT count(*) FROM pg_class WHERE relname = 'telemetry_events_blocks'"));
                assertEquals(204, h.post("/write?precision=ms", "after,host=a v=2 1700000000001\n").statusCode());
                Await.until(Duration.ofSeconds(20), () -> h.count("measurement IN ('before', 'after')") == 2,
                    "the old point and the new one");
            } finally {
                h.close();
            }
            final ConfigException e = assertThrows(ConfigException.class,
                () -> CollectorHarness.start(db, "--storage-layout", "blocks").close());
            assertEquals("--storage-layout blocks: telemetry_events exists in the rows layout (a table); give "
                + "--storage-layout rows or auto (the default keeps the existing layout)", e.getMessage());
        }
    }
}
