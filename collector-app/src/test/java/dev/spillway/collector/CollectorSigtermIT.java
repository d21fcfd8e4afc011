package dev.spillway.collector;

import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shaded jar as a real process: SIGTERM under concurrent writes exits 0, and every line acknowledged with 204
 * is in the database exactly once.
 */
class CollectorSigtermIT {

    private static final Pattern LISTENING = Pattern.compile("HTTP listening on http://([0-9.]+):(\\d+)");
    private static final Pattern ACCOUNT = Pattern.compile("final account: lines_accepted=(\\d+) .* written=(\\d+) "
        + ".* balanced=(yes|no)");
    private static final int WRITERS = 4;
    private static final int LINES_PER_REQUEST = 500;

    @Test
    void sigtermUnderLoadLosesNothingAcknowledged() throws Exception {
        final String jar = System.getProperty("spillway.collector.jar", "target/spillway-collector.jar");
        assertTrue(Files.exists(Path.of(jar)), "shaded jar missing: " + jar);
        try (TestDatabase db = TestDatabase.create("collector_sigterm")) {
            final Path log = Files.createTempFile("collector", ".log");
            final List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "-jar", jar, "--jdbc-url", db.jdbcUrl(), "--db-user", db.user(), "--db-password",
                db.password(), "--http", "127.0.0.1:0", "--flush-interval", "20ms", "--spool-dir",
                Files.createTempDirectory("spillway-spool").toString()));
            final Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            try {
                Await.untilNoThrow(Duration.ofSeconds(60), () -> LISTENING.matcher(Files.readString(log)).find(),
                    "collector to listen; log so far in " + log);
                final Matcher m = LISTENING.matcher(Files.readString(log));
                assertTrue(m.find());
                final URI write = URI.create("http://127.0.0.1:" + m.group(2) + "/api/v2/write");

                final AtomicLong acked = new AtomicLong();
                final AtomicBoolean stop = new AtomicBoolean();
                final List<Thread> writers = new ArrayList<>();
                for (int w = 0; w < WRITERS; w++) {
                    final int writer = w;
                    final Thread t = new Thread(() -> writeUntilRefused(write, writer, acked, stop), "writer-" + w);
                    t.start();
                    writers.add(t);
                }
                Await.until(Duration.ofSeconds(60), () -> acked.get() >= 50_000, "some load acknowledged");
                p.destroy(); // SIGTERM, while the writers keep going
                assertTrue(p.waitFor(60, TimeUnit.SECONDS), "collector did not exit after SIGTERM");
                stop.set(true);
                for (Thread t : writers) {
                    t.join(30_000);
                }
                final String output = Files.readString(log);
                assertEquals(0, p.exitValue(), output);
                final Matcher account = ACCOUNT.matcher(output);
                assertTrue(account.find(), "no final account line in:\n" + output);
                assertEquals("yes", account.group(3), account.group());
                final long accepted = Long.parseLong(account.group(1));
                final long written = Long.parseLong(account.group(2));

                final long rows = db.queryLong("SELECT count(*) FROM telemetry WHERE measurement = 'load'");
                final long distinct = db.queryLong("SELECT count(DISTINCT (tags->>'w', value)) FROM telemetry "
                    + "WHERE measurement = 'load'");
                assertTrue(rows >= acked.get(), "rows " + rows + " < acknowledged " + acked.get());
                assertEquals(accepted, rows, "rows vs accepted lines in " + account.group());
                assertEquals(written, rows, "rows vs written events");
                assertEquals(rows, distinct, "duplicates");
                System.out.printf("SIGTERM under load: acknowledged=%d accepted=%d rows=%d%n", acked.get(), accepted,
                    rows);
            } finally {
                p.destroyForcibly();
            }
        }
    }

    /** Posts unique lines ({@code w} tag, counter value) until the collector stops answering. */
    private static void writeUntilRefused(URI uri, int writer, AtomicLong acked, AtomicBoolean stop) {
        final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
        long next = 0;
        while (!stop.get()) {
            final StringBuilder body = new StringBuilder(LINES_PER_REQUEST * 32);
            for (int i = 0; i < LINES_PER_REQUEST; i++) {
                body.append("load,w=").append(writer).append(" v=").append(next + i).append("i\n");
            }
            try {
                final HttpResponse<Void> r = client.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(30))
                    .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(),
                    HttpResponse.BodyHandlers.discarding());
                if (r.statusCode() == 204) {
                    acked.addAndGet(LINES_PER_REQUEST);
                    next += LINES_PER_REQUEST;
                } else if (r.statusCode() != 503) {
                    throw new AssertionError("unexpected status " + r.statusCode());
                }
                // On 503 the same values are not reused: a refused body may be partly ingested, which is fine
                // (not acknowledged), but reusing values would make the duplicate check ambiguous.
                if (r.statusCode() == 503) {
                    next += LINES_PER_REQUEST;
                }
            } catch (java.io.IOException e) {
                return; // the collector closed its connections: it is shutting down
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
