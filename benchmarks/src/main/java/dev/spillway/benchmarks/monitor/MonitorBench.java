package dev.spillway.benchmarks.monitor;

import dev.spillway.collector.Collector;
import dev.spillway.collector.config.CollectorOptions;
import dev.spillway.uptime.monitor.MonitorStatus;

import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Issue #10's monitor benchmark (a harness, not a test): N monitors at a fixed interval against a local target
 * answering in ~50 ms, with the collector's default probe concurrency (500), on the embedded PostgreSQL.
 *
 * <p>Per scenario: the monitors are written to the {@code monitors} table with SQL, a collector starts and loads
 * them (first checks spread over one interval), a warm-up lasts until every result series exists plus one
 * interval, then a measurement window of {@code --windows} intervals reports checks/s sustained (vs the
 * demanded N/interval), lateness p50/p99/max from due time to check start, queue wait included (Micrometer
 * timers: a rotating window of the last ~2 minutes), overall and per lane (healthy, slow), skipped ticks, heap
 * used after a full GC (and per monitor: minus the heap before the collector started), live threads, the
 * JVM's resident set, and the collector's CPU per 1,000 checks (this JVM's CPU minus the target's threads; the
 * PostgreSQL server's processes are not included).
 *
 * <pre>
 * java -Xmx2g -cp benchmarks/target/benchmarks.jar dev.spillway.benchmarks.monitor.MonitorBench \
 *     [--scenarios 1000@60s,10000@60s,10000@30s,50000@60s] [--latency-ms 50] [--windows 2] [--out DIR]
 * </pre>
 */
public final class MonitorBench {

    private MonitorBench() {
    }

    /** {@code N@Ts}, or {@code N@Ts/Hhang}: H of the N monitors check a port that never answers (timeout 5 s). */
    record Scenario(int monitors, int intervalSeconds, int hanging) {
        static Scenario parse(String s) {
            final String[] h = s.split("/");
            final String[] p = h[0].split("@");
            return new Scenario(Integer.parseInt(p[0]), Integer.parseInt(p[1].replace("s", "")),
                h.length > 1 ? Integer.parseInt(h[1].replace("hang", "")) : 0);
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%,d @ %d s", monitors, intervalSeconds)
                + (hanging > 0 ? String.format(Locale.ROOT, " (%,d never answer)", hanging) : "");
        }
    }

    record Result(Scenario scenario, double warmupSeconds, double demandedPerSecond, double checksPerSecond,
                  double p50, double p99, double max, long skipped, long failures, double heapMiB,
                  double cpuMsPer1000, int maxInFlight, double queueWaitP99, double intervalP99Ms,
                  double intervalMaxMs, double healthyP50, double healthyP99, double healthyMax, double slowP50,
                  double slowP99, double slowMax, double baselineHeapMiB, int threads, double rssMiB,
                  EmptyCheckLoop.Result empty, long shortGaps, double served) {

        /** Heap after GC over the heap after GC before the collector started, per monitor (KiB). */
        double kibPerMonitor() {
            return (heapMiB - baselineHeapMiB) * 1024 / scenario.monitors;
        }
    }

    public static void main(String[] args) throws Exception {
        String scenarios = "1000@60s,10000@60s,10000@30s,50000@60s";
        long latency = 50;
        double windows = 2;
        Path out = Path.of("benchmarks/results");
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--scenarios" -> scenarios = args[++i];
                case "--latency-ms" -> latency = Long.parseLong(args[++i]);
                case "--windows" -> windows = Double.parseDouble(args[++i]);
                case "--out" -> out = Path.of(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        final List<Result> results = new ArrayList<>();
        try (LatencyTarget target = new LatencyTarget(latency)) {
            for (String s : scenarios.split(",")) {
                final Scenario sc = Scenario.parse(s.trim());
                // The same run's floor: as many empty checks on the same kind of timer and pool, same window.
                log("%s: baseline, an empty check loop at the same rate", sc);
                final EmptyCheckLoop.Result empty = EmptyCheckLoop.run(sc.monitors, sc.intervalSeconds,
                    (int) Math.round(windows * sc.intervalSeconds));
                log("%s: empty check loop %.1f checks/s, lateness p50 %.2f ms p99 %.2f ms max %.2f ms", sc,
                    empty.checksPerSecond(), empty.p50Ms(), empty.p99Ms(), empty.maxMs());
                final Result r = run(sc, target, windows, empty);
                results.add(r);
                log("%s: %.0f checks/s of %.0f demanded, lateness p50 %.1f ms p99 %.1f ms max %.1f ms (healthy lane "
                        + "p99 %.1f max %.1f, slow lane p99 %.1f max %.1f), skipped %d, heap %.0f MiB (%.0f before start, "
                        + "%.2f KiB per monitor), %d threads, RSS %.0f MiB, CPU %.0f ms per 1,000 checks, healthy "
                        + "interval p99 %.0f ms max %.0f ms, target hits %.1f/s, %d hits less than half an interval "
                        + "after the monitor's previous",
                    r.scenario, r.checksPerSecond, r.demandedPerSecond, r.p50, r.p99, r.max, r.healthyP99, r.healthyMax,
                    r.slowP99, r.slowMax, r.skipped, r.heapMiB, r.baselineHeapMiB, r.kibPerMonitor(), r.threads,
                    r.rssMiB, r.cpuMsPer1000, r.intervalP99Ms, r.intervalMaxMs, r.served, r.shortGaps);
            }
        }
        Files.createDirectories(out);
        Files.writeString(out.resolve("monitors.md"), report(results, latency, windows));
        log("wrote %s", out.resolve("monitors.md"));
    }

    private static Result run(Scenario sc, LatencyTarget target, double windows, EmptyCheckLoop.Result empty)
            throws Exception {
        final Path dataDir = Files.createTempDirectory("spillway-monitor-bench");
        final String[] args = {"--data-dir", dataDir.toString(), "--db-port", "0", "--http", "127.0.0.1:0",
            "--max-series", "1000000", "--monitor-reload-interval", "1d"};
        log("%s: creating %,d monitors", sc, sc.monitors);
        // A port that never answers: bound, listening with a backlog of 1, never accepting; connects hang.
        final java.net.ServerSocket silent = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress());
        try (Collector first = Collector.start(config(args))) {
            try (Connection c = connect(first);
                 PreparedStatement ps = c.prepareStatement("INSERT INTO monitors (name, url, interval_ms, timeout_ms) "
                     + "SELECT ? || i, ? || i, ?, ? FROM generate_series(1, ?) i")) {
                ps.setString(1, "m");
                ps.setString(2, "http://127.0.0.1:" + target.port() + "/m/");
                ps.setLong(3, sc.intervalSeconds * 1000L);
                ps.setLong(4, Math.min(10_000, sc.intervalSeconds * 800L));
                ps.setInt(5, sc.monitors - sc.hanging);
                ps.executeUpdate();
                if (sc.hanging > 0) {
                    ps.setString(1, "hang");
                    ps.setString(2, "http://127.0.0.1:" + silent.getLocalPort() + "/h/");
                    ps.setLong(4, 5_000);
                    ps.setInt(5, sc.hanging);
                    ps.executeUpdate();
                }
            }
        }
        final double baselineHeap = heapAfterGcMiB();
        final long start = System.nanoTime();
        try (silent; Collector c = Collector.start(config(args))) {
            // Warm-up: every monitor's result series exist (new series are created in the database on the first
            // check), then one more interval so the lateness window holds steady-state ticks only.
            // With hanging monitors (whose failed checks write fewer fields): two intervals.
            final long expectedSeries = (sc.monitors - sc.hanging) * 6L; // up, duration_ms, status_code, dns_ms, connect_ms, ttfb_ms
            long lastLog = 0;
            final long warmupCap = System.nanoTime() + TimeUnit.SECONDS.toNanos(
                sc.hanging > 0 ? sc.intervalSeconds : 600L + sc.intervalSeconds);
            while (seriesCount(c) < expectedSeries && System.nanoTime() < warmupCap) {
                if (System.nanoTime() - lastLog > TimeUnit.SECONDS.toNanos(15)) {
                    log("%s: warm-up, %,d of %,d series", sc, seriesCount(c), expectedSeries);
                    lastLog = System.nanoTime();
                }
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(500));
            }
            // Hanging monitors' first checks run in the healthy lane (nothing is known of them yet); one more
            // interval so the window holds the steady state, where they are in the slow lane.
            pause(sc.intervalSeconds * 1000L * (sc.hanging > 0 ? 2 : 1));
            final double warmup = (System.nanoTime() - start) / 1e9;
            final MonitorStatus before = c.uptime().monitors().status();
            final long cpuBefore = cpuNanos();
            final long t0 = System.nanoTime();
            log("%s: warm-up done after %.0f s; measuring %.1f intervals", sc, warmup, windows);
            target.recordIntervals();
            final long servedBefore = target.served();
            pause((long) (windows * sc.intervalSeconds * 1000));
            final long[] gaps = target.intervals();
            final long served = target.served() - servedBefore;
            // A monitor hit twice within half its interval: a doubled check the interval p99 would not show.
            final long halfInterval = TimeUnit.SECONDS.toNanos(sc.intervalSeconds) / 2;
            long shortGaps = 0;
            for (long g : gaps) {
                if (g < halfInterval) {
                    shortGaps++;
                }
            }
            final double seconds = (System.nanoTime() - t0) / 1e9;
            final MonitorStatus after = c.uptime().monitors().status();
            final long cpu = cpuNanos() - cpuBefore;
            final long executed = after.executed() - before.executed();
            final int threads = ManagementFactory.getThreadMXBean().getThreadCount();
            final double rss = rssMiB();
            final double heap = heapAfterGcMiB();
            return new Result(sc, warmup, (double) sc.monitors / sc.intervalSeconds, executed / seconds,
                after.latenessP50Ms(), after.latenessP99Ms(), after.latenessMaxMs(),
                after.skippedTicks() - before.skippedTicks(), after.failures() - before.failures(), heap,
                executed == 0 ? Double.NaN : cpu / 1e6 / executed * 1000, after.maxInFlight(), after.queueWaitP99Ms(),
                gaps.length == 0 ? Double.NaN : gaps[(int) Math.min(gaps.length - 1, Math.ceil(gaps.length * 0.99) - 1)] / 1e6,
                gaps.length == 0 ? Double.NaN : gaps[gaps.length - 1] / 1e6,
                after.healthyLatenessP50Ms(), after.healthyLatenessP99Ms(), after.healthyLatenessMaxMs(),
                after.slowLatenessP50Ms(), after.slowLatenessP99Ms(), after.slowLatenessMaxMs(), baselineHeap, threads,
                rss, empty, shortGaps, served / seconds);
        } finally {
            deleteTree(dataDir);
        }
    }

    private static double heapAfterGcMiB() {
        System.gc();
        System.gc();
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed() / 1048576.0;
    }

    /** This JVM's resident set (Linux), NaN elsewhere. */
    private static double rssMiB() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
                }
            }
        } catch (java.io.IOException | NumberFormatException e) {
            return Double.NaN;
        }
        return Double.NaN;
    }

    /** The embedded database requires a password: connect as the collector's writer role. */
    private static Connection connect(Collector c) throws java.sql.SQLException {
        final var db = c.embeddedDatabase();
        return DriverManager.getConnection(c.jdbcUrl(), db.user(), db.password());
    }

    private static long seriesCount(Collector c) throws Exception {
        try (Connection conn = connect(c);
             Statement st = conn.createStatement();
             var rs = st.executeQuery("SELECT count(*) FROM telemetry_sources WHERE measurement = 'monitor'")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /** This JVM's CPU minus the target's event loop (the target stands in for remote servers). */
    private static long cpuNanos() {
        final ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        long target = 0;
        for (var info : threads.dumpAllThreads(false, false)) {
            if (info.getThreadName().startsWith("target")) {
                target += Math.max(0, threads.getThreadCpuTime(info.getThreadId()));
            }
        }
        final var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        return os.getProcessCpuTime() - target;
    }

    private static void pause(long millis) {
        final long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        for (long left = end - System.nanoTime(); left > 0; left = end - System.nanoTime()) {
            LockSupport.parkNanos(left);
        }
    }

    private static dev.spillway.collector.config.CollectorConfig config(String[] args) {
        return ((CollectorOptions.Run) CollectorOptions.parse(args, Map.of(),
            new PrintStream(OutputStream.nullOutputStream()))).config();
    }

    private static String report(List<Result> results, long latency, double windows) {
        final StringBuilder sb = new StringBuilder();
        sb.append("# Monitors: scheduling and probing (issue #10)\n\n");
        sb.append(String.format(Locale.ROOT, "- target: local Netty server answering after %d ms, a fresh connection "
            + "per check; probe concurrency 500 (default); embedded PostgreSQL%n", latency));
        sb.append(String.format(Locale.ROOT, "- window: %.1f intervals after warm-up; lateness from the scheduler's "
            + "timer (due time to check start, queue wait included; last ~2 min); healthy interval = time between "
            + "consecutive hits of one monitor at the target; CPU = this JVM minus the target's thread, per 1,000 "
            + "checks; baseline = `EmptyCheckLoop` before the scenario: the same number of timers at the same interval on "
            + "the scheduler's timer wheel, handed to 500 threads that do nothing (the floor under the lateness)%n",
            windows));
        sb.append("- machine: ").append(Runtime.getRuntime().availableProcessors()).append(" cores, JDK ")
            .append(System.getProperty("java.version")).append(", max heap ")
            .append(Runtime.getRuntime().maxMemory() / 1048576).append(" MiB\n\n");
        sb.append("| monitors @ interval | warm-up s | demanded/s | checks/s | lateness p50 ms | p99 ms | max ms "
            + "| healthy lane p50 ms | p99 ms | max ms | slow lane p50 ms | p99 ms | max ms "
            + "| skipped ticks | failed checks | max in flight | queue wait p99 ms | heap after GC MiB | before start MiB "
            + "| KiB per monitor | threads | RSS MiB "
            + "| CPU ms / 1,000 checks | healthy interval p99 ms | max ms "
            + "| baseline: empty check loop checks/s | its lateness p50 ms | p99 ms | max ms "
            + "| target hits/s | hits < half an interval apart |\n");
        sb.append("| --- |" + " ---: |".repeat(30) + "\n");
        for (Result r : results) {
            sb.append(String.format(Locale.ROOT, "| %s | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f "
                    + "| %.1f | %.1f | %.1f | %d | %d | %d | %.1f | %.0f | %.0f | %.2f | %d | %.0f | %.0f | %.0f | %.0f "
                    + "| %.1f | %.2f | %.2f | %.2f | %.1f | %d |%n",
                r.scenario, r.warmupSeconds, r.demandedPerSecond, r.checksPerSecond, r.p50, r.p99, r.max,
                r.healthyP50, r.healthyP99, r.healthyMax, r.slowP50, r.slowP99, r.slowMax, r.skipped, r.failures,
                r.maxInFlight, r.queueWaitP99, r.heapMiB, r.baselineHeapMiB, r.kibPerMonitor(), r.threads, r.rssMiB,
                r.cpuMsPer1000, r.intervalP99Ms, r.intervalMaxMs, r.empty.checksPerSecond(), r.empty.p50Ms(),
                r.empty.p99Ms(), r.empty.maxMs(), r.served, r.shortGaps));
        }
        return sb.toString();
    }

    private static void deleteTree(Path dir) {
        try (var paths = Files.walk(dir)) {
            paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (java.io.IOException e) {
            log("could not delete %s: %s", dir, e);
        }
    }

    private static void log(String format, Object... args) {
        System.out.println("[monitors] " + String.format(Locale.ROOT, format, args));
    }
}
