package dev.spillway.runtime.log;

import dev.spillway.testkit.Flood;
import dev.spillway.testkit.LogCapture;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Floods the rate-limited logs from several threads with a clock the test moves, and reads what logback really
 * received: one line per interval, and every occurrence either logged or counted in a later line's bracket or in
 * the flush line, none lost and none counted twice.
 */
class RateLimitedLogTest {

    private static final int THREADS = 8;
    private static final int PER_THREAD = 10_000;
    private static final long INTERVAL_MILLIS = 10_000;

    @Test
    void aFloodFromManyThreadsLogsOneLinePerIntervalAndCountsTheRest() throws Exception {
        final String name = "dev.spillway.runtime.log.RateLimitedLogTest.flood";
        final AtomicLong clock = new AtomicLong(123_456_789L);
        final RateLimitedLog log = new RateLimitedLog(LoggerFactory.getLogger(name), INTERVAL_MILLIS, clock::get);
        try (LogCapture capture = LogCapture.of(name)) {
            flood(() -> log.warn("refused something"));
            // One line. Its bracket may already count a few flood calls: those suppressed between the winning
            // thread's permit and its read of the counter (it then says "[k more ...]"); the totals stay exact.
            assertEquals(1, capture.messages().size(), "one line for the whole flood: " + capture.messages());
            assertTrue(capture.messages().get(0).startsWith("refused something"), capture.messages().get(0));

            // Just before the interval ends: still counted only.
            clock.addAndGet(TimeUnit.MILLISECONDS.toNanos(INTERVAL_MILLIS) - 1);
            log.warn("refused something");
            assertEquals(1, capture.messages().size());

            clock.addAndGet(1);
            log.warn("refused again");
            assertTrue(capture.messages().get(1).matches("refused again \\[\\d+ more like this since the last such line]"),
                "the next line carries the count of the suppressed ones: " + capture.messages().get(1));
            assertEquals(THREADS * PER_THREAD + 2, capture.occurrences(), "each occurrence counted once so far: "
                + capture.messages());

            for (int i = 0; i < 500; i++) {
                log.warn("refused late " + i);
            }
            log.flush();
            assertEquals("500 more like this not logged since the last such line; the latest: refused late 499",
                capture.messages().get(2), "a flood that stopped is reported at flush");
            log.flush();
            assertEquals(3, capture.messages().size(), "nothing left to report, nothing logged");
            assertEquals(THREADS * PER_THREAD + 2 + 500, capture.occurrences(), "every occurrence accounted for");
        }
    }

    private static void flood(Runnable action) throws InterruptedException {
        Flood.run(THREADS, PER_THREAD, action);
    }
}
