package dev.spillway.uptime.monitor;

import dev.spillway.testkit.TargetServer;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.spillway.runtime.api.ApiJson;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One check against a real loopback server per rule: status, keyword, timeouts, redirects, TLS, failures. Through
 * {@link Probes} without keep-alive, so on the non-blocking {@link HttpAsyncProbe}; {@link HttpProbeBlockingTest}
 * runs the same tests on OkHttp's {@link HttpProbe} (what keep-alive uses).
 */
class HttpProbeTest {

    @TempDir
    static Path dir;
    private static TargetServer http;
    private static TargetServer https;
    private static TargetServer expiring;
    private static Probes probes;
    /** The blocking probe, for {@link HttpProbeBlockingTest}. */
    static HttpProbe blocking;

    /** Runs one check on the probe under test. */
    CheckResult run(MonitorSpec spec) {
        assertTrue(probes.nonBlocking(spec), "HTTP without keep-alive is non-blocking");
        return probes.check(spec);
    }

    @BeforeAll
    static void start() throws Exception {
        probes = new Probes(new HttpProbe(false, 4), AddressPolicy.defaults(), null);
        blocking = new HttpProbe(false, 4);
        http = TargetServer.http()
            .on("/ok", TargetServer.Behaviour.ok("all systems nominal"))
            .on("/500", TargetServer.Behaviour.status(500))
            .on("/301", TargetServer.Behaviour.status(301))
            .on("/slow", TargetServer.Behaviour.slow(6000))
            .on("/slow-body", TargetServer.Behaviour.slowBody(6000))
            .on("/hop", TargetServer.Behaviour.redirect(302, "/ok"))
            .on("/loop", TargetServer.Behaviour.redirect(302, "/loop"));
        https = TargetServer.https(dir, 365).on("/ok", TargetServer.Behaviour.ok("secure"));
        expiring = TargetServer.https(dir, 3).on("/ok", TargetServer.Behaviour.ok("soon"));
    }

    @AfterAll
    static void stop() {
        http.close();
        https.close();
        expiring.close();
        probes.close();
        blocking.close();
    }

    private static MonitorSpec spec(String url, Consumer<ObjectNode> more) throws Exception {
        final ObjectNode o = ApiJson.object();
        o.put("name", "t");
        o.put("url", url);
        o.put("interval", "5s");
        // Generous: on a loaded 2-core machine a TLS handshake alone can take over a second. The slow-target
        // tests set their own short timeout against a target that answers far later.
        o.put("timeout", "4s");
        more.accept(o);
        return MonitorValidator.parse(o, null);
    }

    private CheckResult check(String url, Consumer<ObjectNode> more) throws Exception {
        return run(spec(url, more));
    }

    @Test
    void aGoodAnswerIsUpWithStatusAndPhases() throws Exception {
        final CheckResult r = check(http.url("/ok"), o -> { });
        assertTrue(r.up(), r.error());
        assertEquals(200, r.statusCode());
        assertNull(r.error());
        assertEquals(0.0, r.dnsMs(), "an IP literal needs no lookup");
        assertTrue(r.connectMs() >= 0 && r.ttfbMs() >= r.connectMs() && r.durationMs() >= r.ttfbMs(), r.toString());
        assertTrue(Double.isNaN(r.tlsMs()) && Double.isNaN(r.certExpiryDays()), "no TLS on http");
        final CheckResult byName = check(http.url("/ok").replace("127.0.0.1", "localhost"), o -> { });
        assertTrue(byName.up(), byName.error());
        assertTrue(byName.dnsMs() >= 0 && !Double.isNaN(byName.dnsMs()));
    }

    @Test
    void expectedStatusRangesDecide() throws Exception {
        final CheckResult down = check(http.url("/500"), o -> { });
        assertFalse(down.up());
        assertEquals(500, down.statusCode());
        assertEquals("status: 500 not in 200-299", down.error());
        assertTrue(check(http.url("/500"), o -> o.put("expected_status", "200-299,500")).up());
        final CheckResult notFollowed = check(http.url("/301"), o -> o.put("follow_redirects", false)
            .put("expected_status", "301"));
        assertTrue(notFollowed.up(), notFollowed.error());
    }

    @Test
    void keywordAndInvertedKeyword() throws Exception {
        assertTrue(check(http.url("/ok"), o -> o.put("keyword", "nominal")).up());
        final CheckResult missing = check(http.url("/ok"), o -> o.put("keyword", "Nominal"));
        assertFalse(missing.up(), "case-sensitive");
        assertTrue(missing.error().startsWith("keyword: 'Nominal' not found"), missing.error());
        final CheckResult inverted = check(http.url("/ok"), o -> o.put("keyword", "nominal")
            .put("keyword_invert", true));
        assertFalse(inverted.up());
        assertTrue(inverted.error().contains("found (must be absent)"), inverted.error());
        assertTrue(check(http.url("/ok"), o -> o.put("keyword", "error").put("keyword_invert", true)).up());
    }

    @Test
    void slowHeadersAndSlowBodiesTimeOut() throws Exception {
        final CheckResult slow = check(http.url("/slow"), o -> o.put("timeout", "2s"));
        assertFalse(slow.up());
        assertTrue(slow.error().startsWith("timeout:"), slow.error());
        assertEquals(-1, slow.statusCode());
        final CheckResult slowBody = check(http.url("/slow-body"), o -> o.put("keyword", "second")
            .put("timeout", "2s"));
        assertFalse(slowBody.up());
        assertTrue(slowBody.error().startsWith("timeout:"), slowBody.error());
        assertEquals(200, slowBody.statusCode(), "headers arrived; the body did not");
    }

    @Test
    void redirectsAreFollowedUpToTen() throws Exception {
        final CheckResult hop = check(http.url("/hop"), o -> o.put("keyword", "nominal"));
        assertTrue(hop.up(), hop.error());
        assertEquals(200, hop.statusCode());
        final int before = http.hits("/loop").size();
        final CheckResult loop = check(http.url("/loop"), o -> { });
        assertFalse(loop.up());
        assertEquals("redirects: more than 10", loop.error());
        assertEquals(11, http.hits("/loop").size() - before, "the first request and ten redirects");
        final CheckResult off = check(http.url("/hop"), o -> o.put("follow_redirects", false));
        assertFalse(off.up());
        assertEquals(302, off.statusCode());
    }

    @Test
    void tlsIsVerifiedAndCertificateExpiryRecorded() throws Exception {
        final CheckResult verified = check(https.url("/ok"), o -> { });
        assertFalse(verified.up(), "self-signed is not trusted");
        assertTrue(verified.error().startsWith("tls:"), verified.error());
        final CheckResult trusting = check(https.url("/ok"), o -> o.put("tls_verify", false));
        assertTrue(trusting.up(), trusting.error());
        assertTrue(trusting.tlsMs() > 0, "handshake measured");
        assertTrue(trusting.certExpiryDays() > 360 && trusting.certExpiryDays() <= 365, "" + trusting.certExpiryDays());
        final CheckResult soon = check(expiring.url("/ok"), o -> o.put("tls_verify", false).put("keyword", "soon"));
        assertTrue(soon.up(), soon.error());
        assertTrue(soon.certExpiryDays() > 2 && soon.certExpiryDays() <= 3, "" + soon.certExpiryDays());
    }

    @Test
    void refusedConnectionsAndUnresolvableNamesAreDownWithTheirReason() throws Exception {
        final int closed;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            closed = s.getLocalPort();
        }
        final CheckResult refused = check("http://127.0.0.1:" + closed + "/", o -> { });
        assertFalse(refused.up());
        assertTrue(refused.error().startsWith("connect:"), refused.error());
        assertTrue(refused.connectMs() >= 0, "the failed connect is still timed");
        final CheckResult dns = check("http://no-such-host.invalid/", o -> o.put("timeout", "4s"));
        assertFalse(dns.up());
        assertTrue(dns.error().startsWith("dns: cannot resolve no-such-host.invalid")
            || dns.error().startsWith("timeout:"), dns.error());
    }
}
