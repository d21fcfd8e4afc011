package dev.spillway.collector;

import dev.spillway.collector.config.CollectorOptions;
import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.DedicatedPostgres;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 19, goal "Spool filled to its limit with --ack commit writers: 0 acknowledged lines lost; clients get 503
 * once full". The database (a server of the test's own) stops under ack=commit load with a 1 MiB spool and the
 * default policy (drop-oldest-segment). The spool fills; it must not drop a segment (every one holds lines a client
 * was answered 204 for): it refuses, the pipeline reports it full, and every write gets 503 with Retry-After. Once
 * the database is back the spool drains, writes get 204 again, and every acknowledged line is in the table once.
 */
class CollectorSpoolFullTest {

    private static final int WRITERS = 4;
    private static final int LINES = 200;

    @TempDir
    Path dir;
    private DedicatedPostgres pg;

    @BeforeEach
    void startServer() {
        pg = TestDatabase.dedicated(dir.resolve("data"), TestDatabase.freePort());
        pg.createDatabase("spoolfull");
    }

    @AfterEach
    void stopServer() {
        pg.close();
    }

    /** Writers posting bodies of unique lines with ack=commit; they remember what was answered 204. */
    private static final class Writers {
        final Set<String> acked = ConcurrentHashMap.newKeySet();
        final AtomicLong ackedWhileDown = new AtomicLong();
        final AtomicLong refusedOnceFull = new AtomicLong();
        final AtomicLong refusedWithoutRetryAfter = new AtomicLong();
        final AtomicLong refusedNotSayingFull = new AtomicLong();
        final AtomicLong ackedOnceFull = new AtomicLong();
        final AtomicLong ackedAfterRecovery = new AtomicLong();
        final AtomicBoolean down = new AtomicBoolean();
        final AtomicBoolean full = new AtomicBoolean();
        final AtomicBoolean recovered = new AtomicBoolean();
        final AtomicBoolean stop = new AtomicBoolean();
        final List<Thread> threads = new ArrayList<>();

        void start(URI uri) {
            for (int w = 0; w < WRITERS; w++) {
                final int writer = w;
                final Thread t = new Thread(() -> run(uri, writer), "writer-" + w);
                t.start();
                threads.add(t);
            }
        }

        private void run(URI uri, int writer) {
            final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            long next = 0;
            while (!stop.get()) {
                final StringBuilder body = new StringBuilder(LINES * 24);
                for (int i = 0; i < LINES; i++) {
                    body.append("full,w=").append(writer).append(" v=").append(next + i).append("i\n");
                }
                // Read the phase before sending: a 204 counts against "full" only if the spool was full before the
                // request went out and the database still down when it was answered.
                final boolean fullBefore = full.get();
                final boolean downBefore = down.get();
                final boolean recoveredBefore = recovered.get();
                try {
                    final HttpResponse<String> r = client.send(HttpRequest.newBuilder(uri)
                        .timeout(Duration.ofSeconds(60)).POST(HttpRequest.BodyPublishers.ofString(body.toString()))
                        .build(), HttpResponse.BodyHandlers.ofString());
                    if (r.statusCode() == 204) {
                        for (int i = 0; i < LINES; i++) {
                            acked.add(writer + ":" + (next + i));
                        }
                        if (downBefore) {
                            ackedWhileDown.addAndGet(LINES);
                        }
                        if (fullBefore && full.get()) {
                            ackedOnceFull.incrementAndGet();
                        }
                        if (recoveredBefore) {
                            ackedAfterRecovery.incrementAndGet();
                        }
                    } else if (r.statusCode() == 503) {
                        if (fullBefore && full.get()) {
                            refusedOnceFull.incrementAndGet();
                            if (r.headers().firstValue("Retry-After").isEmpty()) {
                                refusedWithoutRetryAfter.incrementAndGet();
                            }
                            if (!r.body().contains("the spool is full")) {
                                refusedNotSayingFull.incrementAndGet();
                                System.out.println("503 once full: " + r.body());
                            }
                        }
                    } else {
                        throw new AssertionError("unexpected " + r.statusCode() + " " + r.body());
                    }
                } catch (java.io.IOException e) {
                    throw new AssertionError("the collector must keep answering", e);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
                next += LINES; // never reuse values, so duplicates are unambiguous
            }
        }

        void stop() throws InterruptedException {
            stop.set(true);
            for (Thread t : threads) {
                t.join(90_000);
            }
        }
    }

    @Test
    void aSpoolFilledByAckCommitWritersRefusesWith503AndLosesNoAcknowledgedLine() throws Exception {
        final String[] args = {"--jdbc-url", pg.jdbcUrl("spoolfull"), "--db-user", pg.user(), "--http", "127.0.0.1:0",
            "--flush-interval", "10ms", "--batch-size", "1000", "--retry-attempts", "3", "--retry-max-elapsed", "1s",
            "--spool-dir", dir.resolve("spool").toString(), "--spool-fsync", "20ms", "--spool-max-size", "1MiB",
            "--ack", "commit", "--ack-timeout", "30s"};
        final var parsed = CollectorOptions.parse(args, Map.of(), new PrintStream(OutputStream.nullOutputStream()));
        final Collector collector = Collector.start(((CollectorOptions.Run) parsed).config());
        final Writers writers = new Writers();
        long peakBytes;
        try {
            writers.start(URI.create("http://127.0.0.1:" + collector.httpAddress().getPort() + "/api/v2/write"));
            Await.until(Duration.ofSeconds(60), () -> writers.acked.size() >= 4_000, "first lines acknowledged");

            pg.stop();
            writers.down.set(true);
            Await.until(Duration.ofSeconds(120), () -> collector.stats().spoolFull(),
                "the spool fills: " + collector.stats());
            writers.full.set(true);
            Await.until(Duration.ofSeconds(60), () -> writers.refusedOnceFull.get() >= 20,
                "writes are refused once the spool is full: " + collector.stats());
            final PipelineStats whileFull = collector.stats();
            assertTrue(whileFull.spoolFull(), whileFull::toString);
            assertEquals(0, whileFull.droppedSpoolFull(), "no acknowledged segment dropped: " + whileFull);
            peakBytes = spoolBytes(collector);

            writers.full.set(false); // the database is down until here: nothing could have freed the spool
            pg.startServer();
            Await.until(Duration.ofSeconds(120), () -> collector.stats().spooled() == 0
                && !collector.stats().spoolFull(), "the spool drains: " + collector.stats());
            writers.recovered.set(true);
            Await.until(Duration.ofSeconds(60), () -> writers.ackedAfterRecovery.get() >= 10,
                "writes answered 204 again: " + collector.stats());
        } finally {
            writers.stop();
        }
        final FinalAccount account = collector.shutdown();
        final PipelineStats stats = account.stats();
        assertTrue(stats.isBalanced(), account.toString());
        assertEquals(0, stats.droppedSpoolFull(), account.toString());
        assertEquals(0, stats.spooled(), account.toString());
        assertEquals(0, writers.ackedOnceFull.get(), "a write sent once the spool was full was answered 204");
        assertEquals(0, writers.refusedWithoutRetryAfter.get(), "503 without Retry-After");
        assertEquals(0, writers.refusedNotSayingFull.get(), "a 503 once full that does not say the spool is full");

        final Set<String> rows = new HashSet<>();
        long total = 0;
        try (Connection c = DriverManager.getConnection(pg.jdbcUrl("spoolfull"), pg.user(), "");
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT tags->>'w', value::bigint FROM telemetry WHERE measurement = "
                 + "'full'")) {
            while (rs.next()) {
                rows.add(rs.getString(1) + ":" + rs.getLong(2));
                total++;
            }
        }
        assertEquals(total, rows.size(), "duplicated lines in the table");
        final Set<String> missing = new HashSet<>(writers.acked);
        missing.removeAll(rows);
        assertEquals(Set.of(), missing, "acknowledged lines missing from the table");
        System.out.printf("spool filled by ack=commit writers: acknowledged=%d (%d while the database was down) "
                + "missing=0 duplicates=0; 503 once full=%d (all with Retry-After); spool peak %d bytes of 1 MiB; "
                + "dropped=%d failed=%d%n", writers.acked.size(), writers.ackedWhileDown.get(),
            writers.refusedOnceFull.get(), peakBytes, stats.droppedSpoolFull(), stats.failed());
    }

    /** The spool's bytes gauge, from the collector's own /metrics. */
    private static long spoolBytes(Collector collector) throws Exception {
        final HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(
            "http://127.0.0.1:" + collector.httpAddress().getPort() + "/metrics")).build(),
            HttpResponse.BodyHandlers.ofString());
        for (String line : r.body().split("\n")) {
            if (line.startsWith("spillway_spool_bytes{")) {
                return (long) Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        throw new AssertionError("no spillway_spool_bytes in /metrics");
    }
}
