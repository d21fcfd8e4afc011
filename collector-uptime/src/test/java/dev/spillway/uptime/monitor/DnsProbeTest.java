package dev.spillway.uptime.monitor;

import dev.spillway.telemetry.testsupport.Await;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The non-blocking DNS probe against real loopback servers: queries to a resolver that never answers (a bound UDP
 * socket nobody reads) are held by sockets, not threads, and end at their deadline; a truncated answer is asked
 * again over TCP; a cancelled check closes its socket.
 */
class DnsProbeTest {

    private static final long WAIT_S = 30;

    @RegisterExtension
    final Closer closing = new Closer();



    private static MonitorSpec spec(int port, String timeout, String name) throws Exception {
        return CheckTypesTest.spec("{\"name\":\"d\",\"url\":\"dns://127.0.0.1:" + port + "\",\"interval\":\"120s\","
            + "\"timeout\":\"" + timeout + "\",\"dns\":{\"query_name\":\"" + name + "\"}}");
    }

    private LocalDns zone(Set<String> truncated) throws Exception {
        return closing.open(new LocalDns(Map.of("app.test", Map.of(1, List.of("192.0.2.10", "192.0.2.11")),
            "big.test", Map.of(1, List.of("192.0.2.20"))), truncated));
    }

    @Test
    void moreSilentResolversThanThreadsAreAllInFlightAndEndAtTheirDeadlineWhileHealthyChecksAnswer()
        throws Exception {
        final int threads = 4;
        final int hanging = 50;
        final int healthy = 20;
        final DatagramSocket silent = closing.open(new DatagramSocket(0, InetAddress.getLoopbackAddress()));
        final LocalDns ok = zone(Set.of());
        final Probes probes = closing.open(new Probes(false, 1, AddressPolicy.defaults()));
        final ProbeExecutor ex = new ProbeExecutor(threads, new SimpleMeterRegistry());
        closing.open(ex);
        final MonitorSpec hangSpec = spec(silent.getLocalPort(), "5s", "app.test");
        final MonitorSpec okSpec = spec(ok.port(), "5s", "app.test");
        final long due = System.nanoTime();
        final AsyncChecks hangingChecks = new AsyncChecks(ex, probes, hangSpec, hanging, due);
        Await.until(Duration.ofSeconds(WAIT_S), () -> ex.asyncInFlight() == hanging,
            "all hanging checks in flight at once: " + ex.asyncInFlight());
        assertTrue(ex.threads() <= threads, "threads: " + ex.threads());
        assertTrue(ex.inFlight() > threads, "in flight beyond the threads: " + ex.inFlight());
        // Every hanging query was sent: the silent resolver's socket holds 50 datagrams.
        silent.setSoTimeout((int) TimeUnit.SECONDS.toMillis(WAIT_S));
        for (int i = 0; i < hanging; i++) {
            silent.receive(new DatagramPacket(new byte[512], 512));
        }
        final AsyncChecks healthyChecks = new AsyncChecks(ex, probes, okSpec, healthy, due + 1);
        assertTrue(healthyChecks.done.await(WAIT_S, TimeUnit.SECONDS), "the healthy checks ended");
        assertEquals(hanging, hangingChecks.done.getCount(), "no hanging check had ended when the healthy ones had answered");
        for (CheckResult r : healthyChecks.results) {
            assertTrue(r.up(), r.error());
            assertEquals(2.0, r.extra().get("answers"));
        }
        assertEquals(healthy, ok.queries.get());
        assertTrue(hangingChecks.done.await(WAIT_S, TimeUnit.SECONDS), "the hanging checks ended");
        assertEquals(hanging, hangingChecks.results.size());
        for (CheckResult r : hangingChecks.results) {
            assertFalse(r.up());
            assertEquals("timeout: no complete answer within 5s", r.error());
            assertTrue(r.durationMs() >= 5000, "ended at its deadline, not before: " + r.durationMs());
            assertTrue(MonitorService.timedOut(hangSpec, r), "its monitor goes to the slow lane");
        }
        Await.until(Duration.ofSeconds(WAIT_S), () -> ex.asyncInFlight() == 0, "every slot released");
        assertTrue(ex.maxInFlight() >= hanging, "max in flight: " + ex.maxInFlight());
        assertEquals(0, ex.overdue(), "the probe ended every check itself");
        assertTrue(probes.dns().running(), "on the probe's selector thread");
    }

    @Test
    void aTruncatedAnswerIsAskedAgainOverTcp() throws Exception {
        final LocalDns dns = zone(Set.of("big.test"));
        final Probes probes = closing.open(new Probes(false, 1, AddressPolicy.defaults()));
        final CheckResult r = probes.check(spec(dns.port(), "5s", "big.test"));
        assertTrue(r.up(), r.error());
        assertEquals(1.0, r.extra().get("answers"), "the TCP answer's record");
        assertEquals(1, dns.queries.get(), "asked over UDP first");
        assertEquals(1, dns.tcpQueries.get(), "then over TCP");
        final CheckResult direct = probes.check(spec(dns.port(), "5s", "app.test"));
        assertTrue(direct.up(), direct.error());
        assertEquals(1, dns.tcpQueries.get(), "an untruncated answer is not asked again");
    }

    @Test
    void aTruncatedAnswerWhoseTcpRetryHangsEndsAtTheDeadline() throws Exception {
        // UDP truncates; over TCP the port accepts (the kernel's backlog) and never answers.
        DatagramSocket udp = null;
        ServerSocket tcp = null;
        for (int attempt = 0; tcp == null; attempt++) { // the same port number free for both
            udp = closing.open(new DatagramSocket(0, InetAddress.getLoopbackAddress()));
            try {
                tcp = closing.open(new ServerSocket(udp.getLocalPort(), 5, InetAddress.getLoopbackAddress()));
            } catch (java.io.IOException e) {
                assertTrue(attempt < 20, "no port number free for both UDP and TCP: " + e);
            }
        }
        final Probes probes = closing.open(new Probes(false, 1, AddressPolicy.defaults()));
        final CompletableFuture<CheckResult> f = probes.start(spec(udp.getLocalPort(), "1s", "big.test"));
        final DatagramPacket q = new DatagramPacket(new byte[512], 512);
        udp.setSoTimeout((int) TimeUnit.SECONDS.toMillis(WAIT_S));
        udp.receive(q);
        final byte[] answer = java.util.Arrays.copyOf(q.getData(), q.getLength());
        answer[2] = (byte) 0x83; // QR, TC, RD
        answer[3] = 0;
        udp.send(new DatagramPacket(answer, answer.length, q.getSocketAddress()));
        try (Socket accepted = tcp.accept()) {
            final java.io.DataInputStream in = new java.io.DataInputStream(accepted.getInputStream());
            final byte[] again = new byte[in.readUnsignedShort()];
            in.readFully(again);
            assertEquals(q.getLength(), again.length, "the same query over TCP");
            final CheckResult r = f.get(WAIT_S, TimeUnit.SECONDS);
            assertEquals("timeout: no complete answer within 1s", r.error());
            accepted.setSoTimeout((int) TimeUnit.SECONDS.toMillis(WAIT_S));
            assertEquals(-1, accepted.getInputStream().read(), "the probe closed its side");
        }
    }

    @Test
    void aStrayDatagramIsIgnoredAndAMalformedAnswerIsDownWithTheReason() throws Exception {
        final DatagramSocket udp = closing.open(new DatagramSocket(0, InetAddress.getLoopbackAddress()));
        final Probes probes = closing.open(new Probes(false, 1, AddressPolicy.defaults()));
        final CompletableFuture<CheckResult> f = probes.start(spec(udp.getLocalPort(), "30s", "app.test"));
        final DatagramPacket q = new DatagramPacket(new byte[512], 512);
        udp.setSoTimeout((int) TimeUnit.SECONDS.toMillis(WAIT_S));
        udp.receive(q);
        final byte[] stray = java.util.Arrays.copyOf(q.getData(), q.getLength());
        stray[0] ^= 0x55; // another id
        udp.send(new DatagramPacket(stray, stray.length, q.getSocketAddress()));
        final byte[] bad = java.util.Arrays.copyOf(q.getData(), 14); // our id, one answer announced, none there
        bad[2] = (byte) 0x81;
        bad[7] = 1;
        bad[12] = 60; // a label running past the end
        udp.send(new DatagramPacket(bad, bad.length, q.getSocketAddress()));
        final CheckResult r = f.get(WAIT_S, TimeUnit.SECONDS);
        assertFalse(r.up());
        assertEquals("dns: malformed answer: record runs past the end of the message", r.error());
    }

    @Test
    void aCancelledCheckClosesItsSocketAndClosingTheProbesEndsOpenChecks() throws Exception {
        final DatagramSocket silent = closing.open(new DatagramSocket(0, InetAddress.getLoopbackAddress()));
        final Probes probes = new Probes(false, 1, AddressPolicy.defaults());
        final CompletableFuture<CheckResult> cancelled = probes.start(spec(silent.getLocalPort(), "60s", "app.test"));
        final CompletableFuture<CheckResult> open = probes.start(spec(silent.getLocalPort(), "60s", "app.test"));
        silent.setSoTimeout((int) TimeUnit.SECONDS.toMillis(WAIT_S));
        final DatagramPacket first = new DatagramPacket(new byte[512], 512);
        silent.receive(first);
        final DatagramPacket second = new DatagramPacket(new byte[512], 512);
        silent.receive(second);
        cancelled.cancel(false);
        assertTrue(cancelled.isCancelled());
        assertTrue(probes.dns().running());
        probes.close();
        assertEquals("io: probe closed", open.get(WAIT_S, TimeUnit.SECONDS).error());
        assertFalse(probes.dns().running(), "the selector thread ended");
        assertEquals("io: probe closed", probes.check(spec(silent.getLocalPort(), "5s", "app.test")).error());
        // Both sockets are closed: their ports are free to bind again.
        for (InetSocketAddress from : List.of((InetSocketAddress) first.getSocketAddress(),
            (InetSocketAddress) second.getSocketAddress())) {
            try (DatagramSocket again = new DatagramSocket(from)) {
                assertEquals(from.getPort(), again.getLocalPort());
            }
        }
    }
}
