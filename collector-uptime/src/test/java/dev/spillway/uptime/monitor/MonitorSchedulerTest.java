package dev.spillway.uptime.monitor;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The start-up spread and the shared grid of due times, with the scheduler's wall clock injected: monitors loaded
 * together get phases spread over the interval, and a monitor added later (a lease acquired while running) lands
 * on its own grid point too, not "now". The end-to-end form (first checks seen at a real target) is
 * {@code MonitorSchedulingTest.firstChecksAreSpreadOverTheFirstInterval} (collector-app).
 */
class MonitorSchedulerTest {

    private static final long MINUTE = TimeUnit.MINUTES.toNanos(1);

    @Test
    void phasesOf100000MonitorsAreSpreadEvenlyOverTheInterval() {
        final int n = 100_000;
        final int[] perSecond = new int[60];
        for (int i = 1; i <= n; i++) {
            final long p = MonitorScheduler.phase("m" + i, MINUTE);
            assertTrue(p >= 0 && p < MINUTE, "phase in [0, interval): " + p);
            perSecond[(int) (p / TimeUnit.SECONDS.toNanos(1))]++;
        }
        final double expected = n / 60.0;
        for (int s = 0; s < 60; s++) {
            assertTrue(Math.abs(perSecond[s] - expected) < expected * 0.1,
                "second " + s + " of the interval holds " + perSecond[s] + " first checks (expected ~1,667)");
        }
    }

    @Test
    void aMonitorAddedLaterIsDueOnItsGridPointNotAtOnce() {
        final long interval = TimeUnit.SECONDS.toNanos(30);
        final long start = Instant.parse("2026-12-07T10:00:00Z").getEpochSecond() * 1_000_000_000L;
        for (long later : new long[] {0, 17_300_000_000L, TimeUnit.HOURS.toNanos(3) + 1}) {
            final long wall = start + later;
            final long until = MonitorScheduler.untilNext("m42", interval, wall);
            assertTrue(until >= 0 && until < interval, "due within one interval: " + until);
            assertEquals(MonitorScheduler.phase("m42", interval), Math.floorMod(wall + until, interval),
                "added " + later + " ns after start: on the same grid");
        }
    }

    /** A wall clock that runs with {@link System#nanoTime()}, shifted by a chosen offset. */
    private static final class ShiftedClock extends Clock {
        final long offset;

        ShiftedClock(long offset) {
            this.offset = offset;
        }

        @Override
        public Instant instant() {
            final long wall = System.nanoTime() + offset;
            return Instant.ofEpochSecond(Math.floorDiv(wall, 1_000_000_000L), Math.floorMod(wall, 1_000_000_000L));
        }

        @Override
        public java.time.ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }
    }

    private record Fired(String name, long deadline) {
    }

    private static MonitorSpec spec(String name) {
        return new MonitorSpec(name, URI.create("http://127.0.0.1:1/"), "GET", Map.of(), null, Duration.ofMinutes(1),
            Duration.ofSeconds(5), null, null, false, false, true, 1, 1, true, Map.of());
    }

    @Test
    void monitorsLoadedAtStartAndAddedLaterFireOnTheirGridPointsOfTheInjectedClock() throws Exception {
        // The injected wall clock is placed so that "a" is due ~5 s after it is scheduled; every other monitor
        // loaded with it is due where its phase puts it (here: at least 30 s later). The lead is generous because
        // the scheduler waits in real time: with 0.5 s a loaded machine's setup passed "a"'s point (it then fired a
        // minute later, after one of the others).
        final long now = System.nanoTime();
        final long base = Instant.parse("2026-12-07T10:00:00Z").getEpochSecond() * 1_000_000_000L;
        final long wallNow = base + Math.floorMod(MonitorScheduler.phase("a", MINUTE) - 5_000_000_000L - base, MINUTE);
        final ShiftedClock clock = new ShiftedClock(wallNow - now);
        final List<String> loaded = new java.util.ArrayList<>(List.of("a"));
        for (int i = 0; loaded.size() < 50; i++) {
            if (MonitorScheduler.untilNext("b" + i, MINUTE, wallNow) > TimeUnit.SECONDS.toNanos(30)) {
                loaded.add("b" + i);
            }
        }
        final LinkedBlockingQueue<Fired> fired = new LinkedBlockingQueue<>();
        try (MonitorScheduler s = new MonitorScheduler((e, deadline) -> {
            fired.add(new Fired(e.name, deadline));
            e.running.set(false);
            return true;
        }, new SimpleMeterRegistry(), clock)) {
            loaded.forEach(n -> s.upsert(spec(n)));
            final Fired first = fired.poll(25, TimeUnit.SECONDS);
            assertNotNull(first, "a is checked");
            assertEquals("a", first.name(), "not a storm: only the monitor whose grid point came fired");
            assertOnGrid(first, clock);

            // A lease acquired later: a monitor whose grid point is 3-4 s ahead of the moment it is added.
            final long addedAt = System.nanoTime();
            String later = null;
            for (int i = 0; later == null; i++) {
                final long until = MonitorScheduler.untilNext("c" + i, MINUTE, addedAt + clock.offset);
                if (until > 3_000_000_000L && until < 4_000_000_000L) {
                    later = "c" + i;
                }
            }
            s.upsert(spec(later));
            final Fired second = fired.poll(25, TimeUnit.SECONDS);
            assertNotNull(second, "the monitor added later is checked");
            assertEquals(later, second.name());
            assertOnGrid(second, clock);
            assertTrue(second.deadline() - addedAt > 2_500_000_000L,
                "due at its grid point, not when it was added: " + (second.deadline() - addedAt) + " ns after");
            assertEquals(2, s.ticks(), "the 49 others are not due yet");
        }
    }

    private static void assertOnGrid(Fired f, ShiftedClock clock) {
        // The scheduler measures wall minus nanoTime itself; with this clock that is the offset, to within the
        // few microseconds between its reads.
        final long off = Math.floorMod(f.deadline() + clock.offset - MonitorScheduler.phase(f.name(), MINUTE), MINUTE);
        final long error = Math.min(off, MINUTE - off);
        assertTrue(error < TimeUnit.MILLISECONDS.toNanos(5), f.name() + " due " + error + " ns off its grid point");
    }
}
