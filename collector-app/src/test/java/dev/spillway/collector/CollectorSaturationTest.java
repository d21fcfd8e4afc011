package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Saturation, provoked deterministically: a separate connection holds {@code ACCESS EXCLUSIVE} on the events
 * table, so the sink's COPY blocks, the pump's batches fill up and the ring climbs past the high-water mark.
 * HTTP writes must then get 503 + {@code Retry-After} (and the default {@code block} policy never overwrites or
 * drops); once the lock goes, writes get 204 again and every acknowledged line is in the {@code telemetry} view.
 */
class CollectorSaturationTest {

    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final int RING = 1024;
    private static final int LINES_PER_BODY = 100; // < RING - high-water mark: an admitted body never fills the ring
    private static final long BASE_SECONDS = 1_700_000_000L;
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    @Timeout(180)
    void writesGet503WithRetryAfterAboveHighWaterMarkAndEveryAcknowledgedLineIsWritten() throws Exception {
        try (TestDatabase db = TestDatabase.create("collector_saturation");
             CollectorHarness h = CollectorHarness.start(db, "--ring-size", Integer.toString(RING), "--batch-size",
                 "64", "--workers", "1", "--high-water-mark", "0.5")) {
            seed(h);

            final List<Integer> acked = new ArrayList<>();
            int nextBody = 0;
            HttpResponse<String> saturated = null;
            int beforeSaturation;
            try (Connection lock = db.lockTable("telemetry_events")) {
                // Fill until the collector pushes back. Only 204 and 503 are acceptable answers on the way.
                final long deadline = System.nanoTime() + WAIT.toNanos();
                while (saturated == null) {
                    assertTrue(System.nanoTime() < deadline, "no 503 within " + WAIT + "; acknowledged bodies "
                        + acked.size() + ", stats " + h.collector.stats());
                    final int body = nextBody++;
                    final HttpResponse<String> r = post(h, body(body));
                    if (r.statusCode() == 204) {
                        acked.add(body);
                    } else {
                        assertEquals(503, r.statusCode(), "body " + body + ": " + r.body());
                        saturated = r;
                    }
                }
                beforeSaturation = acked.size();
                assertTrue(acked.size() >= 2, "the ring should take several bodies before saturating: " + acked);

                // The sink is really stuck on the lock, not merely slow.
                assertTrue(db.queryLong("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    + "WHERE c.relname IN ('telemetry_events', 'telemetry_events_blocks', 'telemetry_events_rows') "
                    + "AND NOT l.granted") >= 1, "sink not waiting on the lock (LOCK on the blocks view locks the "
                    + "tables behind it)");
                // The refusal saw the ring at the mark. The pump may still move events from the ring into its
                // last free batch after that (it lags under load), so what is held unresolved (ring and batches,
                // which cannot shrink while the table is locked) is what must be at least the mark.
                final PipelineStats during = h.collector.stats();
                assertTrue(during.pending() >= RING / 2, "refused below the high-water mark: " + during);
                assertEquals(0, during.overwritten(), "block policy overwrote: " + during);
                assertEquals(0, during.rejectedFull(), "block policy dropped: " + during);
                // Still locked, so still saturated. Once every batch of the pump's pool (lanes + 2 x workers = 3) has
                // been handed to the stuck worker, the pump can take nothing more from the ring, so the ring cannot
                // fall below the mark again and every body is refused: the answer does not flap. (Counting events
                // held outside the ring instead fails when a batch was cut part full at the flush interval: the
                // pool then holds fewer than 3 x 64 events, and the mark plus that was never reached.)
                final int poolBatches = 3;
                final long fillDeadline = System.nanoTime() + WAIT.toNanos();
                boolean refused = false;
                while (h.collector.stats().batchesInFlight() < poolBatches || !refused) {
                    assertTrue(System.nanoTime() < fillDeadline, "the pump's batches not all handed over: "
                        + h.collector.stats());
                    final int body = nextBody++;
                    final HttpResponse<String> r = post(h, body(body));
                    if (r.statusCode() == 204) {
                        acked.add(body);
                        refused = false;
                    } else {
                        assertEquals(503, r.statusCode(), "body " + body + ": " + r.body());
                        refused = h.collector.stats().batchesInFlight() >= poolBatches;
                    }
                }
                for (int i = 0; i < 3; i++) {
                    assertEquals(503, post(h, body(nextBody++)).statusCode(), "the refusal does not flap");
                }
                assertEquals(0, h.collector.stats().overwritten());

                lock.rollback(); // release: the COPY proceeds
            }

            assertEquals(503, saturated.statusCode());
            assertEquals("1", saturated.headers().firstValue("Retry-After").orElse(null),
                "Retry-After missing: " + saturated.headers().map());
            assertTrue(saturated.headers().firstValue("Content-Type").orElse("").startsWith("application/json"),
                saturated.headers().map().toString());
            final JsonNode error = JSON.readTree(saturated.body());
            assertEquals("unavailable", error.get("code").asText(), saturated.body());
            assertNotNull(error.get("message"), saturated.body());
            assertTrue(error.get("message").asText().contains("saturated"), saturated.body());
            // Each 503 above came after the write waited (--room-wait, 100 ms by default) for room that never came.
            assertTrue(metric(h, "spillway_collector_http_room_waits_total{outcome=\"refused\"}") >= 4,
                "refusals without a wait for room");
            assertEquals(0, metric(h, "spillway_collector_http_room_waiting"), "a write still waiting");

            // After the release the COPY goes through, the ring drains below the mark, and writes get 204 again.
            Await.until(WAIT, () -> h.collector.stats().ringOccupancy() < RING / 2, "ring below the high-water mark");
            Await.until(WAIT, () -> h.collector.stats().ringOccupancy() == 0, "ring drained");
            for (int i = 0; i < 5; i++) {
                final int body = nextBody++;
                final HttpResponse<String> r = post(h, body(body));
                assertEquals(204, r.statusCode(), r.body());
                acked.add(body);
            }

            final long ackedLines = assertStoredOnce(h, db, acked); // and nothing of a 503 body (turned away unread)

            final FinalAccount account = h.collector.shutdown();
            final PipelineStats stats = account.stats();
            assertTrue(stats.isBalanced(), account.toString());
            assertEquals(0, stats.overwritten(), account.toString());
            assertEquals(0, stats.rejectedFull(), account.toString());
            assertEquals(0, stats.failed(), account.toString());
            assertEquals(ackedLines + 1, stats.written(), account.toString());
            assertEquals(ackedLines + 1, account.linesAccepted(), account.toString());
            System.out.printf("saturation: 503 after %d bodies; acknowledged %d bodies (%d lines) in all; %s%n",
                beforeSaturation, acked.size(), ackedLines, account);
        }
    }

    /**
     * A write that finds the ring above its high-water mark waits for room (here up to 30 s) instead of getting a
     * 503 at once, and is taken (204, every line stored once) when the database lets the pipeline move again.
     */
    @Test
    @Timeout(180)
    void aWriteThatFindsTheRingFullWaitsForRoomAndIsTakenWhenItComes() throws Exception {
        try (TestDatabase db = TestDatabase.create("collector_room_wait");
             CollectorHarness h = CollectorHarness.start(db, "--ring-size", Integer.toString(RING), "--batch-size",
                 "64", "--workers", "1", "--high-water-mark", "0.5", "--room-wait", "30s")) {
            seed(h);
            final List<Integer> acked = new ArrayList<>();
            int nextBody = 0;
            java.util.concurrent.CompletableFuture<HttpResponse<String>> waiting = null;
            int waitingBody = -1;
            try (Connection lock = db.lockTable("telemetry_events")) {
                // Fill until a write waits for room (it does not answer: the table stays locked).
                final long deadline = System.nanoTime() + WAIT.toNanos();
                while (waiting == null) {
                    assertTrue(System.nanoTime() < deadline, "no write waiting for room within " + WAIT + "; "
                        + h.collector.stats());
                    final int body = nextBody++;
                    final var pending = h.http.sendAsync(HttpRequest.newBuilder(h.uri("/api/v2/write?precision=s"))
                        .timeout(Duration.ofSeconds(120)).POST(HttpRequest.BodyPublishers.ofString(body(body)))
                        .build(), HttpResponse.BodyHandlers.ofString());
                    while (!pending.isDone() && metric(h, "spillway_collector_http_room_waiting") == 0) {
                        assertTrue(System.nanoTime() < deadline, "write neither answered nor waiting");
                        java.util.concurrent.locks.LockSupport.parkNanos(2_000_000);
                    }
                    if (pending.isDone()) {
                        assertEquals(204, pending.join().statusCode(), "body " + body + ": " + pending.join().body());
                        acked.add(body);
                    } else {
                        waiting = pending;
                        waitingBody = body;
                    }
                }
                assertTrue(acked.size() >= 2, "the ring should take several bodies before it is full: " + acked);
                assertFalse(waiting.isDone(), "answered while the table is locked");
                lock.rollback(); // release: the COPY proceeds, the ring drains, the waiting write finds room
            }
            final HttpResponse<String> taken = waiting.get(WAIT.toSeconds(), java.util.concurrent.TimeUnit.SECONDS);
            assertEquals(204, taken.statusCode(), taken.body());
            acked.add(waitingBody);
            assertEquals(1, metric(h, "spillway_collector_http_room_waits_total{outcome=\"admitted\"}"));
            assertEquals(0, metric(h, "spillway_collector_http_room_waits_total{outcome=\"refused\"}"));
            assertEquals(0, metric(h, "spillway_collector_http_room_waiting"));

            final long ackedLines = assertStoredOnce(h, db, acked);
            final FinalAccount account = h.collector.shutdown();
            assertTrue(account.stats().isBalanced(), account.toString());
            assertEquals(ackedLines + 1, account.stats().written(), account.toString());
        }
    }

    /** Every line of the acknowledged bodies is stored once, and nothing else: returns their number. */
    private static long assertStoredOnce(CollectorHarness h, TestDatabase db, List<Integer> acked) throws Exception {
        final long ackedLines = (long) acked.size() * LINES_PER_BODY;
        Await.until(WAIT, () -> h.count("measurement = 'sat' AND value >= 0") >= ackedLines,
            "acknowledged lines in the telemetry view");
        assertEquals(ackedLines, countOfBodies(db, acked), "every acknowledged line, exactly once");
        assertEquals(ackedLines, h.count("measurement = 'sat' AND value >= 0"));
        return ackedLines;
    }

    /** The series must exist before the lock: creating one reads max(seq) from the locked table. */
    private static void seed(CollectorHarness h) throws Exception {
        assertEquals(204, post(h, "sat v=-1 " + BASE_SECONDS).statusCode());
        Await.until(WAIT, () -> h.count("measurement = 'sat'") == 1, "seed row written");
    }

    /** A sample's value from {@code /metrics} (the exact series name with its labels), 0 when absent. */
    private static double metric(CollectorHarness h, String series) throws Exception {
        final String text = h.http.send(HttpRequest.newBuilder(h.uri("/metrics")).build(),
            HttpResponse.BodyHandlers.ofString()).body();
        for (String line : text.split("\n")) {
            if (line.startsWith(series + " ")) {
                return Double.parseDouble(line.substring(series.length() + 1).trim().split(" ")[0]);
            }
        }
        return 0;
    }

    /** Body {@code k}: values {@code k*100 .. k*100+99}, one second apart, on the one pre-created series. */
    private static String body(int k) {
        final StringBuilder sb = new StringBuilder(LINES_PER_BODY * 32);
        for (int i = 0; i < LINES_PER_BODY; i++) {
            final long v = (long) k * LINES_PER_BODY + i;
            sb.append("sat v=").append(v).append(' ').append(BASE_SECONDS + 1 + v).append('\n');
        }
        return sb.toString();
    }

    private static HttpResponse<String> post(CollectorHarness h, String body) throws Exception {
        return h.http.send(HttpRequest.newBuilder(h.uri("/api/v2/write?precision=s")).timeout(Duration.ofSeconds(20))
            .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Distinct values stored for the given bodies. */
    private static long countOfBodies(TestDatabase db, List<Integer> bodies) throws Exception {
        try (Connection c = db.connect(); PreparedStatement ps = c.prepareStatement("SELECT count(*), "
            + "count(DISTINCT value) FROM telemetry WHERE measurement = 'sat' AND value >= 0 AND "
            + "floor(value / " + LINES_PER_BODY + ")::int = ANY (?)")) {
            final Array array = c.createArrayOf("int4", bodies.toArray());
            ps.setArray(1, array);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                assertEquals(rs.getLong(1), rs.getLong(2), "duplicates among acknowledged lines");
                return rs.getLong(2);
            }
        }
    }
}
