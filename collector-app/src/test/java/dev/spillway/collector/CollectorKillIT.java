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
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code kill -9} of the shaded jar under load, then a restart on the same spool directory and database. With
 * {@code --ack commit} no line answered 204 may be missing afterwards and none may be stored twice; with
 * {@code --ack accept} the lines lost per kill (the exposure) are measured and printed.
 */
class CollectorKillIT {

    private static final Pattern LISTENING = Pattern.compile("HTTP listening on http://([0-9.]+):(\\d+)");
    private static final Pattern SPOOLED = Pattern.compile("(?m)^spillway_events_spooled\\{[^}]*} ([0-9.E+]+)");
    private static final int WRITERS = 4;
    private static final int LINES_PER_REQUEST = 500;

    record Outcome(long acked, long missing, long rows, long duplicates) {
    }

    @Test
    void killNineUnderLoadWithAckCommitLosesNoAcknowledgedLine() throws Exception {
        final Outcome o = killAndRestart("commit");
        System.out.printf("kill -9 with --ack commit: acknowledged=%d missing=%d duplicates=%d rows=%d%n", o.acked(),
            o.missing(), o.duplicates(), o.rows());
        assertEquals(0, o.missing(), "acknowledged lines missing after kill -9 and restart");
        assertEquals(0, o.duplicates(), "duplicated lines");
    }

    @Test
    void killNineUnderLoadWithAckAcceptMeasuresTheExposure() throws Exception {
        final Outcome o = killAndRestart("accept");
        System.out.printf("kill -9 with --ack accept: acknowledged=%d missing=%d (exposure per kill) duplicates=%d "
            + "rows=%d%n", o.acked(), o.missing(), o.duplicates(), o.rows());
        assertEquals(0, o.duplicates(), "duplicated lines");
        assertTrue(o.missing() <= o.acked());
    }

    private Outcome killAndRestart(String ack) throws Exception {
        final String jar = System.getProperty("spillway.collector.jar", "target/spillway-collector.jar");
        assertTrue(Files.exists(Path.of(jar)), "shaded jar missing: " + jar);
        final Path spool = Files.createTempDirectory("spillway-spool");
        try (TestDatabase db = TestDatabase.create("collector_kill_" + ack)) {
            final List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-jar", jar, "--jdbc-url", db.jdbcUrl(), "--db-user", db.user(), "--db-password", db.password(),
                "--http", "127.0.0.1:0", "--flush-interval", "20ms", "--spool-dir", spool.toString(), "--ack", ack);
            final Set<String> acked = ConcurrentHashMap.newKeySet();
            final Path log1 = Files.createTempFile("collector-kill", ".log");
            final Process first = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log1.toFile()).start();
            try {
                final URI base = awaitListening(log1);
                final AtomicBoolean stop = new AtomicBoolean();
                final List<Thread> writers = new ArrayList<>();
                for (int w = 0; w < WRITERS; w++) {
                    final int writer = w;
                    final Thread t = new Thread(() -> write(base.resolve("/api/v2/write"), writer, acked, stop),
                        "writer-" + w);
                    t.start();
                    writers.add(t);
                }
                Await.until(Duration.ofSeconds(60), () -> acked.size() >= 40_000, "load acknowledged");
                first.destroyForcibly(); // SIGKILL: no shutdown hook, no drain
                assertTrue(first.waitFor(30, TimeUnit.SECONDS), "killed");
                stop.set(true);
                for (Thread t : writers) {
                    t.join(30_000);
                }
            } finally {
                first.destroyForcibly();
            }

            // Restart on the same spool and database: whatever was spooled is replayed.
            final Path log2 = Files.createTempFile("collector-restart", ".log");
            final Process second = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log2.toFile())
                .start();
            try {
                final URI base = awaitListening(log2);
                final HttpClient client = HttpClient.newHttpClient();
                Await.untilNoThrow(Duration.ofSeconds(60), () -> {
                    final Matcher m = SPOOLED.matcher(client.send(HttpRequest.newBuilder(base.resolve("/metrics"))
                        .build(), HttpResponse.BodyHandlers.ofString()).body());
                    return m.find() && Double.parseDouble(m.group(1)) == 0.0;
                }, "the restarted collector drains the spool; log in " + log2);
                second.destroy();
                assertTrue(second.waitFor(60, TimeUnit.SECONDS), "restarted collector did not exit on SIGTERM");
                final String out = Files.readString(log2);
                assertEquals(0, second.exitValue(), out);
                assertTrue(out.contains("balanced=yes"), out);
            } finally {
                second.destroyForcibly();
            }

            final Set<String> present = new HashSet<>();
            long rows = 0;
            try (Connection c = db.connect(); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT tags->>'w', value::bigint FROM telemetry "
                     + "WHERE measurement = 'kill'")) {
                while (rs.next()) {
                    present.add(rs.getString(1) + ":" + rs.getLong(2));
                    rows++;
                }
            }
            final Set<String> missing = new HashSet<>(acked);
            missing.removeAll(present);
            return new Outcome(acked.size(), missing.size(), rows, rows - present.size());
        }
    }

    private static URI awaitListening(Path log) {
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

    /** Posts unique lines (tag w, integer value) until stopped or the collector goes away. */
    private static void write(URI uri, int writer, Set<String> acked, AtomicBoolean stop) {
        final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
        long next = 0;
        while (!stop.get()) {
            final StringBuilder body = new StringBuilder(LINES_PER_REQUEST * 24);
            for (int i = 0; i < LINES_PER_REQUEST; i++) {
                body.append("kill,w=").append(writer).append(" v=").append(next + i).append("i\n");
            }
            try {
                final HttpResponse<Void> r = client.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(30))
                    .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(),
                    HttpResponse.BodyHandlers.discarding());
                if (r.statusCode() == 204) {
                    for (int i = 0; i < LINES_PER_REQUEST; i++) {
                        acked.add(writer + ":" + (next + i));
                    }
                } else if (r.statusCode() != 503) {
                    throw new AssertionError("unexpected status " + r.statusCode());
                }
            } catch (java.io.IOException e) {
                return; // killed
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            next += LINES_PER_REQUEST; // never reused, so a duplicate is unambiguous
        }
    }
}
