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
 * Three collectors as real processes (the shaded jar) on one database share 30 monitors at 2 s; one is killed with
 * {@code kill -9}. Its monitors are checked again by the two others within the stated bound
 * {@code ttl + ttl/4 + interval} (here 3 s + 0.75 s + 2 s = 5.75 s after the kill): measured and printed, and
 * asserted only as the deadline of a poll, which is given twice the bound because the machine is shared. A fourth
 * process then joins and gets its share. Over the whole run after the first settling, no monitor is hit twice in
 * one interval (the kill, the take-over and the join included), and a forced change afterwards is one transition
 * and one notification per change.
 */
class MonitorLeaseFailoverIT {

    private static final Pattern COLLECTOR = Pattern.compile("monitors shared by lease as collector (\\S+) \\(");
    private static final int MONITORS = 30;
    private static final Duration INTERVAL = Duration.ofSeconds(2);
    private static final Duration TTL = Duration.ofSeconds(3);
    private static final Duration BOUND = TTL.plus(TTL.dividedBy(4)).plus(INTERVAL);

    /** A collector process and its log. */
    record Proc(Process process, Path log, String id) {
    }

    /** Starts a collector process ({@code cmd} and its own spool directory) and waits for its lease start line. */
    static Proc start(List<String> cmd, Path dir, int n) throws Exception {
        final Path log = dir.resolve("collector-" + n + ".log");
        final List<String> args = new ArrayList<>(cmd);
        args.addAll(List.of("--spool-dir", dir.resolve("spool-" + n).toString()));
        final Process p = new ProcessBuilder(args).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        Await.untilNoThrow(Duration.ofSeconds(120), () -> COLLECTOR.matcher(Files.readString(log)).find()
            || !p.isAlive(), "collector " + n + " to start; log in " + log);
        final Matcher m = COLLECTOR.matcher(Files.readString(log));
        assertTrue(m.find(), "collector " + n + " did not start: " + Files.readString(log));
        return new Proc(p, log, m.group(1));
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

    private Map<String, List<Long>> hits(TargetServer target) {
        final Map<String, List<Long>> hits = new HashMap<>();
        for (int i = 0; i < MONITORS; i++) {
            hits.put(name(i), target.hits(path(name(i))));
        }
        return hits;
    }

    @Test
    void killNineMovesACollectorsMonitorsToTheOthersAndNoMonitorIsCheckedTwiceInAnInterval(@TempDir Path dir)
        throws Exception {
        final String jar = System.getProperty("spillway.collector.jar", "target/spillway-collector.jar");
        assertTrue(Files.exists(Path.of(jar)), "shaded jar missing: " + jar);
        try (TestDatabase db = TestDatabase.create("monitor_failover"); TargetServer target = TargetServer.http()) {
            final Path file = monitorsFile(dir, target, MONITORS, INTERVAL, 1);
            final List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "-jar", jar, "--jdbc-url", db.jdbcUrl(), "--db-user", db.user(), "--db-password",
                db.password(), "--http", "127.0.0.1:0", "--flush-interval", "20ms", "--monitors", file.toString(),
                "--monitor-lease-ttl", TTL.toSeconds() + "s");
            final List<Proc> procs = new ArrayList<>();
            try {
                for (int i = 0; i < 3; i++) {
                    procs.add(start(cmd, dir, i));
                }
                awaitSettled(db, procs);
                final HitWindows windows = new HitWindows();
                final long from = windows.now() + INTERVAL.toNanos();
                Await.until(Duration.ofSeconds(60), () -> windows.now() > from + 4 * INTERVAL.toNanos(),
                    "a few intervals of steady checks");

                final Proc victim = procs.remove(1);
                final List<String> moved = leases(db).get(victim.id());
                final long killedAt = System.nanoTime();
                victim.process().destroyForcibly(); // SIGKILL: no shutdown hook, its leases stay until they expire
                assertTrue(victim.process().waitFor(30, TimeUnit.SECONDS), "killed");
                final long deadAt = System.nanoTime();
                final Map<String, Long> resumed = new TreeMap<>();
                Await.until(BOUND.multipliedBy(2), () -> {
                    for (String m : moved) {
                        target.hits(path(m)).stream().filter(t -> t > deadAt).findFirst()
                            .ifPresent(t -> resumed.putIfAbsent(m, t - killedAt));
                    }
                    return resumed.size() == moved.size();
                }, "the killed collector's " + moved.size() + " monitors checked by the others (stated bound "
                    + BOUND.toMillis() + " ms; this poll allows twice that)");
                final long worst = resumed.values().stream().mapToLong(Long::longValue).max().orElseThrow();
                final long best = resumed.values().stream().mapToLong(Long::longValue).min().orElseThrow();
                System.out.printf("kill -9 failover: %d monitors resumed on the other collectors %d..%d ms after "
                    + "the kill (stated bound %d ms = TTL %d ms + TTL/4 + interval %d ms)%n", moved.size(),
                    TimeUnit.NANOSECONDS.toMillis(best), TimeUnit.NANOSECONDS.toMillis(worst), BOUND.toMillis(),
                    TTL.toMillis(), INTERVAL.toMillis());
                awaitSettled(db, procs);

                // A replacement joins: the two release their surplus, it claims it.
                procs.add(start(cmd, dir, 3));
                awaitSettled(db, procs);
                final long to = windows.now();
                final HitWindows.Count all = windows.count(hits(target), INTERVAL, from, to);
                final Map<String, List<Long>> unaffected = hits(target);
                unaffected.keySet().removeAll(moved);
                final HitWindows.Count steady = windows.count(unaffected, INTERVAL, from, to);
                System.out.printf("kill -9 and a join, %d monitors at %s over %d s: all monitors %s; the %d not "
                    + "on the killed collector: %s%n", MONITORS, INTERVAL, TimeUnit.NANOSECONDS.toSeconds(to - from),
                    all, unaffected.size(), steady);
                assertEquals(0, all.doubled(), "no monitor checked twice in one interval: " + all);
                // Liveness, not timing: how many windows a loaded machine misses depends on its load (a lease round
                // or a check late by a whole interval; 51 of 442 at load average ~20 once), so the share is printed,
                // and what is asserted is that no monitor went unchecked for longer than the stated failover bound
                // (the join moves some of them too). Two checks in one window stay a failure at any load.
                final long gapBound = (BOUND.toNanos() + INTERVAL.toNanos() - 1) / INTERVAL.toNanos();
                assertTrue(steady.longestGap() <= gapBound, "monitors not on the killed collector: none unchecked "
                    + "for more than " + gapBound + " windows in a row (the failover bound " + BOUND.toMillis()
                    + " ms): " + steady);

                // A forced change, one monitor per collector: one transition and one notification each.
                final Map<String, List<String>> now = leases(db);
                final List<String> failing = new ArrayList<>();
                for (Proc p : procs) {
                    failing.add(now.get(p.id()).get(0));
                }
                for (String m : failing) {
                    target.on(path(m), TargetServer.Behaviour.status(500));
                }
                Await.untilNoThrow(Duration.ofSeconds(60), () -> failing.stream().allMatch(m -> {
                    try {
                        return "DOWN".equals(confirmed(db).get(m));
                    } catch (Exception e) {
                        return false;
                    }
                }), "forced DOWN");
                for (String m : failing) {
                    target.on(path(m), TargetServer.Behaviour.ok("ok"));
                }
                Await.untilNoThrow(Duration.ofSeconds(60), () -> failing.stream().allMatch(m -> {
                    try {
                        return "UP".equals(confirmed(db).get(m));
                    } catch (Exception e) {
                        return false;
                    }
                }), "UP again");
                Await.untilNoThrow(Duration.ofSeconds(60), () -> db.queryLong("SELECT count(*) FROM "
                    + "notification_outbox WHERE state <> 'sent'") == 0, "every notification sent");
                final Map<String, List<String>> recorded = transitions(db);
                final Map<String, List<String>> logged = outbox(db, "log");
                for (int i = 0; i < MONITORS; i++) {
                    final String m = name(i);
                    final boolean forced = failing.contains(m);
                    assertEquals(forced ? List.of("->UP", "UP>DOWN", "DOWN>UP") : List.of("->UP"), recorded.get(m),
                        "transitions of " + m);
                    assertEquals(forced ? List.of("monitor.down", "monitor.up") : null,
                        logged.get(m), "notifications of " + m);
                }
            } finally {
                for (Proc p : procs) {
                    p.process().destroy();
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
