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
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shaded jar as a real process: a second SIGTERM during a drain that cannot finish (the events table is
 * locked by another session, and {@code --close-timeout} is long) exits at once with code 130, as documented.
 */
class CollectorSecondSignalIT {

    private static final Pattern LISTENING = Pattern.compile("HTTP listening on http://([0-9.]+):(\\d+)");
    private static final String DRAINING = "draining buffered events";
    private static final Duration WAIT = Duration.ofSeconds(60);

    @Test
    @Timeout(240)
    void secondSigtermDuringAStuckDrainExitsPromptlyWith130() throws Exception {
        final String jar = System.getProperty("spillway.collector.jar", "target/spillway-collector.jar");
        assertTrue(Files.exists(Path.of(jar)), "shaded jar missing: " + jar);
        try (TestDatabase db = TestDatabase.create("collector_second_signal")) {
            final Path log = Files.createTempFile("collector-second-signal", ".log");
            final List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-jar", jar, "--jdbc-url", db.jdbcUrl(), "--db-user", db.user(), "--db-password", db.password(),
                "--http", "127.0.0.1:0", "--flush-interval", "20ms", "--ring-size", "1024", "--batch-size", "64",
                "--workers", "1", "--close-timeout", "10m", "--spool-dir",
                Files.createTempDirectory("spillway-spool").toString());
            final Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            Connection lock = null;
            try {
                Await.untilNoThrow(WAIT, () -> LISTENING.matcher(Files.readString(log)).find(),
                    "collector to listen; log so far in " + log);
                final Matcher m = LISTENING.matcher(Files.readString(log));
                assertTrue(m.find());
                final URI write = URI.create("http://127.0.0.1:" + m.group(2) + "/api/v2/write?precision=s");
                final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

                // Create the series first (that reads the events table), and see it written.
                assertEquals(204, post(http, write, "sig v=0 1700000000"));
                Await.until(WAIT, () -> db.queryLong("SELECT count(*) FROM telemetry") == 1, "seed row written");

                lock = db.connect();
                lock.setAutoCommit(false);
                try (Statement st = lock.createStatement()) {
                    st.execute("LOCK TABLE telemetry_events IN ACCESS EXCLUSIVE MODE");
                }
                final StringBuilder body = new StringBuilder();
                for (int i = 1; i <= 200; i++) {
                    body.append("sig v=").append(i).append(' ').append(1_700_000_000L + i).append('\n');
                }
                assertEquals(204, post(http, write, body.toString()), "buffered write");
                // The sink's COPY is waiting on the lock: the drain cannot finish until it is released.
                Await.until(WAIT, () -> db.queryLong("SELECT count(*) FROM pg_locks l JOIN pg_class c "
                    + "ON c.oid = l.relation WHERE c.relname IN ('telemetry_events', 'telemetry_events_blocks', "
                    + "'telemetry_events_rows') AND NOT l.granted") >= 1,
                    "sink waiting on the table lock");

                p.destroy(); // first SIGTERM: graceful shutdown starts and blocks in the drain
                Await.untilNoThrow(WAIT, () -> Files.readString(log).contains(DRAINING),
                    "collector to report that it is draining; log in " + log);
                assertTrue(p.isAlive(), "exited before the second signal:\n" + Files.readString(log));
                assertFalse(Files.readString(log).contains("final account"), "drain finished despite the lock");

                final long sent = System.nanoTime();
                final Process kill = new ProcessBuilder("kill", "-TERM", Long.toString(p.pid())).inheritIO().start();
                assertTrue(kill.waitFor(10, TimeUnit.SECONDS), "kill did not return");
                assertEquals(0, kill.exitValue(), "kill -TERM failed");
                assertTrue(p.waitFor(10, TimeUnit.SECONDS), "collector still running 10 s after the second SIGTERM");
                final long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - sent);
                final String output = Files.readString(log);
                assertEquals(130, p.exitValue(), output);
                assertTrue(output.contains("second signal, exiting without draining"), output);
                assertFalse(output.contains("final account"), output);
                System.out.printf("second SIGTERM: exit %d after %d ms%n", p.exitValue(), tookMs);
                Files.deleteIfExists(log); // kept for diagnosis only when the test fails
            } finally {
                p.destroyForcibly();
                if (lock != null) {
                    lock.rollback();
                    lock.close();
                }
            }
        }
    }

    private static int post(HttpClient http, URI uri, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(20))
            .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.discarding())
            .statusCode();
    }
}
