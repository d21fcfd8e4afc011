package dev.spillway.uptime.monitor;

import com.sun.net.httpserver.HttpServer;
import dev.spillway.runtime.api.ApiException;
import dev.spillway.runtime.api.ApiJson;
import dev.spillway.testkit.TargetServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every check type against a real server on loopback: a TCP echo server, a DNS responder, TLS servers with test
 * certificates made by keytool (one trusted by the probe, one expiring in 3 days), loopback ICMP where the process
 * may send it, and an HTTP server answering JSON for the assertions.
 */
class CheckTypesTest {

    @TempDir
    static Path dir;
    private static ServerSocket echo;
    private static Thread echoThread;
    private static LocalDns dns;
    private static TargetServer tls;
    private static TargetServer expiring;
    private static HttpServer json;
    private static Probes probes;
    private static Probes untrusting;

    @BeforeAll
    static void start() throws Exception {
        echo = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        echoThread = new Thread(() -> {
            while (!echo.isClosed()) {
                try {
                    final Socket s = echo.accept();
                    final Thread t = new Thread(() -> {
                        try (s; InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
                            in.transferTo(out);
                        } catch (Exception e) {
                            // the probe closed its side
                        }
                    });
                    t.setDaemon(true);
                    t.start();
                } catch (Exception e) {
                    // closed at the end
                }
            }
        }, "echo");
        echoThread.setDaemon(true);
        echoThread.start();
        dns = new LocalDns(Map.of(
            "app.test", Map.of(1, List.of("192.0.2.10", "192.0.2.11"), 28, List.of("2001:db8::1"),
                15, List.of("10 mx.app.test"), 16, List.of("v=spf1 -all")),
            "alias.test", Map.of(5, List.of("app.test"))));
        tls = TargetServer.https(dir, 365).on("/", TargetServer.Behaviour.ok("tls"));
        expiring = TargetServer.https(dir, 3).on("/", TargetServer.Behaviour.ok("soon"));
        json = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 10);
        json.createContext("/health", x -> {
            final byte[] b = "{\"status\":\"ok\",\"load\":1.5,\"version\":\"2.30\",\"checks\":[{\"name\":\"db\",\"up\":true}]}"
                .getBytes(StandardCharsets.UTF_8);
            x.getResponseHeaders().add("Content-Type", "application/json");
            x.getResponseHeaders().add("X-Build", "1234");
            x.sendResponseHeaders(200, b.length);
            try (OutputStream o = x.getResponseBody()) {
                o.write(b);
            }
        });
        json.createContext("/text", x -> {
            final byte[] b = "not json".getBytes(StandardCharsets.UTF_8);
            x.sendResponseHeaders(200, b.length);
            try (OutputStream o = x.getResponseBody()) {
                o.write(b);
            }
        });
        json.start();
        probes = new Probes(new HttpProbe(false, 4), AddressPolicy.defaults(), trusting(dir.resolve("target-365d.p12")));
        untrusting = new Probes(false, 4, AddressPolicy.defaults());
    }

    /** A trust manager that trusts the 365-day test certificate (as a CA would be trusted). */
    static X509TrustManager trusting(Path p12) throws Exception {
        final KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(p12)) {
            ks.load(in, "changeit".toCharArray());
        }
        final KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("target", ks.getCertificate("target"));
        final TrustManagerFactory f = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        f.init(trust);
        return (X509TrustManager) f.getTrustManagers()[0];
    }

    @AfterAll
    static void stop() throws Exception {
        echo.close();
        dns.close();
        tls.close();
        expiring.close();
        json.stop(0);
        probes.close();
        untrusting.close();
    }

    static MonitorSpec spec(String json) throws Exception {
        return MonitorValidator.parse(ApiJson.MAPPER.readTree(json), null);
    }

    private static CheckResult check(String json) throws Exception {
        return probes.check(spec(json));
    }

    private static String port(TargetServer s) {
        return s.url("/").replaceAll(".*:(\\d+)/.*", "$1");
    }

    // ---- tcp ---------------------------------------------------------------------------------------------

    @Test
    void tcpConnectIsUpWithItsConnectTime() throws Exception {
        final CheckResult r = check("{\"name\":\"t\",\"url\":\"tcp://127.0.0.1:" + echo.getLocalPort()
            + "\",\"interval\":\"5s\",\"timeout\":\"4s\"}");
        assertTrue(r.up(), r.error());
        assertEquals(0.0, r.dnsMs(), "an IP literal needs no lookup");
        assertTrue(r.connectMs() >= 0 && r.durationMs() >= r.connectMs(), r.toString());
        assertEquals(-1, r.statusCode());
    }

    @Test
    void tcpSendAndExpectReadsTheReply() throws Exception {
        final String url = "tcp://localhost:" + echo.getLocalPort();
        final CheckResult ok = check("{\"name\":\"t\",\"url\":\"" + url + "\",\"interval\":\"5s\",\"timeout\":\"4s\","
            + "\"tcp\":{\"send\":\"PING\\r\\n\",\"expect\":\"PING\"}}");
        assertTrue(ok.up(), ok.error());
        assertTrue(ok.extra().get("reply_ms") >= 0, ok.toString());
        assertTrue(ok.dnsMs() >= 0, "localhost was resolved");
        final CheckResult wrong = check("{\"name\":\"t\",\"url\":\"" + url + "\",\"interval\":\"5s\","
            + "\"timeout\":\"500ms\",\"tcp\":{\"send\":\"PING\\n\",\"expect\":\"PONG\"}}");
        assertFalse(wrong.up());
        assertEquals("expect: 'PONG' not received within the timeout; received 'PING?'", wrong.error());
    }

    @Test
    void tcpRefusedConnectIsDownWithTheReason() throws Exception {
        final int closed;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closed = s.getLocalPort();
        }
        final CheckResult r = check("{\"name\":\"t\",\"url\":\"tcp://127.0.0.1:" + closed + "\",\"interval\":\"5s\","
            + "\"timeout\":\"2s\"}");
        assertFalse(r.up());
        assertTrue(r.error().startsWith("connect: "), r.error());
    }

    // ---- dns ---------------------------------------------------------------------------------------------

    private static String dnsSpec(String dnsObject) {
        return "{\"name\":\"d\",\"url\":\"dns://127.0.0.1:" + dns.port() + "\",\"interval\":\"5s\",\"timeout\":\"2s\","
            + "\"dns\":" + dnsObject + "}";
    }

    @Test
    void dnsAnswersAreComparedWithTheExpectedOnes() throws Exception {
        final CheckResult a = check(dnsSpec("{\"query_name\":\"app.test\",\"expected\":[\"192.0.2.11\"]}"));
        assertTrue(a.up(), a.error());
        assertEquals(2.0, a.extra().get("answers"));
        assertEquals(0.0, a.extra().get("rcode"));
        final CheckResult missing = check(dnsSpec("{\"query_name\":\"app.test\",\"expected\":[\"192.0.2.99\"]}"));
        assertFalse(missing.up());
        assertEquals("dns: expected A '192.0.2.99' not in the answer [192.0.2.10, 192.0.2.11]", missing.error());
        final CheckResult v6 = check(dnsSpec("{\"query_name\":\"APP.test\",\"record_type\":\"aaaa\","
            + "\"expected\":[\"2001:db8:0::1\"]}"));
        assertTrue(v6.up(), v6.error());
        final CheckResult mx = check(dnsSpec("{\"query_name\":\"app.test\",\"record_type\":\"MX\","
            + "\"expected\":[\"10 mx.app.test.\"]}"));
        assertTrue(mx.up(), mx.error());
        final CheckResult txt = check(dnsSpec("{\"query_name\":\"app.test\",\"record_type\":\"TXT\","
            + "\"expected\":[\"v=spf1 -all\"]}"));
        assertTrue(txt.up(), txt.error());
        final CheckResult cname = check(dnsSpec("{\"query_name\":\"alias.test\",\"record_type\":\"CNAME\","
            + "\"expected\":[\"app.test\"]}"));
        assertTrue(cname.up(), cname.error());
    }

    @Test
    void dnsNxdomainAndEmptyAnswersAreDown() throws Exception {
        final CheckResult nx = check(dnsSpec("{\"query_name\":\"nope.test\"}"));
        assertFalse(nx.up());
        assertEquals("dns: NXDOMAIN for nope.test A", nx.error());
        assertEquals(3.0, nx.extra().get("rcode"));
        final CheckResult none = check(dnsSpec("{\"query_name\":\"alias.test\",\"record_type\":\"A\"}"));
        assertFalse(none.up());
        assertEquals("dns: no A record for alias.test", none.error());
    }

    @Test
    void dnsWithoutAnAnswerTimesOut() throws Exception {
        try (java.net.DatagramSocket silent = new java.net.DatagramSocket(0, InetAddress.getLoopbackAddress())) {
            final CheckResult r = check("{\"name\":\"d\",\"url\":\"dns://127.0.0.1:" + silent.getLocalPort()
                + "\",\"interval\":\"5s\",\"timeout\":\"300ms\",\"dns\":{\"query_name\":\"app.test\"}}");
            assertFalse(r.up());
            assertEquals("timeout: no complete answer within 300ms", r.error());
        }
    }

    // ---- tls ---------------------------------------------------------------------------------------------

    @Test
    void tlsReportsDaysChainAndHostName() throws Exception {
        final String url = "tls://127.0.0.1:" + port(tls);
        final CheckResult ok = check("{\"name\":\"s\",\"url\":\"" + url + "\",\"interval\":\"5s\",\"timeout\":\"4s\"}");
        assertTrue(ok.up(), ok.error());
        assertTrue(ok.certExpiryDays() > 363 && ok.certExpiryDays() <= 365, ok.toString());
        assertEquals(1.0, ok.extra().get("chain_valid"));
        assertEquals(1.0, ok.extra().get("host_name_match"));
        assertTrue(ok.tlsMs() >= 0 && ok.connectMs() >= 0, ok.toString());

        final CheckResult otherName = check("{\"name\":\"s\",\"url\":\"" + url + "\",\"interval\":\"5s\","
            + "\"timeout\":\"4s\",\"tls\":{\"server_name\":\"example.org\"}}");
        assertFalse(otherName.up());
        assertEquals("tls: certificate does not match host name 'example.org'", otherName.error());
        assertEquals(0.0, otherName.extra().get("host_name_match"));

        final MonitorSpec byDefaultTrust = spec("{\"name\":\"s\",\"url\":\"" + url + "\",\"interval\":\"5s\","
            + "\"timeout\":\"4s\"}");
        final CheckResult untrusted = untrusting.check(byDefaultTrust);
        assertFalse(untrusted.up());
        assertTrue(untrusted.error().startsWith("tls: certificate chain not trusted: "), untrusted.error());
        assertEquals(0.0, untrusted.extra().get("chain_valid"));
        final CheckResult unverified = untrusting.check(byDefaultTrust.withEnabled(true));
        assertFalse(unverified.up(), "the same spec again: still not trusted");
        final CheckResult notVerifying = untrusting.check(spec("{\"name\":\"s\",\"url\":\"" + url + "\","
            + "\"interval\":\"5s\",\"timeout\":\"4s\",\"tls_verify\":false}"));
        assertTrue(notVerifying.up(), notVerifying.error());
        assertEquals(0.0, notVerifying.extra().get("chain_valid"), "still reported");
    }

    @Test
    void tlsIsDownBelowTheMinimumDays() throws Exception {
        final String url = "tls://localhost:" + port(expiring);
        final CheckResult soon = check("{\"name\":\"s\",\"url\":\"" + url + "\",\"interval\":\"5s\",\"timeout\":\"4s\","
            + "\"tls_verify\":false,\"tls\":{\"min_days\":7}}");
        assertFalse(soon.up());
        assertTrue(soon.error().matches("certificate: expires in [23]\\.\\d days \\(tls.min_days 7\\)"), soon.error());
        final CheckResult lenient = check("{\"name\":\"s\",\"url\":\"" + url + "\",\"interval\":\"5s\","
            + "\"timeout\":\"4s\",\"tls_verify\":false,\"tls\":{\"min_days\":2}}");
        assertTrue(lenient.up(), lenient.error());
    }

    // ---- icmp --------------------------------------------------------------------------------------------

    @Test
    void icmpPingsLoopbackOrSaysWhyItCannot() throws Exception {
        final CheckResult r = check("{\"name\":\"p\",\"url\":\"icmp://127.0.0.1\",\"interval\":\"5s\","
            + "\"timeout\":\"3s\",\"icmp\":{\"count\":2}}");
        if (new IcmpProbe(AddressPolicy.defaults()).unavailable() == null) {
            assertTrue(r.up(), r.error());
            assertEquals(0.0, r.extra().get("loss_percent"));
            assertTrue(r.extra().get("rtt_ms") >= 0);
        } else {
            assertFalse(r.up());
            assertTrue(r.error().startsWith("icmp unavailable: the collector lacks CAP_NET_RAW"), r.error());
            assertTrue(r.error().contains("no ping command was found"), r.error());
        }
    }

    // ---- http assertions ---------------------------------------------------------------------------------

    private static String http(String path, String assertions) {
        return "{\"name\":\"h\",\"url\":\"http://127.0.0.1:" + json.getAddress().getPort() + path
            + "\",\"interval\":\"5s\",\"timeout\":\"4s\",\"assertions\":" + assertions + "}";
    }

    @Test
    void httpAssertionsOnStatusHeadersBodyAndJsonPaths() throws Exception {
        final CheckResult all = check(http("/health", "["
            + "{\"source\":\"status\",\"op\":\"in\",\"value\":\"200-299\"},"
            + "{\"source\":\"status\",\"op\":\"<\",\"value\":300},"
            + "{\"source\":\"header\",\"name\":\"content-type\",\"op\":\"contains\",\"value\":\"json\"},"
            + "{\"source\":\"header\",\"name\":\"X-Build\",\"op\":\"matches\",\"value\":\"^\\\\d+$\"},"
            + "{\"source\":\"body\",\"op\":\"matches\",\"value\":\"\\\"load\\\":\\\\s*1\\\\.\\\\d\"},"
            + "{\"source\":\"json\",\"path\":\"$.status\",\"op\":\"==\",\"value\":\"ok\"},"
            + "{\"source\":\"json\",\"path\":\"$.load\",\"op\":\"<\",\"value\":2},"
            + "{\"source\":\"json\",\"path\":\"$.version\",\"op\":\">=\",\"value\":2.3},"
            + "{\"source\":\"json\",\"path\":\"$.checks[0].up\",\"op\":\"==\",\"value\":true},"
            + "{\"source\":\"json\",\"path\":\"$['checks'][0].name\",\"op\":\"exists\"}]"));
        assertTrue(all.up(), all.error());

        final CheckResult wrongValue = check(http("/health", "[{\"source\":\"json\",\"path\":\"$.status\","
            + "\"op\":\"==\",\"value\":\"degraded\"}]"));
        assertEquals("assertion: assertions[0] $.status == \"degraded\": was \"ok\"", wrongValue.error());
        final CheckResult tooHigh = check(http("/health", "[{\"source\":\"status\",\"op\":\"==\",\"value\":200},"
            + "{\"source\":\"json\",\"path\":\"$.load\",\"op\":\"<=\",\"value\":1}]"));
        assertEquals("assertion: assertions[1] $.load <= 1: was 1.5", tooHigh.error());
        final CheckResult missing = check(http("/health", "[{\"source\":\"json\",\"path\":\"$.checks[3]\","
            + "\"op\":\"exists\"}]"));
        assertEquals("assertion: assertions[0] $.checks[3] exists: no such value", missing.error());
        final CheckResult header = check(http("/health", "[{\"source\":\"header\",\"name\":\"X-Missing\","
            + "\"op\":\"exists\"}]"));
        assertEquals("assertion: assertions[0] header X-Missing exists: no such header", header.error());
        final CheckResult notJson = check(http("/text", "[{\"source\":\"json\",\"path\":\"$.status\","
            + "\"op\":\"==\",\"value\":\"ok\"}]"));
        assertFalse(notJson.up());
        assertTrue(notJson.error().startsWith("assertion: assertions[0] $.status == \"ok\": the body is not JSON"),
            notJson.error());
    }

    // ---- validation and the address policy -----------------------------------------------------------------

    private static String field(String json) {
        final ApiException e = assertThrows(ApiException.class, () -> spec(json));
        assertEquals(400, e.status());
        return e.getMessage();
    }

    @Test
    void badFieldsAreRefusedNamingTheField() {
        assertTrue(field("{\"name\":\"x\",\"url\":\"tcp://127.0.0.1\"}").startsWith("url: needs a port"));
        assertTrue(field("{\"name\":\"x\",\"url\":\"icmp://127.0.0.1:7\"}").startsWith("url: icmp has no port"));
        assertTrue(field("{\"name\":\"x\",\"url\":\"ftp://h/\"}").startsWith("url: must be http://, https://"));
        assertTrue(field("{\"name\":\"x\",\"url\":\"tcp://h:1/path\"}").startsWith("url: a tcp monitor's url"));
        assertTrue(field("{\"name\":\"x\",\"url\":\"dns://h\"}").startsWith("dns.query_name: is required"));
        assertTrue(field("{\"name\":\"x\",\"url\":\"dns://h\",\"dns\":{\"query_name\":\"a.b\",\"record_type\":\"SRV\"}}")
            .startsWith("dns.record_type: must be one of"));
        assertTrue(field("{\"name\":\"x\",\"url\":\"dns://h\",\"dns\":{\"query_name\":\"a.b\",\"expected\":\"1.2.3.4\"}}")
            .startsWith("dns.expected: must be an array"));
        assertTrue(field("{\"name\":\"x\",\"url\":\"tls://h:443\",\"tls\":{\"min_days\":-1}}")
            .startsWith("tls.min_days: must be an integer in 0..3650"));
        assertTrue(field("{\"name\":\"x\",\"url\":\"tls://h:443\",\"tls\":{\"days\":3}}")
            .startsWith("tls.days: unknown field"));
        assertTrue(field("{\"name\":\"x\",\"url\":\"icmp://h\",\"icmp\":{\"count\":11}}")
            .startsWith("icmp.count: must be an integer in 1..10"));
        assertTrue(field("{\"name\":\"x\",\"url\":\"tcp://h:1\",\"dns\":{\"query_name\":\"a.b\"}}")
            .startsWith("dns: only applies to dns monitors"));
        assertTrue(field("{\"name\":\"x\",\"url\":\"tcp://h:1\",\"keyword\":\"ok\"}")
            .startsWith("keyword: only applies to http(s) monitors"));
        assertTrue(field("{\"name\":\"x\",\"url\":\"tcp://h:1\",\"type\":\"dns\"}").startsWith("type: must be 'tcp'"));
        assertTrue(field("{\"name\":\"x\",\"url\":\"tcp://h:1\",\"tcp\":{\"send\":\"\"}}")
            .startsWith("tcp.send: must be a string of 1..1024"));
        assertTrue(field("{\"name\":\"x\",\"url\":\"http://h/\",\"assertions\":[{\"source\":\"json\",\"path\":\"status\","
            + "\"op\":\"==\",\"value\":1}]}").startsWith("assertions[0].path: must start with '$'"));
        assertTrue(field("{\"name\":\"x\",\"url\":\"http://h/\",\"assertions\":[{\"source\":\"json\",\"path\":\"$.a[*]\","
            + "\"op\":\"==\",\"value\":1}]}").startsWith("assertions[0].path: [*] must be an index"));
        assertTrue(field("{\"name\":\"x\",\"url\":\"http://h/\",\"assertions\":[{\"source\":\"body\",\"op\":\"matches\","
            + "\"value\":\"(\"}]}").startsWith("assertions[0].value: is not a valid regular expression"));
        assertTrue(field("{\"name\":\"x\",\"url\":\"http://h/\",\"assertions\":[{\"source\":\"status\",\"op\":\"contains\","
            + "\"value\":\"2\"}]}").startsWith("assertions[0].op: for source 'status' must be one of"));
        assertTrue(field("{\"name\":\"x\",\"url\":\"http://h/\",\"assertions\":[{\"source\":\"json\",\"path\":\"$.a\","
            + "\"op\":\">\",\"value\":\"high\"}]}").startsWith("assertions[0].value: must be a number with op '>'"));
        assertTrue(field("{\"name\":\"x\",\"url\":\"http://h/\",\"assertions\":[{\"source\":\"cookie\",\"op\":\"==\","
            + "\"value\":1}]}").startsWith("assertions[0].source: must be one of"));
        assertTrue(field("{\"name\":\"x\",\"url\":\"http://h/\",\"assertions\":[{\"source\":\"header\",\"op\":\"exists\"}]}")
            .startsWith("assertions[0].name: is required"));
    }

    @Test
    void theJsonShapeRoundTrips() throws Exception {
        for (String json : List.of(
            "{\"name\":\"a\",\"url\":\"tcp://h:1\",\"tcp\":{\"send\":\"x\\n\",\"expect\":\"y\"}}",
            "{\"name\":\"a\",\"url\":\"dns://h:5353\",\"dns\":{\"query_name\":\"a.b\",\"record_type\":\"MX\",\"expected\":[\"1 m.b\"]}}",
            "{\"name\":\"a\",\"url\":\"tls://h:443\",\"tls\":{\"min_days\":20,\"server_name\":\"x.org\"}}",
            "{\"name\":\"a\",\"url\":\"icmp://h\",\"icmp\":{\"count\":5,\"max_loss_percent\":40}}",
            http("/x", "[{\"source\":\"json\",\"path\":\"$.a\",\"op\":\"!=\",\"value\":null},"
                + "{\"source\":\"header\",\"name\":\"A\",\"op\":\"==\",\"value\":\"b\"}]"))) {
            final MonitorSpec s = spec(json);
            assertEquals(s, MonitorValidator.parse(MonitorValidator.toJson(s), null), json);
        }
        assertEquals(CheckType.DNS, spec("{\"name\":\"a\",\"url\":\"dns://h\",\"type\":\"dns\",\"dns\":{\"query_name\":\"a\"}}")
            .type());
    }

    @Test
    void everyTypeObeysTheAddressPolicy() throws Exception {
        for (String url : List.of("tcp://169.254.169.254:80", "tls://[::ffff:169.254.169.254]:443",
            "dns://0xa9fea9fe", "icmp://169.254.169.254")) {
            final String json = "{\"name\":\"m\",\"url\":\"" + url + "\"" + (url.startsWith("dns") ? ",\"dns\":"
                + "{\"query_name\":\"a.b\"}" : "") + "}";
            final ApiException e = assertThrows(ApiException.class,
                () -> MonitorValidator.checkAddress(spec(json), AddressPolicy.defaults()), url);
            assertTrue(e.getMessage().startsWith("url: address policy: "), e.getMessage());
        }
        final AddressPolicy noLoopback = AddressPolicy.of(List.of(), AddressPolicy.parseList("127.0.0.0/8"));
        try (Probes denying = new Probes(false, 1, noLoopback)) {
            for (String url : List.of("tcp://localhost:" + echo.getLocalPort(), "tls://localhost:" + port(tls),
                "icmp://localhost")) {
                final CheckResult r = denying.check(spec("{\"name\":\"m\",\"url\":\"" + url + "\",\"interval\":\"5s\","
                    + "\"timeout\":\"2s\"}"));
                assertFalse(r.up());
                {
                    assertTrue(r.error().startsWith("address policy: localhost (127.0.0.1) is in --probe-deny"),
                        url + ": " + r.error());
                }
            }
            final int before = dns.queries.get();
            final CheckResult r = denying.check(spec(dnsSpec("{\"query_name\":\"app.test\"}")));
            assertTrue(r.error().startsWith("address policy: 127.0.0.1 is in --probe-deny"), r.error());
            assertEquals(before, dns.queries.get(), "nothing was sent to a denied resolver");
            assertTrue(denying.deniedChecks() >= 3);
        }
    }
}
