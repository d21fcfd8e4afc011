package dev.spillway.collector;

import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A body sent again stores each of its lines once: after a 503 for a body refused part way, after the client
 * timed out, after a restart (the earlier copy looked up in the table), with an {@code Idempotency-Key} or by
 * the body's digest. The database is a real PostgreSQL; the events table is locked by the test
 * ({@code ACCESS EXCLUSIVE}) where a copy must stay in flight, so nothing here depends on timing.
 */
@Timeout(300)
class ResendExactlyOnceTest {

    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final long T0 = 1_700_000_000_000_000_000L;

    /** {@code n} lines of one series, values {@code from..}, one per millisecond from T0 (nanosecond timestamps). */
    private static String body(String measurement, int from, int n, boolean timestamps) {
        final StringBuilder sb = new StringBuilder(n * 40);
        for (int i = from; i < from + n; i++) {
            sb.append(measurement).append(",w=0 v=").append(i).append('i');
            if (timestamps) {
                sb.append(' ').append(T0 + i * 1_000_000L);
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    private static HttpRequest request(CollectorHarness h, String body, String... headers) {
        final HttpRequest.Builder b = HttpRequest.newBuilder(h.uri("/api/v2/write")).timeout(WAIT)
            .POST(HttpRequest.BodyPublishers.ofString(body));
        if (headers.length > 0) {
            b.headers(headers);
        }
        return b.build();
    }

    /** Sends the body until it is answered 204 (every other answer must be a 503 with Retry-After). */
    private static void resendUntilAccepted(CollectorHarness h, String body, String... headers) {
        Await.untilNoThrow(WAIT, () -> {
            final HttpResponse<String> r = h.http.send(request(h, body, headers), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 204) {
                assertEquals(503, r.statusCode(), r.body());
                assertTrue(r.headers().firstValue("Retry-After").isPresent());
            }
            return r.statusCode() == 204;
        }, "the resend is answered 204");
    }

    /** Rows of the measurement; fails unless every value and every (source_id, seq) is there once. */
    private static long storedOnce(TestDatabase db, String measurement) {
        final long rows = db.queryLong("SELECT count(*) FROM telemetry WHERE measurement = '" + measurement + "'");
        assertEquals(rows, db.queryLong("SELECT count(DISTINCT value) FROM telemetry WHERE measurement = '"
            + measurement + "'"), "a line is stored twice");
        assertEquals(0, db.queryLong("SELECT count(*) FROM (SELECT source_id, seq FROM telemetry_events "
            + "GROUP BY 1, 2 HAVING count(*) > 1) d"), "a (source_id, seq) is stored twice");
        return rows;
    }

    private static void prime(CollectorHarness h, String measurement) throws Exception {
        assertEquals(204, h.post("/api/v2/write", body(measurement, -1, 1, true)).statusCode());
        Await.until(WAIT, () -> h.count("measurement = '" + measurement + "'") == 1, "the series and its first row");
    }

    /**
     * A small ring that refuses when full, one worker stuck on the locked table: a 3,000-line body is taken part way
     * and answered 503 saying how many lines were taken. Resent (whole) once the table is free, it completes
     * without storing a taken line twice.
     */
    @ParameterizedTest
    @ValueSource(strings = {"accept", "commit"})
    void aBodyRefusedPartWayIsCompletedByItsResend(String ack) throws Exception {
        try (TestDatabase db = TestDatabase.create("resend_part_" + ack);
             CollectorHarness h = CollectorHarness.start(db, "--ring-size", "1024", "--batch-size", "256",
                 "--workers", "1", "--overflow-policy", "drop-newest", "--ack", ack)) {
            prime(h, "part");
            final String body = body("part", 0, 3_000, true);
            final CompletableFuture<HttpResponse<String>> first;
            try (Connection lock = db.lockTable("telemetry_events")) {
                first = h.http.sendAsync(request(h, body), HttpResponse.BodyHandlers.ofString());
                Await.until(WAIT, () -> h.collector.stats().rejectedFull() > 0, "the ring refuses part of the body");
                if (ack.equals("accept")) {
                    assertEquals(503, first.get().statusCode()); // answered before anything is committed
                }
                lock.rollback();
            }
            final HttpResponse<String> answer = first.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            assertEquals(503, answer.statusCode(), answer.body());
            assertTrue(answer.body().matches(".*\\d+ of 3000 lines were taken before the refusal; resend the whole "
                + "body: the lines already taken are not stored again.*"), answer.body());
            resendUntilAccepted(h, body);
            Await.until(WAIT, () -> h.count("measurement = 'part'") >= 3_001, "every line is stored");
            Await.until(WAIT, () -> h.collector.stats().pending() == 0, "the pipeline is idle");
            assertEquals(3_001, storedOnce(db, "part"));
        }
    }

    /**
     * {@code ack=commit}: the client gives up waiting (the table is locked, so no answer can come in time) and resends;
     * while the first copy is in flight the resend is answered 503, once it is committed the resend is answered 204
     * and takes nothing again.
     */
    @Test
    void aResendAfterAClientTimeoutIsStoredOnce() throws Exception {
        try (TestDatabase db = TestDatabase.create("resend_timeout");
             CollectorHarness h = CollectorHarness.start(db, "--ack", "commit")) {
            prime(h, "late");
            final String body = body("late", 0, 500, true);
            try (Connection lock = db.lockTable("telemetry_events")) {
                final HttpRequest impatient = HttpRequest.newBuilder(h.uri("/api/v2/write"))
                    .timeout(Duration.ofMillis(300)).POST(HttpRequest.BodyPublishers.ofString(body)).build();
                final ExecutionException e = assertThrows(ExecutionException.class,
                    () -> h.http.sendAsync(impatient, HttpResponse.BodyHandlers.ofString()).get());
                assertInstanceOf(HttpTimeoutException.class, e.getCause());
                final HttpResponse<String> early = h.http.send(request(h, body), HttpResponse.BodyHandlers.ofString());
                assertEquals(503, early.statusCode(), early.body());
                assertTrue(early.body().contains("an earlier copy of this request"), early.body());
                lock.rollback();
            }
            resendUntilAccepted(h, body);
            assertEquals(501, storedOnce(db, "late"));
            assertEquals(500, h.collector.stats().written() - 1, "the resend wrote nothing");
        }
    }

    /**
     * Across a restart: a keyed body of untimestamped lines, committed by the first run, is resent to the second,
     * which finds it in the table and takes nothing (its lines keep the first copy's time); the same key with another
     * body is refused with 422. Without a key, a timestamped body is recognised by its digest; an untimestamped one
     * is new points each time (as in InfluxDB), so it is stored again. A write transaction left open from before the
     * restart (what a killed predecessor's backend can be) holds the lookups back (503) until it ends.
     */
    @ParameterizedTest(name = "--storage-layout {0}")
    @ValueSource(strings = {"auto", "rows"}) // auto: a new database gets blocks
    void aResendAfterARestartIsLookedUpInTheTable(String layout) throws Exception {
        final Path spool = Files.createTempDirectory("spillway-spool");
        final String keyed = body("keyed", 0, 200, false);
        final String timed = body("timed", 0, 200, true);
        final String untimed = body("untimed", 0, 200, false);
        try (TestDatabase db = TestDatabase.create("resend_restart_" + layout)) {
            try (CollectorHarness h = CollectorHarness.start(db, "--spool-dir", spool.toString(), "--ack", "commit",
                    "--storage-layout", layout)) {
                assertEquals(204, h.post("/api/v2/write", keyed, "Idempotency-Key", "batch-42").statusCode());
                assertEquals(204, h.post("/api/v2/write", timed).statusCode());
                assertEquals(204, h.post("/api/v2/write", untimed).statusCode());
            }
            final Connection dangling = db.connect();
            dangling.setAutoCommit(false);
            try (Statement st = dangling.createStatement()) {
                // A predecessor's write begins with its ledger row (an open write on the events table itself would
                // hold the next start's schema check back until it ends).
                st.execute("INSERT INTO telemetry_events_batches (run_id, batch_id) VALUES ('dead-run', 1)");
            }
            try (CollectorHarness h = CollectorHarness.start(db, "--spool-dir", spool.toString(), "--ack", "commit",
                    "--storage-layout", layout)) {
                final HttpResponse<String> held = h.post("/api/v2/write", keyed, "Idempotency-Key", "batch-42");
                assertEquals(503, held.statusCode(), held.body());
                assertTrue(held.body().contains("open when this collector started"), held.body());
                dangling.rollback();
                dangling.close();
                assertEquals(204, h.post("/api/v2/write", keyed, "Idempotency-Key", "batch-42").statusCode());
                assertEquals(204, h.post("/api/v2/write", timed).statusCode());
                assertEquals(204, h.post("/api/v2/write", untimed).statusCode());
                final HttpResponse<String> reused = h.post("/api/v2/write", body("keyed", 1_000, 10, false),
                    "Idempotency-Key", "batch-42");
                assertEquals(422, reused.statusCode(), reused.body());
                assertEquals(0, h.collector.stats().written() - 200, "only the untimestamped body was taken again");
            }
            assertEquals(200, storedOnce(db, "keyed"));
            assertEquals(200, storedOnce(db, "timed"));
            assertEquals(400, db.queryLong("SELECT count(*) FROM telemetry WHERE measurement = 'untimed'"));
        }
    }

    /**
     * A first copy partly lost and partly spooled: the table is locked while the body is accepted, and the collector
     * is closed with a short deadline (the batch inside the blocked COPY is given up, the queued ones are spooled).
     * The next run replays the spool; the resend waits for that (503), then looks the body up and takes exactly what
     * is missing.
     */
    @Test
    void aResendAfterALossAndASpoolReplayTakesOnlyWhatIsMissing() throws Exception {
        final Path spool = Files.createTempDirectory("spillway-spool");
        final String body = body("lost", 0, 2_000, true);
        try (TestDatabase db = TestDatabase.create("resend_lost")) {
            try (CollectorHarness h = CollectorHarness.start(db, "--spool-dir", spool.toString(), "--batch-size",
                "256", "--workers", "1", "--close-timeout", "500ms")) {
                prime(h, "lost");
                try (Connection lock = db.lockTable("telemetry_events")) {
                    assertEquals(204, h.post("/api/v2/write", body).statusCode());
                    h.collector.shutdown();
                    lock.rollback();
                }
            }
            final long before = db.queryLong("SELECT count(*) FROM telemetry WHERE measurement = 'lost'");
            try (CollectorHarness h = CollectorHarness.start(db, "--spool-dir", spool.toString())) {
                resendUntilAccepted(h, body);
                Await.until(WAIT, () -> h.count("measurement = 'lost'") >= 2_001, "every line is stored");
                Await.until(WAIT, () -> h.collector.stats().pending() == 0, "the pipeline is idle");
            }
            assertEquals(2_001, storedOnce(db, "lost"));
            assertTrue(before < 2_001, "the first copy was not all stored before the restart: " + before);
        }
    }
}
