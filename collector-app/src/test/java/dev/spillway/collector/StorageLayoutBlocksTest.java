package dev.spillway.collector;

import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.telemetry.timescale.GapQuery;
import dev.spillway.telemetry.timescale.StorageLayout;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --storage-layout blocks}: the collector's schema and migrations apply over the view, lines land in the
 * {@code telemetry} view exactly as with rows, a series with many points in one batch becomes a block, and the gap
 * query reads the stored sequences.
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
}
