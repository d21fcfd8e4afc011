package dev.spillway.collector;

import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One HTTP connection as the wire sees it: answers in request order (pipelining, refusals, half-close), JSON on
 * every refusal, and the bounds on time, connections and buffered bytes. Timeouts are scaled down (hundreds of
 * milliseconds) so the test takes seconds; nothing here asserts a duration, only that the bound acts.
 */
class HttpConnectionTest {

    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final int READ_MILLIS = 20_000;

    private static TestDatabase db;
    private static CollectorHarness h;
    private static InetSocketAddress addr;

    @BeforeAll
    static void start() throws Exception {
        db = TestDatabase.create("collector_http_conn");
        h = CollectorHarness.start(db, "--max-body-size", "64KiB", "--http-max-buffered", "96KiB",
            "--http-header-timeout", "300ms", "--http-read-timeout", "600ms", "--http-idle-timeout", "500ms",
            "--http-max-connections", "40");
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

    @Test
    void malformedRequestPipelinedAfterAWriteIsAnsweredAfterTheWritesAnswer() throws Exception {
        try (RawHttp c = new RawHttp(addr, READ_MILLIS)) {
            c.send(RawHttp.post("/api/v2/write", "pipe1 v=1\n") + "BROKEN\r\n\r\n");
            final RawHttp.Response first = c.read();
            assertEquals(204, first.status(), first.body());
            final RawHttp.Response second = c.read();
            assertEquals(400, second.status());
            assertTrue(second.body().contains("\"code\":\"invalid\""), second.body());
            assertTrue(c.closedByServer(), "connection closes after a malformed request");
        }
        Await.until(WAIT, () -> h.count("measurement = 'pipe1'") == 1, "pipelined write stored once");
    }

    @Test
    void threePipelinedRequestsGetThreeAnswersInOrder() throws Exception {
        try (RawHttp c = new RawHttp(addr, READ_MILLIS)) {
            // A write that needs a new series (slower), then a ping, then a bad line: answers keep that order.
            c.send(RawHttp.post("/api/v2/write", "pipe2,t=new v=1\n") + RawHttp.get("/ping")
                + RawHttp.post("/api/v2/write", "pipe2 v=\n"));
            assertEquals(204, c.read().status());
            final RawHttp.Response ping = c.read();
            assertEquals(204, ping.status());
            final RawHttp.Response bad = c.read();
            assertEquals(400, bad.status(), bad.body());
            assertTrue(bad.body().contains("\"line\":1"), bad.body());
        }
    }

    @Test
    void clientThatHalfClosesAfterSendingGetsItsAnswers() throws Exception {
        try (RawHttp c = new RawHttp(addr, READ_MILLIS)) {
            c.send(RawHttp.post("/api/v2/write", "half v=1\n") + RawHttp.post("/api/v2/write", "half v=2 2\n"));
            c.shutdownOutput();
            assertEquals(204, c.read().status());
            assertEquals(204, c.read().status());
            assertTrue(c.closedByServer(), "closed once every answer is out");
        }
        Await.until(WAIT, () -> h.count("measurement = 'half'") == 2, "both half-close writes stored");
    }

    @Test
    void oversizedBodyGets413WithJsonBeforeTheBodyIsSent() throws Exception {
        try (RawHttp c = new RawHttp(addr, READ_MILLIS)) {
            c.send("POST /api/v2/write HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n");
            final RawHttp.Response r = c.read();
            assertEquals(413, r.status());
            assertTrue(r.header("content-type").startsWith("application/json"), r.headers().toString());
            assertTrue(r.body().contains("\"code\":\"request too large\"") && r.body().contains("--max-body-size"),
                r.body());
        }
    }

    @Test
    void chunkedBodyOverTheLimitGets413WithJson() throws Exception {
        try (RawHttp c = new RawHttp(addr, READ_MILLIS)) {
            final StringBuilder sb = new StringBuilder("POST /api/v2/write HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + "Transfer-Encoding: chunked\r\n\r\n");
            final String chunk = "x".repeat(16 * 1024);
            for (int i = 0; i < 5; i++) {
                sb.append(Integer.toHexString(chunk.length())).append("\r\n").append(chunk).append("\r\n");
            }
            sb.append("0\r\n\r\n");
            c.send(sb.toString());
            final RawHttp.Response r = c.read();
            assertEquals(413, r.status());
            assertTrue(r.body().contains("request too large"), r.body());
        }
    }

    @Test
    void expectContinueIsAnsweredWith100ThenTheWritesAnswer() throws Exception {
        try (RawHttp c = new RawHttp(addr, READ_MILLIS)) {
            final String body = "cont v=1\n";
            c.send("POST /api/v2/write HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: " + body.length()
                + "\r\n\r\n");
            assertEquals(100, c.read().status());
            c.send(body);
            assertEquals(204, c.read().status());
        }
    }

    @Test
    void partialHeadIsClosedByTheHeaderTimeout() throws Exception {
        try (RawHttp c = new RawHttp(addr, READ_MILLIS)) {
            c.send("POST /api/v2/write HTTP/1.1\r\nHost: 127.0.0.1\r\n");
            assertTrue(c.closedByServer(), "partial head closed");
        }
    }

    @Test
    void shortBodyIsClosedByTheReadTimeoutAndItsBytesAreReleased() throws Exception {
        try (RawHttp c = new RawHttp(addr, READ_MILLIS)) {
            c.send("POST /api/v2/write HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50000\r\n\r\nshort v=1\n");
            assertTrue(c.closedByServer(), "short body closed");
        }
        Await.until(WAIT, () -> h.collector.listeners().httpBufferedBytes() == 0, "reservation released");
    }

    @Test
    void idleKeepAliveConnectionIsClosedAfterTheIdleTimeout() throws Exception {
        try (RawHttp c = new RawHttp(addr, READ_MILLIS)) {
            c.send(RawHttp.get("/ping"));
            assertEquals(204, c.read().status());
            assertTrue(c.closedByServer(), "idle connection closed");
        }
    }

    @Test
    void requestThatDoesNotFitTheBufferBudgetGets503WithRetryAfter() throws Exception {
        try (RawHttp holder = new RawHttp(addr, READ_MILLIS); RawHttp second = new RawHttp(addr, READ_MILLIS)) {
            // Holds 60000 of the 96 KiB budget until its read timeout.
            holder.send("POST /api/v2/write HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 60000\r\n\r\nx");
            Await.until(WAIT, () -> h.collector.listeners().httpBufferedBytes() >= 60_000, "first body reserved");
            second.send("POST /api/v2/write HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 60000\r\n\r\n");
            final RawHttp.Response r = second.read();
            assertEquals(503, r.status(), r.body());
            assertEquals("1", r.header("retry-after"));
            assertTrue(r.body().contains("--http-max-buffered"), r.body());
        }
    }

    @Test
    void connectionsBeyondTheLimitGet503AndAreClosed() throws Exception {
        // Its own collector with default timeouts, so held connections are not closed as idle meanwhile.
        try (CollectorHarness limited = CollectorHarness.start(db, "--http-max-connections", "5")) {
            final InetSocketAddress a = limited.collector.httpAddress();
            final List<RawHttp> held = new ArrayList<>();
            try {
                for (int i = 0; i < 5; i++) {
                    final RawHttp c = new RawHttp(a, READ_MILLIS);
                    held.add(c);
                    c.send(RawHttp.get("/ping"));
                    assertEquals(204, c.read().status());
                }
                try (RawHttp sixth = new RawHttp(a, READ_MILLIS)) {
                    final RawHttp.Response r = sixth.read();
                    assertEquals(503, r.status());
                    assertEquals("1", r.header("retry-after"));
                    assertTrue(r.body().contains("--http-max-connections"), r.body());
                    assertTrue(sixth.closedByServer());
                }
                held.remove(0).close();
                Await.until(WAIT, () -> limited.collector.listeners().httpConnections() == 4, "slot freed");
                try (RawHttp again = new RawHttp(a, READ_MILLIS)) {
                    again.send(RawHttp.get("/ping"));
                    assertEquals(204, again.read().status(), "a freed slot is usable again");
                }
            } finally {
                for (RawHttp c : held) {
                    c.close();
                }
            }
        }
    }

    @Test
    void anAddressInUseIsNamedWithItsOption() {
        final java.net.BindException e = org.junit.jupiter.api.Assertions.assertThrows(java.net.BindException.class,
            () -> Collector.start(((dev.spillway.collector.config.CollectorOptions.Run) dev.spillway.collector.config
                .CollectorOptions.parse(new String[] {"--jdbc-url", db.jdbcUrl(), "--db-user", db.user(), "--db-password",
                    db.password(), "--http", "127.0.0.1:" + addr.getPort(), "--spool-dir", "off"}, java.util.Map.of(),
                    new java.io.PrintStream(java.io.OutputStream.nullOutputStream()))).config()).close());
        assertTrue(e.getMessage().contains("127.0.0.1:" + addr.getPort()) && e.getMessage().contains("(--http)"),
            e.getMessage());
    }
}
