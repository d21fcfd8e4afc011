package dev.spillway.collector;

import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

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
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 19, goal "SIGTERM with a locked table, both ack modes: 0 acknowledged events lost after restart". The
 * shaded jar as a real process takes HTTP writes; the events table is locked ({@code ACCESS EXCLUSIVE}, held by the
 * test) so both workers' COPYs wait on it, and more lines are accepted meanwhile (ack=accept) or wait for their
 * commit (ack=commit). Then SIGTERM: at the close deadline the writes are aborted and every batch, the two inside a
 * COPY included, is spooled (none failed). The lock is released, the collector restarted on the same spool and
 * database: every line answered 204 is in the table exactly once.
 */
class CollectorSigtermLockedTableIT {

    private static final Pattern LISTENING = Pattern.compile("HTTP listening on http://([0-9.]+):(\\d+)");
    private static final Pattern ACCOUNT = Pattern.compile("final account: .* failed=(\\d+) abandoned=(\\d+) "
        + "written_late=(\\d+) spooled=(\\d+) .* balanced=(yes|no)");
    private static final Pattern SPOOLED = Pattern.compile("(?m)^spillway_events_spooled\\{[^}]*} ([0-9.E+]+)");
    private static final int WRITERS = 4;
    private static final int LINES = 500;

    @ParameterizedTest(name = "--ack {0}")
    @ValueSource(strings = {"accept", "commit"})
    void sigtermWithTheTableLockedLosesNoAcknowledgedLineAfterRestart(String ack) throws Exception {
        final String jar = System.getProperty("spillway.collector.jar", "target/spillway-collector.jar");
        assertTrue(Files.exists(Path.of(jar)), "shaded jar missing: " + jar);
        final Path spool = Files.createTempDirectory("spillway-spool");
        try (TestDatabase db = TestDatabase.create("sigterm_locked_" + ack)) {
            final List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-jar", jar, "--jdbc-url", db.jdbcUrl(), "--db-user", db.user(), "--db-password", db.password(),
                "--http", "127.0.0.1:0", "--flush-interval", "20ms", "--spool-dir", spool.toString(), "--ack", ack,
                "--ack-timeout", "120s", "--close-timeout", "2s");
            final Set<String> acked = ConcurrentHashMap.newKeySet();
            final AtomicLong ackedWhileLocked = new AtomicLong();
            final AtomicBoolean locked = new AtomicBoolean();
            final AtomicInteger waiting = new AtomicInteger();
            final Path log1 = Files.createTempFile("collector-locked", ".log");
            final Process first = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log1.toFile())
                .start();
            final Matcher account;
            try (Connection locker = db.connect()) {
                final URI base = awaitListening(log1);
                final AtomicBoolean stop = new AtomicBoolean();
                final List<Thread> writers = new ArrayList<>();
                for (int w = 0; w < WRITERS; w++) {
                    final int writer = w;
                    final Thread t = new Thread(() -> write(base.resolve("/api/v2/write"), writer, acked,
                        ackedWhileLocked, locked, waiting, stop), "writer-" + w);
                    t.start();
                    writers.add(t);
                }
                Await.until(Duration.ofSeconds(60), () -> acked.size() >= 20_000, "load acknowledged; log " + log1);
                locker.setAutoCommit(false);
                try (Statement st = locker.createStatement()) {
                    st.execute("LOCK TABLE telemetry_events IN ACCESS EXCLUSIVE MODE");
                }
                locked.set(true);
                Await.untilNoThrow(Duration.ofSeconds(60), () -> lockWaiters(db) >= 2,
                    "both workers' writes wait on the lock; log " + log1);
                if (ack.equals("accept")) {
                    Await.until(Duration.ofSeconds(60), () -> ackedWhileLocked.get() >= 10_000,
                        "lines accepted while the table is locked");
                } else {
                    // Every writer's request waits for a commit the lock holds up (its answer decides whether it is
                    // acknowledged: spooled at the deadline and fsynced, it is answered 204 if the answer gets out).
                    Await.until(Duration.ofSeconds(60), () -> waiting.get() == WRITERS,
                        "every writer waits for its commit");
                }
                first.destroy(); // SIGTERM
                assertTrue(first.waitFor(90, TimeUnit.SECONDS), "collector did not exit after SIGTERM; log " + log1);
                stop.set(true);
                for (Thread t : writers) {
                    t.join(60_000);
                }
                final String out = Files.readString(log1);
                assertEquals(0, first.exitValue(), out);
                account = ACCOUNT.matcher(out);
                assertTrue(account.find(), "no final account in:\n" + out);
                locker.rollback(); // release the lock: an aborted transaction that survived would commit now
            } finally {
                first.destroyForcibly();
            }
            assertEquals("yes", account.group(5), account.group());
            assertEquals("0", account.group(1), "failed at the close deadline: " + account.group());
            assertEquals("0", account.group(2), "abandoned at the close deadline: " + account.group());
            final long spooledAtSigterm = Long.parseLong(account.group(4));
            assertTrue(spooledAtSigterm > 0, "the locked batches were spooled: " + account.group());

            final Path log2 = Files.createTempFile("collector-locked-restart", ".log");
            final Process second = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log2.toFile())
                .start();
            try {
                final URI base = awaitListening(log2);
                final HttpClient client = HttpClient.newHttpClient();
                Await.untilNoThrow(Duration.ofSeconds(120), () -> {
                    final Matcher m = SPOOLED.matcher(client.send(HttpRequest.newBuilder(base.resolve("/metrics"))
                        .build(), HttpResponse.BodyHandlers.ofString()).body());
                    return m.find() && Double.parseDouble(m.group(1)) == 0.0;
                }, "the restarted collector replays the spool; log " + log2);
                second.destroy();
                assertTrue(second.waitFor(60, TimeUnit.SECONDS), "restarted collector did not exit; log " + log2);
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
                     + "WHERE measurement = 'locked'")) {
                while (rs.next()) {
                    present.add(rs.getString(1) + ":" + rs.getLong(2));
                    rows++;
                }
            }
            final Set<String> missing = new HashSet<>(acked);
            missing.removeAll(present);
            System.out.printf("SIGTERM with the table locked, --ack %s: acknowledged=%d (%d while locked) "
                    + "spooled at SIGTERM=%d failed=0 missing=%d duplicates=%d rows=%d%n", ack, acked.size(),
                ackedWhileLocked.get(), spooledAtSigterm, missing.size(), rows - present.size(), rows);
            assertEquals(Set.of(), missing, "acknowledged lines missing after the restart");
            assertEquals(rows, present.size(), "duplicated lines");
        }
    }

    private static long lockWaiters(TestDatabase db) {
        return db.queryLong("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            + "WHERE c.relname IN ('telemetry_events', 'telemetry_events_blocks', 'telemetry_events_rows') "
            + "AND NOT l.granted");
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
    private static void write(URI uri, int writer, Set<String> acked, AtomicLong ackedWhileLocked,
                              AtomicBoolean locked, AtomicInteger waiting, AtomicBoolean stop) {
        final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
        long next = 0;
        while (!stop.get()) {
            final StringBuilder body = new StringBuilder(LINES * 24);
            for (int i = 0; i < LINES; i++) {
                body.append("locked,w=").append(writer).append(" v=").append(next + i).append("i\n");
            }
            final boolean lockedBefore = locked.get();
            waiting.incrementAndGet();
            try {
                final HttpResponse<Void> r = client.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(180))
                    .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(),
                    HttpResponse.BodyHandlers.discarding());
                if (r.statusCode() == 204) {
                    for (int i = 0; i < LINES; i++) {
                        acked.add(writer + ":" + (next + i));
                    }
                    if (lockedBefore) {
                        ackedWhileLocked.addAndGet(LINES);
                    }
                } else if (r.statusCode() != 503) {
                    throw new AssertionError("unexpected status " + r.statusCode());
                }
            } catch (java.io.IOException e) {
                return; // the collector closed its connections: it is shutting down
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } finally {
                waiting.decrementAndGet();
            }
            next += LINES; // never reused, so a duplicate is unambiguous
        }
    }
}
