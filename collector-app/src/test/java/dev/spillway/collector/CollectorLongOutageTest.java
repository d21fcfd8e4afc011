package dev.spillway.collector;

import dev.spillway.collector.config.CollectorOptions;
import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.DedicatedPostgres;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
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
 * An outage longer than the sequence headroom, with series first seen during it, time-scaled. The run
 * stopped ingesting about 112 s into the outage at 4,000 lines/s, once series ran out of the numbers reserved in the
 * database (240 rounds of 250 ms of each series' rate: about a minute). Here the headroom is scaled down 60 times
 * (system property {@code spillway.sequenceHeadroomRounds=4}: about one second of each writer's series at 950
 * lines/s, the 1,024-number minimum block) and the outage lasts until {@value #DURING} lines were acknowledged
 * during it (about 10 s at the writers' 4,000 lines/s: ten times the scaled headroom) and {@value #NEW_SERIES}
 * series were first seen during it; 5 % of every body's lines go to a series that is new with that body. Two writers ask {@code ack=accept}, two {@code ack=commit}; a writer resends a body
 * answered 503 until it is taken.
 *
 * <p>Asserted: no 503 while the database is down (the spool has room), every line answered 204 in the table
 * exactly once ({@code (source_id, seq)} unique, rows = distinct lines), the new series in the catalogue, the spool
 * and the local series store empty after the database is back, the account balanced with nothing lost. The retry
 * budget is the default (8 attempts, 60 s): a write that finds the database unreachable spools its batch at once,
 * so the first batches of the outage no longer spend the budget while the ring fills (which answered
 * {@code ack=commit} writers 503 at the start of every outage).
 */
@Timeout(600)
class CollectorLongOutageTest {

    private static final int WRITERS = 4;
    private static final int LINES = 100;
    private static final int NEW_PER_BODY = 5;
    private static final long PACE_NANOS = 100_000_000; // 4 writers x 100 lines / 100 ms = 4,000 lines/s
    private static final int DURING = 40_000;
    private static final int NEW_SERIES = 40;
    private static final long T0 = 1_700_000_000_000L; // ms

    @TempDir
    static Path shared;
    private static DedicatedPostgres pg;

    @BeforeAll
    static void startServer() {
        pg = TestDatabase.dedicated(shared.resolve("data"), TestDatabase.freePort());
    }

    @AfterAll
    static void stopServer() {
        pg.close();
    }

    /** Paced writers of unique lines; 5 % of each body on a series that changes every body. */
    private static final class Writers {
        final Set<String> acked = ConcurrentHashMap.newKeySet();
        final AtomicLong ackedDuringOutage = new AtomicLong();
        final AtomicLong unavailableDuringOutage = new AtomicLong();
        final AtomicLong unavailable = new AtomicLong();
        final AtomicLong newSeriesDuringOutage = new AtomicLong();
        final AtomicBoolean outage = new AtomicBoolean();
        final AtomicBoolean stop = new AtomicBoolean();
        final List<Thread> threads = new ArrayList<>();
        final List<Throwable> failures = new ArrayList<>();

        void start(URI base) {
            for (int w = 0; w < WRITERS; w++) {
                final int writer = w;
                final URI uri = URI.create(base + (w % 2 == 0 ? "?ack=accept" : "?ack=commit"));
                final Thread t = new Thread(() -> {
                    try {
                        run(uri, writer);
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

        private void run(URI uri, int writer) throws Exception {
            final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            long next = 0;
            for (int b = 0; !stop.get(); b++) {
                final StringBuilder body = new StringBuilder(LINES * 48);
                final boolean duringOutage = outage.get();
                for (int i = 0; i < LINES; i++) {
                    final long v = next + i;
                    // One known series per writer (950 lines/s: its 1,024-number first block lasts about a second
                    // at the scaled headroom); 5 % on a series new with this body ("n" = body number).
                    final String series = i < LINES - NEW_PER_BODY ? "long,w=" + writer
                        : "long,w=" + writer + ",n=" + b;
                    body.append(series).append(" v=").append(v).append("i ").append(T0 * 1_000_000L + v * 1_000L
                        + writer).append('\n');
                }
                while (true) { // resend until taken
                    final HttpResponse<String> r = client.send(HttpRequest.newBuilder(uri)
                        .timeout(Duration.ofSeconds(120)).POST(HttpRequest.BodyPublishers.ofString(body.toString()))
                        .build(), HttpResponse.BodyHandlers.ofString());
                    if (r.statusCode() == 204) {
                        for (int i = 0; i < LINES; i++) {
                            acked.add(writer + ":" + (next + i));
                        }
                        if (duringOutage && outage.get()) {
                            ackedDuringOutage.addAndGet(LINES);
                            newSeriesDuringOutage.incrementAndGet();
                        }
                        break;
                    }
                    if (r.statusCode() != 503) {
                        throw new AssertionError("unexpected " + r.statusCode() + " " + r.body());
                    }
                    unavailable.incrementAndGet();
                    if (outage.get()) {
                        unavailableDuringOutage.incrementAndGet();
                        System.out.println("503 during the outage: " + r.body());
                    }
                    LockSupport.parkNanos(PACE_NANOS); // a client's back-off before it resends
                }
                next += LINES; // never reuse values, so duplicates are unambiguous
                LockSupport.parkNanos(PACE_NANOS);
            }
        }

        void stop() throws InterruptedException {
            stop.set(true);
            for (Thread t : threads) {
                t.join(120_000);
            }
            synchronized (failures) {
                if (!failures.isEmpty()) {
                    throw new AssertionError("a writer failed", failures.get(0));
                }
            }
        }
    }

    @Test
    void anOutageLongerThanTheSequenceHeadroomWithNewSeriesLosesAndDuplicatesNothing() throws Exception {
        final String database = "longoutage";
        pg.createDatabase(database);
        final Path spool = shared.resolve("spool");
        final String[] args = {"--jdbc-url", pg.jdbcUrl(database), "--db-user", pg.user(), "--http", "127.0.0.1:0",
            "--flush-interval", "20ms",
            "--spool-dir", spool.toString(), "--spool-fsync", "50ms"};
        final var parsed = CollectorOptions.parse(args, Map.of(), new PrintStream(OutputStream.nullOutputStream()));
        System.setProperty("spillway.sequenceHeadroomRounds", "4");
        final Collector collector;
        try {
            collector = Collector.start(((CollectorOptions.Run) parsed).config());
        } finally {
            System.clearProperty("spillway.sequenceHeadroomRounds");
        }
        final Writers writers = new Writers();
        final long outageStart;
        final long outageEnd;
        final PipelineStats atRecovery;
        try {
            writers.start(URI.create("http://127.0.0.1:" + collector.httpAddress().getPort() + "/api/v2/write"));
            Await.until(Duration.ofSeconds(120), () -> collector.stats().written() >= 20_000,
                "first lines written: " + collector.stats());
            pg.stop();
            writers.outage.set(true);
            outageStart = System.nanoTime();
            Await.until(Duration.ofSeconds(300), () -> writers.ackedDuringOutage.get() >= DURING
                    && writers.newSeriesDuringOutage.get() >= NEW_SERIES && writers.failures.isEmpty(),
                "lines and new series acknowledged while the database is down: " + writers.ackedDuringOutage
                    + " lines, " + writers.newSeriesDuringOutage + " new series, " + collector.stats());
            assertTrue(Files.size(spool.resolve("series.journal")) > 0,
                "numbers were reserved and series created on local disk");
            writers.outage.set(false);
            outageEnd = System.nanoTime();
            pg.startServer();
            Await.until(Duration.ofSeconds(300), () -> collector.stats().spooled() == 0
                    && collector.stats().batchesReplayed() > 0, "the spool drains: " + collector.stats());
            atRecovery = collector.stats();
            writers.stop();
            Await.until(Duration.ofSeconds(120), () -> collector.stats().pending() == 0
                && collector.stats().spooled() == 0, "everything is written: " + collector.stats());
            Await.untilNoThrow(Duration.ofSeconds(60), () -> Files.size(spool.resolve("series.journal")) == 0,
                "the local series store is emptied once the database holds all of it");
        } finally {
            writers.stop();
        }
        final FinalAccount account = collector.shutdown();
        final PipelineStats stats = account.stats();
        assertTrue(stats.isBalanced(), account.toString());
        assertEquals(0, stats.failed() + stats.overwritten() + stats.rejected(), account.toString());
        assertEquals(0, writers.unavailableDuringOutage.get(), "503 answers while the database was down");

        final Set<String> present = new HashSet<>();
        long rows = 0;
        try (Connection c = DriverManager.getConnection(pg.jdbcUrl(database), pg.user(), "");
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT tags->>'w', value::bigint FROM telemetry WHERE measurement = "
                 + "'long'")) {
            while (rs.next()) {
                present.add(rs.getString(1) + ":" + rs.getLong(2));
                rows++;
            }
        }
        final long events = query(database, "SELECT count(*) FROM telemetry_events");
        final long provisional = query(database, "SELECT count(*) FROM telemetry_series_provisional");
        final Set<String> missing = new HashSet<>(writers.acked);
        missing.removeAll(present);
        System.out.printf("long outage (scaled): %.1f s down, %d lines acknowledged (%d during the outage), %d series "
                + "first seen during it (%d provisional ids filed), %d rows, %d spooled batches replayed, 503 answers "
                + "%d (during the outage %d)%n", (outageEnd - outageStart) / 1e9, writers.acked.size(),
            writers.ackedDuringOutage.get(), writers.newSeriesDuringOutage.get(), provisional, rows,
            atRecovery.batchesReplayed(), writers.unavailable.get(), writers.unavailableDuringOutage.get());
        assertEquals(Set.of(), missing, "acknowledged lines missing");
        assertEquals(rows, present.size(), "duplicated lines");
        assertEquals(rows, events, "every event row is visible through the catalogue (no orphaned source id)");
        assertEquals(0, query(database, "SELECT count(*) FROM (SELECT source_id, seq FROM telemetry_events "
            + "GROUP BY 1, 2 HAVING count(*) > 1) d"), "a (source_id, seq) is stored twice");
        assertTrue(provisional >= NEW_SERIES, "series first seen during the outage were provisional: " + provisional);
        assertEquals(stats.written(), rows);
    }

    private static long query(String database, String sql) throws Exception {
        try (Connection c = DriverManager.getConnection(pg.jdbcUrl(database), pg.user(), "");
             Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            assertTrue(rs.next());
            return rs.getLong(1);
        }
    }
}
