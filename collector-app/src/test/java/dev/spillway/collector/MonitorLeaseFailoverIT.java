package dev.spillway.collector;

import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.TargetServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.spillway.collector.MonitorLeasesEndToEndTest.confirmed;
import static dev.spillway.collector.MonitorLeasesEndToEndTest.monitorsFile;
import static dev.spillway.collector.MonitorLeasesEndToEndTest.name;
import static dev.spillway.collector.MonitorLeasesEndToEndTest.outbox;
import static dev.spillway.collector.MonitorLeasesEndToEndTest.path;
import static dev.spillway.collector.MonitorLeasesEndToEndTest.transitions;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The issue's goal with real processes: three collectors (the shaded jar) on one database share 200 monitors at 2 s
 * against local targets (lease TTL 3 s): 160 HTTP monitors on the blocking probe path and 40 {@code tcp://} monitors on
 * the non-blocking one (one selector, results completed from its thread), each {@code tcp://} monitor against its own
 * listener that counts accepted connections ({@link TcpTargets}).
 * <ol>
 *   <li><b>Steady state</b>, 60 s after the leases settle: each target hit once per interval (total hits within 5 %
 *       of 200 x 30, no window with two hits), and, inside that minute, a forced change on one monitor per
 *       collector gives one transition and one notification per change.</li>
 *   <li><b>kill -9</b> of one collector: each of its monitors is checked again by the others within two intervals
 *       (asserted by counting windows, per monitor from the kill to its first hit elsewhere: never more than two
 *       windows in a row without a hit; the time from the kill to each monitor's first hit elsewhere is printed,
 *       min/median/max). Windows missed later (a starved machine) are printed, not asserted. Its liveness lock goes with its process,
 *       so the others take its leases within a liveness check and a round, long before the TTL.</li>
 *   <li>A fourth collector joins and gets its share. Over the whole run after the first settling (kill and join
 *       included) no monitor is checked twice in one interval.</li>
 * </ol>
 * "Checked twice in one interval" is counted on the collectors' check start times (the result points in the
 * database), the target's hits are counted and printed too: the target lives in this JVM, and when it stalls (seen
 * once at load average 27: 44 windows at one instant, on monitors of every collector, each an empty window followed
 * by two hits about a second apart) a probe that timed out meanwhile and the next tick's probe, started an interval
 * apart, both arrive in one window.
 */
class MonitorLeaseFailoverIT {

    private static final Pattern COLLECTOR = Pattern.compile("monitors shared by lease as collector (\\S+) \\(");
    private static final int MONITORS = 200;
    /** The last this many monitors are {@code tcp://} checks (the asynchronous probe path). */
    private static final int TCP_MONITORS = 40;
    private static final Duration INTERVAL = Duration.ofSeconds(2);
    private static final Duration TTL = Duration.ofSeconds(3);
    private static final Duration STEADY = Duration.ofSeconds(60);
    /** The failover goal: a killed collector's monitors checked again within two intervals. */
    private static final int GOAL_WINDOWS = 2;

    /** A collector process and its log. */
    record Proc(Process process, Path log, String id) {
    }

    /** Starts a collector process ({@code cmd} and its own spool directory); {@link #started} waits for it. */
    static Process launch(List<String> cmd, Path dir, int n) throws Exception {
        final Path log = dir.resolve("collector-" + n + ".log");
        final List<String> args = new ArrayList<>(cmd);
        args.addAll(List.of("--spool-dir", dir.resolve("spool-" + n).toString()));
        return new ProcessBuilder(args).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    /** Waits for a launched process's lease start line. */
    static Proc started(Process p, Path dir, int n) throws Exception {
        final Path log = dir.resolve("collector-" + n + ".log");
        Await.untilNoThrow(Duration.ofSeconds(120), () -> COLLECTOR.matcher(Files.readString(log)).find()
            || !p.isAlive(), "collector " + n + " to start; log in " + log);
        final Matcher m = COLLECTOR.matcher(Files.readString(log));
        assertTrue(m.find(), "collector " + n + " did not start: " + Files.readString(log));
        return new Proc(p, log, m.group(1));
    }

    /** Starts a collector process and waits for its lease start line. */
    static Proc start(List<String> cmd, Path dir, int n) throws Exception {
        return started(launch(cmd, dir, n), dir, n);
    }

    /** Live leases by holder, from the database. */
    private static Map<String, List<String>> leases(TestDatabase db) throws Exception {
        final Map<String, List<String>> out = new TreeMap<>();
        try (Connection c = db.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT holder, monitor FROM monitor_leases WHERE holder IS NOT NULL "
                 + "AND expires_at > now() ORDER BY monitor")) {
            while (rs.next()) {
                out.computeIfAbsent(rs.getString(1), k -> new ArrayList<>()).add(rs.getString(2));
            }
        }
        return out;
    }

    /** Every monitor leased, by exactly the given collectors, a fair share each (one apart at most). */
    private static void awaitSettled(TestDatabase db, List<Proc> procs) {
        Await.untilNoThrow(Duration.ofSeconds(120), () -> {
            final Map<String, List<String>> l = leases(db);
            int sum = 0;
            for (Proc p : procs) {
                final List<String> held = l.get(p.id());
                if (held == null || Math.abs(held.size() - MONITORS / procs.size()) > 1) {
                    return false;
                }
                sum += held.size();
            }
            return l.size() == procs.size() && sum == MONITORS;
        }, "leases settle over " + procs.size() + " processes");
    }

    private static boolean isTcp(String monitor) {
        return Integer.parseInt(monitor.substring(1)) >= MONITORS - TCP_MONITORS;
    }

    private static List<String> tcpMonitors() {
        return all().stream().filter(MonitorLeaseFailoverIT::isTcp).toList();
    }

    /** Arrival times of {@code monitor}'s checks at its target (an HTTP path or its own TCP listener). */
    private static List<Long> hitsOf(TargetServer target, TcpTargets tcp, String monitor) {
        return isTcp(monitor) ? tcp.hits(monitor) : target.hits(path(monitor));
    }

    private static Map<String, List<Long>> hits(TargetServer target, TcpTargets tcp, Collection<String> monitors) {
        final Map<String, List<Long>> hits = new HashMap<>();
        for (String m : monitors) {
            hits.put(m, hitsOf(target, tcp, m));
        }
        return hits;
    }

    /**
     * The checks as the collectors started them: the start time of each result point (field {@code up}) in the
     * database, by monitor, as this JVM's nanoTime for {@link HitWindows}. Unlike the target's arrival times these
     * do not move when this JVM (the target) stalls.
     */
    private static Map<String, List<Long>> checks(TestDatabase db, HitWindows windows) throws Exception {
        final Map<String, List<Long>> out = new HashMap<>();
        try (Connection c = db.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT tags->>'monitor', time FROM telemetry WHERE measurement = "
                 + "'monitor' AND field = 'up' ORDER BY time")) {
            while (rs.next()) {
                final java.time.Instant t = rs.getTimestamp(2).toInstant();
                out.computeIfAbsent(rs.getString(1), k -> new ArrayList<>())
                    .add(windows.nanoOf(HitWindows.epochNanos(t)));
            }
        }
        for (String m : all()) {
            out.putIfAbsent(m, new ArrayList<>());
        }
        return out;
    }

    /** Waits until every result started before {@code epochNanos} is in the database (one started after it is). */
    private static void awaitChecksUntil(TestDatabase db, long epochNanos) {
        final java.sql.Timestamp t = java.sql.Timestamp.from(java.time.Instant.ofEpochSecond(0, epochNanos));
        Await.untilNoThrow(Duration.ofSeconds(60), () -> db.queryLong("SELECT count(*) FROM telemetry WHERE "
            + "measurement = 'monitor' AND field = 'up' AND time > '" + t + "'") >= MONITORS,
            "the results up to " + t + " written");
    }

    private static List<String> all() {
        final List<String> out = new ArrayList<>();
        for (int i = 0; i < MONITORS; i++) {
            out.add(name(i));
        }
        return out;
    }

    private static void awaitConfirmed(TestDatabase db, List<String> monitors, String state) {
        Await.untilNoThrow(Duration.ofSeconds(60), () -> {
            final Map<String, String> c = confirmed(db);
            return monitors.stream().allMatch(m -> state.equals(c.get(m)));
        }, monitors + " confirmed " + state);
    }

    @Test
    void threeProcessesCheckEachMonitorOncePerIntervalAndAKilledOnesMonitorsResumeWithinTwoIntervals(
        @TempDir Path dir) throws Exception {
        final String jar = System.getProperty("spillway.collector.jar", "target/spillway-collector.jar");
        assertTrue(Files.exists(Path.of(jar)), "shaded jar missing: " + jar);
        try (TestDatabase db = TestDatabase.create("monitor_failover"); TargetServer target = TargetServer.http();
             TcpTargets tcp = new TcpTargets(tcpMonitors())) {
            // The product's default failure threshold (3) and a timeout of 1.5 s: on a starved machine one check of
            // a loopback target can take over a second (hits up to 2 s late were seen at load average 19), and
            // with a threshold of 1 that one slow answer was a real DOWN transition no change had asked for.
            final Path file = monitorsFile(dir, target, MONITORS - TCP_MONITORS, INTERVAL, Duration.ofMillis(1500), 3);
            final StringBuilder tcpYaml = new StringBuilder();
            for (String m : tcpMonitors()) {
                tcpYaml.append("  - name: ").append(m).append("\n    url: ").append(tcp.url(m))
                    .append("\n    interval: ").append(INTERVAL.toMillis()).append("ms\n    timeout: 1500ms\n")
                    .append("    failure_threshold: 3\n");
            }
            Files.writeString(file, tcpYaml, java.nio.file.StandardOpenOption.APPEND);
            final List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "-jar", jar, "--jdbc-url", db.jdbcUrl(), "--db-user", db.user(), "--db-password",
                db.password(), "--http", "127.0.0.1:0", "--flush-interval", "20ms", "--monitors", file.toString(),
                "--monitor-lease-ttl", TTL.toSeconds() + "s");
            final List<Proc> procs = new ArrayList<>();
            final List<Process> launched = new ArrayList<>();
            try {
                for (int i = 0; i < 3; i++) {
                    launched.add(launch(cmd, dir, i));
                }
                for (int i = 0; i < 3; i++) {
                    procs.add(started(launched.get(i), dir, i));
                }
                awaitSettled(db, procs);
                awaitConfirmed(db, all(), "UP"); // every monitor's first result, before any is forced down
                final HitWindows windows = new HitWindows();

                // 1. Steady state, with a forced change inside it (a failing check is still one hit).
                final long from = windows.now() + INTERVAL.toNanos();
                final long to = from + STEADY.toNanos();
                final Map<String, List<String>> settled = leases(db);
                final List<String> failing = new ArrayList<>();
                for (Proc p : procs) {
                    // an HTTP one: its target can be told to fail
                    failing.add(settled.get(p.id()).stream().filter(m -> !isTcp(m)).findFirst().orElseThrow());
                }
                Await.until(Duration.ofSeconds(30), () -> windows.now() > from, "the steady minute starts");
                for (String m : failing) {
                    target.on(path(m), TargetServer.Behaviour.status(500));
                }
                awaitConfirmed(db, failing, "DOWN");
                for (String m : failing) {
                    target.on(path(m), TargetServer.Behaviour.ok("ok"));
                }
                awaitConfirmed(db, failing, "UP");
                Await.until(STEADY.plusSeconds(60), () -> windows.now() > to + INTERVAL.toNanos(),
                    "the steady minute passes");
                final Map<String, List<Long>> steadyHits = hits(target, tcp, all());
                long total = 0;
                for (List<Long> h : steadyHits.values()) {
                    total += h.stream().map(windows::epochOf).filter(t -> t >= from && t < to).count();
                }
                final HitWindows.Count steady = windows.count(steadyHits, INTERVAL, from, to);
                awaitChecksUntil(db, to + INTERVAL.toNanos());
                final HitWindows.Count steadyChecks = windows.count(checks(db, windows), INTERVAL, from, to);
                final long expected = MONITORS * (STEADY.toNanos() / INTERVAL.toNanos());
                System.out.printf("3 processes, %d monitors at %s, steady %d s: %d hits (expected %d, %+.2f %%); "
                    + "target's hits: %s; collectors' check starts: %s; forced change on %s%n", MONITORS, INTERVAL,
                    STEADY.toSeconds(), total, expected, 100.0 * (total - expected) / expected, steady, steadyChecks,
                    failing);
                final Map<String, List<Long>> tcpChecks = new HashMap<>(checks(db, windows));
                tcpChecks.keySet().retainAll(tcpMonitors());
                System.out.printf("of them the %d tcp:// monitors (non-blocking path), check starts: %s%n",
                    TCP_MONITORS, windows.count(tcpChecks, INTERVAL, from, to));
                assertEquals(0, steadyChecks.doubled(), "no monitor checked twice in one interval: " + steadyChecks);
                assertTrue(Math.abs(total - expected) * 20 <= expected, "total hits within 5 % of " + expected
                    + ": " + total);

                // 2. kill -9 of one collector.
                final Proc victim = procs.remove(1);
                final List<String> moved = leases(db).get(victim.id());
                System.out.printf("killing collector %s: %d monitors, %d of them tcp://%n", victim.id(), moved.size(),
                    moved.stream().filter(MonitorLeaseFailoverIT::isTcp).count());
                final long killFrom = windows.now();
                final long killedAt = System.nanoTime();
                victim.process().destroyForcibly(); // SIGKILL: no shutdown hook, no release
                assertTrue(victim.process().waitFor(30, TimeUnit.SECONDS), "killed");
                final long deadAt = System.nanoTime();
                final Map<String, Long> resumed = new TreeMap<>();
                final Map<String, Long> resumedAt = new TreeMap<>();
                Await.until(Duration.ofSeconds(60), () -> {
                    for (String m : moved) {
                        hitsOf(target, tcp, m).stream().filter(t -> t > deadAt).findFirst().ifPresent(t -> {
                            resumed.putIfAbsent(m, t - killedAt);
                            resumedAt.putIfAbsent(m, t);
                        });
                    }
                    return resumed.size() == moved.size();
                }, "the killed collector's " + moved.size() + " monitors checked by the others");
                // The failover in windows: per monitor, from the kill to the end of the window of its first hit
                // elsewhere; at most two windows in a row without a hit is "checked again within two intervals".
                int failoverGap = 0;
                int failoverMissing = 0;
                for (String m : moved) {
                    final HitWindows.Count c = windows.count(Map.of(m, hitsOf(target, tcp, m)), INTERVAL, killFrom,
                        windows.epochOf(resumedAt.get(m)) + INTERVAL.toNanos());
                    failoverGap = Math.max(failoverGap, c.longestGap());
                    failoverMissing += c.missing();
                }
                final List<Long> ms = resumed.values().stream().map(TimeUnit.NANOSECONDS::toMillis).sorted().toList();
                System.out.printf("kill -9 failover: %d monitors resumed on the other collectors %d / %d / %d ms "
                    + "(min / median / max) after the kill (interval %d ms, goal 2 intervals = %d ms); windows from "
                    + "the kill to each one's first hit elsewhere: %d without a hit, at most %d in a row%n",
                    moved.size(), ms.get(0), ms.get(ms.size() / 2), ms.get(ms.size() - 1), INTERVAL.toMillis(),
                    2 * INTERVAL.toMillis(), failoverMissing, failoverGap);
                assertTrue(failoverGap <= GOAL_WINDOWS, "each of the killed collector's monitors checked again within "
                    + GOAL_WINDOWS + " intervals: at most " + GOAL_WINDOWS + " windows in a row without a hit, were "
                    + failoverGap);
                awaitSettled(db, procs);

                // 3. A replacement joins: the two release their surplus, it claims it.
                procs.add(start(cmd, dir, 3));
                awaitSettled(db, procs);
                final long settledAt = windows.now();
                Await.until(Duration.ofSeconds(60), () -> windows.now() > settledAt + 4 * INTERVAL.toNanos(),
                    "a few intervals after the rebalance settled");
                final long end = windows.now();
                awaitChecksUntil(db, end);
                final Map<String, List<Long>> started = checks(db, windows);
                final HitWindows.Count failover = windows.count(hits(target, tcp, moved), INTERVAL, killFrom, end);
                final HitWindows.Count wholeHits = windows.count(hits(target, tcp, all()), INTERVAL, from, end);
                final HitWindows.Count whole = windows.count(started, INTERVAL, from, end);
                final HitWindows.Count after = windows.count(started, INTERVAL, settledAt, end);
                System.out.printf("the %d moved monitors from the kill to the end (join included), target's hits: "
                    + "%s%nall %d monitors over the whole run (%d s), target's hits: %s%ncollectors' check starts: "
                    + "%s%nafter the rebalance settled, check starts: %s%n", moved.size(), failover, MONITORS,
                    TimeUnit.NANOSECONDS.toSeconds(end - from), wholeHits, whole, after);
                assertEquals(0, whole.doubled(), "no monitor checked twice in one interval, kill and join "
                    + "included: " + whole);
                // Windows without a hit are printed, not asserted: how many a starved machine misses is a figure of its
                // load (a check late by a whole interval), while two hits in one window are a failure at any load.
                assertEquals(0, after.doubled(), "after the rebalance settled: " + after);

                // The forced change: one transition and one notification per change; nothing else moved.
                Await.untilNoThrow(Duration.ofSeconds(60), () -> db.queryLong("SELECT count(*) FROM "
                    + "notification_outbox WHERE state <> 'sent'") == 0, "every notification sent");
                final Map<String, List<String>> recorded = transitions(db);
                final Map<String, List<String>> logged = outbox(db, "log");
                for (String m : all()) {
                    final boolean forced = failing.contains(m);
                    assertEquals(forced ? List.of("->UP", "UP>DOWN", "DOWN>UP") : List.of("->UP"), recorded.get(m),
                        "transitions of " + m);
                    assertEquals(forced ? List.of("monitor.down", "monitor.up") : null,
                        logged.get(m), "notifications of " + m);
                }
            } finally {
                for (Process p : launched) {
                    p.destroy();
                }
                for (Proc p : procs) {
                    p.process().destroy();
                }
                for (Process p : launched) {
                    if (!p.waitFor(60, TimeUnit.SECONDS)) {
                        p.destroyForcibly();
                    }
                }
                for (Proc p : procs) {
                    if (!p.process().waitFor(60, TimeUnit.SECONDS)) {
                        p.process().destroyForcibly();
                    }
                }
            }
        }
    }
}
