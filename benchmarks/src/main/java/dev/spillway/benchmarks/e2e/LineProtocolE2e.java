package dev.spillway.benchmarks.e2e;

import dev.spillway.benchmarks.e2e.EndToEndBench.Config;
import dev.spillway.collector.Collector;
import dev.spillway.collector.config.CollectorOptions;
import dev.spillway.telemetry.timescale.IndexMode;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The collector end to end, against the same run's database ceiling and against InfluxDB 1.x on the same bodies:
 * a separate load process ({@link LineLoad}) posts line protocol over HTTP (5,000-line bodies, 1,000 series,
 * explicit timestamps) to
 * <ul>
 *   <li>the collector, started in this JVM (so this JVM's CPU is the collector's) on the benchmark's PostgreSQL with
 *       its real schema (the sink's events table in the given index mode, {@code telemetry_sources}, migrations),
 *       default pipeline settings; the clock stops when every line is committed (the collector's {@code written}
 *       equals the lines and {@code count(*)} agrees);</li>
 *   <li>{@code influxd} (Debian package {@code influxdb}) when it is installed, with a throw-away data directory and
 *       default settings, {@code /write?db=bench&precision=ns}; its clock stops at the last acknowledgement (InfluxDB
 *       acknowledges after its WAL write). Skipped, with a message, when {@code influxd} is absent: nothing is
 *       installed by the benchmark.</li>
 * </ul>
 */
final class LineProtocolE2e {

    static final String INFLUXD = "/usr/bin/influxd";
    static final String VICTORIA = "/usr/bin/victoria-metrics";
    private static final Pattern DONE = Pattern.compile("DONE acked=(\\d+) seconds=([0-9.]+) statuses=(\\S*) bodyLines=\\d+ loadCpu=([0-9.]+)");

    /** One line-protocol run. */
    record LineRun(String target, IndexMode index, long lines, double ackSeconds, double commitSeconds, long committed,
                   String statuses, double serverCpuSeconds, double pgCpuSeconds, double loadCpuSeconds) {
        /** Lines per second until everything is durable: committed rows (collector) or acknowledged (InfluxDB). */
        double linesPerSecond() {
            return lines / commitSeconds;
        }

        double ackedPerSecond() {
            return lines / ackSeconds;
        }
    }

    private final Config config;
    private final BenchDatabase db;
    /** The collector JVM's threads over the last {@link #collector} run: CPU by thread group. */
    List<ThreadCpu.Group> lastCollectorThreads = List.of();
    private final String style;
    /**
     * With {@code keepCollector}: the collector of the last run, kept running between runs of the same target, as a
     * deployed collector runs (its JIT warm, its pool and series in place); each run still starts on empty tables.
     * Without: every run starts a new collector on a new schema.
     */
    private boolean keepCollector;
    private Collector kept;
    /** Load processes started: each sends its own timestamps (see {@link LineLoad#bodies(int, int, int, String, long)}). */
    private int loadRuns;
    /** The first line (timestamp index) of the last load started: its samples lie in [first, first + rows). */
    private long firstLine;
    private int collectorsStarted;
    private String keptTarget;

    LineProtocolE2e(Config config, BenchDatabase db) {
        this(config, db, "telegraf");
    }

    /** @param style the load's line style, {@code telegraf} or {@code sensor} (see {@link LineLoad}) */
    LineProtocolE2e(Config config, BenchDatabase db, String style) {
        this.config = config;
        this.db = db;
        this.style = style;
    }

    /** Keeps one collector running between runs of the same collector target (see {@link #kept}). */
    void keepCollector(boolean keep) {
        this.keepCollector = keep;
    }

    /** Collectors started so far (a kept one counts once). */
    int collectorsStarted() {
        return collectorsStarted;
    }

    /** Stops the kept collector, if any. */
    void stopKeptCollector() {
        if (kept != null) {
            kept.shutdown();
            kept = null;
            keptTarget = null;
        }
    }

    /** Drops everything the collector creates, so each run starts from an empty catalogue. */
    private void dropCollectorSchema() throws Exception {
        final String t = EndToEndBench.TABLE;
        db.execute("DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_class WHERE relname = '" + t + "' AND relkind = 'v') "
                + "THEN DROP VIEW " + t + " CASCADE; END IF; END $$",
            "DROP TABLE IF EXISTS " + t + " CASCADE",
            "DROP TABLE IF EXISTS " + t + "_batches, " + t + "_blocks, " + t + "_rows CASCADE",
            "DROP TABLE IF EXISTS telemetry_sources, schema_version, monitor_transitions, monitor_state, monitors CASCADE");
    }

    /** Empties the events, whichever the layout: the table, or the view's block and row tables. */
    private void truncateEvents() throws Exception {
        final String t = EndToEndBench.TABLE;
        db.execute("DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_class WHERE relname = '" + t + "' AND relkind = 'v') "
            + "THEN TRUNCATE " + t + "_blocks, " + t + "_rows; ELSE TRUNCATE " + t + "; END IF; END $$");
    }

    LineRun collector(IndexMode mode) throws Exception {
        return collector(mode, null);
    }

    /**
     * The collector on its real schema.
     *
     * @param layout the value of {@code --storage-layout}, or null for the collector's default
     */
    LineRun collector(IndexMode mode, String layout) throws Exception {
        final String index = mode.name().toLowerCase(Locale.ROOT).replace('_', '-');
        final String target = layout + "/" + index;
        if (kept != null && !target.equals(keptTarget)) {
            stopKeptCollector(); // another layout or index mode: a new schema
        }
        if (kept != null) {
            return measure(kept, mode, layout, false);
        }
        dropCollectorSchema();
        // The collector's defaults, except where it keeps files: a throw-away spool, not one in the working directory.
        final Path spool = Files.createTempDirectory("spillway-bench-spool");
        final List<String> args = new ArrayList<>(List.of("--jdbc-url", db.jdbcUrl(), "--db-user", db.user(),
            "--db-password", db.password() == null ? "" : db.password(), "--http", "127.0.0.1:0",
            "--index-mode", index, "--spool-dir", spool.toString()));
        if (layout != null) {
            args.addAll(List.of("--storage-layout", layout));
        }
        // -Dbench.collector.args="--ring-size 262144": options for A/B runs; printed with the run, off by default.
        final String extra = System.getProperty("bench.collector.args", "").trim();
        if (!extra.isEmpty()) {
            args.addAll(List.of(extra.split("\\s+")));
            System.out.println("[e2e] collector options added by -Dbench.collector.args: " + extra);
        }
        final var parsed = CollectorOptions.parse(args.toArray(String[]::new), Map.of(),
            new PrintStream(OutputStream.nullOutputStream()));
        final Collector collector = Collector.start(((CollectorOptions.Run) parsed).config());
        collectorsStarted++;
        boolean keep = false;
        try {
            final LineRun run = measure(collector, mode, layout, true);
            keep = keepCollector;
            return run;
        } finally {
            if (keep) {
                kept = collector;
                keptTarget = target;
            } else {
                collector.shutdown();
            }
        }
    }

    /** One timed run against a started collector; {@code fresh}: first make every series known (untimed). */
    private LineRun measure(Collector collector, IndexMode mode, String layout, boolean fresh) throws Exception {
        final URI uri = URI.create("http://127.0.0.1:" + collector.httpAddress().getPort()
            + "/api/v2/write?precision=ns");
        if (fresh) {
            // Steady state: every series known before the clock starts (one line each, then the rows are removed).
            final StringBuilder warm = new StringBuilder();
            for (int s = 0; s < config.sources; s++) {
                if (style.equals("sensor")) {
                    warm.append(LineLoad.sensorSeries(s)).append(" value=0 ");
                } else {
                    warm.append("cpu,host=host").append(String.format(Locale.ROOT, "%04d", s)).append(",region=")
                        .append(s % 2 == 0 ? "eu-central" : "us-west").append(" usage_user=0 ");
                }
                warm.append(1_000_000_000L + s).append('\n');
            }
            final int status = HttpClient.newHttpClient().send(HttpRequest.newBuilder(uri)
                .POST(HttpRequest.BodyPublishers.ofString(warm.toString())).build(),
                HttpResponse.BodyHandlers.discarding()).statusCode();
            final long warmDeadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
            while (collector.stats().written() < config.sources && System.nanoTime() < warmDeadline) {
                Thread.sleep(5);
            }
            if (status != 204 || collector.stats().written() != config.sources) {
                throw new IllegalStateException("warm-up failed: status " + status + ", " + collector.stats());
            }
        }
        truncateEvents();
        db.checkpoint();
        final long before = collector.stats().written();
        final Process load = startLoad(uri);
        final ThreadCpu threads0 = ThreadCpu.snapshot();
        final long jvm0 = jvmCpu();
        final long pg0 = db.serverCpuNanos();
        final long start = System.nanoTime();
        final Matcher done = go(load);
        final long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(10);
        while (collector.stats().written() - before < config.rows && System.nanoTime() < deadline) {
            Thread.sleep(2);
        }
        final double seconds = (System.nanoTime() - start) / 1e9;
        final long jvm1 = jvmCpu();
        final ThreadCpu threads1 = ThreadCpu.snapshot();
        Thread.sleep(100);
        final long pg1 = db.serverCpuNanos();
        final long counted = db.count(EndToEndBench.TABLE);
        final LineRun run = new LineRun(layout == null ? "collector" : "collector " + layout, mode, config.rows, Double.parseDouble(done.group(2)), seconds,
            counted, done.group(3), (jvm1 - jvm0) / 1e9, pg0 < 0 || pg1 < 0 ? Double.NaN : (pg1 - pg0) / 1e9,
            Double.parseDouble(done.group(4)));
        log(run);
        lastCollectorThreads = threads1.since(threads0);
        System.out.print("[e2e] collector threads over the run (CPU from /proc/self/task/*/schedstat):\n"
            + ThreadCpu.table(lastCollectorThreads, config.rows));
        if (counted != config.rows || Long.parseLong(done.group(1)) != config.rows) {
            throw new IllegalStateException("collector lost lines: acked " + done.group(1) + ", counted " + counted
                + " of " + config.rows);
        }
        return run;
    }

    /** InfluxDB on the same bodies, or null (with a message) when influxd is not installed. */
    LineRun influx() throws Exception {
        if (!Files.isExecutable(Path.of(INFLUXD))) {
            System.out.println("[e2e] InfluxDB comparison SKIPPED: " + INFLUXD + " not found (Debian package "
                + "'influxdb'; this benchmark installs nothing)");
            return null;
        }
        final Path dir = Files.createTempDirectory("spillway-influx");
        final int port = freePort();
        final Path conf = dir.resolve("influxdb.conf");
        Files.writeString(conf, "reporting-disabled = true\nbind-address = \"127.0.0.1:" + freePort() + "\"\n"
            + "[meta]\n  dir = \"" + dir.resolve("meta") + "\"\n"
            + "[data]\n  dir = \"" + dir.resolve("data") + "\"\n  wal-dir = \"" + dir.resolve("wal") + "\"\n"
            + "  query-log-enabled = false\n"
            + "[monitor]\n  store-enabled = false\n"
            + "[http]\n  bind-address = \"127.0.0.1:" + port + "\"\n  log-enabled = false\n"
            + "  max-body-size = 0\n");
        final Path log = dir.resolve("influxd.log");
        final Process influxd = new ProcessBuilder(INFLUXD, "-config", conf.toString()).redirectErrorStream(true)
            .redirectOutput(log.toFile()).start();
        try {
            final HttpClient client = HttpClient.newHttpClient();
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (true) {
                try {
                    if (client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/ping")).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 204) {
                        break;
                    }
                } catch (IOException notYet) {
                    if (System.nanoTime() > deadline || !influxd.isAlive()) {
                        throw new IllegalStateException("influxd did not start; log: " + Files.readString(log));
                    }
                }
                Thread.sleep(100);
            }
            client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/query"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString("q=CREATE+DATABASE+bench")).build(),
                HttpResponse.BodyHandlers.discarding());
            final Process load = startLoad(URI.create("http://127.0.0.1:" + port + "/write?db=bench&precision=ns"));
            final long cpu0 = BenchDatabase.processCpuNanos(influxd.pid());
            final Matcher done = go(load);
            final long cpu1 = BenchDatabase.processCpuNanos(influxd.pid());
            final double seconds = Double.parseDouble(done.group(2));
            final LineRun run = new LineRun("influxdb " + version(), null, config.rows, seconds, seconds,
                Long.parseLong(done.group(1)), done.group(3), cpu0 < 0 || cpu1 < 0 ? Double.NaN : (cpu1 - cpu0) / 1e9,
                Double.NaN, Double.parseDouble(done.group(4)));
            log(run);
            return run;
        } finally {
            influxd.destroy();
            if (!influxd.waitFor(30, TimeUnit.SECONDS)) {
                influxd.destroyForcibly();
            }
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /**
     * VictoriaMetrics on the same bodies, or null (with a message) when {@code victoria-metrics} is not installed.
     * Fresh data directory, retention long enough for the bodies' timestamps, {@code /write?precision=ns}. Its
     * clock stops when every line is durable and readable: after the load's last acknowledgement the harness calls
     * {@code /internal/force_flush} (which writes the in-memory parts to disk) and counts the samples with
     * {@code sum(count_over_time(...))}, repeating both until the count reaches the lines sent.
     */
    LineRun victoria() throws Exception {
        if (!Files.isExecutable(Path.of(VICTORIA))) {
            System.out.println("[e2e] VictoriaMetrics comparison SKIPPED: " + VICTORIA + " not found (Debian package "
                + "'victoria-metrics'; this benchmark installs nothing)");
            return null;
        }
        final Path dir = Files.createTempDirectory("spillway-vm");
        final int port = freePort();
        final Path log = dir.resolve("victoria-metrics.log");
        final Process vm = new ProcessBuilder(VICTORIA, "-storageDataPath=" + dir.resolve("data"),
            "-httpListenAddr=127.0.0.1:" + port, "-retentionPeriod=100y", "-search.disableCache",
            "-loggerLevel=ERROR").redirectErrorStream(true).redirectOutput(log.toFile()).start();
        final String base = "http://127.0.0.1:" + port;
        try {
            final HttpClient client = HttpClient.newHttpClient();
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (true) {
                try {
                    if (client.send(HttpRequest.newBuilder(URI.create(base + "/health")).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                        break;
                    }
                } catch (IOException notYet) {
                    if (System.nanoTime() > deadline || !vm.isAlive()) {
                        throw new IllegalStateException("victoria-metrics did not start; log: " + Files.readString(log));
                    }
                }
                Thread.sleep(100);
            }
            final Process load = startLoad(URI.create(base + "/write?precision=ns"));
            final long cpu0 = BenchDatabase.processCpuNanos(vm.pid());
            final long start = System.nanoTime();
            final Matcher done = go(load);
            // The bodies' samples lie within [first, first + lines) us after BASE; count them at the end of that span.
            final long endSeconds = (RowSet.timestampOf(firstLine + config.rows) / 1_000_000_000L) + 1;
            final String query = "sum(count_over_time({__name__=~\"sensor_value|cpu_usage_user\"}[1h]))";
            final URI count = URI.create(base + "/api/v1/query?time=" + endSeconds + "&query="
                + java.net.URLEncoder.encode(query, StandardCharsets.UTF_8));
            long counted = -1;
            final long countDeadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
            while (System.nanoTime() < countDeadline) {
                client.send(HttpRequest.newBuilder(URI.create(base + "/internal/force_flush")).build(),
                    HttpResponse.BodyHandlers.discarding());
                final String body = client.send(HttpRequest.newBuilder(count).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
                final Matcher m = Pattern.compile("\"value\":\\[[0-9.]+,\"([0-9]+)\"\\]").matcher(body);
                counted = m.find() ? Long.parseLong(m.group(1)) : 0;
                if (counted >= config.rows) {
                    break;
                }
                Thread.sleep(20);
            }
            final double seconds = (System.nanoTime() - start) / 1e9;
            final long cpu1 = BenchDatabase.processCpuNanos(vm.pid());
            final LineRun run = new LineRun("victoriametrics " + vmVersion(), null, config.rows,
                Double.parseDouble(done.group(2)), seconds, counted, done.group(3),
                cpu0 < 0 || cpu1 < 0 ? Double.NaN : (cpu1 - cpu0) / 1e9, Double.NaN, Double.parseDouble(done.group(4)));
            log(run);
            if (counted != config.rows || Long.parseLong(done.group(1)) != config.rows) {
                throw new IllegalStateException("VictoriaMetrics: acked " + done.group(1) + ", counted " + counted
                    + " of " + config.rows + "; log: " + Files.readString(log));
            }
            return run;
        } finally {
            vm.destroy();
            if (!vm.waitFor(30, TimeUnit.SECONDS)) {
                vm.destroyForcibly();
            }
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static String vmVersion() {
        try {
            final Process p = new ProcessBuilder(VICTORIA, "-version").redirectErrorStream(true).start();
            final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            p.waitFor(10, TimeUnit.SECONDS);
            final Matcher m = Pattern.compile("v([0-9]+\\.[0-9]+\\.[0-9]+)").matcher(out);
            if (m.find()) {
                return m.group(1);
            }
            // Debian's build prints no version; its package does.
            final Process dpkg = new ProcessBuilder("dpkg-query", "-W", "-f=${Version}", "victoria-metrics")
                .redirectErrorStream(true).start();
            final String pkg = new String(dpkg.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            dpkg.waitFor(10, TimeUnit.SECONDS);
            final Matcher v = Pattern.compile("^([0-9]+\\.[0-9]+\\.[0-9]+)").matcher(pkg);
            return v.find() ? v.group(1) : "?";
        } catch (IOException | InterruptedException e) {
            return "?";
        }
    }

    private static String version() {
        try {
            final Process p = new ProcessBuilder(INFLUXD, "version").redirectErrorStream(true).start();
            final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            p.waitFor(10, TimeUnit.SECONDS);
            final Matcher m = Pattern.compile("v([0-9][^ ]*)").matcher(out);
            return m.find() ? m.group(1) : out;
        } catch (IOException | InterruptedException e) {
            return "?";
        }
    }

    /** Starts the load process and waits until its bodies are built. */
    private Process startLoad(URI uri) throws IOException {
        final String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        final Process p = new ProcessBuilder(java, "-Xms1g", "-Xmx1g", "-cp", System.getProperty("java.class.path"),
            LineLoad.class.getName(), uri.toString(), Integer.toString(config.rows),
            Integer.toString(config.sources), Integer.toString(config.lineBodyLines),
            Integer.toString(config.loadConnections), style, Long.toString(firstLine = (long) loadRuns++ * config.rows))
            .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        final BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        final String ready = out.readLine();
        if (ready == null || !ready.startsWith("READY")) {
            p.destroyForcibly();
            throw new IllegalStateException("load process failed to start: " + ready);
        }
        loadOutput = out;
        return p;
    }

    private BufferedReader loadOutput;

    /** Tells the load process to start and waits for its summary line. */
    private Matcher go(Process load) throws IOException, InterruptedException {
        load.getOutputStream().write("GO\n".getBytes(StandardCharsets.UTF_8));
        load.getOutputStream().flush();
        String line;
        while ((line = loadOutput.readLine()) != null) {
            final Matcher m = DONE.matcher(line);
            if (m.find()) {
                load.waitFor(30, TimeUnit.SECONDS);
                return m;
            }
        }
        throw new IllegalStateException("load process ended without a summary, exit " + load.waitFor());
    }

    private static long jvmCpu() {
        final java.lang.management.OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
        return os instanceof com.sun.management.OperatingSystemMXBean sun ? sun.getProcessCpuTime() : -1;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static void log(LineRun r) {
        System.out.println("[e2e] " + String.format(Locale.ROOT,
            "line protocol -> %-16s %-9s %,d lines: acked in %.2f s (%,.0f lines/s), durable in %.2f s (%,.0f lines/s); "
                + "counted %,d; statuses %s; CPU s: server %.2f, PostgreSQL %.2f, load process %.2f",
            r.target(), r.index() == null ? "" : r.index(), r.lines(), r.ackSeconds(), r.ackedPerSecond(),
            r.commitSeconds(), r.linesPerSecond(), r.committed(), r.statuses(), r.serverCpuSeconds(),
            r.pgCpuSeconds(), r.loadCpuSeconds()));
    }
}
