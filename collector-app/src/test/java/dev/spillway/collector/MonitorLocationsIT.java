package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.FakeReceiver;
import dev.spillway.uptime.monitor.MonitorService;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.spillway.collector.MonitorLeasesEndToEndTest.outbox;
import static dev.spillway.collector.MonitorLeasesEndToEndTest.transitions;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The goal of issue 21's locations, with real processes: three collectors (the shaded jar) started with
 * {@code --location a|b|c} on one PostgreSQL, one monitor listing {@code a, b, c} (default quorum: a majority, 2),
 * and a local target that answers 500 to checks from the locations the test chooses (it reads the
 * {@code X-Spillway-Location} header each check carries). Each location checks the monitor once per interval;
 * failing from {@code a} only, the monitor stays UP and the API shows {@code a} DOWN; failing from {@code a} and
 * {@code b}: one DOWN transition and one notification to a real loopback webhook. Then {@code a}'s and
 * {@code b}'s collectors are killed with {@code kill -9}: their results go stale (2 intervals + the lease TTL) and
 * {@code c}, which sees the monitor up, decides alone: one UP transition, one notification.
 */
class MonitorLocationsIT {

    private static final Pattern HTTP = Pattern.compile("HTTP listening on http://(\\S+) \\(");
    private static final Duration INTERVAL = Duration.ofSeconds(1);
    private static final Duration TTL = Duration.ofSeconds(3);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] LOCATIONS = {"a", "b", "c"};

    /** A target that fails the checks from chosen locations and records every check's arrival by location. */
    private static final class GeoTarget implements AutoCloseable {
        final Set<String> failing = ConcurrentHashMap.newKeySet();
        final Map<String, List<Long>> hits = new ConcurrentHashMap<>();
        final HttpServer server;

        GeoTarget() throws Exception {
            server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
            server.createContext("/geo", x -> {
                final long at = System.nanoTime();
                final String from = String.valueOf(x.getRequestHeaders().getFirst(MonitorService.LOCATION_HEADER));
                hits.computeIfAbsent(from, k -> new CopyOnWriteArrayList<>()).add(at);
                final byte[] body = (failing.contains(from) ? "down from " : "ok from ").concat(from)
                    .getBytes(StandardCharsets.UTF_8);
                x.sendResponseHeaders(failing.contains(from) ? 500 : 200, body.length);
                x.getResponseBody().write(body);
                x.close();
            });
            server.setExecutor(java.util.concurrent.Executors.newFixedThreadPool(4));
            server.start();
        }

        String url() {
            return "http://127.0.0.1:" + server.getAddress().getPort() + "/geo";
        }

        List<Long> hits(String location) {
            return new ArrayList<>(hits.getOrDefault(location, List.of()));
        }

        @Override
        public void close() {
            server.stop(0);
            ((java.util.concurrent.ExecutorService) server.getExecutor()).shutdownNow();
        }
    }

    private static String httpAddress(MonitorLeaseFailoverIT.Proc p) throws Exception {
        final Matcher m = HTTP.matcher(Files.readString(p.log()));
        assertTrue(m.find(), "no HTTP line in " + p.log());
        return m.group(1);
    }

    /** {@code GET /api/v1/monitors/geo} from a collector. */
    private static JsonNode geo(HttpClient http, String address) throws Exception {
        final HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://" + address
            + "/api/v1/monitors/geo")).timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return JSON.readTree(r.body());
    }

    /** Per-location confirmed states as the API shows them. */
    private static Map<String, String> locations(JsonNode monitor) {
        final Map<String, String> out = new TreeMap<>();
        for (JsonNode l : monitor.get("status").get("locations")) {
            out.put(l.get("location").asText(), l.get("confirmed_state").asText());
        }
        return out;
    }

    /** The newest {@code last_check_at} of a location, from the database (epoch ms; 0 before any). */
    private static long lastCheck(TestDatabase db, String location) {
        return db.queryLong("SELECT coalesce((extract(epoch FROM max(last_check_at)) * 1000)::bigint, 0) FROM "
            + "monitor_location_state WHERE monitor = 'geo' AND location = '" + location + "'");
    }

    /** Waits until {@code location} has recorded {@code n} more checks' worth of time (its results keep coming). */
    private static void awaitChecks(TestDatabase db, String location, int n, String what) {
        final long from = lastCheck(db, location);
        Await.until(Duration.ofSeconds(60), () -> lastCheck(db, location) >= from + n * INTERVAL.toMillis(), what);
    }

    private static List<String> received(FakeReceiver hook) throws Exception {
        final List<String> out = new ArrayList<>();
        for (FakeReceiver.Received r : hook.received("/hook")) {
            final JsonNode n = JSON.readTree(r.body());
            if ("geo".equals(n.get("subject").get("id").asText())) {
                out.add(n.get("type").asText());
            }
        }
        return out;
    }

    @Test
    void aMajorityOfLocationsDecidesOnceAndStaleLocationsStopCounting(@TempDir Path dir) throws Exception {
        final String jar = System.getProperty("spillway.collector.jar", "target/spillway-collector.jar");
        assertTrue(Files.exists(Path.of(jar)), "shaded jar missing: " + jar);
        try (TestDatabase db = TestDatabase.create("monitor_locations_it"); GeoTarget target = new GeoTarget();
             FakeReceiver hook = new FakeReceiver()) {
            final Path file = dir.resolve("monitors.yaml");
            Files.writeString(file, "monitors:\n  - name: geo\n    url: " + target.url() + "\n    interval: "
                + INTERVAL.toMillis() + "ms\n    timeout: 500ms\n    failure_threshold: 2\n"
                + "    locations: [a, b, c]\n");
            final List<MonitorLeaseFailoverIT.Proc> procs = new ArrayList<>();
            final HttpClient http = HttpClient.newHttpClient();
            try {
                for (int i = 0; i < LOCATIONS.length; i++) {
                    procs.add(MonitorLeaseFailoverIT.start(List.of(
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m", "-jar", jar,
                        "--jdbc-url", db.jdbcUrl(), "--db-user", db.user(), "--db-password", db.password(),
                        "--http", "127.0.0.1:0", "--flush-interval", "20ms", "--monitors", file.toString(),
                        "--monitor-lease-ttl", TTL.toSeconds() + "s", "--location", LOCATIONS[i]), dir, i));
                }
                final String apiB = httpAddress(procs.get(1));
                Await.untilNoThrow(Duration.ofSeconds(60), () -> locations(geo(http, apiB)).equals(Map.of("a", "UP",
                    "b", "UP", "c", "UP")) && "UP".equals(geo(http, apiB).get("status").get("state").asText()),
                    "every location sees geo UP");

                // Each location checks once per interval: counted per location over 10 s of steady checks.
                final HitWindows windows = new HitWindows();
                final long from = windows.now() + INTERVAL.toNanos();
                Await.until(Duration.ofSeconds(60), () -> windows.now() > from + 11 * INTERVAL.toNanos(),
                    "ten intervals of steady checks");
                final long to = windows.now();
                for (String l : LOCATIONS) {
                    final HitWindows.Count c = windows.count(Map.of("geo", target.hits(l)), INTERVAL, from, to);
                    System.out.printf("location %s: %s%n", l, c);
                    assertEquals(0, c.doubled(), "location " + l + " checks once per interval: " + c);
                    // Missing windows are a matter of load (a check later than its interval skips a tick): printed,
                    // and only bounded loosely here; a doubled window would be a second holder, never allowed.
                    assertTrue(c.missing() * 2 <= c.windows(), "location " + l + " checks its intervals: " + c);
                }
                assertEquals(Set.of("a", "b", "c"), new TreeSet<>(target.hits.keySet()),
                    "every check says where it comes from");

                final HttpResponse<String> channel = http.send(HttpRequest.newBuilder(URI.create("http://"
                    + httpAddress(procs.get(0)) + "/api/v1/channels/hook")).header("Content-Type", "application/json")
                    .PUT(HttpRequest.BodyPublishers.ofString("{\"kind\":\"webhook\",\"url\":\"" + hook.url("/hook")
                        + "\"}")).build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(200, channel.statusCode(), channel.body());

                // Failing from a only: a is DOWN, the monitor stays UP (1 of 3 < 2).
                target.failing.add("a");
                Await.untilNoThrow(Duration.ofSeconds(60), () -> "DOWN".equals(locations(geo(http, apiB)).get("a")),
                    "the API shows a DOWN");
                awaitChecks(db, "a", 3, "three more checks from a");
                awaitChecks(db, "b", 3, "three more checks from b");
                final JsonNode minority = geo(http, apiB);
                System.out.println("failing from a: " + minority.get("status"));
                assertEquals("UP", minority.get("status").get("state").asText(), "one of three down: still UP");
                assertEquals(Map.of("a", "DOWN", "b", "UP", "c", "UP"), locations(minority));
                assertEquals(List.of("->UP"), transitions(db).get("geo"));

                // Failing from a and b: one DOWN transition, one notification.
                target.failing.add("b");
                Await.untilNoThrow(Duration.ofSeconds(60), () -> "DOWN".equals(geo(http, apiB).get("status")
                    .get("state").asText()), "geo DOWN");
                awaitChecks(db, "c", 3, "three more checks from c after the change");
                awaitChecks(db, "a", 1, "another check from a");
                awaitChecks(db, "b", 1, "another check from b");
                Await.untilNoThrow(Duration.ofSeconds(60), () -> received(hook).size() >= 1, "the DOWN announced");
                assertEquals(List.of("->UP", "UP>DOWN"), transitions(db).get("geo"), "one DOWN transition");
                assertEquals(List.of("monitor.down"), outbox(db, "hook").get("geo"), "one notification");
                final JsonNode majority = geo(http, apiB);
                System.out.println("failing from a and b: " + majority.get("status"));
                assertEquals(Map.of("a", "DOWN", "b", "DOWN", "c", "UP"), locations(majority));
                assertEquals("DOWN", geo(http, httpAddress(procs.get(2))).get("status").get("state").asText(),
                    "the same from another collector");
                assertEquals(Set.of("a", "b", "c"), resultLocations(db), "results carry their location tag");

                // kill -9 of a's and b's collectors: their DOWN results go stale and c, seeing it up, decides.
                final long killedAt = System.nanoTime();
                final Instant killedWall = Instant.now();
                for (int i = 0; i < 2; i++) {
                    procs.get(i).process().destroyForcibly();
                    assertTrue(procs.get(i).process().waitFor(30, TimeUnit.SECONDS), "killed");
                }
                final Duration stale = INTERVAL.multipliedBy(2).plus(TTL);
                Await.until(stale.multipliedBy(4), () -> db.queryLong("SELECT count(*) FROM monitor_transitions "
                    + "WHERE monitor = 'geo' AND to_state = 'UP' AND from_state = 'DOWN'") == 1,
                    "c alone decides once a and b are stale (2 intervals + TTL = " + stale.toMillis() + " ms)");
                final long upAfter = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killedAt);
                Await.untilNoThrow(Duration.ofSeconds(60), () -> received(hook).size() >= 2, "the UP announced");
                awaitChecks(db, "c", 2, "two more checks from c");
                assertEquals(List.of("->UP", "UP>DOWN", "DOWN>UP"), transitions(db).get("geo"));
                assertEquals(List.of("monitor.down", "monitor.up"), outbox(db, "hook").get("geo"));
                assertEquals(List.of("monitor.down", "monitor.up"), received(hook), "each webhook delivered once");
                final long lastA = lastCheck(db, "a");
                System.out.printf("kill -9 of a and b at %s (their last results %d ms before): UP from c alone "
                    + "%d ms after the kill (stale after 2 intervals + TTL = %d ms)%n", killedWall,
                    killedWall.toEpochMilli() - lastA, upAfter, stale.toMillis());
                final JsonNode alone = geo(http, httpAddress(procs.get(2)));
                for (JsonNode l : alone.get("status").get("locations")) {
                    assertEquals(l.get("location").asText().equals("c"), l.get("counts").asBoolean(),
                        "only c counts: " + alone.get("status"));
                }
            } finally {
                for (MonitorLeaseFailoverIT.Proc p : procs) {
                    p.process().destroy();
                }
                for (MonitorLeaseFailoverIT.Proc p : procs) {
                    if (!p.process().waitFor(60, TimeUnit.SECONDS)) {
                        p.process().destroyForcibly();
                    }
                }
            }
        }
    }

    /** The {@code location} tags of the monitor's result series. */
    private static Set<String> resultLocations(TestDatabase db) throws Exception {
        final Set<String> out = new TreeSet<>();
        try (Connection c = db.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT DISTINCT tags->>'location' FROM telemetry WHERE measurement = "
                 + "'monitor' AND tags->>'monitor' = 'geo' AND field = 'up'")) {
            while (rs.next()) {
                out.add(rs.getString(1));
            }
        }
        return out;
    }
}
