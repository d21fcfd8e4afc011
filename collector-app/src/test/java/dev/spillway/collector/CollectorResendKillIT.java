package dev.spillway.collector;

import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code kill -9} of the shaded jar {@value #KILLS} times under load, with {@code --ack commit} and clients that
 * resend every body until it is answered 204: after a 503, after a connection refused or reset, after no answer at
 * all. Each restart is on the same spool directory and database. Half of the writers send timestamped lines (a
 * resend is recognised by the body's digest), half send untimestamped lines with an {@code Idempotency-Key}. At the
 * end every line of every body is in the table exactly once: nothing acknowledged is missing, nothing is stored
 * twice ({@code (source_id, seq)} unique and rows = distinct lines), and nothing is stored that was not sent.
 * Batches of 128 events make each 500-line body span several commits, so a kill often lands between a body's
 * first commit and its answer: without the resend window (run with {@code --resend-window 0}) this test stores
 * hundreds of lines twice.
 */
@Timeout(900)
class CollectorResendKillIT {

    private static final Pattern LISTENING = Pattern.compile("HTTP listening on http://([0-9.]+):(\\d+)");
    private static final Pattern SPOOLED = Pattern.compile("(?m)^spillway_events_spooled\\{[^}]*} ([0-9.E+]+)");
    private static final int WRITERS = 4;
    private static final int LINES = 500;
    private static final int KILLS = 6;
    private static final long T0 = 1_700_000_000_000_000_000L;

    /** Writers that resend each body until it is answered 204, across restarts of the collector. */
    private static final class Writers {
        final AtomicReference<URI> base = new AtomicReference<>();
        final Set<String> acked = ConcurrentHashMap.newKeySet();
        final Set<String> sent = ConcurrentHashMap.newKeySet();
        final AtomicLong resends = new AtomicLong();
        final AtomicLong unavailable = new AtomicLong();
        final AtomicLong noAnswer = new AtomicLong();
        final AtomicBoolean stop = new AtomicBoolean();
        final List<Thread> threads = new ArrayList<>();
        final List<Throwable> failures = new ArrayList<>();

        void start() {
            for (int w = 0; w < WRITERS; w++) {
                final int writer = w;
                final Thread t = new Thread(() -> {
                    try {
                        run(writer);
                    } catch (Throwable e) {
                        synchronized (failures) {
                            failures.add(e);
                        }
                    }
                }, "writer-" + w);
                t.start();
                threads.add(t);
            }
        }

        private void run(int writer) throws Exception {
            final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5)).build();
            final boolean keyed = writer % 2 == 1;
            for (long b = 0; !stop.get(); b++) {
                final StringBuilder body = new StringBuilder(LINES * 48);
                for (int i = 0; i < LINES; i++) {
                    final long v = b * LINES + i;
                    body.append("resend,w=").append(writer).append(" v=").append(v).append('i');
                    if (!keyed) {
                        body.append(' ').append(T0 + v * 1_000L);
                    }
                    body.append('\n');
                    sent.add(writer + ":" + v);
                }
                boolean first = true;
                while (true) { // until taken, whatever happens to the collector meanwhile
                    if (!first) {
                        resends.incrementAndGet();
                        LockSupport.parkNanos(50_000_000); // a client's back-off before it resends
                    }
                    first = false;
                    final HttpRequest.Builder req = HttpRequest.newBuilder(base.get().resolve("/api/v2/write"))
                        .timeout(Duration.ofSeconds(30)).POST(HttpRequest.BodyPublishers.ofString(body.toString()));
                    if (keyed) {
                        req.header("Idempotency-Key", "writer-" + writer + "-body-" + b);
                    }
                    final HttpResponse<String> r;
                    try {
                        r = client.send(req.build(), HttpResponse.BodyHandlers.ofString());
                    } catch (java.io.IOException e) {
                        noAnswer.incrementAndGet(); // killed, restarting, or timed out: resend
                        continue;
                    }
                    if (r.statusCode() == 204) {
                        for (int i = 0; i < LINES; i++) {
                            acked.add(writer + ":" + (b * LINES + i));
                        }
                        break;
                    }
                    if (r.statusCode() != 503) {
                        throw new AssertionError("unexpected " + r.statusCode() + " " + r.body());
                    }
                    unavailable.incrementAndGet();
                }
            }
        }

        /** Lets every writer finish its current body (resending until it is taken), then waits for them. */
        void finish() throws InterruptedException {
            stop.set(true);
            for (Thread t : threads) {
                t.join(300_000);
                assertTrue(!t.isAlive(), "a writer did not get its last body taken");
            }
            synchronized (failures) {
                if (!failures.isEmpty()) {
                    throw new AssertionError("a writer failed", failures.get(0));
                }
            }
        }
    }

    @Test
    void killNineRepeatedlyWithClientsThatResendStoresEveryLineOnce() throws Exception {
        final String jar = System.getProperty("spillway.collector.jar", "target/spillway-collector.jar");
        assertTrue(Files.exists(Path.of(jar)), "shaded jar missing: " + jar);
        final Path spool = Files.createTempDirectory("spillway-spool");
        try (TestDatabase db = TestDatabase.create("collector_resend_kill")) {
            final List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-jar", jar, "--jdbc-url", db.jdbcUrl(), "--db-user", db.user(), "--db-password", db.password(),
                "--http", "127.0.0.1:0", "--flush-interval", "20ms", "--batch-size", "128", "--spool-dir",
                spool.toString(), "--ack", "commit");
            final Writers writers = new Writers();
            Process p = start(cmd);
            try {
                writers.base.set(awaitListening(p));
                writers.start();
                for (int k = 1; k <= KILLS; k++) {
                    final long target = writers.acked.size() + 8_000L;
                    Await.until(Duration.ofSeconds(120), () -> writers.acked.size() >= target
                        || !writers.failures.isEmpty(), "load acknowledged before kill " + k);
                    p.destroyForcibly(); // SIGKILL: no shutdown hook, no drain
                    assertTrue(p.waitFor(30, TimeUnit.SECONDS), "killed");
                    p = start(cmd);
                    writers.base.set(awaitListening(p));
                }
                final long target = writers.acked.size() + 4_000L;
                Await.until(Duration.ofSeconds(120), () -> writers.acked.size() >= target
                    || !writers.failures.isEmpty(), "load acknowledged after the last restart");
                writers.finish();
                final HttpClient client = HttpClient.newHttpClient();
                final URI base = writers.base.get();
                Await.untilNoThrow(Duration.ofSeconds(120), () -> {
                    final Matcher m = SPOOLED.matcher(client.send(HttpRequest.newBuilder(base.resolve("/metrics"))
                        .build(), HttpResponse.BodyHandlers.ofString()).body());
                    return m.find() && Double.parseDouble(m.group(1)) == 0.0;
                }, "the last collector drains the spool");
                p.destroy();
                assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the last collector did not exit on SIGTERM");
                final String out = Files.readString(logs.get(p));
                assertEquals(0, p.exitValue(), out);
                assertTrue(out.contains("balanced=yes"), out);
            } finally {
                writers.stop.set(true);
                p.destroyForcibly();
            }

            final Set<String> present = new HashSet<>();
            long rows = 0;
            try (Connection c = db.connect(); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT tags->>'w', value::bigint FROM telemetry "
                     + "WHERE measurement = 'resend'")) {
                while (rs.next()) {
                    present.add(rs.getString(1) + ":" + rs.getLong(2));
                    rows++;
                }
            }
            final Set<String> missing = new HashSet<>(writers.acked);
            missing.removeAll(present);
            final Set<String> unsent = new HashSet<>(present);
            unsent.removeAll(writers.sent);
            System.out.printf("kill -9 x%d with resending clients (--ack commit): sent=%d acknowledged=%d rows=%d "
                    + "missing=%d duplicates=%d resends=%d (503: %d, no answer: %d)%n", KILLS, writers.sent.size(),
                writers.acked.size(), rows, missing.size(), rows - present.size(), writers.resends.get(),
                writers.unavailable.get(), writers.noAnswer.get());
            assertEquals(Set.of(), missing, "acknowledged lines missing");
            assertEquals(present.size(), rows, "lines stored twice");
            assertEquals(Set.of(), unsent, "rows nobody sent");
            assertEquals(writers.sent, writers.acked, "every body was finally taken");
            assertEquals(0, db.queryLong("SELECT count(*) FROM (SELECT source_id, seq FROM telemetry_events "
                + "GROUP BY 1, 2 HAVING count(*) > 1) d"), "a (source_id, seq) is stored twice");
        }
    }

    private static final java.util.Map<Process, Path> logs = new ConcurrentHashMap<>();

    private static Process start(List<String> cmd) throws Exception {
        final Path log = Files.createTempFile("collector-resend-kill", ".log");
        final Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        logs.put(p, log);
        return p;
    }

    private static URI awaitListening(Process p) {
        final Path log = logs.get(p);
        Await.untilNoThrow(Duration.ofSeconds(60), () -> LISTENING.matcher(Files.readString(log)).find(),
            "collector to listen; log in " + log);
        try {
            final Matcher m = LISTENING.matcher(Files.readString(log));
            assertTrue(m.find());
            return URI.create("http://127.0.0.1:" + m.group(2));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
