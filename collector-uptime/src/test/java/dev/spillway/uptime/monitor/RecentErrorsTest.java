package dev.spillway.uptime.monitor;

import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The failure reasons kept per monitor for {@code /checks}: only failures, only of the last window of checks. */
class RecentErrorsTest {

    private static Instant at(int second) {
        return Instant.parse("2026-12-07T10:00:00Z").plusSeconds(second).plusNanos(123_456_789);
    }

    @Test
    void passingChecksHoldNoArrays() {
        final RecentErrors r = new RecentErrors(100);
        for (int i = 0; i < 1000; i++) {
            r.add(at(i), null);
        }
        assertFalse(r.holdsArrays());
        assertTrue(r.byStart().isEmpty());
    }

    @Test
    void keepsTheFailuresOfTheLastWindowOfChecksOnlyAndGivesTheArraysBack() {
        final RecentErrors r = new RecentErrors(5);
        r.add(at(0), "connect: Connection refused"); // check 1
        r.add(at(1), null);
        r.add(at(2), "timeout: 5000 ms"); // check 3
        r.add(at(3), null);
        r.add(at(4), null); // check 5: both failures are within the last 5 checks
        assertEquals(List.of(at(0).truncatedTo(java.time.temporal.ChronoUnit.MICROS),
            at(2).truncatedTo(java.time.temporal.ChronoUnit.MICROS)), List.copyOf(r.byStart().keySet()));
        r.add(at(5), null); // check 6: check 1 left the window
        assertEquals(Map.of(at(2).truncatedTo(java.time.temporal.ChronoUnit.MICROS), "timeout: 5000 ms"),
            r.byStart());
        r.add(at(6), null);
        r.add(at(7), null); // check 8: check 3 left
        assertTrue(r.byStart().isEmpty());
        assertFalse(r.holdsArrays(), "no failure in the window: the arrays are given back");
    }

    @Test
    void aMonitorFailingEveryCheckHoldsAtMostTheWindowAndOneCopyOfARepeatedReason() {
        final RecentErrors r = new RecentErrors(100);
        for (int i = 0; i < 250; i++) {
            // a new String each time, as a probe makes it
            r.add(at(i), new StringBuilder("connect: Connection refused").toString());
        }
        assertEquals(100, r.size());
        final Map<Instant, String> m = r.byStart();
        assertEquals(100, m.size());
        assertEquals(at(150).truncatedTo(java.time.temporal.ChronoUnit.MICROS), m.keySet().iterator().next(),
            "oldest kept is check 151");
        final String first = m.values().iterator().next();
        for (String s : m.values()) {
            assertSame(first, s, "equal consecutive reasons share one string");
        }
        r.add(at(250), "status: 503");
        assertEquals("status: 503", r.byStart().get(at(250).truncatedTo(java.time.temporal.ChronoUnit.MICROS)));
        assertEquals(100, r.size());
    }
}
