package dev.spillway.collector;

import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * Creating a series touches the database; ingesting a known one must not wait for that. A separate connection
 * holds {@code ACCESS EXCLUSIVE} on {@code telemetry_sources}, so a write that needs a new series cannot finish;
 * meanwhile writes for a known series must still be acknowledged and reach the events table. When the lock goes,
 * the held write completes and its row arrives too.
 */
class NewSeriesIsolationTest {

    private static final Duration WAIT = Duration.ofSeconds(30);

    @Test
    @Timeout(120)
    void aSlowNewSeriesDoesNotStallKnownSeries() throws Exception {
        try (TestDatabase db = TestDatabase.create("collector_series_isolation");
             CollectorHarness h = CollectorHarness.start(db)) {
            assertEquals(204, post(h, "known v=0 1700000000").statusCode());
            Await.until(WAIT, () -> h.count("measurement = 'known'") == 1, "known series and its first row exist");
            final long knownId = db.queryLong("SELECT id FROM telemetry_sources WHERE measurement = 'known'");

            final CompletableFuture<HttpResponse<String>> held;
            try (Connection lock = db.connect()) {
                lock.setAutoCommit(false);
                try (Statement st = lock.createStatement()) {
                    st.execute("LOCK TABLE telemetry_sources IN ACCESS EXCLUSIVE MODE");
                }
                held = h.http.sendAsync(request(h, "fresh,host=new v=1 1700000001"),
                    HttpResponse.BodyHandlers.ofString());
                Await.until(WAIT, () -> db.queryLong("SELECT count(*) FROM pg_locks l JOIN pg_class c ON "
                    + "c.oid = l.relation WHERE c.relname = 'telemetry_sources' AND NOT l.granted") >= 1,
                    "the new series' insert is waiting on the lock");

                for (int i = 1; i <= 20; i++) {
                    assertEquals(204, post(h, "known v=" + i + " " + (1_700_000_000L + i)).statusCode(),
                        "a known series is acknowledged while a new one is stuck");
                }
                // Straight from the events table: the view joins the locked catalogue.
                Await.until(WAIT, () -> db.queryLong("SELECT count(*) FROM telemetry_events WHERE source_id = "
                    + knownId) == 21, "known-series rows are written while the new series is stuck");
                assertFalse(held.isDone(), "the write that needs the new series is still waiting");
                lock.rollback();
            }
            assertEquals(204, held.get(WAIT.toSeconds(), TimeUnit.SECONDS).statusCode());
            Await.until(WAIT, () -> h.count("measurement = 'fresh' AND tags->>'host' = 'new'") == 1,
                "the held write lands once the series exists");
            assertEquals(21, h.count("measurement = 'known'"));
        }
    }

    private static HttpRequest request(CollectorHarness h, String body) {
        return HttpRequest.newBuilder(h.uri("/api/v2/write?precision=s")).timeout(Duration.ofSeconds(60))
            .POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    private static HttpResponse<String> post(CollectorHarness h, String body) throws Exception {
        return h.http.send(request(h, body), HttpResponse.BodyHandlers.ofString());
    }
}
