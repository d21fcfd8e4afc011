package dev.spillway.uptime.monitor;

import dev.spillway.telemetry.testsupport.Await;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The non-blocking TCP probe against real loopback servers: connects that hang (a port listening with a backlog of 1
 * that never accepts: once its backlog is full, the kernel drops further SYNs) are held by connections, not threads,
 * and end at their deadline; replies are capped; a cancelled check closes its connection.
 */
class TcpProbeTest {

    private static final long WAIT_S = 30;

    @RegisterExtension
    final Closer closing = new Closer();



    private static MonitorSpec spec(String url, String timeout, String tcp) throws Exception {
        return CheckTypesTest.spec("{\"name\":\"t\",\"url\":\"" + url + "\",\"interval\":\"120s\",\"timeout\":\""
            + timeout + "\"" + (tcp == null ? "" : ",\"tcp\":" + tcp) + "}");
    }

    /** A port whose connects hang: backlog 1, never accepting, its backlog filled by the test's own connects. */
    private ServerSocket hangingPort() throws Exception {
        final ServerSocket s = closing.open(new ServerSocket(0, 1, InetAddress.getLoopbackAddress()));
        for (int i = 0; i < 10; i++) {
            final Socket filler = closing.open(new Socket());
            try {
                filler.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), s.getLocalPort()), 1000);
            } catch (SocketTimeoutException e) {
                return s; // the backlog is full: further connects hang
            }
        }
        throw new IllegalStateException("the backlog never filled: connects to this port would not hang");
    }

    /** An accepting echo server, one thread per connection. */
    private ServerSocket echo() throws Exception {
        final ServerSocket s = closing.open(new ServerSocket(0, 50, InetAddress.getLoopbackAddress()));
        final Thread t = new Thread(() -> {
            while (!s.isClosed()) {
                try {
                    final Socket c = s.accept();
                    final Thread h = new Thread(() -> {
                        try (c; InputStream in = c.getInputStream(); OutputStream out = c.getOutputStream()) {
                            in.transferTo(out);
                        } catch (Exception e) {
                            // the probe closed its side
                        }
                    });
                    h.setDaemon(true);
                    h.start();
                } catch (Exception e) {
                    // closed at the end
                }
            }
        });
        t.setDaemon(true);
        t.start();
        return s;
    }

    @Test
    void moreHangingConnectsThanThreadsAreAllInFlightAndEndAtTheirDeadlineWhileHealthyChecksAnswer() throws Exception {
        final int threads = 4;
        final int hanging = 50;
        final int healthy = 20;
        final ServerSocket hang = hangingPort();
        final ServerSocket ok = echo();
        final Probes probes = closing.open(new Probes(false, 1, AddressPolicy.defaults()));
        final ProbeExecutor ex = new ProbeExecutor(threads, new SimpleMeterRegistry());
        closing.open(ex);
        final MonitorSpec hangSpec = spec("tcp://127.0.0.1:" + hang.getLocalPort(), "5s", null);
        final MonitorSpec okSpec = spec("tcp://127.0.0.1:" + ok.getLocalPort(), "5s",
            "{\"send\":\"PING\\n\",\"expect\":\"PING\"}");
        final long due = System.nanoTime();
        final AsyncChecks hangingChecks = new AsyncChecks(ex, probes, hangSpec, hanging, due);
        Await.until(Duration.ofSeconds(WAIT_S), () -> ex.asyncInFlight() == hanging,
            "all hanging checks in flight at once: " + ex.asyncInFlight());
        assertTrue(ex.threads() <= threads, "threads: " + ex.threads());
        assertTrue(ex.inFlight() > threads, "in flight beyond the threads: " + ex.inFlight());
        // Healthy checks, due after every hanging one, answer while the hanging ones still wait.
        final AsyncChecks healthyChecks = new AsyncChecks(ex, probes, okSpec, healthy, due + 1);
        assertTrue(healthyChecks.done.await(WAIT_S, TimeUnit.SECONDS), "the healthy checks ended");
        assertEquals(hanging, hangingChecks.done.getCount(), "no hanging check had ended when the healthy ones had answered");
        for (CheckResult r : healthyChecks.results) {
            assertTrue(r.up(), r.error());
            assertTrue(r.extra().get("reply_ms") >= 0, r.toString());
        }
        assertTrue(hangingChecks.done.await(WAIT_S, TimeUnit.SECONDS), "the hanging checks ended");
        assertEquals(hanging, hangingChecks.results.size());
        for (CheckResult r : hangingChecks.results) {
            assertFalse(r.up());
            assertEquals("timeout: no complete answer within 5s", r.error());
            assertTrue(r.durationMs() >= 5000, "ended at its deadline, not before: " + r.durationMs());
            assertTrue(Double.isNaN(r.connectMs()), "never connected: " + r);
            assertTrue(MonitorService.timedOut(hangSpec, r), "its monitor goes to the slow lane");
        }
        Await.until(Duration.ofSeconds(WAIT_S), () -> ex.asyncInFlight() == 0, "every slot released");
        assertTrue(ex.maxInFlight() >= hanging, "max in flight: " + ex.maxInFlight());
        assertEquals(0, ex.overdue(), "the probe ended every check itself");
    }

    @Test
    void aReplyIsReadAtMostUpToTheCapAndCounted() throws Exception {
        final ServerSocket talker = closing.open(new ServerSocket(0, 5, InetAddress.getLoopbackAddress()));
        final Thread t = new Thread(() -> {
            try (Socket c = talker.accept(); OutputStream out = c.getOutputStream()) {
                final byte[] chunk = new byte[8192];
                java.util.Arrays.fill(chunk, (byte) 'x');
                for (int i = 0; i < 32; i++) { // 256 KiB without the expected text
                    out.write(chunk);
                }
            } catch (Exception e) {
                // the probe stopped reading and closed
            }
        });
        t.setDaemon(true);
        t.start();
        final Probes probes = closing.open(new Probes(false, 1, AddressPolicy.defaults()));
        final long before = probes.receivedBytes();
        final CheckResult r = probes.check(spec("tcp://127.0.0.1:" + talker.getLocalPort(), "5s",
            "{\"expect\":\"PONG\"}"));
        assertFalse(r.up());
        assertEquals("expect: 'PONG' not in the reply (first " + TcpProbe.MAX_REPLY + " bytes); received '"
            + "x".repeat(60) + "...'", r.error());
        assertEquals(TcpProbe.MAX_REPLY, probes.receivedBytes() - before);
    }

    @Test
    void aConnectionClosedBeforeTheExpectedTextIsDownWithWhatCame() throws Exception {
        final ServerSocket closer = closing.open(new ServerSocket(0, 5, InetAddress.getLoopbackAddress()));
        final Thread t = new Thread(() -> {
            try (Socket c = closer.accept(); OutputStream out = c.getOutputStream()) {
                out.write("HELLO\r\n".getBytes(java.nio.charset.StandardCharsets.UTF_8));
            } catch (Exception e) {
                // ended
            }
        });
        t.setDaemon(true);
        t.start();
        final Probes probes = closing.open(new Probes(false, 1, AddressPolicy.defaults()));
        final CheckResult r = probes.check(spec("tcp://127.0.0.1:" + closer.getLocalPort(), "5s",
            "{\"expect\":\"PONG\"}"));
        assertEquals("expect: 'PONG' not in the reply (connection closed); received 'HELLO??'", r.error());
    }

    @Test
    void aCancelledCheckClosesItsConnection() throws Exception {
        final ServerSocket silent = closing.open(new ServerSocket(0, 5, InetAddress.getLoopbackAddress()));
        final Probes probes = closing.open(new Probes(false, 1, AddressPolicy.defaults()));
        final CompletableFuture<CheckResult> f = probes.start(spec("tcp://127.0.0.1:" + silent.getLocalPort(), "60s",
            "{\"expect\":\"PONG\"}"));
        try (Socket accepted = silent.accept()) {
            assertFalse(f.isDone(), "it waits for the reply");
            f.cancel(false); // what the executor does at stop
            accepted.setSoTimeout((int) TimeUnit.SECONDS.toMillis(WAIT_S));
            assertEquals(-1, accepted.getInputStream().read(), "the probe closed its side");
        }
    }

    @Test
    void closingTheProbesEndsOpenChecksAndStopsTheSelectorThread() throws Exception {
        final ServerSocket silent = closing.open(new ServerSocket(0, 5, InetAddress.getLoopbackAddress()));
        final Probes probes = new Probes(false, 1, AddressPolicy.defaults());
        final CompletableFuture<CheckResult> f = probes.start(spec("tcp://127.0.0.1:" + silent.getLocalPort(), "60s",
            "{\"expect\":\"PONG\"}"));
        try (Socket accepted = silent.accept()) {
            assertTrue(probes.tcp().running());
            probes.close();
            final CheckResult r = f.get(WAIT_S, TimeUnit.SECONDS);
            assertEquals("io: probe closed", r.error());
            assertFalse(probes.tcp().running(), "the selector thread ended");
            accepted.setSoTimeout((int) TimeUnit.SECONDS.toMillis(WAIT_S));
            assertEquals(-1, accepted.getInputStream().read(), "the probe closed its side");
        }
        assertEquals("io: probe closed", probes.check(spec("tcp://127.0.0.1:" + silent.getLocalPort(), "5s", null))
            .error());
    }
}
