package dev.spillway.benchmarks.spool;

import dev.spillway.benchmarks.report.MachineInfo;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Issue #19's goal, run for real (a harness, not a test, not part of {@code mvn verify}): a 30-minute database outage
 * at 4,000 lines/s with 5 % of the lines on series first seen during the outage, under {@code --ack accept} and
 * {@code --ack commit}. For each mode (the two run side by side, each with its own database and collector):
 *
 * <ul>
 *   <li>a PostgreSQL of its own (embedded binaries, stock durability, its own data directory and port);</li>
 *   <li>the collector as a real process from the shaded jar, every option at its default but {@code --ack},
 *       {@code --spool-dir} and the database address (spool 1 GiB, retry 8 attempts / 60 s, flush 100 ms);</li>
 *   <li>{@value #WRITERS} paced writers, each a body of {@value #LINES} timestamped lines every second (4,000
 *       lines/s in all), {@value #NEW_PER_BODY} lines of each body on a series that changes every
 *       {@value #BODIES_PER_NEW_SERIES} bodies of that writer (so during the outage those lines are on series first
 *       seen during it); a writer resends a body answered 503 or left unanswered (timeout, connection error) until
 *       it is answered 204, and catches up after a slow answer so the offered rate holds;</li>
 *   <li>after {@code --warmup} seconds the database is stopped for {@code --outage} seconds and started again; the
 *       load goes on until the spool is empty and its bytes freed ({@code /metrics}), then {@code --tail} seconds
 *       more; the collector gets SIGTERM and its final account is read from its log;</li>
 *   <li>then the table is queried: every line answered 204 present (missing must be 0), rows per line (duplicates
 *       must be 0), {@code (source_id, seq)} unique, and the series created during the outage in the catalogue.</li>
 * </ul>
 *
 * <pre>benchmarks/run-long-outage.sh [--outage SECONDS (1800)] [--modes accept,commit] ...
 * java -cp benchmarks/target/benchmarks.jar dev.spillway.benchmarks.spool.LongOutageHarness
 *     --jar collector-app/target/spillway-collector.jar [--outage 1800] [--warmup 60] [--tail 30]
 *     [--modes accept,commit] [--rate 4000] [--work DIR] [--out DIR]</pre>
 */
public final class LongOutageHarness {

    static final int WRITERS = 40;
    static final int LINES = 100;
    static final int NEW_PER_BODY = 5;
    static final int BODIES_PER_NEW_SERIES = 10;
    private static final long T0_NANOS = 1_700_000_000_000_000_000L;
    private static final Pattern LISTENING = Pattern.compile("HTTP listening on http://([0-9.]+):(\\d+)");
    private static final Pattern ACCOUNT = Pattern.compile("final account: .*");

    private LongOutageHarness() {
    }

    public static void main(String[] args) throws Exception {
        long outage = 1800;
        long warmup = 60;
        long tail = 30;
        double rate = 4000;
        String jar = "collector-app/target/spillway-collector.jar";
        String modes = "accept,commit";
        Path work = null;
        Path out = Path.of(System.getenv().getOrDefault("SPILLWAY_RESULTS_DIR", "benchmarks/results"));
        for (int i = 0; i < args.length - 1; i += 2) {
            switch (args[i]) {
                case "--outage" -> outage = Long.parseLong(args[i + 1]);
                case "--warmup" -> warmup = Long.parseLong(args[i + 1]);
                case "--tail" -> tail = Long.parseLong(args[i + 1]);
                case "--rate" -> rate = Double.parseDouble(args[i + 1]);
                case "--jar" -> jar = args[i + 1];
                case "--modes" -> modes = args[i + 1];
                case "--work" -> work = Path.of(args[i + 1]);
                case "--out" -> out = Path.of(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (!Files.exists(Path.of(jar))) {
            throw new IllegalArgumentException("collector jar not found: " + jar + " (build it: mvn -B -pl "
                + "collector-app -am package -DskipTests)");
        }
        final Path base = work != null ? Files.createDirectories(work) : Files.createTempDirectory("spillway-long");
        final String loadAtStart = MachineInfo.loadAverage();
        final List<Run> runs = new ArrayList<>();
        for (String mode : modes.split(",")) {
            runs.add(new Run(mode.trim(), base.resolve(mode.trim()), jar, rate, warmup, outage, tail));
        }
        final List<Thread> threads = new ArrayList<>();
        for (Run r : runs) {
            final Thread t = new Thread(r, "run-" + r.mode);
            t.start();
            threads.add(t);
        }
        for (Thread t : threads) {
            t.join();
        }
        final StringBuilder md = new StringBuilder("# A 30-minute database outage, both ack modes (issue #19)\n\n");
        md.append("- command: `benchmarks/run-long-outage.sh ").append(String.join(" ", args)).append("`\n");
        md.append(MachineInfo.markdown()).append("- load average at the start: ").append(loadAtStart)
            .append("; at the end: ").append(MachineInfo.loadAverage()).append('\n');
        md.append(String.format(Locale.ROOT, "- per mode: its own PostgreSQL (embedded binaries, fsync on) and "
            + "collector process (`java -jar %s`, defaults plus `--ack MODE --spool-dir DIR`); %d writers x %d-line "
            + "bodies, %,.0f lines/s offered, %d lines of each body on a series that changes every %d bodies of its "
            + "writer; 503 and unanswered bodies resent until 204; the modes ran %s%n", jar, WRITERS, LINES, rate,
            NEW_PER_BODY, BODIES_PER_NEW_SERIES, runs.size() > 1 ? "side by side" : "alone"));
        md.append("\n| measurement |");
        for (Run r : runs) {
            md.append(" `--ack ").append(r.mode).append("` |");
        }
        md.append("\n| --- |");
        runs.forEach(r -> md.append(" ---: |"));
        md.append('\n');
        for (String key : runs.get(0).results.keySet()) {
            md.append("| ").append(key).append(" |");
            for (Run r : runs) {
                md.append(' ').append(r.results.getOrDefault(key, "-")).append(" |");
            }
            md.append('\n');
        }
        Files.createDirectories(out);
        Files.writeString(out.resolve("long-outage.md"), md.toString());
        System.out.println(md);
    }

    static void log(String mode, String format, Object... args) {
        System.out.printf(Locale.ROOT, "%s [%s] %s%n", Instant.now(), mode, String.format(Locale.ROOT, format, args));
        System.out.flush();
    }

    /** One ack mode: its database, its collector, its writers, its figures. */
    static final class Run implements Runnable {
        final String mode;
        final Path dir;
        final String jar;
        final double rate;
        final long warmup;
        final long outage;
        final long tail;
        final java.util.LinkedHashMap<String, String> results = new java.util.LinkedHashMap<>();

        final BitSet[] acked = new BitSet[WRITERS];
        final AtomicLong ackedLines = new AtomicLong();
        final AtomicLong sentBodies = new AtomicLong();
        final AtomicLong resends = new AtomicLong();
        final AtomicLong unavailable = new AtomicLong(); // 503
        final AtomicLong unavailableDuringOutage = new AtomicLong();
        final AtomicLong unavailableWhileSpoolFull = new AtomicLong();
        final AtomicLong unanswered = new AtomicLong();
        final AtomicLong other = new AtomicLong();
        final AtomicLong ackedDuringOutage = new AtomicLong();
        final AtomicLong newSeriesDuringOutage = new AtomicLong();
        final AtomicBoolean outageOn = new AtomicBoolean();
        final AtomicBoolean spoolFull = new AtomicBoolean();
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicReference<String> firstUnavailable = new AtomicReference<>();

        Run(String mode, Path dir, String jar, double rate, long warmup, long outage, long tail) {
            this.mode = mode;
            this.dir = dir;
            this.jar = jar;
            this.rate = rate;
            this.warmup = warmup;
            this.outage = outage;
            this.tail = tail;
            for (int i = 0; i < WRITERS; i++) {
                acked[i] = new BitSet();
            }
        }

        @Override
        public void run() {
            try {
                execute();
            } catch (Throwable t) {
                log(mode, "FAILED: %s", t);
                t.printStackTrace(System.out);
                results.put("harness error", t.toString());
            }
        }

        private void execute() throws Exception {
            Files.createDirectories(dir);
            final Path spool = dir.resolve("spool");
            final Path collectorLog = dir.resolve("collector.log");
            try (RestartablePostgres pg = new RestartablePostgres(dir.resolve("pg"))) {
                final List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-jar", jar, "--jdbc-url", pg.jdbcUrl(), "--db-user", "postgres", "--http", "127.0.0.1:0",
                    "--spool-dir", spool.toString(), "--ack", mode);
                log(mode, "starting the collector: %s (log %s)", String.join(" ", cmd), collectorLog);
                final Process collector = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectOutput(collectorLog.toFile()).start();
                try {
                    final URI uri = awaitListening(collectorLog, collector);
                    final URI metrics = uri.resolve("/metrics");
                    final URI write = uri.resolve("/api/v2/write");
                    final List<Thread> writers = new ArrayList<>();
                    final double bodiesPerSecond = rate / LINES / WRITERS;
                    for (int w = 0; w < WRITERS; w++) {
                        final int writer = w;
                        final Thread t = new Thread(() -> write(write, writer, bodiesPerSecond), mode + "-w" + w);
                        t.setDaemon(true);
                        t.start();
                        writers.add(t);
                    }
                    final HttpClient client = HttpClient.newHttpClient();
                    final long[] peak = new long[2];
                    final Thread sampler = new Thread(() -> {
                        while (!stop.get()) {
                            try {
                                final String m = get(client, metrics);
                                final long bytes = (long) gauge(m, "spillway_spool_bytes");
                                final long spooled = (long) gauge(m, "spillway_events_spooled");
                                spoolFull.set(gauge(m, "spillway_spool_full") > 0);
                                peak[0] = Math.max(peak[0], bytes);
                                peak[1] = Math.max(peak[1], spooled);
                            } catch (Exception e) {
                                // the collector is busy or gone; the next sample tries again
                            }
                            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(500));
                        }
                    }, mode + "-sampler");
                    sampler.setDaemon(true);
                    sampler.start();
                    sleep(warmup);
                    final long ackedBefore = ackedLines.get();
                    log(mode, "warm-up done: %,d lines acknowledged; stopping PostgreSQL for %d s", ackedBefore,
                        outage);
                    pg.stop();
                    outageOn.set(true);
                    final long outageStart = System.nanoTime();
                    long nextReport = outageStart + TimeUnit.MINUTES.toNanos(1);
                    while (System.nanoTime() - outageStart < TimeUnit.SECONDS.toNanos(outage)) {
                        LockSupport.parkNanos(TimeUnit.SECONDS.toNanos(1));
                        if (System.nanoTime() > nextReport) {
                            nextReport += TimeUnit.MINUTES.toNanos(1);
                            log(mode, "outage %d s: %,d lines acknowledged during it, 503s %d, spool peak %,d bytes",
                                (System.nanoTime() - outageStart) / 1_000_000_000L, ackedLines.get() - ackedBefore,
                                unavailableDuringOutage.get(), peak[0]);
                        }
                    }
                    outageOn.set(false);
                    final long duringOutage = ackedLines.get() - ackedBefore;
                    final double outageSeconds = (System.nanoTime() - outageStart) / 1e9;
                    log(mode, "starting PostgreSQL again");
                    pg.start();
                    final long back = System.nanoTime();
                    log(mode, "PostgreSQL back after %.1f s", (back - outageStart) / 1e9);
                    double emptySeconds = -1;
                    double freedSeconds = -1;
                    final long give = TimeUnit.MINUTES.toNanos(30);
                    while (System.nanoTime() - back < give) {
                        try {
                            final String m = get(client, metrics);
                            final double spooled = gauge(m, "spillway_events_spooled");
                            final double bytes = gauge(m, "spillway_spool_bytes");
                            if (spooled == 0 && emptySeconds < 0) {
                                emptySeconds = (System.nanoTime() - back) / 1e9;
                            }
                            if (spooled == 0 && bytes == 0) {
                                freedSeconds = (System.nanoTime() - back) / 1e9;
                                break;
                            }
                        } catch (Exception e) {
                            // retry
                        }
                        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(200));
                    }
                    log(mode, "spool empty %.1f s and its bytes freed %.1f s after PostgreSQL was back", emptySeconds,
                        freedSeconds);
                    sleep(tail);
                    stop.set(true);
                    for (Thread t : writers) {
                        t.join(TimeUnit.MINUTES.toMillis(5));
                    }
                    sampler.join(10_000);
                    final long segmentFiles;
                    try (var s = Files.list(spool)) {
                        segmentFiles = s.filter(f -> f.getFileName().toString().endsWith(".seg")).count();
                    }
                    collector.destroy(); // SIGTERM
                    if (!collector.waitFor(3, TimeUnit.MINUTES)) {
                        throw new IllegalStateException("collector did not exit after SIGTERM; log " + collectorLog);
                    }
                    final Matcher account = ACCOUNT.matcher(Files.readString(collectorLog));
                    final String finalAccount = account.find() ? account.group() : "(none in the log)";

                    results.put("database down (stopped -> started again)", String.format(Locale.ROOT, "%.1f s",
                        (back - outageStart) / 1e9));
                    results.put("lines acknowledged (204) in all", fmt(ackedLines.get()));
                    results.put("of them while the database was down", fmt(duringOutage));
                    results.put("acknowledged rate while down (lines/s)", String.format(Locale.ROOT, "%,.0f",
                        duringOutage / outageSeconds));
                    results.put("series first seen while down, acknowledged", fmt(newSeriesDuringOutage.get()));
                    results.put("bodies sent / resent", fmt(sentBodies.get()) + " / " + fmt(resends.get()));
                    results.put("**503 answers while down (spool had room)**", "**" + fmt(
                        unavailableDuringOutage.get() - unavailableWhileSpoolFull.get()) + "**");
                    results.put("503 answers in all (while the spool was full)", fmt(unavailable.get()) + " ("
                        + fmt(unavailableWhileSpoolFull.get()) + ")");
                    results.put("first 503 (if any)", firstUnavailable.get() == null ? "-"
                        : firstUnavailable.get().replace('|', '/'));
                    results.put("unanswered (timeout, connection error) / other answers", fmt(unanswered.get())
                        + " / " + fmt(other.get()));
                    results.put("peak spool (bytes of segments, events)", String.format(Locale.ROOT,
                        "%,d B (%.1f MB), %,d events", peak[0], peak[0] / 1e6, peak[1]));
                    results.put("**database back -> spool empty / its bytes freed**", String.format(Locale.ROOT,
                        "**%.1f s / %.1f s**", emptySeconds, freedSeconds));
                    results.put("segment files left before SIGTERM", fmt(segmentFiles));
                    results.put("collector's final account", "`" + finalAccount + "`");
                    check(pg);
                } finally {
                    stop.set(true);
                    collector.destroyForcibly();
                }
            }
        }

        private void check(RestartablePostgres pg) throws Exception {
            long missing = 0;
            long duplicates = 0;
            long rows = 0;
            long unackedRows = 0;
            try (Connection c = DriverManager.getConnection(pg.jdbcUrl(), "postgres", "")) {
                c.setAutoCommit(false);
                for (int w = 0; w < WRITERS; w++) {
                    final BitSet seen = new BitSet();
                    try (Statement st = c.createStatement()) {
                        st.setFetchSize(50_000);
                        try (ResultSet rs = st.executeQuery("SELECT value::bigint FROM telemetry WHERE measurement "
                            + "= 'lo' AND tags->>'w' = '" + w + "'")) {
                            while (rs.next()) {
                                final int v = (int) rs.getLong(1);
                                rows++;
                                if (seen.get(v)) {
                                    duplicates++;
                                }
                                seen.set(v);
                                if (!acked[w].get(v)) {
                                    unackedRows++;
                                }
                            }
                        }
                    }
                    final BitSet lost = (BitSet) acked[w].clone();
                    lost.andNot(seen);
                    missing += lost.cardinality();
                }
                c.commit();
                results.put("rows in the table", fmt(rows));
                results.put("**acknowledged lines missing**", "**" + fmt(missing) + "**");
                results.put("**duplicated lines**", "**" + fmt(duplicates) + "**");
                results.put("rows of lines never answered 204 (resend still open at the stop)", fmt(unackedRows));
                results.put("(source_id, seq) stored twice", fmt(scalar(c, "SELECT count(*) FROM (SELECT source_id, "
                    + "seq FROM telemetry_events GROUP BY 1, 2 HAVING count(*) > 1) d")));
                results.put("event rows without a catalogue row", fmt(scalar(c, "SELECT count(*) FROM "
                    + "telemetry_events e WHERE NOT EXISTS (SELECT 1 FROM telemetry_sources s WHERE s.id = "
                    + "e.source_id)")));
                results.put("series filed from provisional ids", fmt(scalar(c, "SELECT count(*) FROM "
                    + "telemetry_series_provisional")));
                c.commit();
            }
            log(mode, "check: %,d rows, %,d missing, %,d duplicated", rows, missing, duplicates);
        }

        private static long scalar(Connection c, String sql) throws Exception {
            try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
                rs.next();
                return rs.getLong(1);
            }
        }

        /** Paced bodies of unique timestamped lines; each body resent until it is answered 204. */
        private void write(URI uri, int writer, double bodiesPerSecond) {
            final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10)).build();
            final long pace = (long) (1e9 / bodiesPerSecond);
            // Spread the writers' sends over the first period.
            long due = System.nanoTime() + pace * writer / WRITERS;
            LockSupport.parkNanos(due - System.nanoTime());
            int next = 0;
            for (int b = 0; !stop.get(); b++) {
                final StringBuilder body = new StringBuilder(LINES * 56);
                final boolean startedInOutage = outageOn.get();
                final boolean newSeries = b % BODIES_PER_NEW_SERIES == 0;
                for (int i = 0; i < LINES; i++) {
                    final int v = next + i;
                    body.append("lo,w=").append(writer);
                    if (i >= LINES - NEW_PER_BODY) {
                        body.append(",n=").append(b / BODIES_PER_NEW_SERIES);
                    }
                    body.append(" v=").append(v).append("i ").append(T0_NANOS + v * 1_000L * WRITERS + writer)
                        .append('\n');
                }
                final String text = body.toString();
                boolean first = true;
                while (true) {
                    sentBodies.incrementAndGet();
                    if (!first) {
                        resends.incrementAndGet();
                    }
                    first = false;
                    try {
                        final HttpResponse<String> r = client.send(HttpRequest.newBuilder(uri)
                            .timeout(Duration.ofSeconds(60)).POST(HttpRequest.BodyPublishers.ofString(text)).build(),
                            HttpResponse.BodyHandlers.ofString());
                        if (r.statusCode() == 204) {
                            synchronized (acked[writer]) {
                                acked[writer].set(next, next + LINES);
                            }
                            ackedLines.addAndGet(LINES);
                            if (startedInOutage && outageOn.get()) {
                                if (newSeries) {
                                    newSeriesDuringOutage.incrementAndGet();
                                }
                            }
                            break;
                        }
                        if (r.statusCode() == 503 || r.statusCode() == 429) {
                            unavailable.incrementAndGet();
                            if (outageOn.get()) {
                                unavailableDuringOutage.incrementAndGet();
                                if (spoolFull.get()) {
                                    unavailableWhileSpoolFull.incrementAndGet();
                                }
                            }
                            firstUnavailable.compareAndSet(null, Instant.now() + " (outage " + outageOn.get()
                                + "): " + r.statusCode() + " " + r.body().strip());
                        } else {
                            other.incrementAndGet();
                            log(mode, "writer %d: unexpected %d %s", writer, r.statusCode(), r.body());
                        }
                    } catch (HttpTimeoutException e) {
                        unanswered.incrementAndGet();
                    } catch (IOException e) {
                        unanswered.incrementAndGet();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                    LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(200)); // the client's back-off
                }
                next += LINES; // never reuse values, so a duplicate is unambiguous
                due += pace;
                final long wait = due - System.nanoTime();
                if (wait > 0) {
                    LockSupport.parkNanos(wait);
                }
            }
        }
    }

    /** Waits (3 min at most) for a collector started with {@code --http 127.0.0.1:0} to log its HTTP address. */
    public static URI awaitListening(Path log, Process p) throws Exception {
        final long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        while (System.nanoTime() < deadline) {
            if (Files.exists(log)) {
                final Matcher m = LISTENING.matcher(Files.readString(log));
                if (m.find()) {
                    return URI.create("http://127.0.0.1:" + m.group(2));
                }
            }
            if (!p.isAlive()) {
                throw new IllegalStateException("collector exited: " + Files.readString(log));
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(100));
        }
        throw new IllegalStateException("collector did not listen; log " + log);
    }

    static String get(HttpClient client, URI uri) throws Exception {
        return client.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).build(),
            HttpResponse.BodyHandlers.ofString()).body();
    }

    /** The first sample of a Prometheus gauge, labels ignored; NaN when absent. */
    static double gauge(String text, String name) {
        final Matcher m = Pattern.compile("(?m)^" + name + "(\\{[^}]*})? ([0-9.eE+-]+|NaN)$").matcher(text);
        if (!m.find()) {
            throw new IllegalStateException("no " + name + " in /metrics");
        }
        return Double.parseDouble(m.group(2));
    }

    private static String fmt(long n) {
        return String.format(Locale.ROOT, "%,d", n);
    }

    private static void sleep(long seconds) {
        final long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        long left;
        while ((left = until - System.nanoTime()) > 0) {
            LockSupport.parkNanos(left);
        }
    }
}
