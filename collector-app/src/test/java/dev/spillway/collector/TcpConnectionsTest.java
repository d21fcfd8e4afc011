package dev.spillway.collector;

import dev.spillway.collector.config.CollectorOptions;
import dev.spillway.runtime.config.ConfigException;
import dev.spillway.ingest.BadLineLog;
import dev.spillway.testkit.LogCapture;
import dev.spillway.ingest.internal.tcp.TcpServer;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * TCP line protocol with real sockets: a bounded number of connections (the rest closed at once, counted, logged
 * rate-limited), idle connections closed, and a flood of bad lines that leaves a bounded log whose lines account
 * for every rejected line.
 */
class TcpConnectionsTest {

    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final int READ_MILLIS = 20_000;
    private static final long BASE = 1_700_000_000_000_000_000L;
    private static final long LOG_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(10);

    @Test
    @Timeout(120)
    void connectionsBeyondTheLimitAreClosedAtOnceCountedAndLoggedRateLimited() throws Exception {
        final int limit = 3;
        final int beyond = 25;
        try (TestDatabase db = TestDatabase.create("collector_tcp_limit");
             LogCapture log = LogCapture.of(TcpServer.class.getName())) {
            final long started;
            try (CollectorHarness h = CollectorHarness.start(db, "--tcp", "127.0.0.1:0", "--tcp-max-connections",
                Integer.toString(limit))) {
                final InetSocketAddress a = h.collector.tcpAddress();
                final List<Socket> held = new ArrayList<>();
                try {
                    for (int i = 0; i < limit; i++) {
                        held.add(connect(a));
                    }
                    Await.until(WAIT, () -> metric(h, "spillway_collector_tcp_connections") == limit, "limit reached");
                    started = System.nanoTime();
                    for (int i = 0; i < beyond; i++) {
                        try (Socket refused = connect(a)) {
                            assertTrue(closedByServer(refused), "connection beyond the limit is closed at once");
                        }
                    }
                    final long elapsed = System.nanoTime() - started;
                    assertEquals(beyond, metric(h, "spillway_collector_tcp_connections_refused_total"));
                    assertEquals(limit, metric(h, "spillway_collector_tcp_connections"), "refusals hold no slot");
                    final List<String> lines = log.messages();
                    assertTrue(lines.size() >= 1 && lines.size() <= 1 + elapsed / LOG_INTERVAL_NANOS + 1,
                        "at most one line per 10 s: " + lines);
                    assertTrue(lines.get(0).contains("--tcp-max-connections"), lines.get(0));

                    // The held connections still work; a freed slot is usable again.
                    for (int i = 0; i < limit; i++) {
                        send(held.get(i), "held,c=" + i + " v=1 " + (BASE + i) + "\n");
                    }
                    Await.until(WAIT, () -> h.count("measurement = 'held'") == limit, "lines of held connections");
                    held.remove(0).close();
                    Await.until(WAIT, () -> metric(h, "spillway_collector_tcp_connections") == limit - 1, "slot freed");
                    try (Socket again = connect(a)) {
                        send(again, "again v=1 " + BASE + "\n");
                        Await.until(WAIT, () -> h.count("measurement = 'again'") == 1, "freed slot accepted");
                    }
                } finally {
                    for (Socket s : held) {
                        s.close();
                    }
                }
            }
            // Shutdown reports the refusals the rate limit kept out of the log: every one is accounted for.
            assertEquals(beyond, log.occurrences(), "logged + suppressed = refused: " + log.messages());
        }
    }

    @Test
    @Timeout(60)
    void idleConnectionIsClosedAfterTheIdleTimeoutAndItsLinesAreKept() throws Exception {
        try (TestDatabase db = TestDatabase.create("collector_tcp_idle");
             CollectorHarness h = CollectorHarness.start(db, "--tcp", "127.0.0.1:0", "--tcp-idle-timeout", "200ms")) {
            try (Socket s = connect(h.collector.tcpAddress())) {
                send(s, "idle v=1 " + BASE + "\nidle v=2 " + (BASE + 1) + "\n");
                assertTrue(closedByServer(s), "closed by the server after the idle timeout");
            }
            Await.until(WAIT, () -> h.count("measurement = 'idle'") == 2, "lines sent before idling are stored");
            Await.until(WAIT, () -> metric(h, "spillway_collector_tcp_connections") == 0, "slot released");
        }
    }

    @Test
    @Timeout(120)
    void aConnectionPausedByAFullPipelineIsNotClosedAsIdle() throws Exception {
        // Lines of about 1 KiB, one series: enough bytes to fill the collector's pause buffer and both socket buffers,
        // so the sender is blocked in write() while its connection is paused, few rows to write afterwards.
        final String tag = "x".repeat(1000);
        final int lines = 64 * 1024 * 1024 / (tag.length() + 40);
        try (TestDatabase db = TestDatabase.create("collector_tcp_paused");
             CollectorHarness h = CollectorHarness.start(db, "--tcp", "127.0.0.1:0", "--tcp-idle-timeout", "300ms",
                 "--ring-size", "256", "--batch-size", "256", "--workers", "1")) {
            // The series exists before the lock: creating one reads the locked table.
            assertEquals(204, h.post("/api/v2/write", "paused,t=" + tag + " v=-1 " + (BASE - 1)).statusCode());
            Await.until(WAIT, () -> h.count("measurement = 'paused'") == 1, "seed row");
            final CompletableFuture<Void> sender;
            try (Connection lock = db.connect()) {
                lock.setAutoCommit(false);
                try (Statement st = lock.createStatement()) {
                    st.execute("LOCK TABLE telemetry_events IN ACCESS EXCLUSIVE MODE");
                }
                sender = CompletableFuture.runAsync(() -> {
                    try (Socket s = connect(h.collector.tcpAddress())) {
                        final StringBuilder sb = new StringBuilder();
                        for (int i = 0; i < lines; i++) {
                            sb.append("paused,t=").append(tag).append(" v=").append(i).append(' ').append(BASE + i)
                                .append('\n');
                            if (sb.length() > 65_536) {
                                send(s, sb.toString());
                                sb.setLength(0);
                            }
                        }
                        send(s, sb.toString());
                        s.shutdownOutput();
                        // The server closes once it has consumed the stream.
                        assertTrue(closedByServer(s));
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
                Await.until(WAIT, () -> h.collector.stats().ringOccupancy() == 256, "ring full, stream paused");
                // A connection that sends nothing is closed after the idle timeout: once it is, the paused one has
                // also been without reads for longer than that.
                try (Socket canary = connect(h.collector.tcpAddress())) {
                    assertTrue(closedByServer(canary), "an idle connection is closed");
                }
                assertFalse(sender.isDone(), "the sender is still blocked in write() (else nothing was tested)");
                lock.rollback();
            }
            sender.get(60, TimeUnit.SECONDS);
            Await.until(WAIT, () -> h.count("measurement = 'paused'") == lines + 1, "every line of the paused stream");
            assertTrue(h.collector.stats().isBalanced(), h.collector.stats().toString());
        }
    }

    @Test
    @Timeout(120)
    void aFloodOfBadLinesLogsABoundedNumberOfLinesThatAccountForEveryRejectedLine() throws Exception {
        final int bad = 5_000;
        final int good = 100;
        try (TestDatabase db = TestDatabase.create("collector_tcp_flood");
             LogCapture log = LogCapture.of(BadLineLog.LOGGER)) {
            final long started = System.nanoTime();
            final long elapsed;
            try (CollectorHarness h = CollectorHarness.start(db, "--tcp", "127.0.0.1:0")) {
                final StringBuilder body = new StringBuilder();
                for (int i = 0; i < bad + good; i++) {
                    body.append(i % 51 == 0 && i / 51 < good ? "flood v=" + i + " " + (BASE + i) : "flood v=oops" + i)
                        .append('\n');
                }
                try (Socket s = connect(h.collector.tcpAddress())) {
                    send(s, body.toString());
                }
                Await.until(WAIT, () -> metric(h, "spillway_collector_lines_rejected_total{reason=\"invalid\"}") == bad, "all rejected");
                Await.until(WAIT, () -> h.count("measurement = 'flood'") == good, "good lines among them stored");
                elapsed = System.nanoTime() - started;
                final List<String> lines = log.messages();
                assertTrue(lines.size() >= 1 && lines.size() <= 1 + elapsed / LOG_INTERVAL_NANOS + 1,
                    lines.size() + " lines for " + bad + " rejected lines in " + elapsed / 1_000_000 + " ms");
                assertTrue(lines.get(0).startsWith("rejected line "), lines.get(0));
            }
            // After shutdown the suppressed ones have been reported too: the log accounts for every rejected line.
            final List<String> lines = log.messages();
            assertEquals(bad, log.occurrences(), "logged + suppressed = rejected: " + lines);
            assertTrue(lines.size() <= 1 + elapsed / LOG_INTERVAL_NANOS + 2, lines.toString());
        }
    }

    @Test
    void theLimitMustBePositive() {
        for (String value : new String[] {"0", "-1", "many"}) {
            final ConfigException e = assertThrows(ConfigException.class, () -> CollectorOptions.parse(
                new String[] {"--tcp-max-connections", value}, Map.of(), new PrintStream(OutputStream.nullOutputStream())));
            assertTrue(e.getMessage().startsWith("--tcp-max-connections"), e.getMessage());
        }
        final ConfigException env = assertThrows(ConfigException.class, () -> CollectorOptions.parse(new String[0],
            Map.of("SPILLWAY_TCP_MAX_CONNECTIONS", "0"), new PrintStream(OutputStream.nullOutputStream())));
        assertEquals("SPILLWAY_TCP_MAX_CONNECTIONS (--tcp-max-connections) must be 1..1000000, was 0", env.getMessage());
    }

    private static Socket connect(InetSocketAddress a) throws IOException {
        final Socket s = new Socket();
        s.connect(a, 10_000);
        s.setSoTimeout(READ_MILLIS);
        return s;
    }

    private static void send(Socket s, String text) throws IOException {
        final OutputStream out = s.getOutputStream();
        out.write(text.getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** True when the server closes the connection (end of stream or reset) before the read timeout. */
    private static boolean closedByServer(Socket s) throws IOException {
        final InputStream in = s.getInputStream();
        try {
            return in.read() == -1;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (SocketException e) {
            // Connection reset: closed with data unread, also a close by the server.
            return true;
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
}
