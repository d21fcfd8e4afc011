package dev.spillway.collector;

import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.NatsServer;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The goal of issue 21's NATS-only edges, with real processes: an edge started from the shaded jar with
 * {@code --nats} only (no database option) takes 100,000 lines on 1,000 series new to the catalogue, while a writer
 * (another process of the jar, on a real PostgreSQL) stores them. During the run the edge, the writer and the
 * nats-server are each killed with SIGKILL once and started again. The clients write with {@code ack=commit} and an
 * {@code Idempotency-Key} and resend every body not answered 204 (refused, timed out, connection reset) until it is.
 * Every line is then stored exactly once: none lost, none twice, one catalogue row per series, and the stream empty
 * (the nats-server kill can leave batches the writer had acknowledged back in the stream; the writer purges them).
 */
class NatsOnlyEdgeKillIT {

    private static final int BODIES = 1_000;
    private static final int LINES = 100;
    private static final int SERIES = 1_000;
    private static final int CLIENTS = 4;

    @TempDir
    Path dir;

    @Test
    void edgeWithoutADatabaseSurvivesKillNineOfEdgeWriterAndNatsServerExactlyOnce() throws Exception {
        final String jar = System.getProperty("spillway.collector.jar", "target/spillway-collector.jar");
        assertTrue(Files.exists(Path.of(jar)), "shaded jar missing: " + jar);
        try (NatsServer nats = NatsServer.startOrSkip(dir);
             TestDatabase db = TestDatabase.create("js_edge_kill")) {
            final int edgePort = TestDatabase.freePort();
            final List<String> common = List.of("--nats", nats.url(), "--nats-stream", "ek", "--nats-subject",
                "ek.b", "--nats-consumer", "ek-writers", "--nats-ack-wait", "3s", "--flush-interval", "20ms");
            final List<String> edgeArgs = new ArrayList<>(List.of("--role", "edge", "--http", "127.0.0.1:" + edgePort,
                "--spool-dir", dir.resolve("edge-spool").toString(), "--workers", "8"));
            edgeArgs.addAll(common);
            final List<String> writerArgs = new ArrayList<>(List.of("--role", "writer", "--jdbc-url", db.jdbcUrl(),
                "--db-user", db.user(), "--db-password", db.password(), "--http", "127.0.0.1:0", "--spool-dir",
                dir.resolve("writer-spool").toString()));
            writerArgs.addAll(common);
            final Proc writer = new Proc(jar, writerArgs, dir.resolve("writer.log"), "JetStream writer 'writer' started");
            final Proc edge = new Proc(jar, edgeArgs, dir.resolve("edge.log"), "HTTP listening on");
            writer.start();
            edge.start();

            final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(2)).build();
            final AtomicInteger nextBody = new AtomicInteger();
            final AtomicInteger answered = new AtomicInteger();
            final AtomicLong resends = new AtomicLong();
            final long started = System.nanoTime();
            final ExecutorService clients = Executors.newFixedThreadPool(CLIENTS);
            final List<Future<?>> done = new ArrayList<>();
            for (int c = 0; c < CLIENTS; c++) {
                done.add(clients.submit(() -> {
                    for (int b = nextBody.getAndIncrement(); b < BODIES; b = nextBody.getAndIncrement()) {
                        final HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + edgePort
                                + "/api/v2/write?bucket=b&ack=commit"))
                            .timeout(Duration.ofSeconds(60)).header("Idempotency-Key", "body-" + b)
                            .POST(HttpRequest.BodyPublishers.ofString(body(b))).build();
                        final long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
                        while (true) {
                            int status;
                            try {
                                status = http.send(request, HttpResponse.BodyHandlers.discarding()).statusCode();
                            } catch (java.io.IOException e) {
                                status = -1; // killed edge, connection refused or reset: resend
                            }
                            if (status == 204) {
                                answered.incrementAndGet();
                                break;
                            }
                            assertTrue(status == -1 || status == 503, "only refusals to resend, got " + status);
                            assertTrue(System.nanoTime() < deadline, "body " + b + " not taken within 5 minutes");
                            resends.incrementAndGet();
                            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(100)); // a client's back-off
                        }
                    }
                    return null;
                }));
            }
            try {
                // Killed while bodies are inside the edge (taken into its resend journal, not answered yet), so that
                // their resends meet what the killed run took.
                try {
                    Await.untilNoThrow(Duration.ofMinutes(3), () -> {
                        final int before = answered.get();
                        return before >= BODIES / 4 && counter(http, edgePort,
                            "spillway_collector_resend_requests_total{outcome=\"new\"}") - before >= 2;
                    }, "a quarter answered, two bodies in the edge");
                } catch (AssertionError e) {
                    // What the console of a failed run must say (the logs go to the report files only).
                    final String state = "answered " + answered.get() + " of " + BODIES + ", new requests "
                        + counter(http, edgePort, "spillway_collector_resend_requests_total{outcome=\"new\"}")
                        + ", resends " + resends.get() + ", edge answers 503 for: "
                        + edge.linesWith("503").lines().limit(3).toList();
                    writer.printTail();
                    edge.printTail();
                    throw new AssertionError(e.getMessage() + " (" + state + ")", e);
                }
                edge.kill();
                edge.start();
                Await.until(Duration.ofMinutes(3), () -> answered.get() >= BODIES / 2, "half answered");
                writer.kill();
                writer.start();
                Await.until(Duration.ofMinutes(3), () -> answered.get() >= 3 * BODIES / 4, "three quarters answered");
                nats.kill();
                nats.start();
                for (Future<?> f : done) {
                    f.get(10, TimeUnit.MINUTES);
                }
            } finally {
                clients.shutdownNow();
            }
            final long expected = (long) BODIES * LINES;
            try (io.nats.client.Connection check = nats.connect("check")) {
                final var jsm = check.jetStreamManagement();
                // Every line stored and the stream empty: no batch is still on its way to add a second copy.
                try {
                    Await.untilNoThrow(Duration.ofMinutes(3), () -> db.queryLong("SELECT count(*) FROM telemetry "
                        + "WHERE measurement = 'ek'") >= expected
                        && jsm.getStreamInfo("ek").getStreamState().getMsgCount() == 0,
                        "the writer stores every line and empties the stream");
                } catch (AssertionError e) {
                    System.out.println("stored " + db.queryLong("SELECT count(*) FROM telemetry WHERE measurement = "
                        + "'ek'") + ", distinct " + db.queryLong("SELECT count(DISTINCT value) FROM telemetry WHERE "
                        + "measurement = 'ek'") + "; stream " + jsm.getStreamInfo("ek").getStreamState());
                    writer.printTail();
                    edge.printTail();
                    final Path natsLog = dir.resolve("jetstream.log");
                    if (Files.exists(natsLog)) {
                        final List<String> lines = Files.readAllLines(natsLog);
                        System.out.println("---- nats-server (last 40 lines of " + lines.size() + ")");
                        lines.subList(Math.max(0, lines.size() - 40), lines.size()).forEach(System.out::println);
                    }
                    throw e;
                }
            }
            final long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
            // What the restarted edge's resend window did (its run since the kill).
            final String metrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + edgePort
                + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
            final StringBuilder window = new StringBuilder();
            metrics.lines().filter(l -> l.startsWith("spillway_collector_resend_")).forEach(l -> window.append("\n  ")
                .append(l));
            final long count = db.queryLong("SELECT count(*) FROM telemetry WHERE measurement = 'ek'");
            final long distinct = db.queryLong("SELECT count(DISTINCT value) FROM telemetry WHERE measurement = 'ek'");
            System.out.println("NATS-only edge, kill -9 of edge, writer and nats-server: " + expected + " lines on "
                + SERIES + " series in " + tookMs + " ms, " + resends.get() + " resends; stored " + count + ", distinct "
                + distinct + ", lost " + (expected - distinct) + ", duplicates " + (count - distinct)
                + "; the restarted edge's resend window:" + window + "\n  acknowledged batches the writer found back "
                + "in the stream after the nats-server kill and purged: " + writer.linesWith("back in the stream"));
            assertEquals(expected, distinct, "no line lost");
            assertEquals(expected, count, "no line twice");
            assertEquals(SERIES, db.queryLong("SELECT count(*) FROM telemetry_sources WHERE measurement = 'ek'"));
            assertEquals(SERIES, db.queryLong("SELECT count(*) FROM telemetry_series_edge"),
                "each series of the edge filed once, the restarted edge kept its ids");
            assertEquals(expected, db.queryLong("SELECT count(DISTINCT (e.source_id, e.seq)) FROM telemetry_events e "
                + "JOIN telemetry_sources s ON s.id = e.source_id WHERE s.measurement = 'ek'"),
                "no (source_id, seq) twice");
            edge.kill();
            writer.kill();
        }
    }

    /** A counter of the process's {@code /metrics}. */
    private static long counter(HttpClient http, int port, String name) throws Exception {
        final String metrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
            .build(), HttpResponse.BodyHandlers.ofString()).body();
        return metrics.lines().filter(l -> l.startsWith(name + " ")).mapToLong(l -> (long) Double.parseDouble(
            l.substring(name.length() + 1).trim())).findFirst().orElse(0);
    }

    private static String body(int b) {
        final StringBuilder s = new StringBuilder(LINES * 48);
        for (long id = (long) b * LINES; id < (long) (b + 1) * LINES; id++) {
            s.append("ek,line=L").append(id % SERIES).append(" id=").append(id).append("i ")
                .append(1_700_000_000_000_000_000L + id * 1_000L).append('\n');
        }
        return s.toString();
    }

    /** One collector process of the shaded jar, restartable with the same arguments. */
    private static final class Proc {
        private final List<String> cmd = new ArrayList<>();
        private final Path log;
        private final String ready;
        private Process process;
        private int starts;

        Proc(String jar, List<String> args, Path log, String ready) {
            cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx384m",
                "-jar", jar));
            cmd.addAll(args);
            this.log = log;
            this.ready = ready;
        }

        void start() throws Exception {
            final Path run = log.resolveSibling(log.getFileName() + "." + (++starts));
            process = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(run.toFile()).start();
            Await.untilNoThrow(Duration.ofSeconds(90), () -> {
                if (!process.isAlive()) {
                    throw new AssertionError("exited " + process.exitValue() + ": " + Files.readString(run));
                }
                return Files.readString(run).contains(ready);
            }, "process started; log in " + run);
        }

        /** The lines of every run's log that contain {@code text}, or "none". */
        String linesWith(String text) throws java.io.IOException {
            final StringBuilder found = new StringBuilder();
            for (int i = 1; i <= starts; i++) {
                for (String line : Files.readAllLines(log.resolveSibling(log.getFileName() + "." + i))) {
                    if (line.contains(text)) {
                        found.append("\n    ").append(line);
                    }
                }
            }
            return found.length() == 0 ? "none" : found.toString();
        }

        /** The last lines of every run's log, for a failure's diagnosis. */
        void printTail() throws java.io.IOException {
            for (int i = 1; i <= starts; i++) {
                final List<String> lines = Files.readAllLines(log.resolveSibling(log.getFileName() + "." + i));
                System.out.println("---- " + log.getFileName() + "." + i + " (last 60 lines of " + lines.size() + ")");
                lines.subList(Math.max(0, lines.size() - 60), lines.size()).forEach(System.out::println);
            }
        }

        void kill() throws InterruptedException {
            process.destroyForcibly(); // SIGKILL
            assertTrue(process.waitFor(30, TimeUnit.SECONDS), "process gone");
        }
    }
}
