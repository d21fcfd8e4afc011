package dev.spillway.collector;

import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Uploads that declare 32 MiB and stall keep their whole declared size reserved in the request-body budget
 * ({@code --http-max-buffered}, 256 MiB by default). Large uploads may use only seven eighths of it: the rest is kept
 * for small requests, so nine stalled uploads cannot make another client's one-line write wait (it used to get 503
 * until their read timeout, 54 s in the run). The answer time is printed, not asserted.
 */
class HttpStalledUploadsTest {

    private static final int STALLED = 9;
    private static final long DECLARED = 32L << 20;
    private static final int WRITES = 20;

    @Test
    @Timeout(120)
    void aOneLineWriteIsAnsweredWhileNineLargeUploadsStall() throws Exception {
        final List<SocketChannel> stalled = new ArrayList<>();
        try (TestDatabase db = TestDatabase.create("collector_stalled_uploads");
             CollectorHarness h = CollectorHarness.start(db, "--http-read-timeout", "5m")) {
            final InetSocketAddress addr = h.collector.httpAddress();
            // One write before the stall: the test client's first request pays for its own start-up (classes,
            // connection), which is not what the goal measures; this one is the baseline printed beside the others.
            final long w0 = System.nanoTime();
            assertEquals(204, h.post("/api/v2/write", "small v=-1 1699999999999999999\n").statusCode());
            final long warmMicros = (System.nanoTime() - w0) / 1_000;
            final byte[] start = ("POST /api/v2/write HTTP/1.1\r\nHost: 127.0.0.1:" + addr.getPort() + "\r\nContent-Length: " + DECLARED
                + "\r\n\r\nstalled v=1\n").getBytes(StandardCharsets.US_ASCII);
            for (int i = 0; i < STALLED; i++) {
                final SocketChannel c = SocketChannel.open(addr);
                stalled.add(c);
                c.write(ByteBuffer.wrap(start));
            }
            // 7 x 32 MiB fit in the large uploads' share (224 MiB); the 8th and 9th are refused with 503 at once.
            final Set<SocketChannel> answered = new HashSet<>();
            Await.until(Duration.ofSeconds(30), () -> h.collector.listeners().httpBufferedBytes() == 7 * DECLARED
                && answered(stalled, answered) == 2, "seven uploads hold their reservation, two are refused");

            final List<Long> micros = new ArrayList<>();
            for (int i = 0; i < WRITES; i++) {
                final long t0 = System.nanoTime();
                final HttpResponse<String> r = h.post("/api/v2/write", "small v=" + i + " " + (1_700_000_000_000_000_000L + i)
                    + "\n");
                micros.add((System.nanoTime() - t0) / 1_000);
                assertEquals(204, r.statusCode(), r.body());
            }
            // ack=accept: the 204 comes before the commit.
            Await.until(Duration.ofSeconds(30), () -> h.count("measurement = 'small'") == WRITES + 1, "every write stored");
            assertEquals(7 * DECLARED, h.collector.listeners().httpBufferedBytes(), "the stalled uploads still hold");
            final List<Long> sorted = micros.stream().sorted().toList();
            System.out.printf("stalled uploads: %d declared %d MiB each, %d MiB reserved, 2 refused; %d one-line writes "
                    + "answered 204: first %d us, median %d us, max %d us (one before the stall: %d us)%n", STALLED,
                DECLARED >> 20, (7 * DECLARED) >> 20, WRITES, micros.get(0), sorted.get(WRITES / 2), sorted.get(WRITES - 1), warmMicros);
        } finally {
            for (SocketChannel c : stalled) {
                c.close();
            }
        }
    }

    /** Uploads answered so far (a refusal is answered at once with 503, and its connection closed). */
    private static int answered(List<SocketChannel> uploads, Set<SocketChannel> answered) {
        for (SocketChannel c : uploads) {
            if (answered.contains(c)) {
                continue;
            }
            try {
                c.configureBlocking(false);
                final ByteBuffer b = ByteBuffer.allocate(512);
                final int read = c.read(b);
                if (read > 0) {
                    assertTrue(new String(b.array(), 0, read, StandardCharsets.US_ASCII).startsWith("HTTP/1.1 503"),
                        "a refused upload gets 503");
                }
                if (read != 0) {
                    answered.add(c);
                }
            } catch (IOException e) {
                answered.add(c); // reset by the collector after its answer
            }
        }
        return answered.size();
    }
}
