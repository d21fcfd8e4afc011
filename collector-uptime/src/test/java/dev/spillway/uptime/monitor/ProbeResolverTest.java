package dev.spillway.uptime.monitor;

import dev.spillway.telemetry.testsupport.Await;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import okhttp3.Dns;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Name lookups of the non-blocking probes ({@link ProbeResolver}) with a resolver of the test's: a lookup that hangs
 * holds neither a probe thread nor the checks of IP literals, its check ends at its deadline, and its late answer
 * opens no connection.
 */
class ProbeResolverTest {

    private static final long WAIT_S = 30;

    @RegisterExtension
    final Closer closing = new Closer();
    private final CountDownLatch release = new CountDownLatch(1);
    private final AtomicInteger hangingLookups = new AtomicInteger();

    @AfterEach
    void release() {
        release.countDown(); // before the extension closes what the test opened (JUnit runs @AfterEach first)
    }


    /** hang.test waits until released, then answers 127.0.0.1; a.test is 127.0.0.1, internal.test 127.0.0.2. */
    private final Dns names = host -> {
        switch (host) {
            case "hang.test" -> {
                hangingLookups.incrementAndGet();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    throw new UnknownHostException("interrupted");
                }
                return List.of(InetAddress.getByAddress(host, new byte[] {127, 0, 0, 1}));
            }
            case "a.test" -> {
                return List.of(InetAddress.getByAddress(host, new byte[] {127, 0, 0, 1}));
            }
            case "internal.test" -> {
                return List.of(InetAddress.getByAddress(host, new byte[] {127, 0, 0, 2}));
            }
            default -> throw new UnknownHostException(host);
        }
    };

    private Probes probes(AddressPolicy policy) {
        return closing.open(new Probes(new HttpProbe(false, 1), policy, null, names));
    }

    private static MonitorSpec tcp(String host, int port, String timeout) throws Exception {
        return CheckTypesTest.spec("{\"name\":\"t\",\"url\":\"tcp://" + host + ":" + port + "\",\"interval\":\"120s\","
            + "\"timeout\":\"" + timeout + "\"}");
    }

    @Test
    void aHangingLookupHoldsNoProbeThreadAndEndsAtTheDeadlineWhileLiteralsAnswer() throws Exception {
        final int threads = 4;
        final int hanging = 30;
        final int healthy = 10;
        final RawTarget target = closing.open(new RawTarget("127.0.0.1"));
        final Probes probes = probes(AddressPolicy.defaults());
        final ProbeExecutor ex = new ProbeExecutor(threads, new SimpleMeterRegistry());
        closing.open(ex);
        final MonitorSpec hangSpec = tcp("hang.test", target.port(), "2s");
        final MonitorSpec okSpec = tcp("127.0.0.1", target.port(), "2s");
        final long due = System.nanoTime();
        final AsyncChecks hangingChecks = new AsyncChecks(ex, probes, hangSpec, hanging, due);
        Await.until(Duration.ofSeconds(WAIT_S), () -> ex.asyncInFlight() == hanging,
            "all hanging checks in flight at once: " + ex.asyncInFlight());
        Await.until(Duration.ofSeconds(WAIT_S), () -> hangingLookups.get() == ProbeResolver.THREADS,
            "the resolver's threads all wait for the hanging name: " + hangingLookups.get());
        assertTrue(ex.threads() <= threads, "threads: " + ex.threads());
        final AsyncChecks healthyChecks = new AsyncChecks(ex, probes, okSpec, healthy, due + 1);
        assertTrue(healthyChecks.done.await(WAIT_S, TimeUnit.SECONDS), "the checks of an IP literal ended");
        assertEquals(hanging, hangingChecks.done.getCount(), "no hanging check had ended when the literal ones had answered");
        for (CheckResult r : healthyChecks.results) {
            assertTrue(r.up(), r.error());
        }
        assertTrue(hangingChecks.done.await(WAIT_S, TimeUnit.SECONDS), "the hanging checks ended");
        for (CheckResult r : hangingChecks.results) {
            assertFalse(r.up());
            assertEquals("timeout: no complete answer within 2s", r.error());
            assertTrue(r.durationMs() >= 2000, "ended at its deadline, not before: " + r.durationMs());
            assertTrue(Double.isNaN(r.connectMs()), "never connected: " + r);
        }
        assertEquals(ProbeResolver.THREADS, hangingLookups.get(), "queued lookups did not start meanwhile");
        // The late answers (and the lookups that waited in the queue) open no connection.
        release.countDown();
        Await.until(Duration.ofSeconds(WAIT_S), () -> probes.resolver().busy() == 0, "the resolver drained");
        target.control();
        assertEquals(healthy + 1, target.connections(), "only the literal checks and the control connected");
        assertEquals(0, ex.overdue(), "the probes ended every check themselves");
        Await.until(Duration.ofSeconds(WAIT_S), () -> ex.asyncInFlight() == 0, "every slot released");
    }

    @Test
    void namesResolveThroughThePolicyForEveryNonBlockingType() throws Exception {
        final RawTarget target = closing.open(new RawTarget("127.0.0.1"));
        final Probes probes = probes(AddressPolicy.of(List.of(), AddressPolicy.parseList("127.0.0.2/32")));
        final CheckResult ok = probes.check(tcp("a.test", target.port(), "2s"));
        assertTrue(ok.up(), ok.error());
        assertTrue(ok.dnsMs() >= 0, ok.toString());
        assertEquals("dns: cannot resolve nope.test", probes.check(tcp("nope.test", target.port(), "2s")).error());
        for (String url : List.of("tcp://internal.test:" + target.port(), "tls://internal.test:" + target.port())) {
            final CheckResult r = probes.check(CheckTypesTest.spec("{\"name\":\"t\",\"url\":\"" + url
                + "\",\"interval\":\"5s\",\"timeout\":\"2s\"}"));
            assertEquals("address policy: internal.test (127.0.0.2) is in --probe-deny 127.0.0.2/32", r.error(), url);
        }
        final CheckResult dns = probes.check(CheckTypesTest.spec("{\"name\":\"d\",\"url\":\"dns://internal.test:53\","
            + "\"interval\":\"5s\",\"timeout\":\"2s\",\"dns\":{\"query_name\":\"a.b\"}}"));
        assertEquals("address policy: internal.test (127.0.0.2) is in --probe-deny 127.0.0.2/32", dns.error());
        assertEquals(3, probes.deniedChecks());
        target.control();
        assertEquals(2, target.connections(), "the allowed check and the control");
    }
}
