package dev.spillway.benchmarks.page;

import com.sun.net.httpserver.HttpServer;
import dev.spillway.benchmarks.e2e.BenchDatabase;
import dev.spillway.collector.Collector;
import dev.spillway.collector.config.CollectorOptions;
import dev.spillway.statuspage.CheckRollups;

import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Executors;

/**
 * How fast the status page answers with many monitors and 30 days of checks on plain PostgreSQL (no TimescaleDB),
 * through a running collector's HTTP port, as a browser asks (sequential requests, no client cache).
 *
 * <p><b>Data</b> (the volume): {@code --monitors} monitors, each checked every {@code --interval-s} seconds
 * (60) for the last {@code --days} days (30), every check stored as the collector stores it: seven events
 * ({@code up}, {@code duration_ms}, {@code status_code}, {@code dns_ms}, {@code connect_ms}, {@code tls_ms},
 * {@code ttfb_ms}) at the check's time, monitors spread over the interval, rows in time order (as they arrive).
 * 1,000 monitors x 30 days = 43.2 million checks = 302 million rows. Seeded on the server
 * ({@code INSERT ... SELECT ... generate_series}, one statement per day, the {@code (source_id, time)} index built
 * afterwards). Rollups: hours for 30 days and minutes for 26 hours are generated up to 2 hours ago, and the
 * collector's own {@link CheckRollups#refresh()} computes the last 2 hours (and the day sums) from the raw rows;
 * {@code --rollups-from-raw} computes all of them from the raw rows instead (timed: what a first start on 30 days of
 * existing data costs; close to an hour for 302 million rows on a busy 2-core machine). So with {@code --days}
 * under 30 (e.g. 0.1 for 10,000 monitors: the strip needs 90 minutes) the 7 d / 30 d windows still read 30 days.
 * {@code --rollup-days N} generates hours for N days instead of 30 (100,000 monitors x 30 days would be 72 million
 * hour rows, most of an hour to generate here; the 30 d window then reads the N days there are). Monitors are
 * named {@code m00001} on, with a sixth digit from 100,000 monitors.
 * 1 % of the monitors are DOWN (their target answers 503); a loopback HTTP target answers the collector's real
 * checks during the measurement.
 *
 * <p><b>Measured</b>: the cold first requests (a new collector against the seeded database, asked the moment it
 * is up), then {@code --requests} sequential requests per URL (p50, p95,
 * max, body size), and the rollup refresh the collector runs every 30 s. The header prints the command, load
 * average and machine, so figures from a shared machine can be told from idle ones.
 *
 * <p>{@code --data-dir DIR} keeps the embedded database in DIR: the first run seeds it, later runs with the same
 * {@code --monitors/--days/--interval-s} only add the checks missing up to now and catch the rollups up (seeding
 * 302 million rows takes a while on a small machine). Without it, a temporary database is seeded and dropped.
 *
 * <pre>
 * java -Xmx2g -cp benchmarks/target/benchmarks.jar dev.spillway.benchmarks.page.StatusPageBench \
 *     [--monitors 1000] [--days 30] [--interval-s 60] [--requests 30] [--data-dir DIR] [--rollups-from-raw]
 *     [--rollup-days 30] [--settle-s 30]
 * </pre>
 *
 * <p>{@code --settle-s}: after the cold requests and one series of overview requests "right after start" (while
 * the collector's first round of checks of every monitor and its start-up garbage collections run), the warm
 * measurements wait this long, so they measure a running collector rather than its start.
 */
public final class StatusPageBench {

    private static final String[] FIELDS = {"up", "duration_ms", "status_code", "dns_ms", "connect_ms", "tls_ms",
        "ttfb_ms"};
    /** Days of generated hour rollups unless {@code --rollup-days} says otherwise. */
    private static final int ROLLUP_DAYS = 30;
    /** Rollups this far back are computed from the raw rows (older ones are generated unless --rollups-from-raw). */
    private static final Duration RAW_ROLLUP = Duration.ofHours(2);

    private StatusPageBench() {
    }

    public static void main(String[] args) throws Exception {
        int monitors = 1_000;
        double days = 30;
        int intervalS = 60;
        int requests = 30;
        int settleS = 30;
        Path dataDir = null;
        boolean rollupsFromRaw = false;
        int rollupDays = ROLLUP_DAYS;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--monitors" -> monitors = Integer.parseInt(args[++i]);
                case "--days" -> days = Double.parseDouble(args[++i]);
                case "--interval-s" -> intervalS = Integer.parseInt(args[++i]);
                case "--requests" -> requests = Integer.parseInt(args[++i]);
                case "--settle-s" -> settleS = Integer.parseInt(args[++i]);
                case "--data-dir" -> dataDir = Path.of(args[++i]);
                case "--rollups-from-raw" -> rollupsFromRaw = true;
                case "--rollup-days" -> rollupDays = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        System.out.println("[page] command: StatusPageBench " + String.join(" ", args));
        System.out.println("[page] started " + Instant.now().truncatedTo(ChronoUnit.SECONDS) + ", "
            + Runtime.getRuntime().availableProcessors() + " CPUs, " + loadAverage() + ", JVM "
            + System.getProperty("java.version") + " " + ManagementFactory.getRuntimeMXBean().getInputArguments());
        final HttpServer target = target();
        try (BenchDatabase db = dataDir == null ? BenchDatabase.open() : BenchDatabase.openKept(dataDir)) {
            System.out.println("[page] PostgreSQL: " + db.version() + (dataDir == null ? "" : ", data in " + dataDir));
            final String[] collectorArgs = {"--jdbc-url", db.jdbcUrl(), "--db-user", db.user(), "--db-password",
                db.password() == null ? "" : db.password(), "--http", "127.0.0.1:0", "--spool-dir", "off",
                // the rows layout: the seed INSERTs rows and rebuilds the table's index (a view takes neither)
                "--storage-layout", "rows"};
            try (Collector schemaOnly = Collector.start(config(collectorArgs).config())) {
                System.out.println("[page] schema ready (collector " + schemaOnly.httpAddress() + " closed again)");
            }
            final Seed seed = new Seed(db, monitors, days, intervalS, rollupsFromRaw, rollupDays);
            seed.ensure();
            try (Connection c = db.connect(); PreparedStatement ps = c.prepareStatement(
                "UPDATE monitors SET url = ? || substr(name, 2) WHERE url IS DISTINCT FROM ? || substr(name, 2)")) {
                final String base = "http://127.0.0.1:" + target.getAddress().getPort() + "/";
                ps.setString(1, base);
                ps.setString(2, base);
                ps.executeUpdate();
            }
            seed.printVolume();
            run(collectorArgs, "http://127.0.0.1:" + target.getAddress().getPort() + "/", monitors, requests,
                settleS);
        } finally {
            target.stop(0);
        }
        System.out.println("[page] finished " + Instant.now().truncatedTo(ChronoUnit.SECONDS) + ", " + loadAverage());
    }

    private static void run(String[] collectorArgs, String targetUrl, int monitors, int requests, int settleS)
        throws Exception {
        final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        // The client's own first request costs a second or more on a busy machine (class loading, its selector
        // thread): pay it against the monitors' target, so the cold figures below are the collector's.
        for (int i = 0; i < 20; i++) {
            http.send(HttpRequest.newBuilder(URI.create(targetUrl + "1")).GET().build(),
                HttpResponse.BodyHandlers.ofByteArray());
        }
        final long startAt = System.nanoTime();
        try (Collector collector = Collector.start(config(collectorArgs).config())) {
            final String base = "http://127.0.0.1:" + collector.httpAddress().getPort();
            final double startMs = (System.nanoTime() - startAt) / 1e6;
            final String last = "m" + String.format(Locale.ROOT, "%0" + width(monitors) + "d", monitors);
            System.out.printf(Locale.ROOT, "[page] collector started in %.0f ms; cold requests follow at once, "
                + "each the first of its kind in this JVM and on this collector (the first overview request shares the "
                + "page's start-up read if that still runs; the collector logs that read's phases):%n", startMs);
            System.out.println("| cold (first) request | ms | body | sent at (ms after start) |");
            System.out.println("| --- | ---: | ---: | ---: |");
            once(http, base + "/ping", "GET /ping (control: the HTTP path's own first request)", startAt, 204);
            once(http, base + "/api/v1/page/overview", "GET /api/v1/page/overview, the moment the collector is up",
                startAt, 200);
            once(http, base + "/", "GET / (first HTML render)", startAt, 200);
            once(http, base + "/monitors/" + last + "?range=24h", "GET /monitors/NAME?range=24h (first)", startAt, 200);
            once(http, base + "/monitors/" + last + "?range=30d", "GET /monitors/NAME?range=30d (first)", startAt, 200);
            System.out.println();
            System.out.printf(Locale.ROOT, "[page] warm: %d sequential requests each after 5 unmeasured ones; "
                + "the overview is answered from the page's shared snapshot (re-read every 10 s in the background)%n",
                requests);
            System.out.println("| warm request | p50 ms | p95 ms | max ms | body |");
            System.out.println("| --- | ---: | ---: | ---: | ---: |");
            measure(http, base + "/api/v1/page/overview", "GET /api/v1/page/overview (JSON), right after start", requests);
            System.out.printf(Locale.ROOT, "[page] settling %d s before the rest (%s)%n", settleS, loadAverage());
            // A fixed pause (the start's first round of checks and its collections pass), not a wait for an
            // event: parked until its end, whatever wakes the thread early.
            final long settledAt = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(settleS);
            for (long left = settledAt - System.nanoTime(); left > 0; left = settledAt - System.nanoTime()) {
                java.util.concurrent.locks.LockSupport.parkNanos(left);
            }
            System.out.printf(Locale.ROOT, "[page] settled (%s)%n", loadAverage());
            measure(http, base + "/api/v1/page/overview", "GET /api/v1/page/overview (JSON)", requests);
            measure(http, base + "/", "GET / (HTML, same data embedded)", requests);
            final int lastPage = (monitors + 99) / 100;
            if (lastPage > 1) {
                measure(http, base + "/?page=" + lastPage, "GET /?page=" + lastPage + " (last page)", requests);
            }
            measure(http, base + "/monitors/" + last + "?range=24h", "GET /monitors/NAME?range=24h", requests);
            measure(http, base + "/monitors/" + last + "?range=30d", "GET /monitors/NAME?range=30d", requests);
            measure(http, base + "/api/v1/page/monitors/" + last + "?range=24h",
                "GET /api/v1/page/monitors/NAME?range=24h", requests);
            // Filters: a search by name, a state, a tag (none of the seeded monitors has one: an empty answer).
            measure(http, base + "/?q=m0999", "GET /?q=m0999 (search by name)", requests);
            measure(http, base + "/?state=DOWN", "GET /?state=DOWN (filter by state)", requests);
            measure(http, base + "/?tag=team%3Dweb", "GET /?tag=team=web (filter by tag)", requests);
            refreshes(collectorDataSource(collectorArgs));
        }
    }

    /**
     * The rollup refresh as the collector runs it, while the collector's checks arrive through its pipeline (and
     * its own keeper refreshes too: whichever holds the advisory lock does the work): one every 15 s for 2 minutes,
     * each with what it recomputed. Then the periodic heavier steps forced: the last closed hour from its minutes,
     * and today's day from its hours, for every monitor.
     */
    /**
     * One refresh that ran: while the collector's own rollup keeper holds the refresh lock, tries again every 200 ms,
     * up to {@code within}.
     */
    private static CheckRollups.Work refreshWhenFree(CheckRollups rollups, Duration within) throws Exception {
        final long deadline = System.nanoTime() + within.toNanos();
        while (true) {
            rollups.refresh();
            final CheckRollups.Work w = rollups.lastWork();
            if (w.ran()) {
                return w;
            }
            if (System.nanoTime() - deadline > 0) {
                throw new IllegalStateException("no refresh could take the rollup lock within " + within);
            }
            java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofMillis(200).toNanos());
        }
    }

    private static void refreshes(javax.sql.DataSource ds) throws Exception {
        final CheckRollups rollups = new CheckRollups(ds, "telemetry_events", Instant::now);
        System.out.println();
        System.out.println("| rollup refresh (collector's checks arriving) | ms | minutes | hours | days |");
        System.out.println("| --- | ---: | ---: | ---: | ---: |");
        final List<Double> ms = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            final CheckRollups.Work w = refreshWhenFree(rollups, Duration.ofMinutes(2));
            ms.add((double) w.millis());
            System.out.printf(Locale.ROOT, "| refresh %d | %d | %d | %d | %d |%n", i + 1, w.millis(), w.minutes(),
                w.hours(), w.days());
            Thread.sleep(15_000);
        }
        final Instant hour = Instant.now().truncatedTo(ChronoUnit.HOURS).minus(1, ChronoUnit.HOURS);
        forced(ds, rollups, "'h', '" + hour + "'", "the last closed hour (" + hour + ") from its minutes");
        final Instant day = Instant.now().truncatedTo(ChronoUnit.DAYS);
        forced(ds, rollups, "'d', '" + day + "'", "today's day (" + day + ") from its hours");
        ms.sort(Double::compare);
        System.out.printf(Locale.ROOT, "[page] rollup refresh: p50 %.0f ms, max %.0f ms over %d refreshes (%s)%n",
            ms.get(ms.size() / 2), ms.get(ms.size() - 1), ms.size(), loadAverage());
    }

    /**
     * Marks a bucket dirty and refreshes until it is done (a refresh is bounded: a whole hour or day of every
     * monitor takes several, chunk by chunk): how many refreshes, the longest, and their sum.
     */
    private static void forced(javax.sql.DataSource ds, CheckRollups rollups, String row, String what)
        throws Exception {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.execute("INSERT INTO " + CheckRollups.DIRTY + " (level, bucket) VALUES (" + row + ") "
                + "ON CONFLICT DO NOTHING");
        }
        final long deadline = System.nanoTime() + Duration.ofMinutes(10).toNanos();
        long longest = 0;
        long sum = 0;
        int n = 0;
        int minutes = 0;
        while (true) {
            rollups.refresh();
            final CheckRollups.Work w = rollups.lastWork();
            if (!w.ran()) {
                // The collector's keeper holds the lock: try again after it (bounded by the deadline below).
                java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofMillis(200).toNanos());
            } else {
                n++;
                sum += w.millis();
                longest = Math.max(longest, w.millis());
                minutes += w.minutes();
            }
            try (Connection c = ds.getConnection(); Statement st = c.createStatement(); ResultSet rs =
                st.executeQuery("SELECT count(*) FROM " + CheckRollups.DIRTY + " WHERE (level, bucket) = (" + row
                    + ")")) {
                rs.next();
                if (rs.getLong(1) == 0) {
                    break;
                }
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(what + " not done in 10 minutes");
            }
        }
        System.out.printf(Locale.ROOT, "| forced: %s | %d refreshes, longest %d ms, sum %d ms (with %d minutes) |%n",
            what, n, longest, sum, minutes);
    }

    private static CollectorOptions.Run config(String[] args) {
        return (CollectorOptions.Run) CollectorOptions.parse(args, Map.of(),
            new PrintStream(OutputStream.nullOutputStream()));
    }

    private static javax.sql.DataSource collectorDataSource(String[] args) {
        final org.postgresql.ds.PGSimpleDataSource ds = new org.postgresql.ds.PGSimpleDataSource();
        ds.setUrl(args[1]);
        ds.setUser(args[3]);
        ds.setPassword(args[5]);
        return ds;
    }

    /** The monitors' target: 200, or 503 for every hundredth monitor (the path is the monitor's number). */
    private static HttpServer target() throws Exception {
        final HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 256);
        s.createContext("/", ex -> {
            final String path = ex.getRequestURI().getPath();
            int n = 0;
            try {
                n = Integer.parseInt(path.substring(1));
            } catch (NumberFormatException e) {
                n = 1;
            }
            final byte[] body = "ok\n".getBytes(StandardCharsets.US_ASCII);
            ex.sendResponseHeaders(n % 100 == 0 ? 503 : 200, body.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        });
        s.setExecutor(Executors.newFixedThreadPool(4, r -> {
            final Thread t = new Thread(r, "bench-target");
            t.setDaemon(true);
            return t;
        }));
        s.start();
        return s;
    }

    private static void once(HttpClient http, String url, String what, long startAt, int status) throws Exception {
        final long t0 = System.nanoTime();
        final HttpResponse<byte[]> r = http.send(HttpRequest.newBuilder(URI.create(url)).GET().build(),
            HttpResponse.BodyHandlers.ofByteArray());
        final double ms = (System.nanoTime() - t0) / 1e6;
        if (r.statusCode() != status) {
            throw new IllegalStateException(url + " answered " + r.statusCode());
        }
        System.out.printf(Locale.ROOT, "| %s | %.0f | %,d B | %.0f |%n", what, ms, r.body().length,
            (t0 - startAt) / 1e6);
    }

    private static void check(String url, HttpResponse<byte[]> r) {
        if (r.statusCode() != 200) {
            throw new IllegalStateException(url + " answered " + r.statusCode() + ": "
                + new String(r.body(), StandardCharsets.UTF_8));
        }
    }

    private static void measure(HttpClient http, String url, String what, int requests) throws Exception {
        final HttpRequest req = HttpRequest.newBuilder(URI.create(url)).GET().build();
        int bytes = 0;
        for (int i = 0; i < 5; i++) {
            final HttpResponse<byte[]> r = http.send(req, HttpResponse.BodyHandlers.ofByteArray());
            check(url, r);
            bytes = r.body().length;
        }
        final List<Double> ms = new ArrayList<>();
        for (int i = 0; i < requests; i++) {
            final long t0 = System.nanoTime();
            check(url, http.send(req, HttpResponse.BodyHandlers.ofByteArray()));
            ms.add((System.nanoTime() - t0) / 1e6);
        }
        ms.sort(Double::compare);
        System.out.printf(Locale.ROOT, "| %s | %.0f | %.0f | %.0f | %,d B |%n", what, ms.get(ms.size() / 2),
            ms.get((int) Math.ceil(ms.size() * 0.95) - 1), ms.get(ms.size() - 1), bytes);
    }

    /**
     * Digits of the monitors' numbers in their names ({@code m00001}): 5, or more for 100,000 monitors and over (a
     * 5-digit pad would cut {@code 100000} to {@code 10000}, a name already taken).
     */
    static int width(int monitors) {
        return Math.max(5, Integer.toString(monitors).length());
    }

    static String loadAverage() {
        try {
            final String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split(" ");
            return "load average " + f[0] + " " + f[1] + " " + f[2];
        } catch (Exception e) {
            return "load average " + ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        }
    }

    /** The seeded data: written once, topped up to now on later runs over a kept data directory. */
    private static final class Seed {
        private final BenchDatabase db;
        private final int monitors;
        private final double days;
        private final int intervalS;

        private final boolean rollupsFromRaw;

        private final int rollupDays;

        Seed(BenchDatabase db, int monitors, double days, int intervalS, boolean rollupsFromRaw, int rollupDays) {
            this.rollupDays = rollupDays;
            this.rollupsFromRaw = rollupsFromRaw;
            this.db = db;
            this.monitors = monitors;
            this.days = days;
            this.intervalS = intervalS;
        }

        void ensure() throws Exception {
            try (Connection c = db.connect(); Statement st = c.createStatement()) {
                st.execute("CREATE TABLE IF NOT EXISTS bench_seed (monitors int, days double precision, interval_s int, "
                    + "first_check timestamptz, seeded_to timestamptz)");
                try (ResultSet rs = st.executeQuery("SELECT monitors, days, interval_s, first_check, seeded_to "
                    + "FROM bench_seed")) {
                    if (rs.next()) {
                        if (rs.getInt(1) != monitors || rs.getDouble(2) != days || rs.getInt(3) != intervalS) {
                            throw new IllegalStateException("the data directory holds " + rs.getInt(1) + " monitors, "
                                + rs.getDouble(2) + " days, every " + rs.getInt(3) + " s: use another --data-dir");
                        }
                        topUp(c, rs.getTimestamp(4).toInstant(), rs.getTimestamp(5).toInstant());
                        return;
                    }
                }
            }
            seed();
        }

        private void seed() throws Exception {
            final Instant to = Instant.now().truncatedTo(ChronoUnit.MINUTES);
            final Instant from = to.minus(Duration.ofMinutes(Math.round(days * 1440)));
            final long t0 = System.nanoTime();
            try (Connection c = db.connect(); Statement st = c.createStatement()) {
                final StringBuilder fields = new StringBuilder();
                for (String f : FIELDS) {
                    fields.append(fields.length() == 0 ? "" : ", ").append('\'').append(f).append('\'');
                }
                st.execute("INSERT INTO telemetry_sources (measurement, tags, field) "
                    + "SELECT 'monitor', jsonb_build_object('monitor', 'm' || lpad(i::text, " + width(monitors) + ", '0')), f "
                    + "FROM generate_series(1, " + monitors + ") i, unnest(ARRAY[" + fields + "]) f "
                    + "ON CONFLICT DO NOTHING");
                // The series to fill, with each monitor's number at hand (no jsonb per generated row).
                st.execute("CREATE TABLE bench_series AS SELECT s.id, s.field, substr(s.tags->>'monitor', 2)::int AS i "
                    + "FROM telemetry_sources s WHERE s.measurement = 'monitor' AND s.field IN (" + fields + ")");
                // Bulk load without the index, then build it once: several times faster than maintaining it.
                st.execute("DROP INDEX IF EXISTS telemetry_events_src_time_idx");
                long rows = 0;
                for (Instant a = from; a.isBefore(to); a = a.plus(Duration.ofDays(1))) {
                    final Instant b = a.plus(Duration.ofDays(1)).isBefore(to) ? a.plus(Duration.ofDays(1)) : to;
                    final long s0 = System.nanoTime();
                    final long n = fill(c, a, b, from);
                    rows += n;
                    System.out.printf(Locale.ROOT, "[page] seeded %s .. %s: %,d rows in %.1f s (%s)%n", a, b, n,
                        (System.nanoTime() - s0) / 1e9, loadAverage());
                }
                final long i0 = System.nanoTime();
                st.execute("SET maintenance_work_mem = '1GB'");
                st.execute("CREATE INDEX telemetry_events_src_time_idx ON telemetry_events (source_id, time DESC)");
                System.out.printf(Locale.ROOT, "[page] index (source_id, time DESC) built in %.1f s%n",
                    (System.nanoTime() - i0) / 1e9);
                st.execute("UPDATE telemetry_sources s SET next_seq = " + (Duration.between(from, to).getSeconds()
                    / intervalS + 1) + " FROM bench_series b WHERE b.id = s.id");
                states(st);
                st.execute("INSERT INTO bench_seed VALUES (" + monitors + ", " + days + ", " + intervalS + ", '"
                    + from + "', '" + to + "')");
                st.execute("ANALYZE");
                System.out.printf(Locale.ROOT, "[page] seeded %,d monitors, %,d raw rows in %.1f s%n", monitors, rows,
                    (System.nanoTime() - t0) / 1e9);
            }
            generatedRollups(to);
            catchUpRollups("rollups of the last " + RAW_ROLLUP + " computed by CheckRollups.refresh (minutes from raw rows, "
                + "closed hours from minutes, days from hours)");
        }

        /**
         * Rollups older than {@link #RAW_ROLLUP}, generated rather than computed from the raw rows (computing 30 days
         * of them from 302 million rows takes the better part of an hour on a small machine, and the page reads the
         * rollup rows the same way whatever computed them): hours for 30 days, minutes for 26 hours (the detail
         * page's 24 h range; for the first 1,000 monitors and the last one, the ones the harness opens).
         * {@code --rollups-from-raw} computes them all from the raw rows instead.
         */
        private void generatedRollups(Instant to) throws Exception {
            if (rollupsFromRaw) {
                return;
            }
            final Instant until = to.minus(RAW_ROLLUP).truncatedTo(ChronoUnit.HOURS);
            final long t0 = System.nanoTime();
            try (Connection c = db.connect(); Statement st = c.createStatement()) {
                try (ResultSet rs = st.executeQuery("SELECT count(*) FROM " + CheckRollups.HOUR)) {
                    rs.next();
                    if (rs.getLong(1) > 0) {
                        return;
                    }
                }
                final String h = "(extract(epoch FROM b)::bigint / 3600 + i)";
                st.execute("INSERT INTO " + CheckRollups.HOUR + " (bucket, monitor, checks, up_checks, p50_ms, p95_ms, "
                    + "max_ms) SELECT b, 'm' || lpad(i::text, " + width(monitors) + ", '0'), " + (3600 / intervalS) + ", "
                    + (3600 / intervalS) + " - CASE WHEN " + h + " % 97 = 0 THEN 1 ELSE 0 END, 40 + " + h + " % 30, "
                    + "90 + " + h + " % 60, 300 FROM generate_series(1, " + monitors + ") i, generate_series('"
                    + until.minus(Duration.ofDays(rollupDays)) + "'::timestamptz, '" + until
                    + "'::timestamptz - interval '1 hour', interval '1 hour') b ON CONFLICT DO NOTHING");
                final String v = "40 + (extract(epoch FROM b)::bigint / 60 + i) % 30";
                st.execute("INSERT INTO " + CheckRollups.MINUTE + " (bucket, monitor, checks, up_checks, p50_ms, p95_ms, "
                    + "max_ms, durations) SELECT b, 'm' || lpad(i::text, " + width(monitors) + ", '0'), 1, 1, " + v + ", " + v + ", " + v
                    + ", ARRAY[(" + v + ")::double precision] "
                    + "FROM generate_series(1, " + monitors + ") i, generate_series('" + until.minus(Duration.ofHours(26))
                    + "'::timestamptz, '" + until + "'::timestamptz - interval '1 minute', interval '1 minute') b "
                    + "WHERE i <= 1000 OR i % 100 = 0 OR i = " + monitors + " ON CONFLICT DO NOTHING");
                // As a collector that kept them up to then and stopped: the minutes since are to be done from raw rows.
                st.execute("INSERT INTO " + CheckRollups.CURSOR + " (id, ledger_seen) VALUES (1, now()) "
                    + "ON CONFLICT (id) DO UPDATE SET ledger_seen = now()");
                st.execute("INSERT INTO " + CheckRollups.DIRTY + " (level, bucket) SELECT 'm', generate_series('" + until
                    + "'::timestamptz, now(), interval '1 minute') ON CONFLICT DO NOTHING");
            }
            System.out.printf(Locale.ROOT, "[page] rollups before %s generated (hours for %d days, minutes for 26 h) "
                + "in %.1f s; the minutes since marked to be done%n", until, rollupDays, (System.nanoTime() - t0) / 1e9);
        }

        /**
         * One check every interval per monitor in {@code [a, b)}, seven rows each, in time order (the lateral
         * subquery with OFFSET 0 keeps the time series the outer loop). Monitor i is
         * checked at an offset of {@code i mod interval} seconds; monitor i with i % 100 == 0 fails its checks of
         * the last 30 minutes (it is DOWN), every 997th check of the others fails.
         */
        private long fill(Connection c, Instant a, Instant b, Instant first) throws Exception {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO telemetry_events (time, source_id, kind, value, seq) "
                + "SELECT g.t + (s.i % " + intervalS + ") * interval '1 second', s.id, "
                + "CASE s.field WHEN 'up' THEN 4 WHEN 'status_code' THEN 2 ELSE 1 END, "
                + "CASE s.field "
                + "WHEN 'up' THEN CASE WHEN (s.i % 100 = 0 AND g.t > ?::timestamptz - interval '30 minutes') "
                + "OR (g.k + s.i * 7) % 997 = 0 THEN 0 ELSE 1 END "
                + "WHEN 'status_code' THEN CASE WHEN s.i % 100 = 0 AND g.t > ?::timestamptz - interval '30 minutes' "
                + "THEN 503 ELSE 200 END "
                + "WHEN 'dns_ms' THEN 1 + (g.k + s.i) % 3 "
                + "WHEN 'connect_ms' THEN 2 + (g.k * 3 + s.i) % 5 "
                + "WHEN 'tls_ms' THEN 10 + (g.k + s.i) % 20 "
                + "WHEN 'ttfb_ms' THEN 30 + (g.k * 7 + s.i) % 90 "
                + "ELSE 35 + (g.k * 7 + s.i) % 90 + (g.k + s.i) % 20 END, g.k - ? "
                + "FROM (SELECT t, (extract(epoch FROM t)::bigint / " + intervalS + ") AS k FROM generate_series(?::timestamptz, "
                + "?::timestamptz - interval '1 microsecond', interval '" + intervalS + " seconds') t) g "
                + "CROSS JOIN LATERAL (SELECT id, field, i FROM bench_series WHERE g.k >= 0 OFFSET 0) s")) {
                final Instant now = Instant.now();
                ps.setTimestamp(1, Timestamp.from(now));
                ps.setTimestamp(2, Timestamp.from(now));
                ps.setLong(3, first.getEpochSecond() / intervalS);
                ps.setTimestamp(4, Timestamp.from(a));
                ps.setTimestamp(5, Timestamp.from(b));
                return ps.executeUpdate();
            }
        }

        private void states(Statement st) throws Exception {
            st.execute("INSERT INTO monitors (name, url, interval_ms) SELECT 'm' || lpad(i::text, " + width(monitors) + ", '0'), "
                + "'http://127.0.0.1:9/' || i, " + intervalS * 1000L + " FROM generate_series(1, " + monitors + ") i "
                + "ON CONFLICT DO NOTHING");
            st.execute("INSERT INTO monitor_state (name, state, since, first_failure_at, last_error) "
                + "SELECT 'm' || lpad(i::text, " + width(monitors) + ", '0'), CASE WHEN i % 100 = 0 THEN 'DOWN' ELSE 'UP' END, "
                + "now() - interval '3 days', CASE WHEN i % 100 = 0 THEN now() - interval '30 minutes' END, "
                + "CASE WHEN i % 100 = 0 THEN 'HTTP 503' END FROM generate_series(1, " + monitors + ") i "
                + "ON CONFLICT DO NOTHING");
        }

        /** A later run: the checks from the last seeded minute up to now, then the rollups caught up. */
        private void topUp(Connection c, Instant first, Instant seededTo) throws Exception {
            final Instant to = Instant.now().truncatedTo(ChronoUnit.MINUTES);
            if (to.isAfter(seededTo)) {
                final long t0 = System.nanoTime();
                final long n = fill(c, seededTo, to, first);
                try (PreparedStatement ps = c.prepareStatement("UPDATE bench_seed SET seeded_to = ?")) {
                    ps.setTimestamp(1, Timestamp.from(to));
                    ps.executeUpdate();
                }
                // Written by SQL, not through a sink: no ledger rows say so, so mark their minutes as a batch would.
                try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + CheckRollups.DIRTY + " (level, bucket) "
                    + "SELECT 'm', generate_series(?::timestamptz, ?::timestamptz, interval '1 minute') "
                    + "ON CONFLICT DO NOTHING")) {
                    ps.setTimestamp(1, Timestamp.from(seededTo));
                    ps.setTimestamp(2, Timestamp.from(to));
                    ps.executeUpdate();
                }
                System.out.printf(Locale.ROOT, "[page] reused the data directory; added %,d rows (%s .. %s) in %.1f s%n",
                    n, seededTo, to, (System.nanoTime() - t0) / 1e9);
            }
            generatedRollups(to);
            catchUpRollups("rollups caught up to now (CheckRollups.refresh after a pause)");
        }

        private void catchUpRollups(String what) throws Exception {
            final org.postgresql.ds.PGSimpleDataSource ds = new org.postgresql.ds.PGSimpleDataSource();
            ds.setUrl(db.jdbcUrl());
            ds.setUser(db.user());
            ds.setPassword(db.password());
            final long t0 = System.nanoTime();
            final CheckRollups rollups = new CheckRollups(ds, "telemetry_events", Instant::now);
            int refreshes = 0;
            long maxMs = 0;
            boolean more = true;
            while (more) {
                more = rollups.refresh();
                refreshes++;
                maxMs = Math.max(maxMs, rollups.lastWork().millis());
            }
            System.out.printf(Locale.ROOT, "[page] %s: %.1f s in %d bounded refreshes (longest %d ms)%n", what,
                (System.nanoTime() - t0) / 1e9, refreshes, maxMs);
            db.execute("ANALYZE monitor_checks_1m", "ANALYZE monitor_checks_1h", "ANALYZE monitor_checks_1d");
        }

        void printVolume() throws Exception {
            try (Connection c = db.connect(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(
                "SELECT (SELECT reltuples::bigint FROM pg_class WHERE relname = 'telemetry_events'), "
                    + "pg_size_pretty(pg_total_relation_size('telemetry_events')), "
                    + "(SELECT count(*) FROM " + CheckRollups.HOUR + "), (SELECT count(*) FROM " + CheckRollups.MINUTE
                    + "), (SELECT min(time) FROM telemetry_events e JOIN bench_series b ON b.id = e.source_id "
                    + "WHERE b.id = (SELECT min(id) FROM bench_series))")) {
                rs.next();
                System.out.printf(Locale.ROOT, "[page] data: %,d monitors, checks every %d s for %s days (from %s): "
                        + "telemetry_events about %,d rows, %s with its index; %,d hour and %,d minute rollup rows%n",
                    monitors, intervalS, days, rs.getTimestamp(5) == null ? "?" : rs.getTimestamp(5).toInstant(),
                    rs.getLong(1), rs.getString(2), rs.getLong(3), rs.getLong(4));
            }
        }
    }
}
