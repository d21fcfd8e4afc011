package dev.spillway.collector;

import dev.spillway.ingest.series.SeriesValidator;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Series the database cannot store are permanent errors: 400 naming the line, the body's good lines stored
 * once, never a 503 that makes the client send them again. The limits themselves are checked against the real
 * database: a series at every limit at once is stored.
 */
class BadSeriesTest {

    private static final Duration WAIT = Duration.ofSeconds(20);

    private static TestDatabase db;
    private static CollectorHarness h;

    @BeforeAll
    static void start() throws Exception {
        db = TestDatabase.create("collector_bad_series");
        h = CollectorHarness.start(db);
    }

    @AfterAll
    static void stop() {
        if (h != null) {
            h.close();
        }
        if (db != null) {
            db.close();
        }
    }

    private static void assertRejectedLine2(HttpResponse<String> r, String expect) {
        assertEquals(400, r.statusCode(), r.body());
        assertTrue(r.body().contains("\"line\":2"), r.body());
        assertTrue(r.body().contains(expect), r.body());
    }

    @Test
    void nulInTagValueIs400AndTheGoodLineIsStoredOnce() throws Exception {
        final HttpResponse<String> r = h.post("/api/v2/write", "nulok v=1\nnulbad,t=a\u0000b v=1\n");
        assertRejectedLine2(r, "NUL");
        Await.until(WAIT, () -> h.count("measurement = 'nulok'") == 1, "good line stored");
        assertEquals(0, h.count("measurement = 'nulbad'"));
    }

    @Test
    void fourHundredTagsAre400() throws Exception {
        final StringBuilder line = new StringBuilder("many");
        for (int i = 0; i < 400; i++) {
            line.append(",t").append(i).append("=v").append(i);
        }
        assertRejectedLine2(h.post("/api/v2/write", "manyok v=1\n" + line + " v=1\n"), "too many tags");
    }

    @Test
    void randomTagValueOf2800BytesIs400() throws Exception {
        assertRejectedLine2(h.post("/api/v2/write", "longok v=1\nlong,t=" + random(new Random(1), 2800) + " v=1\n"),
            "too long");
    }

    @Test
    void seriesAtEveryLimitAtOnceIsStored() throws Exception {
        // 64 tags of incompressible values filling the total exactly: the index row must still fit.
        final Random rnd = new Random(7);
        final StringBuilder line = new StringBuilder("edge");
        int used = "edge".length() + "v".length();
        final int tags = SeriesValidator.MAX_TAGS;
        final int perTag = (SeriesValidator.MAX_SERIES_KEY_BYTES - used) / tags;
        for (int i = 0; i < tags; i++) {
            final String key = String.format("k%02d", i);
            final int valueLength = perTag - key.length() + (i == 0 ? (SeriesValidator.MAX_SERIES_KEY_BYTES - used) % tags : 0);
            line.append(',').append(key).append('=').append(random(rnd, valueLength));
        }
        final HttpResponse<String> r = h.post("/api/v2/write", line + " v=1\n");
        assertEquals(204, r.statusCode(), r.body());
        Await.until(WAIT, () -> h.count("measurement = 'edge'") == 1, "edge series stored");
        // One byte more is over the limit.
        final HttpResponse<String> over = h.post("/api/v2/write", "ok2 v=1\n" + line + "x v=1\n");
        assertRejectedLine2(over, "series key too long");
    }

    @Test
    void permanentDatabaseErrorOnSeriesCreationIs400WithItsSqlState() throws Exception {
        db.execute("ALTER TABLE telemetry_sources ADD CONSTRAINT no_forbidden CHECK (measurement <> 'forbidden')");
        final HttpResponse<String> r = h.post("/api/v2/write", "allowed v=1\nforbidden v=1\n");
        assertRejectedLine2(r, "23514");
        Await.until(WAIT, () -> h.count("measurement = 'allowed'") == 1, "good line stored");
    }

    /** Letters and digits, no line-protocol specials: incompressible enough to defeat TOAST compression. */
    static String random(Random rnd, int n) {
        final String alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        final StringBuilder sb = new StringBuilder(n);
        for (int i = 0; i < n; i++) {
            sb.append(alphabet.charAt(rnd.nextInt(alphabet.length())));
        }
        return sb.toString();
    }
}
