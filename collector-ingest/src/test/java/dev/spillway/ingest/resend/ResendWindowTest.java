package dev.spillway.ingest.resend;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.sql.DataSource;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The window's rules without a pipeline or a database: what a resend skips in each state of its earlier copy, when it
 * is answered 503 or 422, the bounds in time and requests, and what a restart remembers from the journal.
 */
class ResendWindowTest {

    @TempDir
    Path dir;

    private final AtomicLong clock = new AtomicLong(1_000_000);
    private final List<CompletableFuture<Boolean>> resolutions = new ArrayList<>();
    private final AtomicBoolean spoolEmpty = new AtomicBoolean(true);
    private final AtomicBoolean databaseDown = new AtomicBoolean();

    /** No database: its clock cannot be read (logged), and a lookup that gets that far fails (503). */
    private static final DataSource NO_DATABASE = (DataSource) java.lang.reflect.Proxy.newProxyInstance(
        DataSource.class.getClassLoader(), new Class<?>[] {DataSource.class}, (p, m, a) -> {
            throw new SQLException("no database in this test", "08001");
        });

    private ResendWindow window(Path journal, Duration span, int max) throws IOException {
        return window(journal, span, max, Long.MAX_VALUE);
    }

    private ResendWindow window(Path journal, Duration span, int max, long maxRows) throws IOException {
        return ResendWindow.open(journal, span, max, maxRows, (from, to) -> {
            final CompletableFuture<Boolean> f = new CompletableFuture<>();
            resolutions.add(f);
            return f;
        }, spoolEmpty::get, databaseDown::get, NO_DATABASE, "telemetry_events", new SimpleMeterRegistry(),
            clock::get);
    }

    private static RequestIdentity digest(String body) {
        final byte[] b = body.getBytes(StandardCharsets.UTF_8);
        return RequestIdentity.of(null, "Token t", "/api/v2/write", b, 0, b.length);
    }

    private static RequestIdentity keyed(String key, String body) {
        final byte[] b = body.getBytes(StandardCharsets.UTF_8);
        return RequestIdentity.of(key, "Token t", "/api/v2/write", b, 0, b.length);
    }

    /** A first copy that took events 0..n-1 and is now in flight. */
    private void takeFirst(ResendWindow w, RequestIdentity id, int n) {
        final ResendWindow.Begin b = w.begin(id, false);
        assertNull(b.refusal());
        assertFalse(b.attempt().resend());
        for (int i = 0; i < n; i++) {
            assertFalse(b.attempt().skip(i, true));
            b.attempt().taken(i);
        }
        b.attempt().finish(0, n - 1);
    }

    @Test
    void identitiesTellKeysDigestsCredentialsAndBodiesApart() {
        assertEquals(digest("a 1"), digest("a 1"));
        assertNotEquals(digest("a 1"), digest("a 2"));
        final byte[] b = "a 1".getBytes(StandardCharsets.UTF_8);
        assertNotEquals(digest("a 1"), RequestIdentity.of(null, "Token other", "/api/v2/write", b, 0, b.length));
        assertNotEquals(digest("a 1"), RequestIdentity.of(null, "Token t", "/write?db=x", b, 0, b.length));
        final RequestIdentity k1 = keyed("k", "a 1");
        final RequestIdentity k2 = keyed("k", "a 2");
        assertEquals(k1.hi(), k2.hi(), "the key names the request");
        assertFalse(k1.sameBody(k2), "whatever its body");
        assertNotEquals(keyed("k", "a 1").hi(), keyed("other", "a 1").hi());
        assertNotEquals(keyed("k", "a 1").hi(), digest("a 1").hi());
    }

    @Test
    void aResendSkipsWhatIsInFlightUnderAcceptAndWaitsForItUnderCommit() throws Exception {
        try (ResendWindow w = window(null, Duration.ofMinutes(10), 100)) {
            final RequestIdentity id = digest("body");
            takeFirst(w, id, 3);
            final ResendWindow.Begin commit = w.begin(id, true);
            assertEquals(503, commit.refusal().status(), "ack=commit: the earlier copy is not committed yet");
            final ResendWindow.Begin accept = w.begin(id, false);
            assertTrue(accept.attempt().resend());
            assertTrue(accept.attempt().skip(0, true) && accept.attempt().skip(2, true), "in the pipeline already");
            assertFalse(accept.attempt().skip(3, true), "never taken");
            accept.attempt().finish(-1, -1);

            resolutions.get(0).complete(true); // committed
            final ResendWindow.Begin after = w.begin(id, true);
            assertNull(after.refusal());
            assertTrue(after.attempt().skip(1, true), "durable now");
            assertFalse(after.attempt().needsLookup());
            after.attempt().finish(-1, -1);
        }
    }

    @Test
    void oneCopyAtATimeAndAKeyIsForOneBody() throws Exception {
        try (ResendWindow w = window(null, Duration.ofMinutes(10), 100)) {
            final ResendWindow.Begin first = w.begin(keyed("k1", "a 1"), false);
            assertEquals(503, w.begin(keyed("k1", "a 1"), false).refusal().status(), "the first is being parsed");
            first.attempt().finish(-1, -1);
            assertNull(w.begin(keyed("k1", "a 1"), false).refusal());
            assertEquals(422, w.begin(keyed("k1", "other body"), false).refusal().status());
        }
    }

    @Test
    void untimestampedLinesAreMatchedOnlyUnderAKeyAndKeepTheFirstCopysTime() throws Exception {
        try (ResendWindow w = window(null, Duration.ofMinutes(10), 100)) {
            final ResendWindow.Begin k = w.begin(keyed("k", "b"), false);
            final long firstTime = k.attempt().defaultTimeNanos(42);
            k.attempt().taken(0);
            k.attempt().finish(0, 0);
            resolutions.get(0).complete(true);
            final ResendWindow.Attempt again = w.begin(keyed("k", "b"), false).attempt();
            assertEquals(firstTime, again.defaultTimeNanos(99));
            assertTrue(again.skip(0, false), "a keyed resend is the same data, time and all");
            again.finish(-1, -1);

            final RequestIdentity d = digest("c");
            takeFirst(w, d, 1);
            resolutions.get(1).complete(true);
            final ResendWindow.Attempt plain = w.begin(d, false).attempt();
            assertEquals(99, plain.defaultTimeNanos(99));
            assertFalse(plain.skip(0, false), "two identical untimestamped bodies are two sets of points");
            assertTrue(plain.skip(0, true));
            plain.finish(-1, -1);
        }
    }

    @Test
    void aReportedLossIsLookedUpOnlyOnceTheSpoolIsEmptyAndTheDatabaseAnswers() throws Exception {
        try (ResendWindow w = window(null, Duration.ofMinutes(10), 100)) {
            final RequestIdentity id = digest("lossy");
            takeFirst(w, id, 2);
            resolutions.get(0).complete(false); // a loss somewhere in its batches
            final ResendWindow.Attempt a = w.begin(id, true).attempt();
            assertTrue(a.needsLookup() && a.unknown(0) && a.unknown(1) && !a.unknown(2));
            spoolEmpty.set(false);
            assertEquals(503, a.lookUp(List.of()).status(), "something of it may still be in the spool");
            spoolEmpty.set(true);
            databaseDown.set(true);
            assertEquals(503, a.lookUp(List.of()).status(), "the database must answer");
            databaseDown.set(false);
            assertEquals(503, a.lookUp(List.of()).status(), "a failed lookup is a 503 too");
            a.abandon();
            assertNull(w.begin(id, true).refusal(), "an abandoned copy frees the request");
        }
    }

    @Test
    void theWindowIsBoundedInTimeAndInRequests() throws Exception {
        try (ResendWindow w = window(null, Duration.ofMinutes(10), 2)) {
            takeFirst(w, digest("one"), 1);
            takeFirst(w, digest("two"), 1);
            takeFirst(w, digest("three"), 1); // the oldest goes
            assertEquals(2, w.size());
            final ResendWindow.Begin one = w.begin(digest("one"), false);
            assertFalse(one.attempt().resend(), "forgotten: a new request");
            one.attempt().finish(-1, -1);
            assertTrue(w.begin(digest("three"), false).attempt().resend());

            clock.addAndGet(Duration.ofMinutes(10).toMillis() + 1);
            final ResendWindow.Begin late = w.begin(digest("three"), false);
            assertNotNull(late.attempt());
            assertFalse(late.attempt().resend(), "older than the window: a new request");
        }
        try (ResendWindow w = window(null, Duration.ofMinutes(10), 100, 1_000)) {
            takeFirst(w, digest("600 rows"), 600);
            takeFirst(w, digest("300 rows"), 300);
            assertEquals(900, w.rows());
            takeFirst(w, digest("200 rows"), 200); // 1,100 rows: the oldest goes
            assertEquals(500, w.rows());
            assertEquals(2, w.size());
            assertFalse(w.begin(digest("600 rows"), false).attempt().resend(), "forgotten: a new request");
        }
    }

    @Test
    void aRestartRemembersTheLastWindowsRequestsAsUnknown() throws Exception {
        final Path journal = dir.resolve("spool");
        try (ResendWindow w = window(journal, Duration.ofMinutes(10), 100)) {
            takeFirst(w, digest("old"), 2);
            clock.addAndGet(Duration.ofMinutes(6).toMillis());
            takeFirst(w, keyed("k", "young"), 2);
        }
        // A torn record at the end of the newest file (a crash mid-append) is ignored.
        try (var files = Files.list(journal)) {
            final Path newest = files.filter(p -> p.getFileName().toString().startsWith("resend-")).sorted()
                .reduce((a, b) -> b).orElseThrow();
            try (FileChannel ch = FileChannel.open(newest, StandardOpenOption.APPEND)) {
                ch.write(java.nio.ByteBuffer.wrap(new byte[ResendJournal.RECORD / 2]));
            }
        }
        clock.addAndGet(Duration.ofMinutes(5).toMillis()); // "old" is 11 minutes old now, "young" 5
        try (ResendWindow w = window(journal, Duration.ofMinutes(10), 100)) {
            assertEquals(1, w.size());
            final ResendWindow.Begin young = w.begin(keyed("k", "young"), false);
            assertTrue(young.attempt().resend());
            assertTrue(young.attempt().needsLookup(), "an earlier run took it: every event's fate is unknown");
            assertTrue(young.attempt().unknown(0) && young.attempt().unknown(7));
            young.attempt().finish(-1, -1);
            assertEquals(422, w.begin(keyed("k", "another"), false).refusal().status(), "the body digest is kept");
            final ResendWindow.Begin old = w.begin(digest("old"), false);
            assertFalse(old.attempt().resend(), "older than the window");
            old.attempt().finish(-1, -1);
        }
    }
}
