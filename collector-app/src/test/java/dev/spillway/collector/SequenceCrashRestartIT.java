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
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shaded jar killed with SIGKILL (no shutdown code runs) and started again on the same database: every series
 * continues above every sequence the first process used, so no (source_id, seq) appears twice; then a clean
 * SIGTERM restart continues without a gap.
 */
class SequenceCrashRestartIT {

    private static final Pattern LISTENING = Pattern.compile("HTTP listening on http://([0-9.]+):(\\d+)");
    private static final int SERIES = 5;

    @Test
    void sigkillThenRestartNeverReusesASequence() throws Exception {
        final String jar = System.getProperty("spillway.collector.jar", "target/spillway-collector.jar");
        assertTrue(Files.exists(Path.of(jar)), "shaded jar missing: " + jar);
        try (TestDatabase db = TestDatabase.create("collector_crash")) {
            // Run 1: 3,000 events per series (beyond the first 1,024-number block), then SIGKILL.
            Process p = start(jar, db);
            try {
                final URI write = writeUri(p);
                for (int b = 0; b < 6; b++) {
                    post(write, body(b * 500, 500));
                }
                Await.until(Duration.ofSeconds(60), () -> db.queryLong("SELECT count(*) FROM telemetry_events")
                    == 3000L * SERIES, "run 1 written");
            } finally {
                p.destroyForcibly(); // SIGKILL: no drain, no saved sequences
                assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            }
            final long maxRun1 = db.queryLong("SELECT max(seq) FROM telemetry_events");
            assertEquals(2999, maxRun1);

            // Run 2: continues at each series' reserved limit, then stops cleanly.
            p = start(jar, db);
            try {
                post(writeUri(p), body(3000, 10));
                Await.until(Duration.ofSeconds(60), () -> db.queryLong("SELECT count(*) FROM telemetry_events")
                    == 3010L * SERIES, "run 2 written");
            } finally {
                p.destroy(); // SIGTERM: drains, saves the exact next numbers
                assertTrue(p.waitFor(60, TimeUnit.SECONDS));
            }
            assertEquals(0, db.queryLong("SELECT count(*) FROM (SELECT source_id, seq FROM telemetry_events "
                + "GROUP BY 1, 2 HAVING count(*) > 1) d"), "a sequence was reused after the crash");
            assertEquals(SERIES, db.queryLong("SELECT count(*) FROM (SELECT source_id, min(seq) FILTER (WHERE seq > "
                + maxRun1 + ") AS first2 FROM telemetry_events GROUP BY 1) f WHERE first2 > " + maxRun1), "");
            assertEquals(0, db.queryLong("SELECT count(*) FROM telemetry_events WHERE value >= 3000 AND seq <= "
                + maxRun1), "run 2 took a number at or below run 1's largest");
            final long lastRun2 = db.queryLong("SELECT min(m) FROM (SELECT max(seq) AS m FROM telemetry_events "
                + "GROUP BY source_id) x");

            // Run 3 after the clean stop: the next number, no gap.
            p = start(jar, db);
            try {
                post(writeUri(p), body(3010, 1));
                Await.until(Duration.ofSeconds(60), () -> db.queryLong("SELECT count(*) FROM telemetry_events")
                    == 3011L * SERIES, "run 3 written");
            } finally {
                p.destroy();
                assertTrue(p.waitFor(60, TimeUnit.SECONDS));
            }
            assertEquals(SERIES, db.queryLong("SELECT count(*) FROM (SELECT source_id, max(seq) AS last, "
                + "max(seq) FILTER (WHERE value < 3010) AS before FROM telemetry_events GROUP BY 1) x "
                + "WHERE last = before + 1"), "run 3 continues at the next number");
            assertTrue(lastRun2 > maxRun1);
        }
    }

    private static Process start(String jar, TestDatabase db) throws Exception {
        final Path log = Files.createTempFile("collector-crash", ".log");
        final Process p = new ProcessBuilder(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "-jar", jar, "--jdbc-url", db.jdbcUrl(), "--db-user", db.user(), "--db-password", db.password(),
            "--http", "127.0.0.1:0", "--flush-interval", "20ms"))
            .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        Await.untilNoThrow(Duration.ofSeconds(60), () -> LISTENING.matcher(Files.readString(log)).find(),
            "collector to listen; log in " + log);
        logs.put(p, log);
        return p;
    }

    private static final java.util.Map<Process, Path> logs = new java.util.concurrent.ConcurrentHashMap<>();

    private static URI writeUri(Process p) throws Exception {
        final Matcher m = LISTENING.matcher(Files.readString(logs.get(p)));
        assertTrue(m.find());
        return URI.create("http://127.0.0.1:" + m.group(2) + "/api/v2/write");
    }

    /** {@code count} lines per series, values from {@code from}, explicit timestamps. */
    private static String body(int from, int count) {
        final StringBuilder sb = new StringBuilder();
        for (int i = from; i < from + count; i++) {
            for (int s = 0; s < SERIES; s++) {
                sb.append("crash,s=").append(s).append(" v=").append(i).append(' ').append(1_700_000_000L + i)
                    .append("000000000\n");
            }
        }
        return sb.toString();
    }

    private static void post(URI uri, String body) throws Exception {
        final HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(uri)
            .timeout(Duration.ofSeconds(30)).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
            HttpResponse.BodyHandlers.ofString());
        assertEquals(204, r.statusCode(), r.body());
    }
}
