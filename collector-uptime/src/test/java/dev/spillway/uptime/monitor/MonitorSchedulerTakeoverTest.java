package dev.spillway.uptime.monitor;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A monitor taken over from another collector: a due time its previous holder certainly missed is checked at once
 * and the monitor then goes back to its grid; otherwise (or when nothing is known) it waits for its next due time.
 */
class MonitorSchedulerTakeoverTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static MonitorSpec spec(String name, Duration interval) throws Exception {
        return MonitorValidator.parse(JSON.readTree("{\"name\":\"" + name + "\",\"url\":\"http://127.0.0.1:1/\","
            + "\"interval\":\"" + interval.toSeconds() + "s\"}"), null);
    }

    private static long epochNanos(Instant t) {
        return t.getEpochSecond() * 1_000_000_000L + t.getNano();
    }

    /** A name whose next due time is at least {@code ahead} away (so "not at once" is not met by its grid). */
    private static String farFromItsDueTime(String prefix, Duration interval, Duration ahead) {
        for (int i = 0; ; i++) {
            final String name = prefix + i;
            final long until = MonitorScheduler.untilNext(name, interval.toNanos(), epochNanos(Instant.now()));
            if (until > ahead.toNanos() && until < interval.toNanos() - ahead.toNanos()) {
                return name;
            }
        }
    }

    @Test
    void aMissedDueTimeIsCheckedAtOnceThenTheGridIsKept() throws Exception {
        final Duration hour = Duration.ofHours(1);
        final Duration twoSeconds = Duration.ofSeconds(2);
        final Map<String, List<Long>> fired = new ConcurrentHashMap<>();
        final CountDownLatch neverTwice = new CountDownLatch(2);
        final CountDownLatch missed = new CountDownLatch(1);
        final SimpleMeterRegistry meters = new SimpleMeterRegistry();
        // The wall clock minus nanoTime, to put the dispatched deadlines on the wall clock: the read between the
        // closest of a few pairs of nanoTime reads (a preempted read is dropped), as the scheduler does.
        long bestGap = Long.MAX_VALUE;
        long wallMinusNano = 0;
        for (int i = 0; i < 5; i++) {
            final long before = System.nanoTime();
            final long wall = epochNanos(Instant.now());
            final long after = System.nanoTime();
            if (after - before < bestGap) {
                bestGap = after - before;
                wallMinusNano = wall - (before + (after - before) / 2);
            }
        }
        try (MonitorScheduler s = new MonitorScheduler((e, deadline) -> {
            fired.computeIfAbsent(e.name, k -> new CopyOnWriteArrayList<>()).add(deadline);
            e.running.set(false); // "checked": the next tick may run
            if (e.name.startsWith("never")) {
                neverTwice.countDown();
            } else if (e.name.startsWith("missed")) {
                missed.countDown();
            }
            return true;
        }, meters, Clock.systemUTC())) {
            final String missedName = farFromItsDueTime("missed", hour, Duration.ofMinutes(10));
            final String checkedName = farFromItsDueTime("checked", hour, Duration.ofMinutes(10));
            final String unknownName = farFromItsDueTime("unknown", hour, Duration.ofMinutes(10));
            final long now = epochNanos(Instant.now());
            final long lastDueOfMissed = now + MonitorScheduler.untilNext(missedName, hour.toNanos(), now)
                - hour.toNanos();
            final long lastDueOfChecked = now + MonitorScheduler.untilNext(checkedName, hour.toNanos(), now)
                - hour.toNanos();
            // The previous holder stopped a second before the last due time: missed. The other one stopped after
            // its last due time: it was checked then, the new holder waits for the next.
            s.upsert(spec(missedName, hour), Instant.ofEpochSecond(0, lastDueOfMissed - 1_000_000_000L));
            s.upsert(spec(checkedName, hour), Instant.ofEpochSecond(0, lastDueOfChecked + 1_000_000L));
            s.upsert(spec(unknownName, hour), null);
            // Never held (a first start), or freed more than an interval ago (a restart after a stop): every
            // monitor would fire at once; they keep their spread and wait for their next due time.
            final String neverHeld = farFromItsDueTime("neverheld", hour, Duration.ofMinutes(10));
            s.upsert(spec(neverHeld, hour), Instant.MIN);
            final String longAgo = farFromItsDueTime("longago", hour, Duration.ofMinutes(10));
            s.upsert(spec(longAgo, hour), Instant.ofEpochSecond(0, now).minus(Duration.ofHours(2)));
            final String never = farFromItsDueTime("never", twoSeconds, Duration.ofMillis(500));
            final long nowAgain = epochNanos(Instant.now());
            final long lastDueOfNever = nowAgain + MonitorScheduler.untilNext(never, twoSeconds.toNanos(), nowAgain)
                - twoSeconds.toNanos();
            s.upsert(spec(never, twoSeconds), Instant.ofEpochSecond(0, lastDueOfNever - 1_000_000L));
            assertTrue(missed.await(30, TimeUnit.SECONDS), "the missed due time checked at once");
            assertTrue(neverTwice.await(30, TimeUnit.SECONDS), "a 2 s monitor whose last due time was missed: at once, then on its grid");
            // Commands are applied in order, and the last one has fired twice: the others were applied long ago.
            assertEquals(null, fired.get(checkedName), "checked by the previous holder: waits for its next due time");
            assertEquals(null, fired.get(unknownName), "nothing known: its next due time");
            assertEquals(null, fired.get(neverHeld), "never held: its next due time (the start-up spread)");
            assertEquals(null, fired.get(longAgo), "freed more than an interval ago: its next due time");
            assertEquals(2.0, meters.get("spillway.monitor.takeover.immediate").counter().count());
            final List<Long> deadlines = fired.get(never);
            final long offset = wallMinusNano;
            final long second = deadlines.get(1) + offset;
            final long phase = MonitorScheduler.phase(never, twoSeconds.toNanos());
            final long offGrid = Math.floorMod(second - phase, twoSeconds.toNanos());
            final long distance = Math.min(offGrid, twoSeconds.toNanos() - offGrid);
            assertTrue(distance < TimeUnit.MILLISECONDS.toNanos(5), "the second check is on the grid, "
                + distance / 1_000_000.0 + " ms off");
            assertTrue(deadlines.get(1) - deadlines.get(0) < twoSeconds.toNanos(), "and it is the next grid point");
        }
    }
}
