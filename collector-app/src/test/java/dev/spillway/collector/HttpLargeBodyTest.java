package dev.spillway.collector;

import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Bodies larger than the first buffer the HTTP listener allocates (64 KiB with a Content-Length, 8 KiB chunked), so
 * the buffer grows while the bytes arrive: every line arrives intact, in order, whatever the growth step.
 */
class HttpLargeBodyTest {

    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final int READ_MILLIS = 30_000;

    private static TestDatabase db;
    private static CollectorHarness h;
    private static InetSocketAddress addr;

    @BeforeAll
    static void start() throws Exception {
        db = TestDatabase.create("collector_http_large");
        h = CollectorHarness.start(db);
        addr = h.collector.httpAddress();
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

    /** {@code n} lines of one series, values 0..n-1, one second apart, about 40 bytes each. */
    private static String lines(String measurement, int n) {
        final StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            sb.append(measurement).append(",host=h v=").append(i).append(' ')
                .append(1_700_000_000L + i).append("000000000\n");
        }
        return sb.toString();
    }

    @Test
    void bodyWithContentLengthFarOverTheFirstBufferArrivesWhole() throws Exception {
        final int n = 9_000; // about 380 KiB
        final String body = lines("large_cl", n);
        try (RawHttp c = new RawHttp(addr, READ_MILLIS)) {
            c.send(RawHttp.post("/api/v2/write", body));
            final RawHttp.Response r = c.read();
            assertEquals(204, r.status(), r.body());
        }
        Await.until(WAIT, () -> h.count("measurement = 'large_cl'") == n, "every line stored");
        assertEquals(n, h.count("measurement = 'large_cl' AND value = "
            + "(extract(epoch FROM time) - 1700000000)"), "each line's value matches its own timestamp");
    }

    @Test
    void chunkedBodyOverManyGrowthsArrivesWhole() throws Exception {
        final int n = 6_000;
        final String body = lines("large_chunked", n);
        final StringBuilder sb = new StringBuilder("POST /api/v2/write HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n");
        for (int from = 0; from < body.length(); from += 5_000) {
            final String chunk = body.substring(from, Math.min(body.length(), from + 5_000));
            sb.append(Integer.toHexString(chunk.length())).append("\r\n").append(chunk).append("\r\n");
        }
        sb.append("0\r\n\r\n");
        try (RawHttp c = new RawHttp(addr, READ_MILLIS)) {
            c.send(sb.toString());
            final RawHttp.Response r = c.read();
            assertEquals(204, r.status(), r.body());
        }
        Await.until(WAIT, () -> h.count("measurement = 'large_chunked'") == n, "every line stored");
        assertEquals(n, h.count("measurement = 'large_chunked' AND value = "
            + "(extract(epoch FROM time) - 1700000000)"), "each line's value matches its own timestamp");
    }
}
