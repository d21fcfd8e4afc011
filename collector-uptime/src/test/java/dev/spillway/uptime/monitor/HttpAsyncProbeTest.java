package dev.spillway.uptime.monitor;

import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.testkit.TargetServer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The non-blocking HTTP probe against real loopback servers, beyond what {@link HttpProbeTest} and
 * {@link ProbeSecurityTest} check on both probes: servers that accept and never answer hold connections, not
 * threads; chunked and gzip bodies (cut at the cap after decoding); a redirect chain; what a broken server gets
 * reported, in the blocking probe's words; a cancelled check closes its connection.
 */
class HttpAsyncProbeTest {

    private static final long WAIT_S = 60;

    @RegisterExtension
    final Closer closing = new Closer();



    private static MonitorSpec spec(String url, String timeout, String more) throws Exception {
        return CheckTypesTest.spec("{\"name\":\"h\",\"url\":\"" + url + "\",\"interval\":\"120s\",\"timeout\":\""
            + timeout + "\"" + (more == null ? "" : "," + more) + "}");
    }

    /** Accepts every connection and keeps it open without reading or answering. */
    private static final class Silent implements AutoCloseable {
        final ServerSocketChannel server;
        final List<SocketChannel> accepted = new CopyOnWriteArrayList<>();
        private final Thread acceptor;

        Silent(int backlog) throws IOException {
            server = ServerSocketChannel.open();
            server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), backlog);
            acceptor = new Thread(() -> {
                while (server.isOpen()) {
                    try {
                        accepted.add(server.accept());
                    } catch (IOException e) {
                        return; // closed at the end
                    }
                }
            }, "silent-acceptor");
            acceptor.setDaemon(true);
            acceptor.start();
        }

        int port() throws IOException {
            return ((InetSocketAddress) server.getLocalAddress()).getPort();
        }

        @Override
        public void close() throws Exception {
            server.close();
            for (SocketChannel c : accepted) {
                c.close();
            }
            acceptor.join(10_000);
        }
    }

    @Test
    void twoThousandServersThatNeverAnswerHoldConnectionsNotThreadsAndEndAtTheirDeadline() throws Exception {
        final int threads = 4;
        final int hanging = 2_000;
        final int healthy = 20;
        final Silent silent = closing.open(new Silent(hanging + 100));
        final TargetServer ok = closing.open(TargetServer.http().on("/ok", TargetServer.Behaviour.ok("fine")));
        final Probes probes = closing.open(new Probes(false, 1, AddressPolicy.defaults()));
        final ProbeExecutor ex = closing.open(new ProbeExecutor(threads, new SimpleMeterRegistry()));
        final MonitorSpec hangSpec = spec("http://127.0.0.1:" + silent.port() + "/", "8s", null);
        final MonitorSpec okSpec = spec(ok.url("/ok"), "8s", "\"keyword\":\"fine\"");
        assertTrue(probes.nonBlocking(hangSpec));
        final int before = ManagementFactory.getThreadMXBean().getThreadCount();
        final long due = System.nanoTime();
        final AsyncChecks hangingChecks = new AsyncChecks(ex, probes, hangSpec, hanging, due);
        Await.until(Duration.ofSeconds(WAIT_S), () -> silent.accepted.size() == hanging,
            "every hanging check connected: " + silent.accepted.size());
        assertEquals(hanging, ex.asyncInFlight(), "all in flight at once");
        final int during = ManagementFactory.getThreadMXBean().getThreadCount();
        // The executor's threads (at most 4) and the probe's selector thread: not one per check.
        assertTrue(during - before <= threads + 3, "threads before " + before + ", with 2,000 in flight " + during);
        assertTrue(ex.threads() <= threads, "executor threads: " + ex.threads());
        assertTrue(probes.httpAsync().running(), "on the probe's selector thread");
        assertEquals(hanging, hangingChecks.done.getCount(), "none ended before its deadline");

        final AsyncChecks healthyChecks = new AsyncChecks(ex, probes, okSpec, healthy, due + 1);
        assertTrue(healthyChecks.done.await(WAIT_S, TimeUnit.SECONDS), "the healthy checks ended");
        assertEquals(hanging, hangingChecks.done.getCount(), "no hanging check had ended when the healthy ones had");
        for (CheckResult r : healthyChecks.results) {
            assertTrue(r.up(), r.error());
            assertEquals(200, r.statusCode());
        }

        assertTrue(hangingChecks.done.await(WAIT_S, TimeUnit.SECONDS), "the hanging checks ended");
        assertEquals(hanging, hangingChecks.results.size());
        for (CheckResult r : hangingChecks.results) {
            assertFalse(r.up());
            assertEquals("timeout: no complete answer within 8s", r.error());
            assertEquals(-1, r.statusCode());
            assertTrue(r.durationMs() >= 8000, "ended at its deadline, not before: " + r.durationMs());
            assertTrue(r.connectMs() >= 0 && Double.isNaN(r.ttfbMs()), r.toString());
        }
        Await.until(Duration.ofSeconds(WAIT_S), () -> ex.asyncInFlight() == 0, "every slot released");
        assertEquals(0, ex.overdue(), "the probe ended every check itself");
    }

    private static byte[] gzip(String text) throws IOException {
        final ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (GZIPOutputStream z = new GZIPOutputStream(b)) {
            z.write(text.getBytes(StandardCharsets.UTF_8));
        }
        return b.toByteArray();
    }

    /** A 200 whose body is sent chunked, in chunks of {@code size} bytes (with an extension and a trailer). */
    private static RawTarget.Handler chunked(byte[] body, int size, Map<String, String> headers) {
        return (r, out) -> {
            final StringBuilder h = new StringBuilder("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n");
            headers.forEach((k, v) -> h.append(k).append(": ").append(v).append("\r\n"));
            out.write(h.append("Connection: close\r\n\r\n").toString().getBytes(StandardCharsets.ISO_8859_1));
            for (int at = 0; at < body.length; at += size) {
                final int n = Math.min(size, body.length - at);
                out.write((Integer.toHexString(n) + ";ext=1\r\n").getBytes(StandardCharsets.ISO_8859_1));
                out.write(body, at, n);
                out.write("\r\n".getBytes(StandardCharsets.ISO_8859_1));
                out.flush(); // separate segments: the reader sees chunk lines split across reads
            }
            out.write("0\r\nX-Trailer: t\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
        };
    }

    @Test
    void chunkedAndGzipBodiesAreDecodedBeforeTheKeywordIsLookedFor() throws Exception {
        final RawTarget t = closing.open(new RawTarget("127.0.0.1"));
        final String text = "status: all systems nominal; ".repeat(200);
        t.on("/chunked", chunked(text.getBytes(StandardCharsets.UTF_8), 7, Map.of()));
        t.on("/gzip-chunked", chunked(gzip(text), 13, Map.of("Content-Encoding", "gzip")));
        t.on("/gzip-length", (r, out) -> {
            final byte[] z = gzip(text);
            out.write(("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + z.length
                + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.write(z);
        });
        t.on("/gzip-close", (r, out) -> {
            out.write("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n"
                .getBytes(StandardCharsets.ISO_8859_1));
            out.write(gzip(text)); // delimited by the end of the connection
        });
        final Probes probes = closing.open(new Probes(false, 1, AddressPolicy.defaults()));
        for (String path : List.of("/chunked", "/gzip-chunked", "/gzip-length", "/gzip-close")) {
            final CheckResult r = probes.check(spec(t.url(path), "5s", "\"keyword\":\"all systems nominal\","
                + "\"assertions\":[{\"source\":\"header\",\"name\":\"Content-Encoding\",\"op\":\"exists\"}]"));
            // OkHttp hides the encoding of a body it decoded; so does this probe (what assertions see is the same).
            assertFalse(r.up(), path);
            assertTrue(r.error().startsWith("assertion: "), r.error());
            final CheckResult plain = probes.check(spec(t.url(path), "5s", "\"keyword\":\"all systems nominal\""));
            assertTrue(plain.up(), path + ": " + plain.error());
            assertFalse(plain.bodyCapped());
        }
        for (RawTarget.Request r : t.requests()) {
            assertEquals("gzip", r.header("Accept-Encoding"), "asked for gzip, as OkHttp does");
            assertEquals("close", r.header("Connection"));
            assertEquals("127.0.0.1:" + t.port(), r.header("Host"));
            assertEquals("spillway-monitor", r.header("User-Agent"));
        }
        // A monitor that sets Accept-Encoding itself gets the body as sent, as with OkHttp.
        final CheckResult own = probes.check(spec(t.url("/gzip-length"), "5s",
            "\"keyword\":\"all systems nominal\",\"headers\":{\"Accept-Encoding\":\"gzip\"}"));
        assertFalse(own.up());
        assertTrue(own.error().startsWith("keyword: 'all systems nominal' not found"), own.error());
    }

    @Test
    void aGzipBodyIsCutAtTheCapAfterDecodingAndTheCutIsCounted() throws Exception {
        final RawTarget t = closing.open(new RawTarget("127.0.0.1"));
        // Text that compresses about 2:1 (hex digits of a seeded random stream): 4 MiB is about 2 MiB on the wire.
        final java.util.Random random = new java.util.Random(24);
        final StringBuilder text = new StringBuilder(4 << 20);
        while (text.length() < 4 << 20) {
            text.append(Long.toHexString(random.nextLong()));
        }
        final byte[] bomb = gzip(text.append("NEEDLE").toString());
        t.on("/bomb", chunked(bomb, 4096, Map.of("Content-Encoding", "gzip")));
        final Probes probes = closing.open(new Probes(false, 1, AddressPolicy.defaults()));
        final CheckResult r = probes.check(spec(t.url("/bomb"), "10s", "\"keyword\":\"NEEDLE\""));
        assertFalse(r.up());
        assertTrue(r.bodyCapped());
        assertEquals("keyword: 'NEEDLE' not found in the first 1048576 bytes (reading stops at 1048576 body bytes "
            + "per check)", r.error());
        assertEquals(1, probes.cappedChecks());
        assertTrue(probes.receivedBytes() < bomb.length / 2 + 64 * 1024, "read " + probes.receivedBytes() + " of "
            + bomb.length + " compressed bytes: reading stopped at the cap");
    }

    @Test
    void aRedirectChainOfPlainChunkedAndLengthAnswersEndsOnTheFinalAnswer() throws Exception {
        final RawTarget t = closing.open(new RawTarget("127.0.0.1"));
        final RawTarget other = closing.open(new RawTarget("127.0.0.1"));
        t.on("/start", RawTarget.redirect(301, "/second?x=1"));
        t.on("/second", (r, out) -> out.write(("HTTP/1.1 302 Found\r\nLocation: " + other.url("/third")
            + "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nmoved\r\n0\r\n\r\n")
            .getBytes(StandardCharsets.ISO_8859_1)));
        other.on("/third", RawTarget.redirect(307, t.url("/final")));
        t.on("/final", chunked(gzip("landed safely"), 5, Map.of("Content-Encoding", "gzip")));
        final Probes probes = closing.open(new Probes(false, 1, AddressPolicy.defaults()));
        final CheckResult r = probes.check(spec(t.url("/start"), "5s", "\"keyword\":\"landed safely\""));
        assertTrue(r.up(), r.error());
        assertEquals(200, r.statusCode());
        assertEquals(List.of("/start", "/second", "/final"), t.requests().stream().map(RawTarget.Request::path)
            .toList());
        assertEquals(1, other.requests().size());
        assertEquals(0.0, r.dnsMs(), "IP literals need no lookup");
        assertTrue(r.connectMs() >= 0 && r.ttfbMs() >= r.connectMs() && r.durationMs() >= r.ttfbMs(), r.toString());
        assertTrue(Double.isNaN(r.tlsMs()));
    }

    @Test
    void httpsRedirectsSumTheirHandshakesAndVerificationDecides(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
        throws Exception {
        final TargetServer plain = closing.open(TargetServer.http().on("/plain", TargetServer.Behaviour.ok("plain end")));
        final TargetServer tls = closing.open(TargetServer.https(dir, 30)
            .on("/start", TargetServer.Behaviour.redirect(302, "/ok"))
            .on("/ok", TargetServer.Behaviour.ok("secure end"))
            .on("/out", TargetServer.Behaviour.redirect(302, plain.url("/plain"))));
        final Probes probes = closing.open(new Probes(false, 1, AddressPolicy.defaults()));
        final CheckResult verified = probes.check(spec(tls.url("/start"), "10s", null));
        assertFalse(verified.up(), "self-signed: not trusted with verification on");
        assertTrue(verified.error().startsWith("tls: "), verified.error());
        assertEquals(-1, verified.statusCode());
        assertTrue(verified.tlsMs() >= 0, "the failed handshake is timed: " + verified);

        final CheckResult chain = probes.check(spec(tls.url("/start"), "10s",
            "\"tls_verify\":false,\"keyword\":\"secure end\""));
        assertTrue(chain.up(), chain.error());
        assertEquals(200, chain.statusCode());
        assertTrue(chain.certExpiryDays() > 28 && chain.certExpiryDays() <= 30, chain.toString());
        assertTrue(chain.tlsMs() > 0 && chain.connectMs() >= 0 && chain.ttfbMs() >= chain.tlsMs(), chain.toString());
        assertEquals(2, tls.hits("/start").size() + tls.hits("/ok").size(), "two requests, one connection each");

        final CheckResult out = probes.check(spec(tls.url("/out"), "10s", "\"tls_verify\":false,"
            + "\"keyword\":\"plain end\""));
        assertTrue(out.up(), out.error());
        assertTrue(Double.isNaN(out.certExpiryDays()), "the final response came over plain http: " + out);
        assertTrue(out.tlsMs() > 0, "the first hop's handshake is counted: " + out);
    }

    @Test
    void withATrustedCertificateTheHostNameDecides(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
        throws Exception {
        // The certificate names localhost and 127.0.0.1; the test trusts it as a CA would be trusted.
        final TargetServer tls = closing.open(TargetServer.https(dir, 30).on("/ok", TargetServer.Behaviour.ok("named")));
        final ProbeSecurityTest.TestDns names = new ProbeSecurityTest.TestDns();
        names.map("localhost", "127.0.0.1");
        names.map("other.test", "127.0.0.1");
        final Probes probes = closing.open(new Probes(new HttpProbe(false, 1), AddressPolicy.defaults(),
            CheckTypesTest.trusting(dir.resolve("target-30d.p12")), names));
        for (String host : List.of("127.0.0.1", "localhost")) {
            final CheckResult r = probes.check(spec("https://" + host + ":" + tls.port() + "/ok", "10s",
                "\"keyword\":\"named\""));
            assertTrue(r.up(), host + ": " + r.error());
            assertTrue(r.certExpiryDays() > 28 && r.certExpiryDays() <= 30, r.toString());
        }
        final CheckResult other = probes.check(spec("https://other.test:" + tls.port() + "/ok", "10s", null));
        assertFalse(other.up());
        assertTrue(other.error().startsWith("tls: Hostname other.test not verified:\n    certificate: sha256/"),
            other.error());
        assertTrue(other.error().contains("subjectAltNames: [127.0.0.1, localhost]"), other.error());
        final CheckResult unverified = probes.check(spec("https://other.test:" + tls.port() + "/ok", "10s",
            "\"tls_verify\":false"));
        assertTrue(unverified.up(), unverified.error());
    }

    @Test
    void aBrokenServerIsReportedInTheBlockingProbesWords() throws Exception {
        final RawTarget t = closing.open(new RawTarget("127.0.0.1"));
        t.on("/nothing", (r, out) -> { });
        t.on("/garbage", (r, out) -> out.write("SMTP ready\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1)));
        t.on("/short", (r, out) -> out.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this"
            .getBytes(StandardCharsets.ISO_8859_1)));
        t.on("/bad-chunk", (r, out) -> out.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
            .getBytes(StandardCharsets.ISO_8859_1)));
        t.on("/no-location", (r, out) -> out.write("HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n"
            .getBytes(StandardCharsets.ISO_8859_1)));
        final Probes probes = closing.open(new Probes(false, 1, AddressPolicy.defaults()));
        final HttpProbe blocking = new HttpProbe(false, 1);
        closing.open(blocking::close);
        for (String path : List.of("/nothing", "/garbage", "/short", "/no-location")) {
            final MonitorSpec s = spec(t.url(path), "5s", null);
            final CheckResult async = probes.check(s);
            final CheckResult old = blocking.check(s);
            assertFalse(async.up(), path);
            assertEquals(old.error(), async.error(), path);
            assertEquals(old.statusCode(), async.statusCode(), path);
        }
        final CheckResult badChunk = probes.check(spec(t.url("/bad-chunk"), "5s", null));
        assertFalse(badChunk.up());
        assertTrue(badChunk.error().startsWith("io: expected chunk size"), badChunk.error());
    }

    @Test
    void aCancelledCheckClosesItsConnectionAndClosingTheProbesEndsOpenChecks() throws Exception {
        final ServerSocket silent = closing.open(new ServerSocket(0, 5, InetAddress.getLoopbackAddress()));
        final Probes probes = new Probes(false, 1, AddressPolicy.defaults());
        final MonitorSpec s = spec("http://127.0.0.1:" + silent.getLocalPort() + "/x", "60s", null);
        final CompletableFuture<CheckResult> f = probes.start(s);
        try (Socket accepted = silent.accept()) {
            accepted.setSoTimeout((int) TimeUnit.SECONDS.toMillis(WAIT_S));
            final InputStream in = accepted.getInputStream();
            assertEquals("GET /x HTTP/1.1", new String(in.readNBytes(15), StandardCharsets.ISO_8859_1));
            assertFalse(f.isDone(), "it waits for the answer");
            f.cancel(false);
            while (in.read() >= 0) {
                // the rest of the request, then the end
            }
        }
        final CompletableFuture<CheckResult> pending = probes.start(s);
        try (Socket accepted = silent.accept()) {
            accepted.setSoTimeout((int) TimeUnit.SECONDS.toMillis(WAIT_S));
            final InputStream in = accepted.getInputStream();
            assertEquals('G', in.read());
            assertTrue(probes.httpAsync().running());
            probes.close();
            assertEquals("io: probe closed", pending.get(WAIT_S, TimeUnit.SECONDS).error());
            assertFalse(probes.httpAsync().running(), "the selector thread ended");
            while (in.read() >= 0) {
                // the rest of the request, then the end: the probe closed its side
            }
        }
        assertEquals("io: probe closed", probes.check(s).error());
    }

    @Test
    void aRequestBodyIsSentWithItsLengthAndAHeadRequestReadsNoBody() throws Exception {
        final RawTarget t = closing.open(new RawTarget("127.0.0.1"));
        t.on("/post", RawTarget.ok("accepted"));
        t.on("/head", (r, out) -> out.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
            .getBytes(StandardCharsets.ISO_8859_1))); // no body follows a HEAD's answer
        final Probes probes = closing.open(new Probes(false, 1, AddressPolicy.defaults()));
        final CheckResult post = probes.check(spec(t.url("/post"), "5s", "\"method\":\"POST\",\"body\":\"héllo\","
            + "\"headers\":{\"Content-Type\":\"text/plain; charset=utf-8\"},\"keyword\":\"accepted\""));
        assertTrue(post.up(), post.error());
        final RawTarget.Request sent = t.requests().get(0);
        assertEquals("POST", sent.method());
        assertEquals("héllo", sent.body());
        assertEquals("6", sent.header("Content-Length"));
        assertEquals("text/plain; charset=utf-8", sent.header("Content-Type"));
        final CheckResult head = probes.check(spec(t.url("/head"), "5s", "\"method\":\"HEAD\""));
        assertTrue(head.up(), head.error());
        assertEquals("HEAD", t.requests().get(1).method());
    }
}
