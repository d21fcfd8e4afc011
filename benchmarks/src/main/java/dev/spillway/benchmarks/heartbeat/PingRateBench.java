package dev.spillway.benchmarks.heartbeat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.benchmarks.report.MachineInfo;
import dev.spillway.benchmarks.spool.LongOutageHarness;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Issue 24's heartbeat goal, measured: 10,000 pings/s sustained for 60 s from a separate load process, p99 under
 * 50 ms, every ping stored exactly once, beside the same run's {@code GET /ping} baseline.
 *
 * <ul>
 *   <li>the collector is a process of its own ({@code java -jar spillway-collector.jar}) on its embedded PostgreSQL
 *       ({@code --data-dir}), with an admin {@code --token}; {@code --services} heartbeat services are created
 *       ({@code PUT /api/v1/services/hbN}, timeout 1 h) and each gets its own ping key
 *       ({@code POST /api/v1/tokens}, scope ping): the load sends each service's {@code ping_url} as the API gave
 *       it ({@code /api/v1/services/hbN/ping?key=spw_...});</li>
 *   <li>the load is another JVM ({@link PingLoad}): open loop at {@code --rate} over {@code --connections}
 *       keep-alive HTTP/1.1 connections, round robin over the services, latency from each request's due time;</li>
 *   <li>phases, on the same connections: warm-up {@code /ping}, warm-up pings, baseline {@code GET /ping},
 *       pings for {@code --seconds}, baseline again;</li>
 *   <li>the collector's CPU time (its JVM, and apart from it the database's processes) and thread count are read
 *       from {@code /proc} at the start and end of the measured pings;</li>
 *   <li>exactly once: when the stored count stops moving, the {@code heartbeat} points per service are compared
 *       with the pings answered 204 for that service (warm-up included), lost and duplicated counted apart; then
 *       the collector gets SIGTERM and its database files are deleted (its log is kept).</li>
 * </ul>
 *
 * <pre>mvn -B -q -pl benchmarks -am package -DskipTests
 * java -cp benchmarks/target/benchmarks.jar dev.spillway.benchmarks.heartbeat.PingRateBench [--quick]
 *     [--rate 10000] [--seconds 60] [--services 10000] [--connections 32] [--baseline-seconds 15]
 *     [--jar collector-app/target/spillway-collector.jar] [--out DIR]</pre>
 * {@code --quick}: 2,000 pings/s for 10 s over 1,000 services, baselines 5 s.
 */
public final class PingRateBench {

    private static final Pattern PSQL = Pattern.compile("PGPASSFILE=(\\S+) psql -h (\\S+) -p (\\d+) -U (\\S+)");
    private static final Pattern KV = Pattern.compile("(\\w+)=(\\S+)");

    private PingRateBench() {
    }

    public static void main(String[] args) throws Exception {
        double rate = 10_000;
        double seconds = 60;
        int services = 10_000;
        int connections = 32;
        double baselineSeconds = 15;
        double warmup = 10;
        String jar = "collector-app/target/spillway-collector.jar";
        Path out = Path.of(System.getenv().getOrDefault("SPILLWAY_RESULTS_DIR", "benchmarks/results"));
        boolean quick = false;
        final List<String> given = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            given.add(args[i]);
            if (args[i].equals("--quick")) {
                quick = true;
                rate = 2_000;
                seconds = 10;
                services = 1_000;
                baselineSeconds = 5;
                warmup = 3;
                continue;
            }
            final String v = args[++i];
            given.add(v);
            switch (args[i - 1]) {
                case "--rate" -> rate = Double.parseDouble(v);
                case "--seconds" -> seconds = Double.parseDouble(v);
                case "--services" -> services = Integer.parseInt(v);
                case "--connections" -> connections = Integer.parseInt(v);
                case "--baseline-seconds" -> baselineSeconds = Double.parseDouble(v);
                case "--warmup" -> warmup = Double.parseDouble(v);
                case "--jar" -> jar = v;
                case "--out" -> out = Path.of(v);
                default -> throw new IllegalArgumentException("unknown option " + args[i - 1]);
            }
        }
        if (!Files.exists(Path.of(jar))) {
            throw new IllegalArgumentException("collector jar not found: " + jar + " (build it: mvn -B -pl "
                + "collector-app -am package -DskipTests)");
        }
        final String loadAtStart = MachineInfo.loadAverage();
        final Path work = Files.createTempDirectory("spillway-pingrate");
        final String token = newToken();
        final String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        final Path collectorLog = work.resolve("collector.log");
        final List<String> collectorCmd = List.of(java, "-jar", jar, "--data-dir", work.resolve("data").toString(),
            "--db-port", "0", "--http", "127.0.0.1:0", "--token", token);
        log("load average at start: %s", loadAtStart);
        log("collector: %s (log %s)", String.join(" ", collectorCmd).replace(token, "***"), collectorLog);
        final Process collector = new ProcessBuilder(collectorCmd).redirectErrorStream(true)
            .redirectOutput(collectorLog.toFile()).start();
        final Map<String, String> rows = new LinkedHashMap<>();
        final Map<String, Map<String, String>> results = new LinkedHashMap<>();
        try {
            final URI base = LongOutageHarness.awaitListening(collectorLog, collector);
            final Matcher psql = PSQL.matcher(Files.readString(collectorLog));
            if (!psql.find()) {
                throw new IllegalStateException("no embedded database line in " + collectorLog);
            }
            final String jdbcUrl = "jdbc:postgresql://" + psql.group(2) + ":" + psql.group(3) + "/postgres";
            final String[] login = login(Path.of(psql.group(1)), psql.group(4));
            log("collector pid %d at %s, database %s as %s", collector.pid(), base, jdbcUrl, login[0]);

            final long setupStart = System.nanoTime();
            final List<String> pingUrls = createServices(base, token, services);
            log("%,d services and ping keys created in %.1f s", services, (System.nanoTime() - setupStart) / 1e9);
            final Path paths = work.resolve("paths.txt");
            Files.write(paths, pingUrls);
            final Path counts = work.resolve("counts.txt");

            final List<String> loadCmd = new ArrayList<>(List.of(java, "-Xms256m", "-Xmx256m", "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"), PingLoad.class.getName(), base.getHost(),
                Integer.toString(base.getPort()), paths.toString(), Double.toString(rate),
                Integer.toString(connections), counts.toString(),
                "warmup-baseline:baseline:" + warmup, "warmup-pings:pings:" + warmup,
                "baseline-before:baseline:" + baselineSeconds, "pings:pings:" + seconds,
                "baseline-after:baseline:" + baselineSeconds));
            log("load process: %s", String.join(" ", loadCmd).replace(System.getProperty("java.class.path"),
                "benchmarks.jar"));
            final Process load = new ProcessBuilder(loadCmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            long[] cpuAtStart = null;
            long[] cpuAtEnd = null;
            int threadsAtStart = 0;
            int threadsAtEnd = 0;
            String loadAtPings = "";
            final Map<String, String> slow = new LinkedHashMap<>();
            long[] baseCpuStart = null;
            long[] baseCpuEnd = null;
            try (BufferedReader r = new BufferedReader(new InputStreamReader(load.getInputStream(),
                StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    System.out.println("[load] " + line);
                    if (line.equals("PHASE-START pings")) {
                        cpuAtStart = cpu(collector.pid());
                        threadsAtStart = threads(collector.pid());
                        loadAtPings = MachineInfo.loadAverage();
                    } else if (line.equals("PHASE-END pings")) {
                        cpuAtEnd = cpu(collector.pid());
                        threadsAtEnd = threads(collector.pid());
                    } else if (line.equals("PHASE-START baseline-before")) {
                        baseCpuStart = cpu(collector.pid());
                    } else if (line.equals("PHASE-END baseline-before")) {
                        baseCpuEnd = cpu(collector.pid());
                    } else if (line.startsWith("SLOW ")) {
                        final String[] f = line.split(" ", 3);
                        slow.put(f[1], f[2]);
                    } else if (line.startsWith("RESULT ")) {
                        final String name = line.split(" ")[1];
                        final Map<String, String> kv = new HashMap<>();
                        final Matcher m = KV.matcher(line);
                        while (m.find()) {
                            kv.put(m.group(1), m.group(2));
                        }
                        results.put(name, kv);
                    }
                }
            }
            if (load.waitFor() != 0 || cpuAtStart == null || cpuAtEnd == null || baseCpuEnd == null) {
                throw new IllegalStateException("load process failed (exit " + load.exitValue() + ")");
            }
            final String loadAtLoadEnd = MachineInfo.loadAverage();
            final List<String> okLines = Files.readAllLines(counts);
            final long[] answered = new long[services];
            final long[] givenUp = new long[services];
            long answeredTotal = 0;
            long givenUpTotal = 0;
            for (int i = 0; i < services; i++) {
                final String[] f = okLines.get(i).trim().split(" ");
                answered[i] = Long.parseLong(f[0]);
                givenUp[i] = Long.parseLong(f[1]);
                answeredTotal += answered[i];
                givenUpTotal += givenUp[i];
            }
            // Exactly once: wait until the stored count stops moving (pings go through the write pipeline).
            final long[] stored = new long[services];
            long storedTotal;
            long unknown = 0;
            try (Connection c = DriverManager.getConnection(jdbcUrl, login[0], login[1])) {
                long last = -1;
                long stableSince = System.nanoTime();
                final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                while (true) {
                    final long now = scalar(c, "SELECT count(*) FROM telemetry WHERE measurement = 'heartbeat'");
                    if (now != last) {
                        last = now;
                        stableSince = System.nanoTime();
                    }
                    if (now == answeredTotal && System.nanoTime() - stableSince > TimeUnit.SECONDS.toNanos(2)
                        || System.nanoTime() - stableSince > TimeUnit.SECONDS.toNanos(10)
                        || System.nanoTime() > deadline) {
                        break;
                    }
                    LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(500));
                }
                storedTotal = 0;
                try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT tags->>'service', "
                    + "count(*) FROM telemetry WHERE measurement = 'heartbeat' GROUP BY 1")) {
                    while (rs.next()) {
                        final String id = rs.getString(1);
                        final long n = rs.getLong(2);
                        storedTotal += n;
                        final int i = id != null && id.startsWith("hb") ? Integer.parseInt(id.substring(2)) : -1;
                        if (i >= 0 && i < services) {
                            stored[i] = n;
                        } else {
                            unknown += n;
                        }
                    }
                }
            }
            long lost = 0;
            long duplicated = 0;
            long storedUnanswered = 0;
            int servicesOff = 0;
            for (int i = 0; i < services; i++) {
                lost += Math.max(0, answered[i] - stored[i]);
                // More points than 204s: first the pings the load gave up on (stored without the load seeing the
                // answer), the rest are duplicates.
                final long extra = Math.max(0, stored[i] - answered[i]);
                storedUnanswered += Math.min(extra, givenUp[i]);
                duplicated += extra - Math.min(extra, givenUp[i]);
                servicesOff += answered[i] == stored[i] ? 0 : 1;
            }
            collector.destroy(); // SIGTERM: the ping times still in memory are written
            final boolean exited = collector.waitFor(2, TimeUnit.MINUTES);
            if (exited) {
                deleteTree(work.resolve("data")); // the database's files (hundreds of MB); the collector log stays
                if (Files.exists(work.resolve("data-spool"))) {
                    deleteTree(work.resolve("data-spool")); // the default spool, beside the data directory
                }
            }
            final String loadAtEnd = MachineInfo.loadAverage();

            final Map<String, String> p = results.get("pings");
            final long pingOk = Long.parseLong(p.get("ok"));
            final double cpuJvm = (cpuAtEnd[0] - cpuAtStart[0]) / (double) clockTicks();
            final double cpuDb = (cpuAtEnd[1] - cpuAtStart[1]) / (double) clockTicks();
            final double achieved = Double.parseDouble(p.get("rate"));
            final double p99 = Long.parseLong(p.get("p99")) / 1000.0;
            final long non204 = Long.parseLong(p.get("answered")) - pingOk;
            final boolean met = achieved >= rate * 0.99 && p99 < 50 && lost == 0 && duplicated == 0
                && non204 == 0 && Long.parseLong(p.get("errors")) == 0;

            final StringBuilder md = new StringBuilder("# Heartbeat pings at a fixed rate (issue 24)\n\n");
            md.append("- command: `java -cp benchmarks/target/benchmarks.jar ").append(PingRateBench.class.getName())
                .append(given.isEmpty() ? "" : " " + String.join(" ", given)).append("`\n");
            md.append(MachineInfo.markdown());
            md.append("- load average: at the start ").append(loadAtStart).append("; when the measured pings began ")
                .append(loadAtPings).append("; when the load ended ").append(loadAtLoadEnd).append("; at the end ")
                .append(loadAtEnd).append('\n');
            md.append(String.format(Locale.ROOT, "- collector: `java -jar %s --data-dir DIR --db-port 0 --http "
                + "127.0.0.1:0 --token ***` (embedded PostgreSQL), %,d services (timeout 1 h), each pinged with its "
                + "own ping key (`ping_url` as `POST /api/v1/tokens` gave it)%n", jar, services));
            md.append(String.format(Locale.ROOT, "- load: a separate JVM (`PingLoad`, one selector thread), open loop "
                + "at %,.0f requests/s over %d keep-alive HTTP/1.1 connections (one request in flight each, no "
                + "pipelining), latency from each request's due time (no coordinated omission; up to ~1 ms of it is "
                + "the load process's millisecond wake-ups), round robin over the services; phases on the same "
                + "connections: warm-up `/ping` %.0f s, warm-up pings %.0f s, baseline %.0f s, **pings %.0f s**, "
                + "baseline %.0f s%n%n", rate, connections, warmup, warmup, baselineSeconds, seconds,
                baselineSeconds));
            md.append("| phase | target/s | answered 204/s (to the last answer) | p50 | p99 | p99.9 | max | answers by status | errors | "
                + "sent >10 ms late |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |\n");
            for (Map.Entry<String, Map<String, String>> e : results.entrySet()) {
                final Map<String, String> r = e.getValue();
                final String label = switch (e.getKey()) {
                    case "pings" -> "**`GET /api/v1/services/{id}/ping?key=`**";
                    case "baseline-before" -> "baseline `GET /ping`, before";
                    case "baseline-after" -> "baseline `GET /ping`, after";
                    case "warmup-pings" -> "(warm-up pings)";
                    default -> "(warm-up `/ping`)";
                };
                md.append(String.format(Locale.ROOT, "| %s | %,.0f | %,.0f | %s | %s | %s | %s | %s | %s | %s |%n",
                    label, Double.parseDouble(r.get("target")), Double.parseDouble(r.get("rate")), ms(r.get("p50")),
                    ms(r.get("p99")), ms(r.get("p999")), ms(r.get("max")), r.get("statuses"), r.get("errors"),
                    r.get("late")));
            }
            md.append("\nSeconds of each measured phase with answers over 50 ms (`second:how many/slowest`): ");
            for (String phase : List.of("baseline-before", "pings", "baseline-after")) {
                md.append(phase).append(": ").append(slow.getOrDefault(phase, "?")).append("; ");
            }
            md.append("\n\n");
            rows.put("pings answered 204 (all ping phases, warm-up included)", fmt(answeredTotal));
            rows.put("`heartbeat` points stored", fmt(storedTotal) + (unknown > 0 ? " (" + unknown
                + " for no known service)" : ""));
            rows.put("**lost** (answered 204, not stored)", "**" + fmt(lost) + "**");
            rows.put("**duplicated** (stored more often than sent)", "**" + fmt(duplicated) + "**");
            rows.put("pings given up on by the load (connection error, no answer within 30 s) / of them stored",
                fmt(givenUpTotal) + " / " + fmt(storedUnanswered));
            rows.put("services whose count differs from their 204s", fmt(servicesOff));
            rows.put("collector JVM CPU during the measured pings", String.format(Locale.ROOT, "%.1f s (%.1f "
                + "µs per ping answered 204, %.0f %% of one core)", cpuJvm, cpuJvm * 1e6 / pingOk,
                cpuJvm * 100 / seconds));
            final double baseCpu = (baseCpuEnd[0] - baseCpuStart[0]) / (double) clockTicks();
            final long baseOk = Long.parseLong(results.get("baseline-before").get("ok"));
            rows.put("collector JVM CPU during the baseline before (`/ping`)", String.format(Locale.ROOT, "%.1f s "
                + "(%.1f µs per `/ping`, %.0f %% of one core)", baseCpu, baseCpu * 1e6 / baseOk,
                baseCpu * 100 / baselineSeconds));
            rows.put("its database's processes, CPU in the same time", String.format(Locale.ROOT, "%.1f s (%.1f µs "
                + "per ping)", cpuDb, cpuDb * 1e6 / pingOk));
            rows.put("collector threads at the start / end of the measured pings", threadsAtStart + " / "
                + threadsAtEnd);
            rows.put("collector exit after SIGTERM", exited ? "exit code " + collector.exitValue() : "did not exit "
                + "within 2 min");
            rows.put("first error or non-204 answer of the pings", p.get("firstError").replace('|', '/'));
            md.append("| exactly once and cost | |\n| --- | ---: |\n");
            rows.forEach((k, v) -> md.append("| ").append(k).append(" | ").append(v).append(" |\n"));
            md.append(String.format(Locale.ROOT, "%n**Goal (%,.0f pings/s for %.0f s, p99 < 50 ms, each stored "
                + "once): %s** (achieved %,.0f/s, p99 %.1f ms, %d lost, %d duplicated, %d non-204, %s errors)%n",
                rate, seconds, met ? "met" : "MISSED", achieved, p99, lost, duplicated, non204, p.get("errors")));
            Files.createDirectories(out);
            Files.writeString(out.resolve("ping-rate.md"), md.toString());
            System.out.println(md);
            log("written %s; collector log %s", out.resolve("ping-rate.md"), collectorLog);
        } finally {
            collector.destroyForcibly();
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var files = Files.walk(dir)) {
            for (Path f : (Iterable<Path>) files.sorted(java.util.Comparator.reverseOrder())::iterator) {
                Files.delete(f);
            }
        }
    }

    private static long scalar(Connection c, String sql) throws Exception {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static String newToken() {
        final byte[] b = new byte[16];
        new SecureRandom().nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    private static String ms(String micros) {
        return String.format(Locale.ROOT, "%.2f ms", Long.parseLong(micros) / 1000.0);
    }

    private static String fmt(long n) {
        return String.format(Locale.ROOT, "%,d", n);
    }

    private static void log(String format, Object... args) {
        System.out.printf(Locale.ROOT, "[ping-rate] " + format + "%n", args);
        System.out.flush();
    }

    /** User and password from a PostgreSQL password file: the superuser when listed, else {@code user}. */
    private static String[] login(Path pgpass, String user) throws IOException {
        String[] found = null;
        for (String line : Files.readAllLines(pgpass)) {
            final String[] f = line.split("(?<!\\\\):", 5);
            if (f.length == 5 && (f[3].equals("postgres") || f[3].equals(user) && found == null)) {
                found = new String[] {f[3], f[4].replace("\\:", ":").replace("\\\\", "\\")};
            }
        }
        if (found == null) {
            throw new IllegalStateException("no password for " + user + " in " + pgpass);
        }
        return found;
    }

    private static List<String> createServices(URI base, String token, int services) throws Exception {
        final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        final ObjectMapper json = new ObjectMapper();
        final String[] urls = new String[services];
        final ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            final List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                final int first = t;
                done.add(pool.submit(() -> {
                    for (int i = first; i < services; i += 8) {
                        final String id = "hb" + i;
                        send(client, token, HttpRequest.newBuilder(base.resolve("/api/v1/services/" + id))
                            .PUT(HttpRequest.BodyPublishers.ofString("{\"timeout\":\"1h\"}")), 200);
                        final JsonNode key = json.readTree(send(client, token, HttpRequest.newBuilder(
                            base.resolve("/api/v1/tokens")).POST(HttpRequest.BodyPublishers.ofString(
                            "{\"name\":\"" + id + "\",\"scope\":\"ping\",\"service\":\"" + id + "\"}")), 201));
                        urls[i] = key.get("ping_url").asText();
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        return List.of(urls);
    }

    private static String send(HttpClient client, String token, HttpRequest.Builder b, int expected)
        throws Exception {
        final HttpResponse<String> r = client.send(b.header("Authorization", "Token " + token)
            .header("Content-Type", "application/json").timeout(Duration.ofSeconds(30)).build(),
            HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != expected) {
            throw new IllegalStateException(r.request().method() + " " + r.request().uri().getPath() + ": "
                + r.statusCode() + " " + r.body());
        }
        return r.body();
    }

    /** CPU clock ticks of {@code pid} itself (user + system), and of its descendant processes (the database). */
    static long[] cpu(long pid) throws IOException {
        final Map<Long, Long> parent = new HashMap<>();
        final Map<Long, Long> ticks = new HashMap<>();
        try (var dirs = Files.list(Path.of("/proc"))) {
            for (Path d : (Iterable<Path>) dirs::iterator) {
                final String name = d.getFileName().toString();
                if (!name.chars().allMatch(Character::isDigit)) {
                    continue;
                }
                try {
                    final String stat = Files.readString(d.resolve("stat"));
                    final String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    // after "pid (comm) ": state ppid ... utime is field 14 overall, i.e. index 11 here
                    parent.put(Long.parseLong(name), Long.parseLong(f[1]));
                    ticks.put(Long.parseLong(name), Long.parseLong(f[11]) + Long.parseLong(f[12]));
                } catch (IOException | RuntimeException gone) {
                    // the process ended while we looked
                }
            }
        }
        long children = 0;
        for (Map.Entry<Long, Long> e : ticks.entrySet()) {
            for (Long p = parent.get(e.getKey()); p != null && p > 1; p = parent.get(p)) {
                if (p == pid) {
                    children += e.getValue();
                    break;
                }
            }
        }
        return new long[] {ticks.getOrDefault(pid, 0L), children};
    }

    static int threads(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("Threads:")) {
                return Integer.parseInt(line.substring(8).trim());
            }
        }
        return -1;
    }

    private static long clockTicks() {
        try {
            final Process p = new ProcessBuilder("getconf", "CLK_TCK").start();
            final String s = new String(p.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).trim();
            return p.waitFor() == 0 ? Long.parseLong(s) : 100;
        } catch (IOException | RuntimeException e) {
            return 100;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 100;
        }
    }
}
