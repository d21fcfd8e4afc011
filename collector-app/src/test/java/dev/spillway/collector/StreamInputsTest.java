package dev.spillway.collector;

import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * TCP and UDP ingest off the event loop: a stream blocked on a full ring does not stall HTTP, nothing is lost
 * under the block policy, the last line of a stream counts even without a newline, and UDP reports what arrived
 * and what the kernel dropped.
 */
class StreamInputsTest {

    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final long BASE = 1_700_000_000_000_000_000L;

    @Test
    void lastTcpLineWithoutNewlineIsIngested() throws Exception {
        try (TestDatabase db = TestDatabase.create("collector_tcp_last");
             CollectorHarness h = CollectorHarness.start(db, "--tcp", "127.0.0.1:0")) {
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), h.collector.tcpAddress().getPort())) {
                s.getOutputStream().write("last v=1 1\nlast v=2 2".getBytes(StandardCharsets.UTF_8));
                s.shutdownOutput();
            }
            Await.until(WAIT, () -> h.count("measurement = 'last'") == 2, "both lines, the last without newline");
        }
    }

    @Test
    @Timeout(120)
    void tcpStreamsBlockedOnAFullRingDoNotStallHttpAndLoseNothing() throws Exception {
        final int connections = 8;
        final int linesPerConnection = 500;
        try (TestDatabase db = TestDatabase.create("collector_tcp_block");
             CollectorHarness h = CollectorHarness.start(db, "--tcp", "127.0.0.1:0", "--ring-size", "256",
                 "--batch-size", "256", "--workers", "1")) {
            // The series exist before the lock: creating one reads max(seq) from the locked table.
            final StringBuilder seed = new StringBuilder();
            for (int c = 0; c < connections; c++) {
                seed.append("blk,c=").append(c).append(" v=-1 ").append(BASE - 1 - c).append('\n');
            }
            assertEquals(204, h.post("/api/v2/write", seed.toString()).statusCode());
            Await.until(WAIT, () -> h.count("measurement = 'blk'") == connections, "seed rows");
            final List<CompletableFuture<Void>> senders = new ArrayList<>();
            try (Connection lock = db.connect()) {
                lock.setAutoCommit(false);
                try (Statement st = lock.createStatement()) {
                    st.execute("LOCK TABLE telemetry_events IN ACCESS EXCLUSIVE MODE");
                }
                for (int c = 0; c < connections; c++) {
                    final int conn = c;
                    senders.add(CompletableFuture.runAsync(() -> send(h, conn, linesPerConnection)));
                }
                // The ring fills and stays full: the streams are blocked (by the pipeline, off the event loops).
                Await.until(WAIT, () -> h.collector.stats().ringOccupancy() == 256, "ring full");
                // Every event loop still serves HTTP: several fresh connections, so all loops are tried.
                for (int i = 0; i < 8; i++) {
                    final HttpResponse<String> health = h.get("/health");
                    assertEquals(200, health.statusCode(), health.body());
                    assertEquals(204, h.get("/ping").statusCode());
                }
                assertEquals(0, h.collector.stats().overwritten());
                lock.rollback();
            }
            CompletableFuture.allOf(senders.toArray(new CompletableFuture<?>[0])).get();
            final long expected = connections + (long) connections * linesPerConnection;
            Await.until(WAIT, () -> h.count("measurement = 'blk'") == expected, "every TCP line stored");
            assertEquals(0, h.collector.stats().rejectedFull());
            assertTrue(h.collector.stats().isBalanced(), h.collector.stats().toString());
        }
    }

    private static void send(CollectorHarness h, int conn, int lines) {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), h.collector.tcpAddress().getPort())) {
            final OutputStream out = s.getOutputStream();
            final StringBuilder sb = new StringBuilder();
            for (int i = 0; i < lines; i++) {
                sb.append("blk,c=").append(conn).append(" v=").append(i).append(' ').append(BASE + i).append('\n');
                if (sb.length() > 8192) {
                    out.write(sb.toString().getBytes(StandardCharsets.UTF_8));
                    sb.setLength(0);
                }
            }
            out.write(sb.toString().getBytes(StandardCharsets.UTF_8));
            s.shutdownOutput();
            // Wait for the server's close after the stream was consumed, so the lines are all read.
            while (s.getInputStream().read() >= 0) {
                continue;
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    @Timeout(120)
    void udpLossUnderABlockedPipelineIsCountedAsKernelDrops() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.exists(java.nio.file.Path.of("/proc/net/udp")),
            "skipped: kernel UDP drop counts come from Linux /proc/net/udp, absent here");
        final int sent = 3_000;
        try (TestDatabase db = TestDatabase.create("collector_udp_drops");
             CollectorHarness h = CollectorHarness.start(db, "--udp", "127.0.0.1:0", "--udp-receive-buffer", "4KiB",
                 "--ring-size", "64", "--batch-size", "16", "--workers", "1")) {
            assertEquals(204, h.post("/api/v2/write", "udpd v=-1 " + (BASE - 1) + "\n").statusCode());
            Await.until(WAIT, () -> h.count("measurement = 'udpd'") == 1, "seed row");
            try (Connection lock = db.connect()) {
                lock.setAutoCommit(false);
                try (Statement st = lock.createStatement()) {
                    st.execute("LOCK TABLE telemetry_events IN ACCESS EXCLUSIVE MODE");
                }
                try (DatagramSocket udp = new DatagramSocket()) {
                    for (int i = 0; i < sent; i++) {
                        final byte[] d = ("udpd v=" + i + " " + (BASE + i)).getBytes(StandardCharsets.UTF_8);
                        udp.send(new DatagramPacket(d, d.length, InetAddress.getLoopbackAddress(),
                            h.collector.udpAddress().getPort()));
                    }
                }
                Await.until(WAIT, () -> metric(h, "spillway_collector_udp_kernel_drops_total") > 0,
                    "kernel drops visible while the pipeline is blocked; " + udpMetrics(h) + h.collector.stats());
                lock.rollback();
            }
            // Every datagram is accounted for: received by the collector, or dropped by the kernel or the queue.
            Await.until(WAIT, () -> metric(h, "spillway_collector_udp_datagrams_total")
                + metric(h, "spillway_collector_udp_kernel_drops_total")
                + metric(h, "spillway_collector_udp_queue_drops_total") == sent, "all datagrams accounted for");
            final long received = (long) metric(h, "spillway_collector_udp_datagrams_total")
                - (long) metric(h, "spillway_collector_udp_queue_drops_total");
            Await.until(WAIT, () -> h.count("measurement = 'udpd' AND value >= 0") == received,
                "every datagram taken in is stored");
            System.out.printf("udp burst: sent %d, received %d, kernel drops %d%n", sent, received,
                (long) metric(h, "spillway_collector_udp_kernel_drops_total"));
        }
    }

    private static String udpMetrics(CollectorHarness h) {
        try {
            final StringBuilder sb = new StringBuilder();
            for (String line : h.get("/metrics").body().split("\n")) {
                if (line.startsWith("spillway_collector_udp")) {
                    sb.append(line).append("; ");
                }
            }
            final String port = String.format("%04X", h.collector.udpAddress().getPort());
            for (String f : new String[] {"/proc/net/udp", "/proc/net/udp6"}) {
                for (String l : java.nio.file.Files.readAllLines(java.nio.file.Path.of(f))) {
                    if (l.contains(":" + port + " ")) {
                        sb.append(f).append(": ").append(l).append("; ");
                    }
                }
            }
            return sb.toString();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static double metric(CollectorHarness h, String name) {
        try {
            for (String line : h.get("/metrics").body().split("\n")) {
                if (line.startsWith(name + " ")) {
                    return Double.parseDouble(line.substring(name.length() + 1).trim());
                }
            }
            return -1;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void udpDatagramsAndKernelDropsAreCounted() throws Exception {
        try (TestDatabase db = TestDatabase.create("collector_udp_count");
             CollectorHarness h = CollectorHarness.start(db, "--udp", "127.0.0.1:0")) {
            try (DatagramSocket udp = new DatagramSocket()) {
                for (int i = 0; i < 10; i++) {
                    final byte[] d = ("udpc v=" + i + " " + (BASE + i)).getBytes(StandardCharsets.UTF_8);
                    udp.send(new DatagramPacket(d, d.length, InetAddress.getLoopbackAddress(),
                        h.collector.udpAddress().getPort()));
                }
            }
            Await.until(WAIT, () -> h.count("measurement = 'udpc'") == 10, "10 udp rows");
            final String metrics = h.get("/metrics").body();
            assertTrue(metrics.contains("spillway_collector_udp_datagrams_total 10.0"), metrics);
            // Present (0 here, nothing was dropped); on Linux read from /proc/net/udp.
            assertTrue(metrics.contains("spillway_collector_udp_kernel_drops_total "), metrics);
        }
    }
}
