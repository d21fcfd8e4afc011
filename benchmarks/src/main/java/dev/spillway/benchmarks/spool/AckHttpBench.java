package dev.spillway.benchmarks.spool;

import dev.spillway.benchmarks.e2e.BenchDatabase;
import dev.spillway.benchmarks.report.MachineInfo;
import dev.spillway.collector.Collector;
import dev.spillway.collector.config.CollectorOptions;

import java.io.OutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * {@code --ack commit} vs {@code --ack accept} latency over HTTP, against a running collector (a harness, not a
 * test). The collector runs in this JVM (spool on, PostgreSQL embedded unless {@code SPILLWAY_BENCH_JDBC_URL} is
 * set), or elsewhere with {@code --url}. Open-loop load: each client starts a request every {@code --pace} ms
 * whether or not earlier answers came back (so a slow answer never lowers the load it is measured under), and the
 * requests alternate {@code ?ack=accept} and {@code ?ack=commit}: both modes in the same run, under the same load,
 * interleaved. Latency is from just before the request is handed to the HTTP client to its complete answer.
 *
 * <pre>java -cp benchmarks/target/benchmarks.jar dev.spillway.benchmarks.spool.AckHttpBench
 *     [--seconds 20] [--clients 4] [--lines 500] [--pace 50] [--flush-interval 100ms] [--url URL] [--out DIR]</pre>
 */
public final class AckHttpBench {

    private AckHttpBench() {
    }

    public static void main(String[] args) throws Exception {
        int seconds = 20;
        int clients = 4;
        int lines = 500;
        long paceMillis = 50;
        String flush = "100ms";
        String url = null;
        Path out = Path.of(System.getenv().getOrDefault("SPILLWAY_RESULTS_DIR", "benchmarks/results"));
        for (int i = 0; i < args.length - 1; i++) {
            switch (args[i]) {
                case "--seconds" -> seconds = Integer.parseInt(args[i + 1]);
                case "--clients" -> clients = Integer.parseInt(args[i + 1]);
                case "--lines" -> lines = Integer.parseInt(args[i + 1]);
                case "--pace" -> paceMillis = Long.parseLong(args[i + 1]);
                case "--flush-interval" -> flush = args[i + 1];
                case "--url" -> url = args[i + 1];
                case "--out" -> out = Path.of(args[i + 1]);
                default -> { }
            }
        }
        final StringBuilder md = new StringBuilder("# Acknowledgement latency over HTTP: accept vs commit (issue #13)\n\n");
        md.append("- command: `java -cp benchmarks/target/benchmarks.jar dev.spillway.benchmarks.spool.AckHttpBench ")
            .append(String.join(" ", args)).append("`\n");
        md.append(MachineInfo.markdown());
        final String note;
        Collector collector = null;
        BenchDatabase db = null;
        Path spool = null;
        try {
            if (url == null) {
                db = BenchDatabase.open();
                spool = Files.createTempDirectory("spillway-ack-spool");
                final List<String> argv = new ArrayList<>(List.of("--jdbc-url", db.jdbcUrl(), "--http", "127.0.0.1:0",
                    "--spool-dir", spool.toString(), "--flush-interval", flush));
                if (db.user() != null) {
                    argv.addAll(List.of("--db-user", db.user()));
                }
                final String[] cli = argv.toArray(new String[0]);
                final Map<String, String> env = db.password() == null || db.password().isEmpty() ? Map.of()
                    : Map.of("SPILLWAY_DB_PASSWORD", db.password());
                final var parsed = CollectorOptions.parse(cli, env, new PrintStream(OutputStream.nullOutputStream()));
                final var config = ((CollectorOptions.Run) parsed).config();
                collector = Collector.start(config);
                url = "http://127.0.0.1:" + collector.httpAddress().getPort() + "/api/v2/write";
                note = "collector in this JVM on PostgreSQL (" + (db.isEmbedded() ? "embedded" : "external")
                    + "), defaults (batch " + String.format("%,d", config.pipeline().batchSize()) + ", " + config.pipeline().workers()
                    + " workers, spool fsync 500 ms) with --flush-interval " + flush;
            } else {
                note = "collector at " + url + " (its own settings)";
            }
            md.append("- ").append(note).append('\n');
            md.append(String.format(Locale.ROOT, "- load: %d clients, each one request of %d lines every %d ms, open "
                    + "loop (%,.0f lines/s in total), requests alternating ?ack=accept / ?ack=commit; %d s measured "
                    + "after 3 s of warm-up%n", clients, lines, paceMillis, clients * lines * 1000.0 / paceMillis,
                seconds));
            final Result[] r = run(URI.create(url), clients, lines, paceMillis, seconds);
            md.append("\n| ack | requests | 204 | 503 | other / errors | p50 ms | p95 ms | p99 ms | max ms |\n")
                .append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
            for (Result x : r) {
                md.append(x.row());
            }
            md.append("\n- load average at the end: ").append(MachineInfo.loadAverage()).append('\n');
        } finally {
            if (collector != null) {
                System.out.println("[ack-http] collector: " + collector.shutdown());
            }
            if (db != null) {
                db.close();
            }
            OutageHarness.delete(spool);
        }
        Files.createDirectories(out);
        Files.writeString(out.resolve("ack-http.md"), md.toString());
        System.out.println(md);
    }

    /** Latencies and answers of one mode. */
    private static final class Result {
        final String mode;
        final long[] nanos;
        final AtomicLong count = new AtomicLong();
        final AtomicLong ok = new AtomicLong();
        final AtomicLong unavailable = new AtomicLong();
        final AtomicLong other = new AtomicLong();

        Result(String mode, int capacity) {
            this.mode = mode;
            this.nanos = new long[capacity];
        }

        void record(long latency, int status) {
            final long i = count.getAndIncrement();
            if (i < nanos.length) {
                nanos[(int) i] = latency;
            }
            (status == 204 ? ok : status == 503 ? unavailable : other).incrementAndGet();
        }

        String row() {
            final int n = (int) Math.min(count.get(), nanos.length);
            final long[] s = Arrays.copyOf(nanos, n);
            Arrays.sort(s);
            return String.format(Locale.ROOT, "| %s | %,d | %,d | %,d | %,d | %.2f | %.2f | %.2f | %.2f |%n", mode, n,
                ok.get(), unavailable.get(), other.get(), pct(s, 0.50), pct(s, 0.95), pct(s, 0.99),
                n == 0 ? 0 : s[n - 1] / 1e6);
        }

        private static double pct(long[] sorted, double q) {
            if (sorted.length == 0) {
                return 0;
            }
            return sorted[Math.min(sorted.length - 1, (int) Math.ceil(q * sorted.length) - 1)] / 1e6;
        }
    }

    private static Result[] run(URI base, int clients, int lines, long paceMillis, int seconds) throws Exception {
        final int capacity = (int) (clients * (seconds * 1000L / paceMillis) / 2 + 1000);
        final Result accept = new Result("accept", capacity);
        final Result commit = new Result("commit", capacity);
        final URI[] uris = {URI.create(base + "?ack=accept"), URI.create(base + "?ack=commit")};
        final long warmUpEnd = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
        final long end = warmUpEnd + TimeUnit.SECONDS.toNanos(seconds);
        final List<Thread> threads = new ArrayList<>();
        final List<CompletableFuture<?>> pending = java.util.Collections.synchronizedList(new ArrayList<>());
        for (int c = 0; c < clients; c++) {
            final int client = c;
            final Thread t = new Thread(() -> {
                final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
                long due = System.nanoTime();
                long value = 0;
                for (int n = client; System.nanoTime() < end; n++) {
                    final StringBuilder body = new StringBuilder(lines * 40);
                    for (int i = 0; i < lines; i++, value++) {
                        body.append("ackbench,c=").append(client).append(" v=").append(value).append("i\n");
                    }
                    final int mode = n & 1; // alternate; the client index offsets the phase
                    final HttpRequest req = HttpRequest.newBuilder(uris[mode]).timeout(Duration.ofSeconds(60))
                        .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build();
                    final boolean measured = System.nanoTime() >= warmUpEnd;
                    final long t0 = System.nanoTime();
                    final CompletableFuture<?> f = http.sendAsync(req, HttpResponse.BodyHandlers.discarding())
                        .handle((resp, err) -> {
                            final long latency = System.nanoTime() - t0;
                            if (measured) {
                                (mode == 0 ? accept : commit).record(latency, err == null ? resp.statusCode() : -1);
                            }
                            return null;
                        });
                    pending.add(f);
                    due += TimeUnit.MILLISECONDS.toNanos(paceMillis);
                    final long wait = due - System.nanoTime();
                    if (wait > 0) {
                        LockSupport.parkNanos(wait);
                    }
                }
            }, "ack-client-" + c);
            t.start();
            threads.add(t);
        }
        for (Thread t : threads) {
            t.join();
        }
        synchronized (pending) {
            CompletableFuture.allOf(pending.toArray(new CompletableFuture<?>[0])).get(120, TimeUnit.SECONDS);
        }
        return new Result[] {accept, commit};
    }
}
