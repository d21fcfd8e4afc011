package dev.spillway.collector;

import dev.spillway.collector.config.CollectorOptions;
import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.DedicatedPostgres;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
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
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The collector against a PostgreSQL that stops under load (a server of the test's own, stopped and started on
 * the same data directory and port). With the spool (the default) every line answered 204 is in the table exactly
 * once afterwards, the spool grows and drains to zero, and the account balances. Without it: the old behaviour,
 * counted. The 5-minute outage is scaled down to about 3 seconds: long enough for the spool to carry tens of
 * thousands of lines; nothing asserted depends on the length.
 */
class CollectorOutageSpoolTest {

    private static final int WRITERS = 2;
    private static final int LINES = 200;
    /** Paced load, about 5,000 lines/s from the two writers: a steady stream, not a saturation test. */
    private static final long PACE_NANOS = 80_000_000;

    @TempDir
    static Path shared;
    @TempDir
    Path dir;
    private static DedicatedPostgres pg;
    private String database;

    @BeforeAll
    static void startServer() {
        pg = TestDatabase.dedicated(shared.resolve("data"), TestDatabase.freePort());
    }

    @AfterAll
    static void stopServer() {
        pg.close();
    }

    private Collector start(String database, String spoolDir) throws Exception {
        this.database = database;
        pg.createDatabase(database);
        final String[] args = {"--jdbc-url", pg.jdbcUrl(database), "--db-user", pg.user(), "--http", "127.0.0.1:0",
            "--flush-interval", "10ms", "--batch-size", "1000", "--retry-attempts", "3", "--retry-max-elapsed", "1s",
            "--spool-dir", spoolDir, "--spool-fsync", "50ms"};
        final var parsed = CollectorOptions.parse(args, Map.of(), new PrintStream(OutputStream.nullOutputStream()));
        return Collector.start(((CollectorOptions.Run) parsed).config());
    }

    /** Writes bodies of unique lines (tag w, integer value) until stopped; remembers what was answered 204. */
    private static final class Writers {
        final Set<String> acked = ConcurrentHashMap.newKeySet();
        final AtomicLong ackedDuringOutage = new AtomicLong();
        final AtomicBoolean outage = new AtomicBoolean();
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
                    body.append("outage,w=").append(writer).append(" v=").append(next + i).append("i\n");
                }
                try {
                    final HttpResponse<String> r = client.send(HttpRequest.newBuilder(uri)
                        .timeout(Duration.ofSeconds(60)).POST(HttpRequest.BodyPublishers.ofString(body.toString()))
                        .build(), HttpResponse.BodyHandlers.ofString());
                    if (r.statusCode() == 204) {
                        for (int i = 0; i < LINES; i++) {
                            acked.add(writer + ":" + (next + i));
                        }
                        if (outage.get()) {
                            ackedDuringOutage.addAndGet(LINES);
                        }
                    } else if (r.statusCode() != 503) {
                        throw new AssertionError("unexpected " + r.statusCode() + " " + r.body());
                    }
                } catch (java.io.IOException e) {
                    throw new AssertionError("the collector must keep answering during the outage", e);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
                next += LINES; // never reuse values, so duplicates are unambiguous
                LockSupport.parkNanos(PACE_NANOS);
            }
        }

        void stop() throws InterruptedException {
            stop.set(true);
            for (Thread t : threads) {
                t.join(60_000);
            }
        }
    }

    /** Every (w:v) in the table, failing on duplicates. */
    private Set<String> rows() throws Exception {
        final Set<String> out = new HashSet<>();
        long total = 0;
        try (Connection c = DriverManager.getConnection(pg.jdbcUrl(database), pg.user(), "");
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT tags->>'w', value::bigint FROM telemetry WHERE measurement = "
                 + "'outage'")) {
            while (rs.next()) {
                out.add(rs.getString(1) + ":" + rs.getLong(2));
                total++;
            }
        }
        assertEquals(total, out.size(), "duplicated lines in the table");
        return out;
    }

    @Test
    void databaseStoppedUnderLoadEveryAcknowledgedLineLandsOnceAndTheSpoolDrains() throws Exception {
        final Collector collector = start("spool", dir.resolve("spool").toString());
        final Writers writers = new Writers();
        try {
            writers.start(URI.create("http://127.0.0.1:" + collector.httpAddress().getPort() + "/api/v2/write"));
            Await.until(Duration.ofSeconds(60), () -> collector.stats().written() >= 2_000, "first lines written");

            pg.stop();
            writers.outage.set(true);
            Await.until(Duration.ofSeconds(60), () -> collector.stats().spooled() >= 10_000
                    && writers.ackedDuringOutage.get() >= 10_000,
                "lines answered 204 and spooled while the database is down: " + collector.stats());
            writers.outage.set(false);
            pg.startServer();
            Await.until(Duration.ofSeconds(120), () -> collector.stats().spooled() == 0
                    && collector.stats().batchesReplayed() > 0, "the spool drains: " + collector.stats());
            writers.stop();
        } finally {
            writers.stop();
        }
        final FinalAccount account = collector.shutdown();
        final PipelineStats stats = account.stats();
        assertTrue(stats.isBalanced(), account.toString());
        assertEquals(0, stats.spooled(), account.toString());
        assertEquals(0, stats.failed() + stats.overwritten() + stats.rejected(), account.toString());
        assertEquals(stats.batchesSpooled(), stats.batchesReplayed(), account.toString());
        final Set<String> rows = rows();
        final Set<String> missing = new HashSet<>(writers.acked);
        missing.removeAll(rows);
        assertEquals(Set.of(), missing, "acknowledged lines missing from the table");
        assertEquals(stats.written(), rows.size(), "rows vs written events");
        System.out.printf("outage with spool: acknowledged=%d (%d during the outage) rows=%d spooled batches=%d%n",
            writers.acked.size(), writers.ackedDuringOutage.get(), rows.size(), stats.batchesSpooled());
    }

    /**
     * A series first seen while the database is down no longer refuses its body: it gets a provisional id at once
     * (recorded beside the spool), its events are spooled with the others, and when the database is back it gets its
     * catalogue row and its rows land under it, visible through the {@code telemetry} view.
     */
    @Test
    void aSeriesFirstSeenDuringTheOutageIsTakenAndLandsAfterIt() throws Exception {
        final Collector collector = start("newseries", dir.resolve("spool").toString());
        final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        final URI uri = URI.create("http://127.0.0.1:" + collector.httpAddress().getPort() + "/api/v2/write");
        final HttpResponse<String> first = client.send(HttpRequest.newBuilder(uri)
            .POST(HttpRequest.BodyPublishers.ofString("outage,w=7 v=1i\n")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(204, first.statusCode(), first.body());
        Await.until(Duration.ofSeconds(60), () -> collector.stats().written() == 1, "the known series' first row");
        pg.stop();
        try {
            for (String ack : List.of("accept", "commit")) {
                final int v = ack.equals("accept") ? 2 : 4;
                final HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(uri + "?ack=" + ack))
                    .timeout(Duration.ofSeconds(60)).POST(HttpRequest.BodyPublishers.ofString("outage,w=7 v=" + v
                        + "i\noutage,w=" + (v + 6) + " v=" + (v + 1) + "i\n")).build(),
                    HttpResponse.BodyHandlers.ofString());
                assertEquals(204, r.statusCode(), ack + ": " + r.body());
            }
        } finally {
            pg.startServer();
        }
        Await.until(Duration.ofSeconds(60), () -> collector.stats().written() == 5 && collector.stats().spooled() == 0,
            "the outage's lines are written after it: " + collector.stats());
        final FinalAccount account = collector.shutdown();
        assertTrue(account.stats().isBalanced(), account.toString());
        assertEquals(Set.of("7:1", "7:2", "8:3", "7:4", "10:5"), rows());
    }

    @Test
    void withoutTheSpoolTheOutageLosesAcknowledgedLinesAndCountsThemAsFailed() throws Exception {
        final Collector collector = start("nospool", "off");
        final Writers writers = new Writers();
        try {
            writers.start(URI.create("http://127.0.0.1:" + collector.httpAddress().getPort() + "/api/v2/write"));
            Await.until(Duration.ofSeconds(60), () -> collector.stats().written() >= 2_000, "first lines written");
            pg.stop();
            writers.outage.set(true);
            Await.until(Duration.ofSeconds(60), () -> collector.stats().failed() >= 2_000,
                "batches fail while the database is down: " + collector.stats());
            writers.outage.set(false);
            pg.startServer();
            final long failedAtRestart = collector.stats().failed();
            final long writtenAtRestart = collector.stats().written();
            Await.until(Duration.ofSeconds(60), () -> collector.stats().written() >= writtenAtRestart + 2_000,
                "writing resumes: " + collector.stats());
            writers.stop();
            assertTrue(failedAtRestart > 0);
        } finally {
            writers.stop();
        }
        final FinalAccount account = collector.shutdown();
        final PipelineStats stats = account.stats();
        assertTrue(stats.isBalanced(), account.toString());
        assertEquals(0, stats.spooled());
        final Set<String> rows = rows();
        final Set<String> missing = new HashSet<>(writers.acked);
        missing.removeAll(rows);
        assertTrue(missing.size() > 0, "without a spool an outage loses acknowledged lines");
        assertTrue(missing.size() <= stats.failed(), "every lost line is counted: missing " + missing.size()
            + ", " + account);
        assertEquals(stats.written(), rows.size());
        System.out.printf("outage without spool: acknowledged=%d missing=%d failed=%d%n", writers.acked.size(),
            missing.size(), stats.failed());
    }
}
