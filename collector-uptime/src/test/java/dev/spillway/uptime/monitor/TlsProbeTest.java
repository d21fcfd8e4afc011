package dev.spillway.uptime.monitor;

import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.testkit.TargetServer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The non-blocking TLS probe against real loopback servers: handshakes with servers that accept and never answer
 * are held by connections, not threads, and end at their deadline; a server that closes mid-handshake or speaks
 * something else is down with the reason; a cancelled check closes its connection.
 */
class TlsProbeTest {

    private static final long WAIT_S = 30;

    @TempDir
    Path dir;

    @RegisterExtension
    final Closer closing = new Closer();



    private static MonitorSpec spec(int port, String timeout) throws Exception {
        return CheckTypesTest.spec("{\"name\":\"s\",\"url\":\"tls://127.0.0.1:" + port + "\",\"interval\":\"120s\","
            + "\"timeout\":\"" + timeout + "\",\"tls_verify\":false}");
    }

    /** A server that accepts every connection, reads what comes and never writes; counts what it accepted. */
    private static final class Silent implements AutoCloseable {
        final ServerSocket server;
        final List<Socket> accepted = java.util.Collections.synchronizedList(new ArrayList<>());
        final CountDownLatch firstBytes;

        Silent(int expected) throws Exception {
            server = new ServerSocket(0, 200, InetAddress.getLoopbackAddress());
            firstBytes = new CountDownLatch(expected);
            final Thread t = new Thread(() -> {
                while (!server.isClosed()) {
                    try {
                        final Socket c = server.accept();
                        accepted.add(c);
                        final Thread r = new Thread(() -> {
                            try (InputStream in = c.getInputStream()) {
                                if (in.read() >= 0) {
                                    firstBytes.countDown(); // the ClientHello arrived; never answered
                                }
                                in.transferTo(java.io.OutputStream.nullOutputStream());
                            } catch (Exception e) {
                                // closed by the probe or at the end
                            }
                        });
                        r.setDaemon(true);
                        r.start();
                    } catch (Exception e) {
                        // closed at the end
                    }
                }
            });
            t.setDaemon(true);
            t.start();
        }

        int port() {
            return server.getLocalPort();
        }

        @Override
        public void close() throws Exception {
            server.close();
            synchronized (accepted) {
                for (Socket s : accepted) {
                    s.close();
                }
            }
        }
    }

    @Test
    void moreHangingHandshakesThanThreadsAreAllInFlightAndEndAtTheirDeadlineWhileHealthyChecksAnswer()
        throws Exception {
        final int threads = 4;
        final int hanging = 50;
        final int healthy = 20;
        final Silent silent = closing.open(new Silent(hanging));
        final TargetServer ok = closing.open(TargetServer.https(dir, 365).on("/", TargetServer.Behaviour.ok("tls")));
        final Probes probes = closing.open(new Probes(false, 1, AddressPolicy.defaults()));
        final ProbeExecutor ex = new ProbeExecutor(threads, new SimpleMeterRegistry());
        closing.open(ex);
        final MonitorSpec hangSpec = spec(silent.port(), "5s");
        final MonitorSpec okSpec = spec(ok.port(), "5s");
        final long due = System.nanoTime();
        final AsyncChecks hangingChecks = new AsyncChecks(ex, probes, hangSpec, hanging, due);
        Await.until(Duration.ofSeconds(WAIT_S), () -> ex.asyncInFlight() == hanging,
            "all hanging checks in flight at once: " + ex.asyncInFlight());
        assertTrue(silent.firstBytes.await(WAIT_S, TimeUnit.SECONDS), "every hanging check sent its ClientHello");
        assertTrue(ex.threads() <= threads, "threads: " + ex.threads());
        assertTrue(ex.inFlight() > threads, "in flight beyond the threads: " + ex.inFlight());
        final AsyncChecks healthyChecks = new AsyncChecks(ex, probes, okSpec, healthy, due + 1);
        assertTrue(healthyChecks.done.await(WAIT_S, TimeUnit.SECONDS), "the healthy checks ended");
        assertEquals(hanging, hangingChecks.done.getCount(), "no hanging check had ended when the healthy ones had answered");
        for (CheckResult r : healthyChecks.results) {
            assertTrue(r.up(), r.error());
            assertTrue(r.certExpiryDays() > 363 && r.certExpiryDays() <= 365, r.toString());
            assertTrue(r.tlsMs() >= 0 && r.connectMs() >= 0, r.toString());
        }
        assertTrue(hangingChecks.done.await(WAIT_S, TimeUnit.SECONDS), "the hanging checks ended");
        assertEquals(hanging, hangingChecks.results.size());
        for (CheckResult r : hangingChecks.results) {
            assertFalse(r.up());
            assertEquals("timeout: no complete answer within 5s", r.error());
            assertTrue(r.durationMs() >= 5000, "ended at its deadline, not before: " + r.durationMs());
            assertTrue(r.connectMs() >= 0, "connected: " + r);
            assertTrue(Double.isNaN(r.tlsMs()), "no handshake: " + r);
            assertTrue(MonitorService.timedOut(hangSpec, r), "its monitor goes to the slow lane");
        }
        Await.until(Duration.ofSeconds(WAIT_S), () -> ex.asyncInFlight() == 0, "every slot released");
        assertTrue(ex.maxInFlight() >= hanging, "max in flight: " + ex.maxInFlight());
        assertEquals(0, ex.overdue(), "the probe ended every check itself");
        assertEquals(hanging, silent.accepted.size());
        assertTrue(probes.tls().running(), "on the probe's selector thread");
    }

    @Test
    void aServerThatClosesOrSpeaksSomethingElseIsDownWithTheReason() throws Exception {
        final ServerSocket closer = closing.open(new ServerSocket(0, 5, InetAddress.getLoopbackAddress()));
        final Thread t = new Thread(() -> {
            try (Socket c = closer.accept()) {
                c.getInputStream().read(); // the ClientHello's first byte, then close
            } catch (Exception e) {
                // ended
            }
            try (Socket c = closer.accept()) {
                c.getOutputStream().write("HTTP/1.1 400 Bad Request\r\n\r\n".getBytes(
                    java.nio.charset.StandardCharsets.US_ASCII));
                c.getInputStream().read();
            } catch (Exception e) {
                // ended
            }
        });
        t.setDaemon(true);
        t.start();
        final Probes probes = closing.open(new Probes(false, 1, AddressPolicy.defaults()));
        final CheckResult closed = probes.check(spec(closer.getLocalPort(), "5s"));
        assertFalse(closed.up());
        assertEquals("tls: Remote host terminated the handshake", closed.error());
        final CheckResult http = probes.check(spec(closer.getLocalPort(), "5s"));
        assertFalse(http.up());
        assertTrue(http.error().startsWith("tls: "), http.error());
        assertTrue(Double.isNaN(http.certExpiryDays()));
    }

    @Test
    void aCancelledCheckClosesItsConnectionAndClosingTheProbesEndsOpenChecks() throws Exception {
        final ServerSocket silent = closing.open(new ServerSocket(0, 5, InetAddress.getLoopbackAddress()));
        final Probes probes = new Probes(false, 1, AddressPolicy.defaults());
        final CompletableFuture<CheckResult> f = probes.start(spec(silent.getLocalPort(), "60s"));
        try (Socket accepted = silent.accept()) {
            accepted.setSoTimeout((int) TimeUnit.SECONDS.toMillis(WAIT_S));
            assertEquals(0x16, accepted.getInputStream().read(), "a TLS handshake record arrived");
            assertFalse(f.isDone(), "it waits for the server's answer");
            f.cancel(false);
            final InputStream in = accepted.getInputStream();
            while (in.read() >= 0) {
                // the rest of the ClientHello, then the end
            }
        }
        final CompletableFuture<CheckResult> open = probes.start(spec(silent.getLocalPort(), "60s"));
        try (Socket accepted = silent.accept()) {
            accepted.setSoTimeout((int) TimeUnit.SECONDS.toMillis(WAIT_S));
            assertEquals(0x16, accepted.getInputStream().read());
            assertTrue(probes.tls().running());
            probes.close();
            assertEquals("io: probe closed", open.get(WAIT_S, TimeUnit.SECONDS).error());
            assertFalse(probes.tls().running(), "the selector thread ended");
            final InputStream in = accepted.getInputStream();
            while (in.read() >= 0) {
                // the rest of the ClientHello, then the end: the probe closed its side
            }
        }
        assertEquals("io: probe closed", probes.check(spec(silent.getLocalPort(), "5s")).error());
    }
}
