package dev.spillway.benchmarks.heartbeat;

import dev.spillway.collector.Collector;
import dev.spillway.collector.config.CollectorOptions;

import java.io.PrintStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Heartbeat ping throughput (issue 11): an in-process collector on an embedded PostgreSQL, {@code services}
 * registered services, {@code clients} threads each with its own keep-alive HTTP/1.1 connection sending
 * {@code GET /api/v1/services/{id}/ping} as fast as answers come back. Baseline from the same run and the same
 * client: {@code GET /ping} (the InfluxDB no-op ping: routing and the HTTP round trip, no work).
 *
 * <p>Reports pings/s, latency p50/p99, the row updates {@code heartbeat_services} received (pings are batched
 * in memory: about one update per pinged service per second, not one per ping), and checks after shutdown that
 * every answered ping is one {@code heartbeat} point in the telemetry view.
 *
 * <pre>{@code
 * mvn -B -q -pl benchmarks -am package -DskipTests
 * java -cp benchmarks/target/benchmarks.jar dev.spillway.benchmarks.heartbeat.PingLoadBench [clients] [seconds] [services]
 * }</pre>
 * Client and collector share the machine's cores, so the figures are a lower bound for the collector alone.
 */
public final class PingLoadBench {

    private PingLoadBench() {
    }

    /** Runs the baseline and the heartbeat ping, each after a warm-up of half its duration. */
    public static void main(String[] args) throws Exception {
        final int clients = args.length > 0 ? Integer.parseInt(args[0]) : 8;
        final int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        final int services = args.length > 2 ? Integer.parseInt(args[2]) : 100;
        final Path dir = Files.createTempDirectory("spillway-pingbench");
        final var parsed = CollectorOptions.parse(new String[] {"--data-dir", dir.resolve("pg").toString(),
            "--db-port", "0", "--http", "127.0.0.1:0"}, Map.of(), new PrintStream(OutputStream.nullOutputStream()));
        final Collector collector = Collector.start(((CollectorOptions.Run) parsed).config());
        final String base = "http://127.0.0.1:" + collector.httpAddress().getPort();
        final HttpClient setup = HttpClient.newHttpClient();
        for (int i = 0; i < services; i++) {
            final HttpResponse<String> r = setup.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/services/svc"
                + i)).header("Content-Type", "application/json")
                .PUT(HttpRequest.BodyPublishers.ofString("{\"timeout\":\"1h\"}")).build(),
                HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) {
                throw new IllegalStateException("register failed: " + r.statusCode() + " " + r.body());
            }
        }
        System.out.printf("clients=%d seconds=%d services=%d cores=%d%n", clients, seconds, services,
            Runtime.getRuntime().availableProcessors());
        run("warm-up /ping", base, clients, Math.max(1, seconds / 2), i -> "/ping");
        final Result baseline = run("baseline GET /ping", base, clients, seconds, i -> "/ping");
        run("warm-up heartbeat ping", base, clients, Math.max(1, seconds / 2),
            i -> "/api/v1/services/svc" + (i % services) + "/ping");
        final long updatesBefore = updates(collector.jdbcUrl());
        final Result pings = run("GET /api/v1/services/{id}/ping", base, clients, seconds,
            i -> "/api/v1/services/svc" + (i % services) + "/ping");
        final long updates = updates(collector.jdbcUrl()) - updatesBefore;
        System.out.printf("heartbeat_services row updates during the measured run: %d (%.1f/s for %.0f pings/s)%n",
            updates, updates / (double) seconds, pings.perSecond);
        System.out.printf("heartbeat ping / baseline throughput: %.2f%n", pings.perSecond / baseline.perSecond);
        final String jdbc = collector.jdbcUrl();
        collector.shutdown();
        System.out.println("(points are checked after a restart of the embedded database)");
        final Collector again = Collector.start(((CollectorOptions.Run) parsed).config());
        try (Connection c = DriverManager.getConnection(again.jdbcUrl(), "postgres", "");
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM telemetry WHERE measurement = 'heartbeat'")) {
            rs.next();
            final long total = pings.ok + pingsWarmup.get();
            System.out.printf("heartbeat points stored: %d, pings answered 204: %d -> %s%n", rs.getLong(1), total,
                rs.getLong(1) == total ? "every ping is a point" : "MISMATCH");
        } finally {
            again.shutdown();
        }
        if (jdbc == null) {
            throw new IllegalStateException("no database");
        }
    }

    private static final AtomicLong pingsWarmup = new AtomicLong();

    private record Result(double perSecond, long ok) {
    }

    private interface Paths {
        String path(long i);
    }

    private static Result run(String name, String base, int clients, int seconds, Paths paths) throws Exception {
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicLong ok = new AtomicLong();
        final AtomicLong bad = new AtomicLong();
        final List<long[]> latencies = new ArrayList<>();
        final CountDownLatch done = new CountDownLatch(clients);
        final List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < clients; t++) {
            final long[] lat = new long[2_000_000];
            latencies.add(lat);
            final int offset = t;
            final Thread th = new Thread(() -> {
                final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
                int n = 0;
                try {
                    for (long i = offset; !stop.get(); i += clients) {
                        final long t0 = System.nanoTime();
                        final HttpResponse<Void> r = client.send(HttpRequest.newBuilder(URI.create(base
                            + paths.path(i))).GET().build(), HttpResponse.BodyHandlers.discarding());
                        if (r.statusCode() == 204) {
                            ok.incrementAndGet();
                        } else {
                            bad.incrementAndGet();
                        }
                        if (n < lat.length) {
                            lat[n++] = System.nanoTime() - t0;
                        }
                    }
                } catch (Exception e) {
                    bad.incrementAndGet();
                    System.err.println(name + ": client failed: " + e);
                } finally {
                    lat[lat.length - 1] = n; // count in the last slot
                    done.countDown();
                }
            }, "client-" + t);
            threads.add(th);
        }
        final long start = System.nanoTime();
        threads.forEach(Thread::start);
        Thread.sleep(seconds * 1000L); // the measurement window of a load generator, not test synchronisation
        stop.set(true);
        done.await();
        final double elapsed = (System.nanoTime() - start) / 1e9;
        final List<Long> all = new ArrayList<>();
        for (long[] lat : latencies) {
            final int n = (int) lat[lat.length - 1];
            for (int i = 0; i < n && i < lat.length - 1; i++) {
                all.add(lat[i]);
            }
        }
        final long[] sorted = all.stream().mapToLong(Long::longValue).toArray();
        Arrays.sort(sorted);
        final double perSecond = ok.get() / elapsed;
        if (name.startsWith("warm-up heartbeat")) {
            pingsWarmup.addAndGet(ok.get());
        }
        System.out.printf("%-34s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  ok %d  other %d%n", name, perSecond,
            pct(sorted, 0.50), pct(sorted, 0.99), ok.get(), bad.get());
        return new Result(perSecond, ok.get());
    }

    private static double pct(long[] sorted, double p) {
        return sorted.length == 0 ? Double.NaN : sorted[(int) Math.min(sorted.length - 1, p * sorted.length)] / 1e6;
    }

    private static long updates(String jdbcUrl) throws Exception {
        try (Connection c = DriverManager.getConnection(jdbcUrl, "postgres", "");
             Statement st = c.createStatement()) {
            st.execute("SELECT pg_stat_force_next_flush()");
            try (ResultSet rs = st.executeQuery("SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = "
                + "'heartbeat_services'")) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }
}
