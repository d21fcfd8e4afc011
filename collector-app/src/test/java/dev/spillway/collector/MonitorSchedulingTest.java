package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import dev.spillway.testkit.TargetServer;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static dev.spillway.collector.MonitorsEndToEndTest.json;
import static dev.spillway.collector.MonitorsEndToEndTest.send;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The scheduler and the probe executor against a real target: fixed rate without drift, skipped ticks counted,
 * the concurrency bound, the start-up spread. The tests of the thread-bound lanes run HTTP checks with keep-alive
 * ({@code --probe-keep-alive true}), which keeps them blocking; without it they are non-blocking and hold
 * connections, not threads ({@link #hangingHttpTargetsWithoutKeepAliveHoldConnectionsNotThreads}). Intervals are the minimum (1 s) so each test takes seconds; the
 * bounds asserted are far from what a wrong implementation produces (drift of 600 ms per tick, all first checks
 * at once), not performance figures.
 */
class MonitorSchedulingTest {

    private static final Duration WAIT = Duration.ofSeconds(30);
    private TestDatabase db;
    private TargetServer target;

    @BeforeEach
    void start() throws Exception {
        db = TestDatabase.create("collector_sched");
        target = TargetServer.http()
            .on("/slow600", TargetServer.Behaviour.slow(600))
            .on("/slow800", TargetServer.Behaviour.slow(800))
            .on("/slow400", TargetServer.Behaviour.slow(400));
    }

    @AfterEach
    void stop() {
        target.close();
        db.close();
    }

    private void create(CollectorHarness h, String name, String path, String extra) throws Exception {
        final var r = send(h, "PUT", "/api/v1/monitors/" + name,
            "{\"url\":\"" + target.url(path) + "\",\"interval\":\"1s\"" + extra + "}");
        assertEquals(201, r.statusCode(), r.body());
    }

    @Test
    void slowChecksDoNotMakeTheScheduleDrift() throws Exception {
        try (CollectorHarness h = CollectorHarness.start(db, "--token", "t0k3n")) {
            create(h, "slow", "/slow600", ",\"timeout\":\"900ms\"");
            Await.until(WAIT, () -> target.hits("/slow600").size() >= 7, "seven checks");
            final List<Long> hits = target.hits("/slow600");
            final long first = hits.get(0);
            for (int k = 1; k < 7; k++) {
                final long offsetMs = TimeUnit.NANOSECONDS.toMillis(hits.get(k) - first) - k * 1000L;
                // "next = end of check + interval" would be 600 ms late per tick (3.6 s by the 7th check).
                assertTrue(Math.abs(offsetMs) < 300, "check " + k + " is " + offsetMs + " ms off the 1 s grid");
            }
        }
    }

    @Test
    void ticksWhoseCheckIsStillRunningAreSkippedAndCounted() throws Exception {
        try (CollectorHarness h = CollectorHarness.start(db, "--token", "t0k3n", "--probe-concurrency", "1",
            "--probe-keep-alive", "true")) {
            // Three monitors need 3 checks/s of 0.6 s each; one slot does 1.67/s: ticks must be skipped. The 300 ms
            // between the answer and the timeout keeps checks from timing out on a loaded machine: a check cut at
            // its timeout frees the slot while the target still holds the request, which it would count as two.
            for (int i = 0; i < 3; i++) {
                create(h, "busy" + i, "/slow600", ",\"timeout\":\"900ms\"");
            }
            Await.untilNoThrow(WAIT, () -> json(send(h, "GET", "/api/v1/status", null)).get("checks")
                .get("skipped_ticks").asLong() >= 3, "skipped ticks counted");
            for (int i = 0; i < 3; i++) {
                assertEquals(200, send(h, "POST", "/api/v1/monitors/busy" + i + "/pause", null).statusCode());
            }
            // Quiescent: every due tick was either run (and recorded) or counted as skipped; none vanished.
            Await.untilNoThrow(WAIT, () -> {
                final JsonNode c = json(send(h, "GET", "/api/v1/status", null)).get("checks");
                return c.get("in_flight").asInt() == 0 && c.get("queued").asInt() == 0
                    && c.get("ticks").asLong() == c.get("executed").asLong() + c.get("skipped_ticks").asLong();
            }, "ticks == executed + skipped once idle");
            assertTrue(target.maxConcurrent() <= 1, "concurrency 1: " + target.maxConcurrent());
            assertEquals(1, json(send(h, "GET", "/api/v1/status", null)).get("checks").get("max_in_flight").asInt());
            final String metrics = send(h, "GET", "/metrics", null).body();
            assertTrue(metrics.contains("spillway_monitor_ticks_skipped_total"), "skips are a meter too");
        }
    }

    @Test
    void concurrencyNeverExceedsTheProbeLimit() throws Exception {
        try (CollectorHarness h = CollectorHarness.start(db, "--token", "t0k3n", "--probe-concurrency", "3",
            "--probe-keep-alive", "true")) {
            for (int i = 0; i < 10; i++) {
                create(h, "many" + i, "/slow400", "");
            }
            Await.until(WAIT, () -> target.hits("/slow400").size() >= 30, "thirty checks");
            assertTrue(target.maxConcurrent() <= 3, "at most 3 at once, saw " + target.maxConcurrent());
            assertTrue(target.maxConcurrent() >= 2, "the slots are used, saw " + target.maxConcurrent());
            final JsonNode checks = json(send(h, "GET", "/api/v1/status", null)).get("checks");
            assertTrue(checks.get("max_in_flight").asInt() <= 3, checks.toString());
        }
    }

    @Test
    void firstChecksAreSpreadOverTheFirstInterval(@TempDir Path dir) throws Exception {
        final int n = 20;
        final StringBuilder yaml = new StringBuilder();
        for (int i = 0; i < n; i++) {
            target.on("/spread/" + i, TargetServer.Behaviour.ok("ok"));
            yaml.append("- name: spread-").append(i).append("\n  url: ").append(target.url("/spread/" + i))
                .append("\n  interval: 4s\n");
        }
        final Path file = dir.resolve("spread.yml");
        Files.writeString(file, yaml.toString());
        final long started = System.nanoTime();
        try (CollectorHarness h = CollectorHarness.start(db, "--monitors", file.toString())) {
            Await.until(WAIT, () -> {
                for (int i = 0; i < n; i++) {
                    if (target.hits("/spread/" + i).isEmpty()) {
                        return false;
                    }
                }
                return true;
            }, "every monitor checked once");
            final List<Long> firsts = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                firsts.add(target.hits("/spread/" + i).get(0));
            }
            Collections.sort(firsts);
            final long spanMs = TimeUnit.NANOSECONDS.toMillis(firsts.get(n - 1) - firsts.get(0));
            assertTrue(spanMs >= 1500, "20 first checks at once would be a thundering herd; span " + spanMs + " ms");
            final long lastMs = TimeUnit.NANOSECONDS.toMillis(firsts.get(n - 1) - started);
            // Within the first interval after the collector was up (start-up itself takes a few seconds here).
            assertTrue(lastMs < 4000 + TimeUnit.NANOSECONDS.toMillis(firsts.get(0) - started) + 500,
                "last first check at " + lastMs + " ms");
        }
    }
    @Test
    void hangingTargetsDoNotDelayHealthyMonitors() throws Exception {
        // 5 slots, so the slow lane has 1. Eight monitors on a target that never answers need 8 x 0.9 s of slot
        // time per second, more than all five slots; in one first-in-first-out queue the healthy monitors' checks
        // wait behind them and skip ticks.
        try (Silent silent = new Silent();
             CollectorHarness h = CollectorHarness.start(db, "--token", "t0k3n", "--probe-concurrency", "5",
                 "--probe-keep-alive", "true")) {
            target.on("/healthy", TargetServer.Behaviour.ok("ok"));
            final int healthy = 3;
            for (int i = 0; i < 8; i++) {
                final var r = send(h, "PUT", "/api/v1/monitors/hang" + i, "{\"url\":\"http://127.0.0.1:"
                    + silent.port() + "/\",\"interval\":\"1s\",\"timeout\":\"900ms\"}");
                assertEquals(201, r.statusCode(), r.body());
            }
            for (int i = 0; i < healthy; i++) {
                target.on("/healthy/" + i, TargetServer.Behaviour.ok("ok"));
                create(h, "ok" + i, "/healthy/" + i, ",\"timeout\":\"900ms\"");
            }
            Await.until(WAIT, () -> silent.accepted() >= 8, "every hanging monitor checked once");
            // Warm-up: each hanging monitor's first check timed out (0.9 s) and put it in the slow lane.
            final int before = target.hits("/healthy/0").size();
            Await.until(WAIT, () -> target.hits("/healthy/0").size() >= before + 2, "warm-up");
            final long from = System.nanoTime();
            final int windowStart = target.hits("/healthy/0").size();
            final int intervals = 8;
            Await.until(WAIT, () -> target.hits("/healthy/0").size() >= windowStart + intervals, "the window");
            final long to = System.nanoTime();
            for (int i = 0; i < healthy; i++) {
                final List<Long> hits = new ArrayList<>();
                for (long t : target.hits("/healthy/" + i)) {
                    if (t >= from && t <= to) {
                        hits.add(t);
                    }
                }
                assertTrue(hits.size() >= intervals - 1, "ok" + i + " checked " + hits.size() + " times in "
                    + intervals + " intervals");
                for (int k = 1; k < hits.size(); k++) {
                    final long gapMs = TimeUnit.NANOSECONDS.toMillis(hits.get(k) - hits.get(k - 1));
                    // A skipped tick is a gap of two intervals; on time it is one.
                    assertTrue(gapMs < 1500, "ok" + i + ": " + gapMs + " ms between checks at a 1 s interval");
                }
            }
            final JsonNode checks = json(send(h, "GET", "/api/v1/status", null)).get("checks");
            assertTrue(checks.get("skipped_ticks").asLong() > 0, "the hanging monitors skip ticks: " + checks);
            assertTrue(checks.get("max_in_flight").asInt() <= 5, checks.toString());
            assertTrue(send(h, "GET", "/metrics", null).body().contains("spillway_monitor_checks_slow_in_flight"),
                "the slow lane is a meter");
        }
    }

    @Test
    void hangingHttpTargetsWithoutKeepAliveHoldConnectionsNotThreads() throws Exception {
        // As above, but HTTP checks are non-blocking (the default): the eight hanging checks are all in flight at
        // once, beyond the five threads, and the healthy monitors keep their schedule.
        try (Silent silent = new Silent();
             CollectorHarness h = CollectorHarness.start(db, "--token", "t0k3n", "--probe-concurrency", "5")) {
            for (int i = 0; i < 8; i++) {
                final var r = send(h, "PUT", "/api/v1/monitors/hang" + i, "{\"url\":\"http://127.0.0.1:"
                    + silent.port() + "/\",\"interval\":\"1s\",\"timeout\":\"900ms\"}");
                assertEquals(201, r.statusCode(), r.body());
            }
            target.on("/healthy/0", TargetServer.Behaviour.ok("ok"));
            create(h, "ok0", "/healthy/0", ",\"timeout\":\"900ms\"");
            Await.until(WAIT, () -> silent.accepted() >= 16, "every hanging monitor checked twice");
            final int before = target.hits("/healthy/0").size();
            Await.until(WAIT, () -> target.hits("/healthy/0").size() >= before + 4, "healthy checks go on");
            final JsonNode checks = json(send(h, "GET", "/api/v1/status", null)).get("checks");
            assertTrue(checks.get("max_in_flight").asInt() >= 8, "all hanging checks in flight at once, beyond the "
                + "5 threads: " + checks);
            final List<Long> hits = target.hits("/healthy/0").subList(before, target.hits("/healthy/0").size());
            for (int k = 1; k < hits.size(); k++) {
                final long gapMs = TimeUnit.NANOSECONDS.toMillis(hits.get(k) - hits.get(k - 1));
                assertTrue(gapMs < 1500, gapMs + " ms between checks at a 1 s interval");
            }
        }
    }

    /** A loopback TCP server that accepts connections and never answers (nor closes them). */
    static final class Silent implements AutoCloseable {
        private final java.net.ServerSocket server = new java.net.ServerSocket(0, 200,
            java.net.InetAddress.getLoopbackAddress());
        private final List<java.net.Socket> open = Collections.synchronizedList(new ArrayList<>());
        private final java.util.concurrent.atomic.AtomicInteger accepted = new java.util.concurrent.atomic.AtomicInteger();
        private final Thread acceptor;

        Silent() throws java.io.IOException {
            acceptor = new Thread(() -> {
                while (!server.isClosed()) {
                    try {
                        open.add(server.accept());
                        accepted.incrementAndGet();
                    } catch (java.io.IOException e) {
                        return; // closed
                    }
                }
            }, "silent-target");
            acceptor.setDaemon(true);
            acceptor.start();
        }

        int port() {
            return server.getLocalPort();
        }

        int accepted() {
            return accepted.get();
        }

        @Override
        public void close() throws Exception {
            server.close();
            synchronized (open) {
                for (java.net.Socket s : open) {
                    s.close();
                }
            }
            acceptor.join(5000);
        }
    }
}
