package dev.spillway.collector;

import dev.spillway.ingest.internal.http.HttpServer;
import dev.spillway.testkit.LogCapture;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Floods the HTTP conditions that are logged rate-limited (connections refused over the limit, requests answered
 * 503 because the buffer budget is full) and reads logback's own appender: at most one line per 10 s each, and
 * after shutdown the lines account for every occurrence.
 */
class HttpLogFloodTest {

    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final int READ_MILLIS = 20_000;
    private static final long LOG_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(10);
    private static final int FLOOD = 30;

    @Test
    @Timeout(120)
    void refusedConnectionsAnd503AnswersAreLoggedBoundedAndAllAccountedFor() throws Exception {
        try (TestDatabase db = TestDatabase.create("collector_http_flood");
             LogCapture refusedConnections = LogCapture.of(HttpServer.class.getName());
             LogCapture refusedRequests = LogCapture.of("dev.spillway.ingest.internal.http.HttpApiHandler")) {
            final long started = System.nanoTime();
            final long elapsed;
            try (CollectorHarness h = CollectorHarness.start(db, "--max-body-size", "64KiB", "--http-max-buffered",
                "96KiB", "--http-max-connections", "3")) {
                final InetSocketAddress a = h.collector.httpAddress();
                try (RawHttp holder = new RawHttp(a, READ_MILLIS)) {
                    // The holder keeps 60000 of the 96 KiB budget reserved: every further write of that size gets 503
                    // (and its connection is closed, since its body will not be read).
                    holder.send("POST /api/v2/write HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 60000\r\n\r\nx");
                    Await.until(WAIT, () -> h.collector.listeners().httpBufferedBytes() >= 60_000, "budget held");
                    for (int i = 0; i < FLOOD; i++) {
                        try (RawHttp asker = new RawHttp(a, READ_MILLIS)) {
                            asker.send("POST /api/v2/write HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 60000\r\n\r\n");
                            final RawHttp.Response r = asker.read();
                            assertEquals(503, r.status(), r.body());
                        }
                        Await.until(WAIT, () -> h.collector.listeners().httpConnections() == 1, "asker's slot freed");
                    }
                    try (RawHttp second = new RawHttp(a, READ_MILLIS); RawHttp third = new RawHttp(a, READ_MILLIS)) {
                        Await.until(WAIT, () -> h.collector.listeners().httpConnections() == 3, "every slot taken");
                        // Every further connection is answered 503 and closed.
                        for (int i = 0; i < FLOOD; i++) {
                            try (RawHttp refused = new RawHttp(a, READ_MILLIS)) {
                                assertEquals(503, refused.read().status());
                            }
                        }
                    }
                    elapsed = System.nanoTime() - started;
                    final long bound = 1 + elapsed / LOG_INTERVAL_NANOS + 1;
                    assertTrue(refusedConnections.messages().size() <= bound, refusedConnections.messages().toString());
                    assertTrue(refusedRequests.messages().size() <= bound, refusedRequests.messages().toString());
                    assertTrue(refusedConnections.messages().get(0).contains("--http-max-connections"),
                        refusedConnections.messages().get(0));
                }
            }
            assertEquals(FLOOD, refusedConnections.occurrences(), "logged + suppressed = refused connections: "
                + refusedConnections.messages());
            assertEquals(FLOOD, refusedRequests.occurrences(), "logged + suppressed = 503 answers: "
                + refusedRequests.messages());
            final List<String> all = new ArrayList<>(refusedConnections.messages());
            all.addAll(refusedRequests.messages());
            assertTrue(all.size() <= 2 * (1 + elapsed / LOG_INTERVAL_NANOS + 2), all.toString());
        }
    }
}
