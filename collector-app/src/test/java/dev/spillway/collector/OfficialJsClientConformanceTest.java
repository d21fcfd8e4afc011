package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Conformance with a real client: the official InfluxDB JavaScript client ({@code @influxdata/influxdb-client}
 * 1.35.0, from npm) writes 2000 points with tags (one needing escapes) and float, integer, boolean and string
 * fields through its batching, gzipping write API; every value, tag and timestamp must arrive in the
 * {@code telemetry} view. Once without authentication, once with {@code --token} and the right token, and once
 * with a wrong token (the client must fail, nothing stored).
 *
 * <p>Skipped (not failed) when node/npm are missing or npm cannot reach its registry.
 */
class OfficialJsClientConformanceTest {

    private static final String CLIENT = "@influxdata/influxdb-client";
    private static final String CLIENT_VERSION = "1.35.0";
    private static final int POINTS = 2000; // two batches of 1000 lines, each well over the 1000-byte gzip threshold
    private static final long BASE_NS = 1_700_000_000_123_456_789L;
    private static final long STEP_NS = 1_000_001_001L; // sub-microsecond part varies: checks truncation
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final Pattern NETWORK_ERROR = Pattern.compile(
        "ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ERR_SOCKET|network|"
            + "request to \\S+ failed|getaddrinfo", Pattern.CASE_INSENSITIVE);
    private static final ObjectMapper JSON = new ObjectMapper();

    private static Path project;
    /** Why the client cannot run here (no node/npm, no registry), or null. Checked per test so the skip is reported. */
    private static String skipReason;

    @BeforeAll
    static void installClient() throws Exception {
        if (!runs("node", "--version") || !runs("npm", "--version")) {
            skip("node or npm is not installed: official JS client test skipped");
            return;
        }
        project = Files.createTempDirectory("spillway-jsclient");
        Files.writeString(project.resolve("package.json"), "{\"name\":\"spillway-jsclient-conformance\","
            + "\"private\":true,\"type\":\"module\",\"dependencies\":{\"" + CLIENT + "\":\"" + CLIENT_VERSION + "\"}}");
        try (InputStream script = OfficialJsClientConformanceTest.class.getResourceAsStream(
            "jsclient/write-points.mjs")) {
            Files.copy(script, project.resolve("write-points.mjs"));
        }
        final Path out = project.resolve("npm-install.log");
        final Process npm = new ProcessBuilder("npm", "install", "--no-audit", "--no-fund", "--no-update-notifier")
            .directory(project.toFile()).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        if (!npm.waitFor(5, TimeUnit.MINUTES)) {
            npm.destroyForcibly();
            skip("npm install " + CLIENT + " did not finish in 5 minutes (no network?): skipped");
            return;
        }
        final String log = Files.readString(out);
        if (npm.exitValue() != 0) {
            if (NETWORK_ERROR.matcher(log).find()) {
                skip("npm cannot reach its registry, official JS client test skipped:\n" + log);
                return;
            }
            throw new AssertionError("npm install " + CLIENT + "@" + CLIENT_VERSION + " failed:\n" + log);
        }
        assertTrue(Files.exists(project.resolve("node_modules/@influxdata/influxdb-client/package.json")), log);
    }

    private static void skip(String reason) {
        skipReason = reason;
        System.err.println(OfficialJsClientConformanceTest.class.getSimpleName() + ": " + reason);
    }

    private static void requireClient() {
        Assumptions.assumeTrue(skipReason == null, () -> skipReason);
    }

    @AfterAll
    static void removeProject() throws IOException {
        if (project != null) {
            try (Stream<Path> files = Files.walk(project)) {
                files.sorted(Comparator.reverseOrder()).forEach(f -> {
                    try {
                        Files.delete(f);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
            }
        }
    }

    @Test
    @Timeout(300)
    void pointsWrittenByTheOfficialClientArriveWithValuesTagsAndTimestamps() throws Exception {
        requireClient();
        try (TestDatabase db = TestDatabase.create("collector_jsclient");
             CollectorHarness h = CollectorHarness.start(db)) {
            final NodeRun run = runClient(h, "open", null);
            assertEquals(0, run.exit, run.output);
            assertClientBatchedAndGzipped(run, "none");
            assertPointsArrived(h, db, "open");
            assertAccount(h.collector.shutdown());
        }
    }

    @Test
    @Timeout(300)
    void withTokenTheRightTokenWritesAndAWrongOneIsRefused() throws Exception {
        requireClient();
        try (TestDatabase db = TestDatabase.create("collector_jsclient_token");
             CollectorHarness h = CollectorHarness.start(db, "--token", "js-s3cret")) {
            final NodeRun wrong = runClient(h, "wrong", "not-the-token");
            assertNotEquals(0, wrong.exit, "a 401 must fail the client's write:\n" + wrong.output);
            assertTrue(wrong.output.contains("401") || wrong.output.toLowerCase(Locale.ROOT).contains("unauthorized"),
                wrong.output);

            final NodeRun right = runClient(h, "token", "js-s3cret");
            assertEquals(0, right.exit, right.output);
            assertClientBatchedAndGzipped(right, "Token");
            assertPointsArrived(h, db, "token");
            assertEquals(0, h.count("tags->>'run' = 'wrong'"), "the refused write stored data");
            assertAccount(h.collector.shutdown());
        }
    }

    /** The client sent two gzipped batches of 1000 lines to the v2 endpoint with ns precision. */
    private static void assertClientBatchedAndGzipped(NodeRun run, String authScheme) throws Exception {
        final JsonNode summary = JSON.readTree(run.summaryLine());
        final JsonNode requests = summary.get("requests");
        assertEquals(2, requests.size(), run.output);
        for (JsonNode r : requests) {
            assertEquals("gzip", r.get("encoding").asText(), run.output);
            assertEquals(authScheme, r.get("authorization").asText(), run.output);
            final String path = r.get("path").asText();
            assertTrue(path.startsWith("/api/v2/write?") && path.contains("precision=ns"), path);
        }
        assertEquals("[1000,1000]", summary.get("successes").toString(), run.output);
    }

    private static void assertPointsArrived(CollectorHarness h, TestDatabase db, String run) throws Exception {
        final String mine = "measurement = 'jsclient' AND tags->>'run' = '" + run + "'";
        // 3 numeric fields per point; the string field is skipped.
        Await.until(WAIT, () -> h.count(mine) == 3L * POINTS, "all rows of run " + run);
        final long n = POINTS;
        final long sumI = n * (n - 1) / 2;
        for (String field : new String[] {"f", "i", "b"}) {
            assertEquals(n, h.count(mine + " AND field = '" + field + "'"), field);
        }
        assertEquals(0, h.count(mine + " AND field = 's'"), "string fields must not be stored");
        assertEquals(sumI, db.queryLong("SELECT sum(value)::bigint FROM telemetry WHERE " + mine + " AND field = 'i'"));
        assertEquals(n, db.queryLong("SELECT count(DISTINCT value) FROM telemetry WHERE " + mine + " AND field = 'i'"));
        // f = i + 0.5 and b = (i even) on the same point (same series tags and time as its i row)
        assertEquals(n, db.queryLong("SELECT count(*) FROM telemetry i JOIN telemetry f ON f.time = i.time "
            + "AND f.tags = i.tags AND f.measurement = i.measurement AND f.field = 'f' JOIN telemetry b "
            + "ON b.time = i.time AND b.tags = i.tags AND b.measurement = i.measurement AND b.field = 'b' WHERE "
            + "i.measurement = 'jsclient' AND i.tags->>'run' = '" + run + "' AND i.field = 'i' "
            + "AND f.value = i.value + 0.5 AND b.value = CASE WHEN i.value::bigint % 2 = 0 THEN 1 ELSE 0 END"));
        // Timestamps: the client's ns stamp, truncated to the database's microseconds.
        assertEquals(n, db.queryLong("SELECT count(*) FROM telemetry WHERE " + mine + " AND field = 'i' AND "
            + "(extract(epoch FROM time) * 1000000)::bigint = floor((" + BASE_NS + "::numeric + value::numeric * "
            + STEP_NS + ") / 1000)"));
        // Tags: exactly host, region (unescaped) and run, with host following i.
        assertEquals(n, db.queryLong("SELECT count(*) FROM telemetry WHERE " + mine + " AND field = 'i' AND "
            + "tags = jsonb_build_object('host', 'h' || (value::bigint % 4), 'region', 'eu west,1=a', 'run', '"
            + run + "')"));
        // Field types as the client sent them: float 1, integer 2, boolean 4.
        assertEquals(n * (1 + 2 + 4), db.queryLong("SELECT sum(e.kind) FROM telemetry_events e JOIN "
            + "telemetry_sources s ON s.id = e.source_id WHERE s.measurement = 'jsclient' AND s.tags->>'run' = '"
            + run + "'"));
        // And one point in full.
        final String tags = "{\"run\": \"" + run + "\", \"host\": \"h1\", \"region\": \"eu west,1=a\"}";
        final long t1 = Math.floorDiv(BASE_NS + STEP_NS, 1000) * 1000;
        assertEquals(List.of(
                "jsclient|" + tags + "|b|0.0|" + t1,
                "jsclient|" + tags + "|f|1.5|" + t1,
                "jsclient|" + tags + "|i|1.0|" + t1),
            h.rows(mine + " AND (extract(epoch FROM time) * 1000000)::bigint = " + t1 / 1000));
    }

    private static void assertAccount(FinalAccount account) {
        assertTrue(account.stats().isBalanced(), account.toString());
        assertEquals(POINTS, account.linesAccepted(), account.toString());
        assertEquals(0, account.linesRejected(), account.toString());
        assertEquals(POINTS, account.stringsSkipped(), account.toString());
        assertEquals(3L * POINTS, account.stats().written(), account.toString());
    }

    private record NodeRun(int exit, String output) {
        /** The script's last stdout line: its JSON summary of requests and successful batches. */
        String summaryLine() {
            final List<String> json = new ArrayList<>();
            for (String line : output.split("\n")) {
                if (line.startsWith("{\"requests\"")) {
                    json.add(line);
                }
            }
            assertEquals(1, json.size(), "no summary line in:\n" + output);
            return json.get(0);
        }
    }

    private static NodeRun runClient(CollectorHarness h, String run, String token) throws Exception {
        final Path out = Files.createTempFile(project, "node-" + run, ".log");
        final ProcessBuilder pb = new ProcessBuilder("node", "write-points.mjs").directory(project.toFile())
            .redirectErrorStream(true).redirectOutput(out.toFile());
        final Map<String, String> env = pb.environment();
        env.put("COLLECTOR_URL", "http://127.0.0.1:" + h.collector.httpAddress().getPort());
        env.remove("COLLECTOR_TOKEN");
        if (token != null) {
            env.put("COLLECTOR_TOKEN", token);
        }
        env.put("POINTS", Integer.toString(POINTS));
        env.put("RUN", run);
        env.put("BASE_NS", Long.toString(BASE_NS));
        env.put("STEP_NS", Long.toString(STEP_NS));
        final Process p = pb.start();
        if (!p.waitFor(2, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError("node client did not finish in 2 minutes:\n" + Files.readString(out));
        }
        return new NodeRun(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8));
    }

    private static boolean runs(String... cmd) {
        try {
            final Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return false;
            }
            return p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
