package dev.spillway.benchmarks.page;

import dev.spillway.benchmarks.e2e.BenchDatabase;
import dev.spillway.collector.Collector;
import dev.spillway.collector.config.CollectorOptions;
import dev.spillway.collector.page.CheckRollups;

import java.io.OutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * How fast the status page answers with many monitors on plain PostgreSQL (no TimescaleDB), through the running
 * collector's HTTP port, as a browser would ask (sequential requests, no client cache).
 *
 * <p>Data per monitor, as the page reads it: 30 days of 1-hour check rollups (60 checks an hour, as 60 s checks
 * give) and their 1-day sums, 26 hours of 1-minute rollups (for the first 1,000 monitors: the detail page reads one monitor's by primary
 * key, so more rows would only cost seeding time), and the last 2 hours of raw 60 s checks with all seven result
 * fields (the strip and the last check read the raw series through the {@code (source_id, time)} index, newest
 * first, so older raw rows do not change what those queries touch). 1 % of the monitors are DOWN. The collector's
 * own rollup refresh (every 30 s) runs during the measurement, as in production, and is also timed on its own.
 *
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar dev.spillway.benchmarks.page.StatusPageBench [--monitors N] [--requests R]
 * </pre>
 */
public final class StatusPageBench {

    private StatusPageBench() {
    }

    public static void main(String[] args) throws Exception {
        int monitors = 1_000;
        int requests = 30;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--monitors" -> monitors = Integer.parseInt(args[++i]);
                case "--requests" -> requests = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        try (BenchDatabase db = BenchDatabase.open()) {
            System.out.println("[page] PostgreSQL: " + db.version());
            final var parsed = CollectorOptions.parse(new String[] {"--jdbc-url", db.jdbcUrl(), "--db-user", db.user(),
                "--db-password", db.password() == null ? "" : db.password(), "--http", "127.0.0.1:0"}, Map.of(),
                new PrintStream(OutputStream.nullOutputStream()));
            try (Collector collector = Collector.start(((CollectorOptions.Run) parsed).config())) {
                final long seedStart = System.nanoTime();
                seed(db, monitors);
                System.out.printf(Locale.ROOT, "[page] seeded %,d monitors in %.1f s%n", monitors,
                    (System.nanoTime() - seedStart) / 1e9);
                explain(db);
                final String base = "http://127.0.0.1:" + collector.httpAddress().getPort();
                final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
                System.out.println("| what | p50 ms | p95 ms | max ms | body |");
                System.out.println("| --- | ---: | ---: | ---: | ---: |");
                measure(http, base + "/api/v1/page/overview", "GET /api/v1/page/overview (JSON)", requests);
                measure(http, base + "/", "GET / (HTML with the same data embedded)", requests);
                measure(http, base + "/monitors/m00001?range=24h", "GET /monitors/NAME?range=24h", requests);
                measure(http, base + "/monitors/m00001?range=30d", "GET /monitors/NAME?range=30d", requests);
                measure(http, base + "/api/v1/page/monitors/m00001?range=24h", "GET /api/v1/page/monitors/NAME?range=24h",
                    requests);
                final CheckRollups rollups = new CheckRollups(pool(db), "telemetry_events", Instant::now);
                final double[] refresh = new double[5];
                for (int i = 0; i < refresh.length; i++) {
                    final long t0 = System.nanoTime();
                    rollups.refresh();
                    refresh[i] = (System.nanoTime() - t0) / 1e6;
                }
                Arrays.sort(refresh);
                System.out.printf(Locale.ROOT, "| rollup refresh (collector job, every 30 s) | %.0f | | %.0f | |%n",
                    refresh[refresh.length / 2], refresh[refresh.length - 1]);
            }
        }
    }

    private static javax.sql.DataSource pool(BenchDatabase db) {
        final org.postgresql.ds.PGSimpleDataSource ds = new org.postgresql.ds.PGSimpleDataSource();
        ds.setUrl(db.jdbcUrl());
        ds.setUser(db.user());
        ds.setPassword(db.password());
        return ds;
    }

    private static void measure(HttpClient http, String url, String what, int requests) throws Exception {
        final HttpRequest req = HttpRequest.newBuilder(URI.create(url)).GET().build();
        int bytes = 0;
        final long cold = System.nanoTime();
        for (int i = 0; i < 5; i++) {
            if (i == 1) {
                System.out.printf(Locale.ROOT, "[page] %s: first request %.0f ms%n", what, (System.nanoTime() - cold) / 1e6);
            }
            final HttpResponse<byte[]> r = http.send(req, HttpResponse.BodyHandlers.ofByteArray());
            if (r.statusCode() != 200) {
                throw new IllegalStateException(url + " answered " + r.statusCode() + ": " + new String(r.body()));
            }
            bytes = r.body().length;
        }
        final List<Double> ms = new ArrayList<>();
        for (int i = 0; i < requests; i++) {
            final long t0 = System.nanoTime();
            http.send(req, HttpResponse.BodyHandlers.ofByteArray());
            ms.add((System.nanoTime() - t0) / 1e6);
        }
        ms.sort(Double::compare);
        System.out.printf(Locale.ROOT, "| %s | %.0f | %.0f | %.0f | %,d B |%n", what, ms.get(ms.size() / 2),
            ms.get((int) Math.ceil(ms.size() * 0.95) - 1), ms.get(ms.size() - 1), bytes);
    }

    /** Server-side execution time of the overview's statements (the same text as StatusQueries'). */
    private static void explain(BenchDatabase db) throws Exception {
        final String[][] queries = {
            {"uptime 24h", "SELECT monitor, sum(checks), sum(up_checks) FROM monitor_checks_1h WHERE bucket >= "
                + "now() - interval '24 hours' AND bucket <= now() GROUP BY monitor"},
            {"uptime 7d/30d", "SELECT monitor, sum(checks) FILTER (WHERE bucket >= now() - interval '7 days'), "
                + "sum(up_checks) FILTER (WHERE bucket >= now() - interval '7 days'), sum(checks), sum(up_checks) FROM "
                + "monitor_checks_1d WHERE bucket >= now() - interval '30 days' AND bucket <= now() GROUP BY monitor"},
            {"24 h plot", "SELECT monitor, bucket, p50_ms, p95_ms FROM monitor_checks_1h WHERE bucket >= now() - "
                + "interval '24 hours' AND bucket <= now() ORDER BY monitor, bucket"},
            {"strip + last check", "SELECT s.tags->>'monitor', s.field, x.time, x.value FROM telemetry_sources s CROSS "
                + "JOIN LATERAL (SELECT e.time, e.value FROM telemetry_events e WHERE e.source_id = s.id AND e.time >= "
                + "now() - interval '30 days' AND e.time <= now() ORDER BY e.time DESC LIMIT CASE WHEN s.field = 'up' "
                + "THEN 90 ELSE 1 END) x WHERE s.measurement = 'monitor' AND s.field IN ('up', 'duration_ms', 'dns_ms', "
                + "'connect_ms', 'tls_ms', 'ttfb_ms', 'status_code', 'cert_expiry_days')"},
            {"state", "SELECT m.name, m.enabled, m.interval_ms, s.state, s.since, s.first_failure_at, s.last_error FROM "
                + "monitors m LEFT JOIN monitor_state s ON s.name = m.name ORDER BY m.name"}};
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            for (String[] q : queries) {
                for (int run = 0; run < 2; run++) {
                    try (var rs = st.executeQuery("EXPLAIN (ANALYZE, TIMING OFF) " + q[1])) {
                        final StringBuilder plan = new StringBuilder();
                        while (rs.next()) {
                            plan.append(rs.getString(1)).append('\n');
                        }
                        if (run == 1) {
                            System.out.println("[page] explain " + q[0] + ":\n" + plan);
                        }
                    }
                }
            }
        }
    }

    private static void seed(BenchDatabase db, int n) throws Exception {
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            st.execute("INSERT INTO monitors (name, url) SELECT 'm' || lpad(i::text, 5, '0'), 'http://127.0.0.1:9/' || i "
                + "FROM generate_series(1, " + n + ") i");
            st.execute("INSERT INTO monitor_state (name, state, since, first_failure_at, last_error) "
                + "SELECT 'm' || lpad(i::text, 5, '0'), CASE WHEN i % 100 = 0 THEN 'DOWN' ELSE 'UP' END, "
                + "now() - interval '3 days', CASE WHEN i % 100 = 0 THEN now() - interval '5 minutes' END, "
                + "CASE WHEN i % 100 = 0 THEN 'HTTP 503' END FROM generate_series(1, " + n + ") i");
            st.execute("INSERT INTO telemetry_sources (measurement, tags, field) "
                + "SELECT 'monitor', jsonb_build_object('monitor', 'm' || lpad(i::text, 5, '0')), f "
                + "FROM generate_series(1, " + n + ") i, unnest(ARRAY['up', 'duration_ms', 'dns_ms', 'connect_ms', "
                + "'tls_ms', 'ttfb_ms', 'status_code']) f");
            // The last 2 hours of raw 60 s checks: every field of every check.
            st.execute("INSERT INTO telemetry_events (time, source_id, kind, value, seq) "
                + "SELECT date_trunc('minute', now()) - k * interval '1 minute', s.id, 1, "
                + "CASE s.field WHEN 'up' THEN (CASE WHEN k % 53 = 0 THEN 0 ELSE 1 END) WHEN 'status_code' THEN 200 "
                + "ELSE 20 + (k * 7 + s.id) % 90 END, 120 - k "
                + "FROM telemetry_sources s, generate_series(1, 120) k WHERE s.measurement = 'monitor'");
            // 30 days of hourly rollups and 26 hours of minute rollups (what the page reads).
            st.execute("INSERT INTO " + CheckRollups.HOUR + " (bucket, monitor, checks, up_checks, p50_ms, p95_ms, max_ms) "
                + "SELECT date_trunc('hour', now()) - h * interval '1 hour', 'm' || lpad(i::text, 5, '0'), 60, "
                + "CASE WHEN (h + i) % 97 = 0 THEN 59 ELSE 60 END, 40 + (h + i) % 30, 90 + (h * i) % 60, 300 "
                + "FROM generate_series(1, " + n + ") i, generate_series(1, 719) h "
                + "ON CONFLICT DO NOTHING");
            st.execute("INSERT INTO " + CheckRollups.MINUTE + " (bucket, monitor, checks, up_checks, p50_ms, p95_ms, "
                + "max_ms) SELECT date_trunc('minute', now()) - m * interval '1 minute', 'm' || lpad(i::text, 5, '0'), "
                + "1, 1, 40 + (m + i) % 30, 40 + (m + i) % 30, 40 + (m + i) % 30 "
                + "FROM generate_series(1, " + Math.min(n, 1_000) + ") i, generate_series(121, 26 * 60) m "
                + "ON CONFLICT DO NOTHING");
            st.execute("INSERT INTO " + CheckRollups.DAY + " (bucket, monitor, checks, up_checks) SELECT "
                + "date_trunc('day', bucket), monitor, sum(checks), sum(up_checks) FROM " + CheckRollups.HOUR
                + " GROUP BY 1, 2 ON CONFLICT DO NOTHING");
            st.execute("ANALYZE");
        }
    }
}
