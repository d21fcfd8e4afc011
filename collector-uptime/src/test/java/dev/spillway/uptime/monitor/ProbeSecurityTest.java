package dev.spillway.uptime.monitor;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.spillway.runtime.api.ApiJson;
import okhttp3.Dns;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.ProxySelector;
import java.net.Socket;
import java.net.SocketAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The probe's safety rules against real servers on loopback: the address policy at connect time (names, literals,
 * redirect hops, rebinding, proxies), headers kept to the first origin across redirects, and the cap on body bytes.
 * Host names resolve through a resolver of the test's ({@link TestDns}), not {@code /etc/hosts}; the "internal"
 * server listens on 127.0.0.2, a second loopback address, so a policy can deny it while 127.0.0.1 stays allowed.
 */
class ProbeSecurityTest {

    private static final AddressPolicy DENY_127_0_0_2 = AddressPolicy.of(List.of(),
        AddressPolicy.parseList("127.0.0.2/32"));
    private static final Map<String, String> SECRETS = Map.of("Authorization", "Bearer s3cret",
        "Cookie", "session=abc", "X-Api-Key", "k3y");

    final TestDns dns = new TestDns();
    @RegisterExtension
    final Closer closing = new Closer();
    private RawTarget a;
    private RawTarget b;
    private RawTarget internal;

    @BeforeEach
    void start() throws Exception {
        a = open(new RawTarget("127.0.0.1"));
        b = open(new RawTarget("127.0.0.1"));
        internal = open(new RawTarget("127.0.0.2")).on("/", RawTarget.ok("internal"));
        a.on("/ok", RawTarget.ok("a ok")).on("/land", RawTarget.ok("landed"));
        b.on("/land", RawTarget.ok("landed on b"));
        dns.map("a.test", "127.0.0.1");
        dns.map("internal.test", "127.0.0.2");
    }

    <T extends AutoCloseable> T open(T c) {
        return closing.open(c);
    }

    /** The HTTP probe under test: a check and its own counters. */
    interface Http {
        CheckResult check(MonitorSpec spec);

        long deniedChecks();

        long cappedChecks();

        long receivedBytes();
    }

    /**
     * The non-blocking probe (what HTTP checks use without keep-alive, the default), with the test's resolver;
     * {@link ProbeSecurityBlockingTest} runs the same tests on OkHttp's {@link HttpProbe}.
     */
    Http probe(AddressPolicy policy) {
        final ProbeResolver names = open(new ProbeResolver(dns));
        final HttpAsyncProbe p = open(new HttpAsyncProbe(policy, names, new LongAdder(), new LongAdder(),
            new LongAdder(), null));
        return new Http() {
            @Override
            public CheckResult check(MonitorSpec spec) {
                return p.check(spec);
            }

            @Override
            public long deniedChecks() {
                return p.deniedChecks();
            }

            @Override
            public long cappedChecks() {
                return p.cappedChecks();
            }

            @Override
            public long receivedBytes() {
                return p.receivedBytes();
            }
        };
    }

    private static MonitorSpec spec(String url, Consumer<ObjectNode> more) throws Exception {
        final ObjectNode o = ApiJson.object();
        o.put("name", "t");
        o.put("url", url);
        o.put("interval", "10s");
        o.put("timeout", "8s");
        more.accept(o);
        return MonitorValidator.parse(o, null);
    }

    private static MonitorSpec withSecrets(String url) throws Exception {
        return spec(url, o -> {
            final ObjectNode h = o.putObject("headers");
            SECRETS.forEach(h::put);
        });
    }

    private static void assertCarriesSecrets(RawTarget.Request r) {
        SECRETS.forEach((k, v) -> assertEquals(v, r.header(k), k + " on " + r.path()));
    }

    private static void assertCarriesNoSecrets(RawTarget.Request r) {
        SECRETS.keySet().forEach(k -> assertNull(r.header(k), k + " must not reach " + r.path()));
        assertEquals("spillway-monitor", r.header("User-Agent"));
    }

    // ---- redirects and headers -----------------------------------------------------------------------------

    @Test
    void aRedirectToAnotherPortCarriesNoAuthorizationCookieOrCustomHeader() throws Exception {
        a.on("/go", RawTarget.redirect(302, b.url("/land")));
        final CheckResult r = probe(AddressPolicy.defaults()).check(withSecrets(a.url("/go")));
        assertTrue(r.up(), r.error());
        assertCarriesSecrets(a.requests().get(0));
        assertEquals(1, b.requests().size());
        assertCarriesNoSecrets(b.requests().get(0));
        assertCarriesNoBody(b.requests().get(0));
    }

    private static final String SECRET_BODY = "{\"password\":\"hunter2\"}";

    /** A monitor that sends {@link #SECRET_BODY} as JSON with {@code method}, plus the secret headers. */
    private static MonitorSpec withSecretBody(String url, String method) throws Exception {
        return spec(url, o -> {
            o.put("method", method);
            o.put("body", SECRET_BODY);
            final ObjectNode h = o.putObject("headers");
            SECRETS.forEach(h::put);
            h.put("Content-Type", "application/json");
            h.put("Content-Language", "en");
        });
    }

    private static void assertCarriesNoBody(RawTarget.Request r) {
        assertEquals("", r.body(), "no body may reach " + r.path());
        assertNull(r.header("Content-Type"), "Content-Type on " + r.path());
        assertNull(r.header("Content-Language"), "Content-Language on " + r.path());
        final String length = r.header("Content-Length");
        assertTrue(length == null || length.equals("0"), "Content-Length " + length + " on " + r.path());
    }

    @Test
    void aRedirectToAnotherPortCarriesNoBodyAndNoContentType() throws Exception {
        final Http probe = probe(AddressPolicy.defaults());
        // 303, and 301/302 after a POST: a GET without body and its headers, as browsers do.
        for (int status : new int[] {301, 302, 303}) {
            a.on("/post-" + status, RawTarget.redirect(status, b.url("/land")));
            final int before = b.requests().size();
            final CheckResult r = probe.check(withSecretBody(a.url("/post-" + status), "POST"));
            assertTrue(r.up(), status + ": " + r.error());
            final RawTarget.Request sent = a.requests().get(a.requests().size() - 1);
            assertEquals("POST", sent.method());
            assertEquals(SECRET_BODY, sent.body(), "the first origin gets the body");
            assertEquals("application/json", sent.header("Content-Type"));
            assertEquals(before + 1, b.requests().size());
            final RawTarget.Request landed = b.requests().get(before);
            assertEquals("GET", landed.method(), "after " + status);
            assertCarriesNoBody(landed);
            assertCarriesNoSecrets(landed);
        }
        // 307 and 308 keep method and body, 301/302 keep PUT, PATCH and DELETE: to another origin, not followed.
        final String[][] kept = {{"307", "POST"}, {"308", "POST"}, {"307", "PUT"}, {"308", "PATCH"}, {"301", "PUT"},
            {"302", "PATCH"}, {"302", "DELETE"}};
        for (String[] k : kept) {
            final String path = "/keep-" + k[0] + "-" + k[1];
            a.on(path, RawTarget.redirect(Integer.parseInt(k[0]), b.url("/land?code=x")));
            final int before = b.requests().size();
            final CheckResult r = probe.check(withSecretBody(a.url(path), k[1]));
            assertFalse(r.up(), k[0] + " after " + k[1]);
            assertEquals("redirects: " + k[0] + " to another origin (http://127.0.0.1:" + b.port() + ") would re-send"
                + " the " + k[1] + " body there; not followed (a body is sent to the monitor's own origin only)",
                r.error());
            assertEquals(Integer.parseInt(k[0]), r.statusCode());
            assertEquals(before, b.requests().size(), "nothing reached the other origin after " + k[0] + " " + k[1]);
        }
        b.control();
        assertEquals(3 + 1, b.connections(), "b saw the three GETs and the control connection only");
    }

    @Test
    void aSameOriginRedirectKeepsTheBodyOn307AndDropsItOn303() throws Exception {
        final Http probe = probe(AddressPolicy.defaults());
        a.on("/keep", RawTarget.redirect(307, "/land"));
        assertTrue(probe.check(withSecretBody(a.url("/keep"), "POST")).up());
        final RawTarget.Request kept = a.requests().get(1);
        assertEquals("/land", kept.path());
        assertEquals("POST", kept.method());
        assertEquals(SECRET_BODY, kept.body());
        assertEquals("application/json", kept.header("Content-Type"));
        assertCarriesSecrets(kept);

        a.on("/see-other", RawTarget.redirect(303, "/land"));
        assertTrue(probe.check(withSecretBody(a.url("/see-other"), "PUT")).up());
        final RawTarget.Request got = a.requests().get(3);
        assertEquals("GET", got.method());
        assertCarriesNoBody(got);
        assertCarriesSecrets(got);
    }

    @Test
    void aSameOriginRedirectKeepsTheHeaders() throws Exception {
        a.on("/same", RawTarget.redirect(301, "/land"));
        final CheckResult r = probe(AddressPolicy.defaults()).check(withSecrets(a.url("/same")));
        assertTrue(r.up(), r.error());
        assertEquals(List.of("/same", "/land"), a.requests().stream().map(RawTarget.Request::path).toList());
        a.requests().forEach(ProbeSecurityTest::assertCarriesSecrets);
    }

    @Test
    void anotherHostNameOrSchemeIsAnotherOriginAndTheHeadersDoNotComeBack() throws Exception {
        // Same address and port, another name: another origin (as browsers see it).
        a.on("/by-name", RawTarget.redirect(307, "http://a.test:" + a.port() + "/land"));
        assertTrue(probe(AddressPolicy.defaults()).check(withSecrets(a.url("/by-name"))).up());
        assertCarriesSecrets(a.requests().get(0));
        assertCarriesNoSecrets(a.requests().get(1));

        // Out to b and back to a: once the chain has left the origin, nothing is sent again.
        b.on("/back", RawTarget.redirect(302, a.url("/land")));
        a.on("/out", RawTarget.redirect(302, b.url("/back")));
        final int before = a.requests().size();
        assertTrue(probe(AddressPolicy.defaults()).check(withSecrets(a.url("/out"))).up());
        final List<RawTarget.Request> onA = a.requests().subList(before, a.requests().size());
        assertEquals(List.of("/out", "/land"), onA.stream().map(RawTarget.Request::path).toList());
        assertCarriesSecrets(onA.get(0));
        assertCarriesNoSecrets(b.requests().get(0));
        assertCarriesNoSecrets(onA.get(1));
    }

    // ---- the address policy at connect time ----------------------------------------------------------------

    @Test
    void aNameResolvingToADeniedAddressFailsWithTheReasonAndNoConnection() throws Exception {
        final Http probe = probe(DENY_127_0_0_2);
        final CheckResult r = probe.check(spec("http://internal.test:" + internal.port() + "/", o -> { }));
        assertFalse(r.up());
        assertEquals("address policy: internal.test (127.0.0.2) is in --probe-deny 127.0.0.2/32", r.error());
        assertEquals(-1, r.statusCode());
        assertTrue(Double.isNaN(r.connectMs()), "no connection was attempted");
        assertEquals(1, probe.deniedChecks());
        internal.control();
        assertEquals(1, internal.connections(), "only the test's control connection reached the server");
    }

    @Test
    void aTcpCheckToADeniedAddressFailsWithTheReasonAndNoConnectionWhateverItsSpelling() throws Exception {
        // The non-blocking TCP probe checks the address right before its connect, as the guarded sockets do.
        try (Probes probes = new Probes(false, 1, DENY_127_0_0_2)) {
            for (String host : List.of("127.0.0.2", "[::ffff:127.0.0.2]", "2130706434")) {
                final CheckResult r = probes.check(spec("tcp://" + host + ":" + internal.port(), o -> { }));
                assertFalse(r.up(), host);
                assertTrue(r.error().startsWith("address policy: ") && r.error().endsWith(
                    "is in --probe-deny 127.0.0.2/32"), host + ": " + r.error());
                assertTrue(Double.isNaN(r.connectMs()), "no connection was attempted: " + r);
            }
            assertEquals(3, probes.deniedChecks());
            internal.control();
            assertEquals(1, internal.connections(), "only the test's control connection reached the server");
            final CheckResult allowed = probes.check(spec("tcp://127.0.0.1:" + a.port(), o -> { }));
            assertTrue(allowed.up(), allowed.error());
            a.control();
            assertEquals(2, a.connections(), "the allowed check connected");
            assertEquals(3, probes.deniedChecks());
        }
    }

    @Test
    void aTlsCheckToADeniedAddressFailsWithTheReasonAndNoConnectionWhateverItsSpelling() throws Exception {
        // The non-blocking TLS probe checks the address right before its connect, as the guarded sockets do.
        try (Probes probes = new Probes(false, 1, DENY_127_0_0_2)) {
            for (String host : List.of("127.0.0.2", "[::ffff:127.0.0.2]", "2130706434")) {
                final CheckResult r = probes.check(spec("tls://" + host + ":" + internal.port(), o -> { }));
                assertFalse(r.up(), host);
                assertTrue(r.error().startsWith("address policy: ") && r.error().endsWith(
                    "is in --probe-deny 127.0.0.2/32"), host + ": " + r.error());
                assertTrue(Double.isNaN(r.connectMs()), "no connection was attempted: " + r);
            }
            assertEquals(3, probes.deniedChecks());
            internal.control();
            assertEquals(1, internal.connections(), "only the test's control connection reached the server");
        }
    }

    @Test
    void aDnsCheckToADeniedResolverFailsWithTheReasonAndSendsNothingWhateverItsSpelling() throws Exception {
        // The non-blocking DNS probe checks the resolver's address before its socket sends anything.
        try (Probes probes = new Probes(false, 1, DENY_127_0_0_2);
             java.net.DatagramSocket resolver = new java.net.DatagramSocket(
                 new InetSocketAddress(InetAddress.getByName("127.0.0.2"), 0))) {
            final int port = resolver.getLocalPort();
            for (String host : List.of("127.0.0.2", "[::ffff:127.0.0.2]", "2130706434")) {
                final CheckResult r = probes.check(CheckTypesTest.spec("{\"name\":\"d\",\"url\":\"dns://" + host
                    + ":" + port + "\",\"interval\":\"5s\",\"timeout\":\"2s\",\"dns\":{\"query_name\":\"a.test\"}}"));
                assertFalse(r.up(), host);
                assertTrue(r.error().startsWith("address policy: ") && r.error().endsWith(
                    "is in --probe-deny 127.0.0.2/32"), host + ": " + r.error());
            }
            assertEquals(3, probes.deniedChecks());
            // A control datagram sent now is the first the resolver receives: the checks sent nothing.
            try (java.net.DatagramSocket control = new java.net.DatagramSocket()) {
                final byte[] mark = "control".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
                control.send(new java.net.DatagramPacket(mark, mark.length, resolver.getLocalSocketAddress()));
            }
            resolver.setSoTimeout((int) TimeUnit.SECONDS.toMillis(30));
            final java.net.DatagramPacket first = new java.net.DatagramPacket(new byte[512], 512);
            resolver.receive(first);
            assertEquals("control", new String(first.getData(), 0, first.getLength(),
                java.nio.charset.StandardCharsets.US_ASCII));
        }
    }

    @Test
    void theDefaultsDenyMetadataAndLinkLocalNamesWithTheirReason() throws Exception {
        dns.map("metadata.test", "169.254.169.254");
        dns.map("link.test", "169.254.10.20");
        dns.map("mapped.test", "::ffff:a9fe:a9fe");
        dns.map("v6-metadata.test", "fd00:ec2::254");
        dns.map("zero.test", "0.0.0.0");
        final Http probe = probe(AddressPolicy.defaults());
        assertEquals("address policy: metadata.test (169.254.169.254) is cloud metadata (169.254.169.254/32, denied "
            + "by default; allow with --probe-allow)",
            probe.check(spec("http://metadata.test/latest/meta-data/", o -> { })).error());
        assertEquals("address policy: link.test (169.254.10.20) is link-local (169.254.0.0/16, denied by default; "
            + "allow with --probe-allow)", probe.check(spec("http://link.test/", o -> { })).error());
        assertTrue(probe.check(spec("http://mapped.test/", o -> { })).error()
            .startsWith("address policy: mapped.test (169.254.169.254) is cloud metadata"));
        assertTrue(probe.check(spec("http://v6-metadata.test/", o -> { })).error()
            .startsWith("address policy: v6-metadata.test (fd00:ec2::254) is cloud metadata (fd00:ec2::254/128,"));
        assertTrue(probe.check(spec("http://zero.test/", o -> { })).error()
            .startsWith("address policy: zero.test (0.0.0.0) is unspecified (0.0.0.0/8,"));
        assertEquals(5, probe.deniedChecks());
    }

    @Test
    void unspecifiedIsDeniedBecauseAConnectTo0000ReachesThisMachine() throws Exception {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getByName("0.0.0.0"), a.port()), 1000);
        }
        a.control();
        assertEquals(2, a.connections(), "the plain connect to 0.0.0.0 arrived on 127.0.0.1");
        assertTrue(probe(AddressPolicy.defaults()).check(spec(a.url("/ok").replace("127.0.0.1", "0.0.0.0"), o -> { }))
            .error().startsWith("address policy: 0.0.0.0 is unspecified (0.0.0.0/8, denied by default"));
        a.control();
        assertEquals(3, a.connections(), "the probe did not connect");
    }

    @Test
    void aNameWithAllowedAndDeniedAddressesUsesOnlyTheAllowedOnes() throws Exception {
        dns.map("mixed.test", "127.0.0.2", "127.0.0.1");
        final CheckResult r = probe(DENY_127_0_0_2).check(spec("http://mixed.test:" + a.port() + "/ok",
            o -> o.put("keyword", "a ok")));
        assertTrue(r.up(), r.error());
        internal.control();
        assertEquals(1, internal.connections());
    }

    @Test
    void rebindingToADeniedAddressIsCaughtAtTheNextCheck() throws Exception {
        // One port for both: the name first points at a (allowed), then at the internal address (denied).
        try (RawTarget inside = new RawTarget("127.0.0.2"); RawTarget outside = new RawTarget("127.0.0.1")) {
            outside.on("/", RawTarget.ok("public"));
            dns.sequence("rebind.test", List.of("127.0.0.1"), List.of("127.0.0.2"));
            final Http probe = probe(DENY_127_0_0_2);
            final CheckResult first = probe.check(spec(outside.url("/").replace("127.0.0.1", "rebind.test"),
                o -> { }));
            assertTrue(first.up(), first.error());
            final CheckResult second = probe.check(spec("http://rebind.test:" + inside.port() + "/", o -> { }));
            assertEquals("address policy: rebind.test (127.0.0.2) is in --probe-deny 127.0.0.2/32", second.error());
            inside.control();
            assertEquals(1, inside.connections());
        }
    }

    @Test
    void everyRedirectHopIsChecked() throws Exception {
        a.on("/to-literal", RawTarget.redirect(302, internal.url("/")));
        a.on("/to-mapped", RawTarget.redirect(302, "http://[::ffff:127.0.0.2]:" + internal.port() + "/"));
        a.on("/to-decimal", RawTarget.redirect(302, "http://2130706434:" + internal.port() + "/"));
        a.on("/to-name", RawTarget.redirect(302, "http://internal.test:" + internal.port() + "/"));
        final List<String> spellings = List.of("0177.0.0.02", "127.2", "0x7f000002", "127.0.0.2.", "0x7f.0.0.2");
        for (String s : spellings) {
            a.on("/to-" + s, RawTarget.redirect(302, "http://" + s + ":" + internal.port() + "/"));
        }
        final Http probe = probe(DENY_127_0_0_2);
        assertEquals("address policy: 127.0.0.2 is in --probe-deny 127.0.0.2/32",
            probe.check(spec(a.url("/to-literal"), o -> { })).error());
        assertEquals("address policy: 127.0.0.2 is in --probe-deny 127.0.0.2/32",
            probe.check(spec(a.url("/to-mapped"), o -> { })).error(), "OkHttp canonicalises the mapped form");
        assertEquals("address policy: 2130706434 (127.0.0.2) is in --probe-deny 127.0.0.2/32",
            probe.check(spec(a.url("/to-decimal"), o -> { })).error());
        assertEquals("address policy: internal.test (127.0.0.2) is in --probe-deny 127.0.0.2/32",
            probe.check(spec(a.url("/to-name"), o -> { })).error());
        for (String s : spellings) {
            assertEquals("address policy: " + s + " (127.0.0.2) is in --probe-deny 127.0.0.2/32",
                probe.check(spec(a.url("/to-" + s), o -> { })).error(), s);
        }
        a.on("/to-full-width", RawTarget.redirect(302, "http://%EF%BC%91%EF%BC%92%EF%BC%97.0.0.2:" + internal.port()
            + "/"));
        assertEquals("address policy: 127.0.0.2 is in --probe-deny 127.0.0.2/32",
            probe.check(spec(a.url("/to-full-width"), o -> { })).error(), "OkHttp decodes and maps full-width digits");
        assertEquals(5 + spellings.size(), probe.deniedChecks());
        internal.control();
        assertEquals(1, internal.connections());
    }

    @Test
    void theAllowListOpensARangeInsideADeniedOne() throws Exception {
        final AddressPolicy onlyInternal = AddressPolicy.of(AddressPolicy.parseList("127.0.0.2"),
            AddressPolicy.parseList("127.0.0.0/8"));
        final Http probe = probe(onlyInternal);
        final CheckResult allowed = probe.check(spec("http://internal.test:" + internal.port() + "/",
            o -> o.put("keyword", "internal")));
        assertTrue(allowed.up(), allowed.error());
        final CheckResult denied = probe.check(spec(a.url("/ok"), o -> { }));
        assertEquals("address policy: 127.0.0.1 is in --probe-deny 127.0.0.0/8", denied.error());
        a.control();
        assertEquals(1, a.connections());
    }

    @Test
    void theSocketItselfRefusesADeniedAddressWhoeverResolvedIt() throws Exception {
        final GuardedSocketFactory sockets = new GuardedSocketFactory(DENY_127_0_0_2, new LongAdder());
        for (String spelling : List.of("127.0.0.2", "::ffff:127.0.0.2")) {
            final SocketAddress to = new InetSocketAddress(InetAddress.getByName(spelling), internal.port());
            try (Socket s = sockets.createSocket()) {
                final AddressDeniedException e = assertThrows(AddressDeniedException.class, () -> s.connect(to, 1000));
                assertEquals("address policy: 127.0.0.2 is in --probe-deny 127.0.0.2/32", e.getMessage());
            }
        }
        internal.control();
        assertEquals(1, internal.connections());
        try (Socket s = sockets.createSocket()) {
            s.connect(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), a.port()), 1000);
            assertTrue(s.isConnected(), "allowed addresses connect");
        }
    }

    @Test
    void httpsConnectionsAreGuardedAndCountedToo(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
        throws Exception {
        final dev.spillway.testkit.TargetServer tls = dev.spillway.testkit.TargetServer.https(dir, 30)
            .on("/ok", dev.spillway.testkit.TargetServer.Behaviour.ok("secure"));
        closing.open(tls);
        final Http allowed = probe(AddressPolicy.defaults());
        final CheckResult up = allowed.check(spec(tls.url("/ok"), o -> o.put("tls_verify", false)));
        assertTrue(up.up(), up.error());
        assertTrue(allowed.receivedBytes() > "secure".length(), "TLS records are read through the counted socket");
        dns.map("tls.test", "127.0.0.1");
        final Http denying = probe(AddressPolicy.of(List.of(), AddressPolicy.parseList("127.0.0.0/8")));
        assertEquals("address policy: tls.test (127.0.0.1) is in --probe-deny 127.0.0.0/8", denying.check(
            spec("https://tls.test:" + tls.port() + "/ok", o -> o.put("tls_verify", false))).error());
    }

    @Test
    void theJvmsProxySettingsAreIgnored() throws Exception {
        final RawTarget proxy = open(new RawTarget("127.0.0.1"));
        final ProxySelector before = ProxySelector.getDefault();
        ProxySelector.setDefault(new ProxySelector() {
            @Override
            public List<Proxy> select(URI uri) {
                return List.of(new Proxy(Proxy.Type.HTTP, new InetSocketAddress("127.0.0.1", proxy.port())));
            }

            @Override
            public void connectFailed(URI uri, SocketAddress sa, IOException ioe) {
                // not used
            }
        });
        try {
            final CheckResult r = probe(DENY_127_0_0_2).check(spec(a.url("/ok"), o -> o.put("keyword", "a ok")));
            assertTrue(r.up(), r.error());
        } finally {
            ProxySelector.setDefault(before);
        }
        proxy.control();
        assertEquals(1, proxy.connections(), "the check went directly, not through the JVM's proxy");
    }

    // ---- the cap on body bytes ------------------------------------------------------------------------------

    @Test
    void aGibibyteBodyCostsOneMebibyteAndTheCutIsCounted() throws Exception {
        final long gib = 1L << 30;
        for (boolean chunked : new boolean[] {false, true}) {
            final CompletableFuture<Long> written = new CompletableFuture<>();
            a.on("/huge", RawTarget.endless(gib, chunked, written));
            final Http probe = probe(AddressPolicy.defaults());
            final CheckResult r = probe.check(spec(a.url("/huge"), o -> { }));
            assertTrue(r.up(), r.error());
            assertTrue(r.bodyCapped(), "the result says the body was cut");
            assertEquals(1, probe.cappedChecks());
            final long received = probe.receivedBytes();
            assertTrue(received >= HttpProbe.MAX_BODY && received <= HttpProbe.MAX_BODY + 64 * 1024,
                (chunked ? "chunked: " : "content-length: ") + received + " bytes read from the socket");
            // The server notices the closed connection (it is not drained): what it wrote sat in socket buffers.
            final long sent = written.get(30, TimeUnit.SECONDS);
            assertTrue(sent < gib / 16, "server wrote " + sent);
        }
    }

    @Test
    void aBodyOfExactlyTheCapIsNotCutAndAKeywordBeyondTheCapIsNotFound() throws Exception {
        final String exact = "x".repeat(HttpProbe.MAX_BODY - 3) + "END";
        a.on("/exact", RawTarget.ok(exact));
        a.on("/longer", RawTarget.ok(exact + "NEEDLE"));
        final Http probe = probe(AddressPolicy.defaults());
        final CheckResult whole = probe.check(spec(a.url("/exact"), o -> o.put("keyword", "END")));
        assertTrue(whole.up(), whole.error());
        assertFalse(whole.bodyCapped());
        final CheckResult cut = probe.check(spec(a.url("/longer"), o -> o.put("keyword", "NEEDLE")));
        assertFalse(cut.up());
        assertTrue(cut.bodyCapped());
        assertEquals("keyword: 'NEEDLE' not found in the first 1048576 bytes (reading stops at 1048576 body bytes "
            + "per check)", cut.error());
        final CheckResult absent = probe.check(spec(a.url("/longer"), o -> o.put("keyword", "NEEDLE")
            .put("keyword_invert", true)));
        assertTrue(absent.up(), "beyond the cap counts as absent");
        assertEquals(2, probe.cappedChecks());
    }

    @Test
    void aRedirectsBodyIsNotReadAtAll() throws Exception {
        a.on("/moved-huge", (req, out) -> {
            out.write(("HTTP/1.1 302 Found\r\nLocation: /land\r\nContent-Length: " + (1L << 30) + "\r\n\r\n")
                .getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
            final byte[] block = new byte[64 * 1024];
            while (true) {
                out.write(block); // until the client closes the connection
            }
        });
        final Http probe = probe(AddressPolicy.defaults());
        final long before = probe.receivedBytes();
        final CheckResult r = probe.check(spec(a.url("/moved-huge"), o -> o.put("keyword", "landed")));
        assertTrue(r.up(), r.error());
        assertFalse(r.bodyCapped());
        assertTrue(probe.receivedBytes() - before < 256 * 1024, "read " + (probe.receivedBytes() - before));
    }

    /** Names mapped by the test; a name may answer a sequence of answers (rebinding), the last one repeating. */
    static final class TestDns implements Dns {
        private final Map<String, Deque<List<InetAddress>>> answers = new ConcurrentHashMap<>();

        void map(String name, String... addresses) throws UnknownHostException {
            sequence(name, List.of(addresses));
        }

        @SafeVarargs
        final void sequence(String name, List<String>... steps) throws UnknownHostException {
            final Deque<List<InetAddress>> d = new ArrayDeque<>();
            for (List<String> step : steps) {
                final List<InetAddress> as = new ArrayList<>();
                for (String s : step) {
                    final byte[] bytes = InetAddress.getByName(s.contains(":") ? "[" + s + "]" : s).getAddress();
                    // Keep IPv4-mapped answers as 16 bytes, as a resolver may hand them over.
                    as.add(s.startsWith("::ffff:") ? java.net.Inet6Address.getByAddress(name, ipv6(bytes), -1)
                        : InetAddress.getByAddress(name, bytes));
                }
                d.add(as);
            }
            answers.put(name, d);
        }

        private static byte[] ipv6(byte[] maybeV4) {
            if (maybeV4.length == 16) {
                return maybeV4;
            }
            final byte[] b = new byte[16];
            b[10] = (byte) 0xff;
            b[11] = (byte) 0xff;
            System.arraycopy(maybeV4, 0, b, 12, 4);
            return b;
        }

        @Override
        public List<InetAddress> lookup(String hostname) throws UnknownHostException {
            final Deque<List<InetAddress>> d = answers.get(hostname);
            if (d == null) {
                throw new UnknownHostException(hostname + ": not in the test's resolver");
            }
            synchronized (d) {
                return d.size() > 1 ? d.poll() : d.peek();
            }
        }
    }
}
