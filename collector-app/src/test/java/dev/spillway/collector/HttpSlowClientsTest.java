package dev.spillway.collector;

import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import io.netty.buffer.PooledByteBufAllocator;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * 2,000 idle connections and 200 slow ones (trickling a request head, or stalled in a body) are held while a
 * normal client's requests are all answered. What is measured (connections held, buffered bytes, heap, answer
 * times) is printed, not asserted: timing belongs to benchmarks, and this machine is shared.
 */
class HttpSlowClientsTest {

    private static final int IDLE = 2_000;
    private static final int SLOW = 200;
    private static final int NORMAL_REQUESTS = 100;

    @Test
    @Timeout(180)
    void normalClientIsAnsweredWhileIdleAndSlowConnectionsAreHeld() throws Exception {
        final long fdLimit = ((com.sun.management.UnixOperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
            .getMaxFileDescriptorCount();
        Assumptions.assumeTrue(fdLimit >= 3 * (IDLE + SLOW), "skipped: needs about " + 3 * (IDLE + SLOW)
            + " file descriptors, the limit is " + fdLimit + " (ulimit -n)");
        final List<SocketChannel> sockets = new ArrayList<>();
        try (TestDatabase db = TestDatabase.create("collector_slow_clients");
             // Deadlines longer than the test, so the slow ones stay for the measurement (HttpConnectionTest checks
             // that the deadlines close them).
             CollectorHarness h = CollectorHarness.start(db, "--http-header-timeout", "5m", "--http-read-timeout",
                 "5m")) {
            final InetSocketAddress addr = h.collector.httpAddress();
            System.gc();
            final long heapBefore = usedHeap();
            for (int i = 0; i < IDLE; i++) {
                sockets.add(SocketChannel.open(addr));
            }
            final List<SocketChannel> slow = new ArrayList<>();
            for (int i = 0; i < SLOW; i++) {
                final SocketChannel c = SocketChannel.open(addr);
                sockets.add(c);
                slow.add(c);
                // Half trickle a head, half stall in a 1 MiB body after its first bytes.
                final String start = i % 2 == 0 ? "POST /api/v2/write HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    : "POST /api/v2/write HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1048576\r\n\r\nslow,c=" + i + " v=1\n";
                c.write(ByteBuffer.wrap(start.getBytes(StandardCharsets.US_ASCII)));
            }
            Await.until(Duration.ofSeconds(60), () -> h.collector.listeners().httpConnections() >= IDLE + SLOW,
                "all connections accepted");
            final long buffered = h.collector.listeners().httpBufferedBytes();

            final List<Long> micros = new ArrayList<>();
            for (int i = 0; i < NORMAL_REQUESTS; i++) {
                // The slow ones keep trickling: one more header byte each between requests.
                for (int s = 0; s < SLOW; s += 2) {
                    slow.get(s).write(ByteBuffer.wrap(new byte[] {'X'}));
                }
                final long t0 = System.nanoTime();
                final HttpResponse<String> r = i % 2 == 0
                    ? h.post("/api/v2/write", "normal v=" + i + " " + (1_700_000_000_000_000_000L + i) + "\n")
                    : h.get("/health");
                micros.add((System.nanoTime() - t0) / 1_000);
                assertEquals(i % 2 == 0 ? 204 : 200, r.statusCode(), r.body());
            }
            final int open = h.collector.listeners().httpConnections();
            assertTrue(open >= IDLE + SLOW, "idle and slow connections are held, not dropped: " + open);
            System.gc();
            final long heapAfter = usedHeap();
            micros.sort(null);
            System.out.printf("slow clients: held %d connections (%d idle, %d slow; %d slow in a body) with %d "
                    + "request bytes reserved; heap used %d MiB before, %d MiB after opening them (JVM includes the "
                    + "test); Netty direct memory %d KiB; normal client: %d requests answered, median %d us, "
                    + "max %d us%n", open, IDLE, SLOW, SLOW / 2, buffered, heapBefore >> 20, heapAfter >> 20,
                PooledByteBufAllocator.DEFAULT.metric().usedDirectMemory() >> 10, micros.size(),
                micros.get(micros.size() / 2), micros.get(micros.size() - 1));
        } finally {
            for (SocketChannel c : sockets) {
                c.close();
            }
        }
    }

    private static long usedHeap() {
        final Runtime rt = Runtime.getRuntime();
        return rt.totalMemory() - rt.freeMemory();
    }
}
