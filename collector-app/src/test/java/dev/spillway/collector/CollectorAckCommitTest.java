package dev.spillway.collector;

import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code ack=commit} per request: 204 only once committed; 503 when an event was lost; bad values are 400. */
class CollectorAckCommitTest {

    private static String lines(String measurement, int n, int from) {
        final StringBuilder b = new StringBuilder();
        for (int i = 0; i < n; i++) {
            b.append(measurement).append(",host=a v=").append(from + i).append("i\n");
        }
        return b.toString();
    }

    @Test
    void commitAnswersOnlyOnceTheRowsAreInTheDatabase() throws Exception {
        try (TestDatabase db = TestDatabase.create("ack_commit");
             CollectorHarness h = CollectorHarness.start(db)) {
            for (int round = 0; round < 5; round++) {
                final HttpResponse<String> r = h.post("/api/v2/write?bucket=b&ack=commit",
                    lines("acked", 100, round * 100));
                assertEquals(204, r.statusCode(), r.body());
                assertEquals((round + 1) * 100L, h.count("measurement = 'acked'"),
                    "every row of an ack=commit request is committed when the 204 arrives");
            }
            final HttpResponse<String> header = h.post("/api/v2/write?bucket=b", lines("acked_h", 10, 0),
                "X-Spillway-Ack", "commit");
            assertEquals(204, header.statusCode(), header.body());
            assertEquals(10, h.count("measurement = 'acked_h'"), "the header selects commit too");

            final HttpResponse<String> bad = h.post("/api/v2/write?bucket=b&ack=later", lines("acked", 1, 0));
            assertEquals(400, bad.statusCode());
            assertTrue(bad.body().contains("ack must be accept or commit"), bad.body());
        }
    }

    @Test
    void commitAnswers503WhenAnEventOfTheRequestWasNotStored() throws Exception {
        try (TestDatabase db = TestDatabase.create("ack_lost");
             // the rows layout: a CHECK constraint (the unstorable event here) exists on a table, not on a view
             CollectorHarness h = CollectorHarness.start(db, "--ack", "commit", "--storage-layout", "rows")) {
            assertEquals(204, h.post("/api/v2/write?bucket=b", lines("guarded", 1, 1)).statusCode(), "warm-up");
            // The database refuses one row of the next request (a constraint the collector knows nothing about).
            db.execute("ALTER TABLE telemetry_events ADD CONSTRAINT no_minus_one CHECK (value <> -1)");
            final HttpResponse<String> r = h.post("/api/v2/write?bucket=b", "guarded,host=a v=5i\n"
                + "guarded,host=a v=-1i\nguarded,host=a v=6i\n");
            assertEquals(503, r.statusCode(), r.body());
            assertTrue(r.body().contains("not every event of this request was confirmed committed"), r.body());
            assertEquals(3, h.count("measurement = 'guarded'"), "the good rows were written, the bad one refused");
            final HttpResponse<String> accepted = h.post("/api/v2/write?bucket=b&ack=accept", "guarded,host=a v=-1i\n");
            assertEquals(204, accepted.statusCode(), "ack=accept answers on parse, whatever happens later");
        }
    }
}
