package dev.spillway.benchmarks.e2e;

import dev.spillway.telemetry.timescale.IndexMode;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Issue #25: line protocol into the collector (each storage layout and index mode asked for), InfluxDB 1.x and
 * VictoriaMetrics, the same bodies from the same load process ({@link LineLoad}, style {@code sensor}: 1,000 series,
 * half 2-decimal and half 17-digit floats, 5,000-line bodies, 4 keep-alive connections), in interleaved rounds: round
 * {@code r} starts with target {@code r mod n}, so drift of the machine hits every target alike. "Committed" means
 * every line readable in the target (the collector: every row committed and counted; VictoriaMetrics: a forced flush
 * and a count query see every line; InfluxDB: acknowledged after its WAL write). Writes {@code ingest-race.md} with
 * every round, the medians, and the machine's load average before each run.
 *
 * <pre>java -cp benchmarks.jar dev.spillway.benchmarks.e2e.IngestRace [--rows N] [--rounds R] [--warmup W]
 *     [--targets default/default,rows/default,rows/brin-time,influxdb,victoriametrics] [--keep-collector] [--out DIR]</pre>
 *
 * {@code --keep-collector}: a collector target's collector keeps running from run to run (warm-ups included) as a
 * deployed collector does, instead of a new one per run; every run still starts on empty tables, with its own
 * timestamps. Without it, each run's start-up code and its once-per-run paths keep the JIT compiling during the
 * timed runs (the threads table's compiler threads), a cost a long-running collector pays once.
 *
 * A collector target is {@code LAYOUT/INDEX-MODE}; layout {@code default} gives no {@code --storage-layout} (the
 * shipped default, auto: blocks on the fresh schema of every run), {@code blocks} or {@code rows} give it.
 * A server that is not installed is skipped with a message; nothing is installed by the harness.
 */
public final class IngestRace {

    private IngestRace() {
    }

    /** One target's runs. */
    private static final class Target {
        final String name;
        final List<LineProtocolE2e.LineRun> runs = new ArrayList<>();
        final List<String> loads = new ArrayList<>();
        /** Collector targets: the JVM's CPU by thread group, per run. */
        final List<List<ThreadCpu.Group>> threads = new ArrayList<>();
        boolean skipped;

        Target(String name) {
            this.name = name;
        }
    }

    public static void main(String[] args) throws Exception {
        final EndToEndBench.Config config = EndToEndBench.Config.full();
        int rounds = 3;
        int warmups = 3;
        String targets = "default/default,rows/default,rows/brin-time,influxdb,victoriametrics";
        boolean keepCollector = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--rows" -> config.rows = Integer.parseInt(args[++i]);
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--warmup" -> warmups = Integer.parseInt(args[++i]);
                case "--targets" -> targets = args[++i];
                case "--keep-collector" -> keepCollector = true;
                case "--out" -> config.out = Path.of(args[++i]);
                default -> {
                    System.err.println("usage: IngestRace [--rows N] [--rounds R] [--warmup W] [--targets "
                        + "default/default,rows/default,rows/brin-time,influxdb,victoriametrics] [--keep-collector] [--out DIR]");
                    System.exit(2);
                }
            }
        }
        Files.createDirectories(config.out);
        final Map<String, Target> byName = new LinkedHashMap<>();
        for (String t : targets.split(",")) {
            byName.put(t.trim(), new Target(t.trim()));
        }
        final List<Target> list = new ArrayList<>(byName.values());
        final String started = java.time.Instant.now().toString();
        final String loadAtStart = loadAverage();
        try (BenchDatabase db = BenchDatabase.open()) {
            final LineProtocolE2e e2e = new LineProtocolE2e(config, db, "sensor");
            e2e.keepCollector(keepCollector);
            // Untimed warm-up of the collector's JIT and the server's caches: the first target that is a collector,
            // `warmups` times. One run is 400 requests: per-request and per-batch code (Netty, the HTTP handlers, the
            // JDBC driver, the sink) is still being compiled by C2 in the timed runs after one (the threads table).
            for (Target t : list) {
                if (!t.name.equals("influxdb") && !t.name.equals("victoriametrics")) {
                    for (int w = 0; w < warmups; w++) {
                        run(e2e, t.name);
                        System.out.println("[race] (the run above was untimed warm-up " + (w + 1) + " of " + warmups + ")");
                    }
                    break;
                }
            }
            for (int r = 0; r < rounds; r++) {
                for (int k = 0; k < list.size(); k++) {
                    final Target t = list.get((r + k) % list.size());
                    if (t.skipped) {
                        continue;
                    }
                    final String load = loadAverage();
                    final LineProtocolE2e.LineRun run = run(e2e, t.name);
                    if (run == null) {
                        t.skipped = true;
                        continue;
                    }
                    t.runs.add(run);
                    t.loads.add(load);
                    if (t.name.contains("/")) {
                        t.threads.add(e2e.lastCollectorThreads);
                    }
                    System.out.printf(Locale.ROOT, "[race] round %d %-20s %,12.0f lines/s committed, server CPU %.2f us/line"
                        + " (+ PostgreSQL %.2f), load before %s%n", r + 1, t.name, run.linesPerSecond(),
                        run.serverCpuSeconds() * 1e6 / run.lines(), pgUs(run), load);
                }
            }
            e2e.stopKeptCollector();
        }
        final String md = report(config, rounds, warmups, list, started, loadAtStart, loadAverage(), keepCollector);
        Files.writeString(config.out.resolve("ingest-race.md"), md);
        System.out.println(md);
        System.exit(0); // HikariCP housekeeping and logback threads are not daemons
    }

    private static LineProtocolE2e.LineRun run(LineProtocolE2e e2e, String target) throws Exception {
        if (target.equals("influxdb")) {
            return e2e.influx();
        }
        if (target.equals("victoriametrics")) {
            return e2e.victoria();
        }
        final String[] parts = target.split("/");
        if (parts.length != 2) {
            throw new IllegalArgumentException("a collector target is LAYOUT/INDEX-MODE, e.g. blocks/default, was "
                + target);
        }
        return e2e.collector(IndexMode.valueOf(parts[1].toUpperCase(Locale.ROOT).replace('-', '_')),
            parts[0].equals("default") ? null : parts[0]);
    }

    private static double pgUs(LineProtocolE2e.LineRun run) {
        return Double.isNaN(run.pgCpuSeconds()) ? 0 : run.pgCpuSeconds() * 1e6 / run.lines();
    }

    static String loadAverage() {
        try {
            final String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split(" ");
            return f[0] + " / " + f[1] + " / " + f[2];
        } catch (java.io.IOException e) {
            return "?";
        }
    }

    static double median(double[] v) {
        final double[] s = v.clone();
        Arrays.sort(s);
        return s.length == 0 ? Double.NaN : s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static String report(EndToEndBench.Config c, int rounds, int warmups, List<Target> targets,
                                 String started, String loadStart, String loadEnd, boolean keepCollector) {
        final StringBuilder sb = new StringBuilder();
        sb.append("# Line protocol ingest race (issue #25)\n\n");
        sb.append(keepCollector ? "Collector: one per target, kept running from run to run (--keep-collector).\n\n"
            : "Collector: a new one per run.\n\n");
        sb.append(String.format(Locale.ROOT, "Started %s; %,d lines per run, %d series, %,d-line bodies, %d connections, "
                + "%d interleaved rounds after %d untimed warm-up runs; load average (1 / 5 / 15 min) %s at the start, %s at the "
                + "end. Machine: %d cores.\n\n",
            started, c.rows, c.sources, c.lineBodyLines, c.loadConnections, rounds, warmups, loadStart, loadEnd,
            Runtime.getRuntime().availableProcessors()));
        Target vm = null;
        Target influx = null;
        for (Target t : targets) {
            if (t.name.equals("victoriametrics") && !t.runs.isEmpty()) {
                vm = t;
            }
            if (t.name.equals("influxdb") && !t.runs.isEmpty()) {
                influx = t;
            }
        }
        final double vmMedian = vm == null ? Double.NaN : median(rates(vm));
        final double influxMedian = influx == null ? Double.NaN : median(rates(influx));
        sb.append("| target | committed lines/s per round | median | x VictoriaMetrics | x InfluxDB "
            + "| server CPU us/line (median) | of which JIT compiler threads | PostgreSQL CPU us/line (median) "
            + "| total server CPU us/line | load before each round |\n");
        sb.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
        for (Target t : targets) {
            if (t.runs.isEmpty()) {
                sb.append("| ").append(t.name).append(" | skipped (not installed) | | | | | | | | |\n");
                continue;
            }
            final double[] rates = rates(t);
            final double med = median(rates);
            final double cpu = median(t.runs.stream().mapToDouble(r -> r.serverCpuSeconds() * 1e6 / r.lines()).toArray());
            final double pg = median(t.runs.stream().mapToDouble(IngestRace::pgUs).toArray());
            final StringBuilder each = new StringBuilder();
            for (double v : rates) {
                each.append(each.length() == 0 ? "" : " / ").append(String.format(Locale.ROOT, "%,.0f", v));
            }
            sb.append("| ").append(label(t)).append(" | ").append(each).append(" | ")
                .append(String.format(Locale.ROOT, "%,.0f", med)).append(" | ")
                .append(Double.isNaN(vmMedian) ? "n/a" : String.format(Locale.ROOT, "%.2fx", med / vmMedian)).append(" | ")
                .append(Double.isNaN(influxMedian) ? "n/a" : String.format(Locale.ROOT, "%.2fx", med / influxMedian))
                .append(" | ").append(String.format(Locale.ROOT, "%.2f", cpu)).append(" | ")
                .append(t.threads.isEmpty() ? "n/a" : String.format(Locale.ROOT, "%.2f", median(t.threads.stream()
                    .mapToDouble(g -> ThreadCpu.jitNanos(g) / 1e3 / c.rows).toArray()))).append(" | ")
                .append(t.name.contains("/") ? String.format(Locale.ROOT, "%.2f", pg) : "n/a").append(" | ")
                .append(String.format(Locale.ROOT, "%.2f", cpu + (t.name.contains("/") ? pg : 0))).append(" | ")
                .append(String.join("; ", t.loads)).append(" |\n");
        }
        sb.append("\nCollector targets are `--storage-layout`/`--index-mode` (`default`: no `--storage-layout`, the shipped "
            + "default `auto`, which creates blocks on the fresh schema of every run); the collector runs in the harness JVM (its "
            + "CPU is the collector's: HTTP, parsing, series lookup, ring, pump, encoding, JDBC, GC and JIT), on the "
            + "harness's PostgreSQL (CPU of the postmaster and its backends). InfluxDB and VictoriaMetrics: CPU of their "
            + "process, storage included. JIT compiler threads: HotSpot's C1/C2 compiler threads in the collector's JVM "
            + "during the timed run (compilation that a long-running collector has finished; see the warm-up count).\n");
        for (Target t : targets) {
            if (!t.threads.isEmpty()) {
                sb.append("\nCollector ").append(t.name).append(": its JVM's CPU by thread group (digits folded to #; "
                    + "/proc/self/task/*/schedstat), ns per line, median over the rounds; kernel share and context "
                    + "switches per run of the median round by total CPU.\n\n");
                sb.append(threadsTable(t.threads, c.rows));
            }
        }
        return sb.toString();
    }

    /** Per thread group: the median of its ns/line over the runs; the other columns from the median run. */
    private static String threadsTable(List<List<ThreadCpu.Group>> runs, long lines) {
        final Map<String, List<Double>> perGroup = new LinkedHashMap<>();
        for (List<ThreadCpu.Group> run : runs) {
            for (ThreadCpu.Group g : run) {
                perGroup.computeIfAbsent(g.name(), k -> new ArrayList<>());
            }
        }
        for (List<ThreadCpu.Group> run : runs) {
            for (Map.Entry<String, List<Double>> e : perGroup.entrySet()) {
                e.getValue().add(run.stream().filter(g -> g.name().equals(e.getKey())).mapToDouble(g -> (double) g.runNanos()
                    / lines).sum());
            }
        }
        final List<ThreadCpu.Group> byTotal = new ArrayList<>();
        final double[] totals = runs.stream().mapToDouble(r -> r.stream().mapToLong(ThreadCpu.Group::runNanos).sum())
            .toArray();
        final double medTotal = median(totals);
        int medianRun = 0;
        for (int i = 0; i < totals.length; i++) {
            if (Math.abs(totals[i] - medTotal) < Math.abs(totals[medianRun] - medTotal)) {
                medianRun = i;
            }
        }
        byTotal.addAll(runs.get(medianRun));
        final StringBuilder sb = new StringBuilder("| thread group | threads | ns/line (median) | kernel share | "
            + "voluntary context switches | involuntary |\n| --- | ---: | ---: | ---: | ---: | ---: |\n");
        final List<Map.Entry<String, List<Double>>> rows = new ArrayList<>(perGroup.entrySet());
        rows.sort((a, b) -> Double.compare(median(b.getValue().stream().mapToDouble(Double::doubleValue).toArray()),
            median(a.getValue().stream().mapToDouble(Double::doubleValue).toArray())));
        double sum = 0;
        for (Map.Entry<String, List<Double>> e : rows) {
            final double ns = median(e.getValue().stream().mapToDouble(Double::doubleValue).toArray());
            sum += ns;
            if (ns < 2) {
                continue; // the many small housekeeping threads: in the sum only
            }
            final ThreadCpu.Group g = byTotal.stream().filter(x -> x.name().equals(e.getKey())).findFirst().orElse(null);
            sb.append("| ").append(e.getKey()).append(" | ").append(g == null ? "" : g.threads()).append(" | ")
                .append(String.format(Locale.ROOT, "%.1f", ns)).append(" | ")
                .append(g == null || Double.isNaN(g.systemShare()) ? "" : String.format(Locale.ROOT, "%.0f %%",
                    100 * g.systemShare())).append(" | ")
                .append(g == null ? "" : g.voluntary()).append(" | ").append(g == null ? "" : g.involuntary())
                .append(" |\n");
        }
        sb.append(String.format(Locale.ROOT, "| all (sum of the medians, groups under 2 ns included) | | %.1f | | | |%n", sum));
        return sb.toString();
    }

    private static String label(Target t) {
        if (t.name.contains("/")) {
            return "collector " + t.name;
        }
        return t.runs.get(0).target();
    }

    private static double[] rates(Target t) {
        return t.runs.stream().mapToDouble(LineProtocolE2e.LineRun::linesPerSecond).toArray();
    }
}
