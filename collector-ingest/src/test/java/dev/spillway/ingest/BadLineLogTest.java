package dev.spillway.ingest;

import dev.spillway.testkit.Flood;
import dev.spillway.testkit.LogCapture;
import org.junit.jupiter.api.Test;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Floods the rejected-line log from several threads with a clock the test moves, and reads what logback really
 * received: one line per interval, every rejected line either logged or counted once in a later line's bracket.
 */
class BadLineLogTest {

    private static final int THREADS = 8;
    private static final int PER_THREAD = 10_000;
    private static final long INTERVAL_MILLIS = 10_000;

    @Test
    void rejectedLinesAreLoggedOncePerIntervalWithTheirCount() throws Exception {
        final AtomicLong clock = new AtomicLong();
        final BadLineLog bad = new BadLineLog(INTERVAL_MILLIS, clock::get);
        try (LogCapture capture = LogCapture.of(BadLineLog.LOGGER)) {
            Flood.run(THREADS, PER_THREAD, () -> bad.report("tcp /127.0.0.1:1", 7, RejectReason.INVALID, "missing fields"));
            assertEquals(1, capture.messages().size(), "one line for the whole flood: " + capture.messages());
            assertTrue(capture.messages().get(0).startsWith("rejected line 7 from tcp /127.0.0.1:1 (invalid): missing "
                + "fields"), capture.messages().get(0));
            clock.addAndGet(TimeUnit.MILLISECONDS.toNanos(INTERVAL_MILLIS));
            bad.report("http 127.0.0.1:2", 3, RejectReason.TOO_LONG, "line too long");
            assertTrue(capture.messages().get(1).matches("rejected line 3 from http 127\\.0\\.0\\.1:2 \\(too_long\\): line "
                + "too long \\[\\d+ more rejected lines not logged]"), capture.messages().get(1));
            assertEquals(THREADS * PER_THREAD + 1, capture.occurrences(), "each occurrence counted once so far: "
                + capture.messages());
            bad.report("http 127.0.0.1:2", 4, RejectReason.TOO_LONG, "line too long");
            bad.flush();
            assertEquals("1 more rejected lines not logged since the last such line", capture.messages().get(2));
            assertEquals(THREADS * PER_THREAD + 2, capture.occurrences());
        }
    }

}
