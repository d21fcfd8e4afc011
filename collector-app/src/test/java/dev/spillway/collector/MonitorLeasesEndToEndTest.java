package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.FakeReceiver;
import dev.spillway.testkit.TargetServer;
import dev.spillway.uptime.monitor.MonitorLeases;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Three collectors in one JVM on one database share 200 monitors at 2 s against a local target: after the
 * rebalance settles each monitor is hit once per interval (no window with two hits; windows without a hit within
 * 5 %), and a forced change (six monitors failing, one collector leaving in the middle of their failure streak,
 * then recovering) is recorded as one transition and announced as one notification per change, whichever
 * collector saw it.
 */
class MonitorLeasesEndToEndTest {

    static final int MONITORS = 200;
    static final Duration INTERVAL = Duration.ofSeconds(2);
    static final Duration MEASURED = Duration.ofSeconds(30);
    static final String TTL = "4s";
    static final ObjectMapper JSON = new ObjectMapper();

    static String name(int i) {
        return String.format("m%03d", i);
    }

    static String path(String name) {
        return "/" + name;
    }

    /** A {@code --monitors} file: {@code n} monitors at {@code interval} against {@code target}. */
    static Path monitorsFile(Path dir, TargetServer target, int n, Duration interval, int failureThreshold)
        throws Exception {
        return monitorsFile(dir, target, n, interval, Duration.ofSeconds(1), failureThreshold);
    }

    static Path monitorsFile(Path dir, TargetServer target, int n, Duration interval, Duration timeout,
                             int failureThreshold) throws Exception {
        final StringBuilder yaml = new StringBuilder("monitors:\n");
        for (int i = 0; i < n; i++) {
            target.on(path(name(i)), TargetServer.Behaviour.ok("ok"));
            yaml.append("  - name: ").append(name(i)).append("\n    url: ").append(target.url(path(name(i))))
                .append("\n    interval: ").append(interval.toMillis()).append("ms\n    timeout: ")
                .append(timeout.toMillis()).append("ms\n")
                .append("    failure_threshold: ").append(failureThreshold).append('\n');
        }
        final Path file = dir.resolve("monitors.yaml");
        Files.writeString(file, yaml);
        return file;
    }

    private static MonitorLeases leases(CollectorHarness h) {
        return h.collector.uptime().monitors().leases();
    }

    /** Every collector holds exactly its share, no monitor twice, every monitor once, all see each other. */
    static void awaitSettled(List<CollectorHarness> collectors, int monitors) {
        Await.until(Duration.ofSeconds(90), () -> {
            final Set<String> union = new HashSet<>();
            int sum = 0;
            for (CollectorHarness h : collectors) {
                final MonitorLeases l = leases(h);
                final Set<String> held = l.held();
                if (l.liveCollectors() != collectors.size() || held.size() != l.share()) {
                    return false;
                }
                union.addAll(held);
                sum += held.size();
            }
            return union.size() == monitors && sum == monitors;
        }, "leases settle over " + collectors.size() + " collectors");
    }

    /** Confirmed states by monitor, from the database. */
    static Map<String, String> confirmed(TestDatabase db) throws Exception {
        final Map<String, String> out = new TreeMap<>();
        try (Connection c = db.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT name, coalesce(confirmed_state, '-') FROM monitor_state")) {
            while (rs.next()) {
                out.put(rs.getString(1), rs.getString(2));
            }
        }
        return out;
    }

    /** The transitions of probe monitors, as "monitor:from>to", by monitor, in order. */
    static Map<String, List<String>> transitions(TestDatabase db) throws Exception {
        final Map<String, List<String>> out = new TreeMap<>();
        try (Connection c = db.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT monitor, coalesce(from_state, '-'), to_state FROM "
                 + "monitor_transitions WHERE kind = 'http' ORDER BY id")) {
            while (rs.next()) {
                out.computeIfAbsent(rs.getString(1), k -> new ArrayList<>()).add(rs.getString(2) + ">"
                    + rs.getString(3));
            }
        }
        return out;
    }

    /** Outbox rows as "type", by channel and monitor. */
    static Map<String, List<String>> outbox(TestDatabase db, String channel) throws Exception {
        final Map<String, List<String>> out = new TreeMap<>();
        try (Connection c = db.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT subject, type FROM notification_outbox WHERE channel_id = '"
                 + channel + "' AND subject_kind = 'monitor' ORDER BY id")) {
            while (rs.next()) {
                out.computeIfAbsent(rs.getString(1), k -> new ArrayList<>()).add(rs.getString(2));
            }
        }
        return out;
    }

    @Test
    void threeCollectorsCheckEachMonitorOncePerIntervalAndRecordEachChangeOnce(@TempDir Path dir) throws Exception {
        try (TestDatabase db = TestDatabase.create("monitor_leases_e2e"); TargetServer target = TargetServer.http();
             FakeReceiver hook = new FakeReceiver()) {
            final Path file = monitorsFile(dir, target, MONITORS, INTERVAL, 3);
            final List<CollectorHarness> collectors = new ArrayList<>();
            try {
                collectors.add(CollectorHarness.start(db, "--monitors", file.toString(), "--monitor-lease-ttl", TTL));
                collectors.add(CollectorHarness.start(db, "--monitor-lease-ttl", TTL));
                collectors.add(CollectorHarness.start(db, "--monitor-lease-ttl", TTL));
                awaitSettled(collectors, MONITORS);
                Await.untilNoThrow(Duration.ofSeconds(60), () -> confirmed(db).size() == MONITORS
                    && confirmed(db).values().stream().allMatch("UP"::equals), "every monitor's first result");
                for (CollectorHarness h : collectors) {
                    final JsonNode status = JSON.readTree(h.get("/api/v1/status").body()).get("leases");
                    assertEquals(3, status.get("live_collectors").asInt(), status.toString());
                    assertEquals(status.get("share").asInt(), status.get("held").asInt(), status.toString());
                }

                // Once per interval: count the target's hits per monitor per window over 30 s.
                final HitWindows windows = new HitWindows();
                final long from = windows.now() + INTERVAL.toNanos();
                final long to = from + MEASURED.toNanos();
                Await.until(MEASURED.plusSeconds(60), () -> windows.now() > to + INTERVAL.toNanos(),
                    "the measured period passes");
                final Map<String, List<Long>> hits = new HashMap<>();
                for (int i = 0; i < MONITORS; i++) {
                    hits.put(name(i), target.hits(path(name(i))));
                }
                final HitWindows.Count count = windows.count(hits, INTERVAL, from, to);
                System.out.printf("3 collectors, %d monitors at %s, %d s: %s; leases %s%n", MONITORS, INTERVAL,
                    MEASURED.toSeconds(), count, collectors.stream().map(h -> leases(h).held().size()).toList());
                assertEquals(0, count.doubled(), "no monitor checked twice in one interval: " + count);
                assertTrue(count.missing() * 20 <= count.windows(), "at most 5 % of intervals unchecked: " + count);

                // A forced change on six monitors, two per collector; the third collector leaves during the streak.
                final HttpResponse<String> channel = collectors.get(0).put("/api/v1/channels/hook",
                    "{\"kind\":\"webhook\",\"group_window\":\"0s\",\"url\":\"" + hook.url("/hook") + "\"}", "Content-Type", "application/json");
                assertEquals(200, channel.statusCode(), channel.body());
                final List<String> failing = new ArrayList<>();
                for (CollectorHarness h : collectors) {
                    failing.addAll(new ArrayList<>(leases(h).held()).subList(0, 2));
                }
                final List<String> leaving = failing.subList(4, 6);
                for (String m : failing) {
                    target.on(path(m), TargetServer.Behaviour.status(500));
                }
                Await.untilNoThrow(Duration.ofSeconds(30), () -> db.queryLong("SELECT count(*) FROM monitor_state "
                    + "WHERE consecutive_failures >= 1 AND name IN ('" + String.join("','", leaving) + "')") == 2,
                    "the leaving collector saw its two monitors fail once");
                collectors.remove(2).close();
                awaitSettled(collectors, MONITORS);
                Await.untilNoThrow(Duration.ofSeconds(60), () -> failing.stream().allMatch(m -> {
                    try {
                        return "DOWN".equals(confirmed(db).get(m));
                    } catch (Exception e) {
                        return false;
                    }
                }) && hook.received("/hook").size() >= failing.size(), "six monitors DOWN and announced");
                for (String m : failing) {
                    target.on(path(m), TargetServer.Behaviour.ok("ok"));
                }
                Await.untilNoThrow(Duration.ofSeconds(60), () -> failing.stream().allMatch(m -> {
                    try {
                        return "UP".equals(confirmed(db).get(m));
                    } catch (Exception e) {
                        return false;
                    }
                }), "six monitors UP again");
                Await.untilNoThrow(Duration.ofSeconds(60), () -> db.queryLong("SELECT count(*) FROM "
                    + "notification_outbox WHERE state <> 'sent'") == 0, "every notification sent");

                final Map<String, List<String>> all = transitions(db);
                final Map<String, List<String>> logged = outbox(db, "log");
                final Map<String, List<String>> hooked = outbox(db, "hook");
                for (int i = 0; i < MONITORS; i++) {
                    final String m = name(i);
                    final boolean forced = failing.contains(m);
                    assertEquals(forced ? List.of("->UP", "UP>DOWN", "DOWN>UP") : List.of("->UP"), all.get(m),
                        "transitions of " + m);
                    assertEquals(forced ? List.of("monitor.down", "monitor.up") : null,
                        logged.get(m), "notifications of " + m + " (log channel)");
                    assertEquals(forced ? List.of("monitor.down", "monitor.up") : null, hooked.get(m),
                        "notifications of " + m + " (webhook channel, created after the first results)");
                }
                final Map<String, List<String>> received = new TreeMap<>();
                for (FakeReceiver.Received r : hook.received("/hook")) {
                    final JsonNode n = JSON.readTree(r.body());
                    received.computeIfAbsent(n.get("subject").get("id").asText(), k -> new ArrayList<>())
                        .add(n.get("type").asText());
                }
                assertEquals(new TreeSet<>(failing), received.keySet());
                received.values().forEach(types -> assertEquals(List.of("monitor.down", "monitor.up"), types));
                System.out.printf("forced change on %s (two leased by the collector that left mid-streak): one "
                    + "transition and one notification per change%n", failing);
            } finally {
                for (CollectorHarness h : collectors) {
                    h.close();
                }
            }
        }
    }
}
