package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The series limit, and series ids and sequences surviving a collector restart. */
class SeriesCatalogueTest {

    private static final Duration WAIT = Duration.ofSeconds(20);
    private static TestDatabase db;

    @BeforeAll
    static void start() {
        db = TestDatabase.create("collector_series");
    }

    @AfterAll
    static void stop() {
        db.close();
    }

    @Test
    void seriesBeyondTheLimitAreRejectedWithAClearErrorAndSequencesContinueAfterRestart() throws Exception {
        try (CollectorHarness h = CollectorHarness.start(db, "--max-series", "3")) {
            final HttpResponse<String> r = h.post("/api/v2/write",
                "lim,n=1 v=1 1\nlim,n=2 v=1 1\nlim,n=3 v=1 1\nlim,n=4 v=1 1\nlim,n=1 v=2 2\n");
            assertEquals(400, r.statusCode(), r.body());
            final JsonNode body = new ObjectMapper().readTree(r.body());
            assertEquals(4, body.get("line").asInt());
            assertTrue(body.get("message").asText().contains("--max-series=3"), r.body());
            Await.until(WAIT, () -> h.count("measurement = 'lim'") == 4, "4 rows of the 3 allowed series");
            assertEquals(3, db.queryLong("SELECT count(*) FROM telemetry_sources"));
        }
        // A second run on the same database: the series are loaded, not re-created, and sequences continue.
        try (CollectorHarness h = CollectorHarness.start(db, "--max-series", "3")) {
            assertEquals(204, h.post("/api/v2/write", "lim,n=1 v=3 3\n").statusCode());
            Await.until(WAIT, () -> h.count("measurement = 'lim' AND tags->>'n' = '1'") == 3, "third n=1 row");
            assertEquals(3, db.queryLong("SELECT count(*) FROM telemetry_sources"));
            assertEquals(3, db.queryLong("SELECT count(DISTINCT seq) FROM telemetry WHERE tags->>'n' = '1'"));
            assertEquals(2, db.queryLong("SELECT max(seq) FROM telemetry WHERE tags->>'n' = '1'"));
        }
    }
}
