package dev.spillway.collector;

import dev.spillway.uptime.monitor.MonitorService;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Counts a target's hits per monitor per interval window. A monitor's checks are due at the wall-clock instants
 * {@code epoch + phase + k * interval} whichever collector holds its lease ({@link MonitorService#schedulePhase}),
 * and a check can only start after its due time, so window {@code k} is {@code [due_k, due_k + interval)}, opened
 * {@link #EARLY} before the due time for the error of mapping this JVM's {@code nanoTime} (the target's hit times)
 * to the wall clock. Two hits in one window mean two checks for one due time: two collectors checking the monitor
 * in the same interval (or one check later than a whole interval, which the scheduler would have skipped the next
 * tick for, so that is two collectors too).
 */
final class HitWindows {

    /**
     * Slack for mapping nanoTime to wall-clock time, here and in each collector (both calibrated to microseconds).
     * A check cannot start before its due time, so only a check later than {@code interval - EARLY} could be
     * counted in the next window; one later than the interval makes the scheduler skip the next tick.
     */
    static final long EARLY = Duration.ofMillis(5).toNanos();

    private final long baseNano;
    private final long baseEpoch;

    HitWindows() {
        // The clock read between the two closest of a few pairs of nanoTime reads (a preempted read is dropped).
        long bestGap = Long.MAX_VALUE;
        long nano = 0;
        long epoch = 0;
        for (int i = 0; i < 5; i++) {
            final long before = System.nanoTime();
            final Instant wall = Clock.systemUTC().instant();
            final long after = System.nanoTime();
            if (after - before < bestGap) {
                bestGap = after - before;
                nano = before + (after - before) / 2;
                epoch = epochNanos(wall);
            }
        }
        baseNano = nano;
        baseEpoch = epoch;
    }

    static long epochNanos(Instant t) {
        return t.getEpochSecond() * 1_000_000_000L + t.getNano();
    }

    /** This JVM's {@code System.nanoTime()} as wall-clock nanoseconds since the epoch. */
    long epochOf(long nano) {
        return baseEpoch + (nano - baseNano);
    }

    /** Wall-clock nanoseconds since the epoch as this JVM's {@code System.nanoTime()} (the inverse of {@link #epochOf}). */
    long nanoOf(long epochNanos) {
        return baseNano + (epochNanos - baseEpoch);
    }

    /** Now, as wall-clock nanoseconds since the epoch (on the same mapping as the hits). */
    long now() {
        return epochOf(System.nanoTime());
    }

    /**
     * What happened in the windows that lie wholly in {@code [from, to)}.
     *
     * @param windows windows counted
     * @param missing windows without a hit
     * @param doubled windows with two hits or more
     * @param doubles which (monitor and window start), for the failure message
     * @param latenessMaxMs the latest a hit came after its window's due time
     * @param longestGap the most windows in a row without a hit, for any one monitor
     */
    record Count(int windows, int missing, int doubled, List<String> doubles, double latenessMaxMs, int longestGap) {
        @Override
        public String toString() {
            return windows + " windows, " + missing + " without a hit, " + doubled + " with two or more"
                + (doubles.isEmpty() ? "" : " " + doubles.subList(0, Math.min(10, doubles.size())))
                + ", latest hit " + Math.round(latenessMaxMs) + " ms after its due time, at most " + longestGap
                + " windows in a row without a hit";
        }
    }

    /**
     * @param hits arrival times ({@code System.nanoTime()} of this JVM) by monitor name
     * @param from wall-clock epoch nanoseconds
     * @param to wall-clock epoch nanoseconds
     */
    Count count(Map<String, List<Long>> hits, Duration interval, long from, long to) {
        final long step = interval.toNanos();
        int windows = 0;
        int missing = 0;
        int doubled = 0;
        long latest = 0;
        int longestGap = 0;
        final List<String> doubles = new ArrayList<>();
        for (Map.Entry<String, List<Long>> e : hits.entrySet()) {
            final long phase = MonitorService.schedulePhase(e.getKey(), interval).toNanos();
            final long first = Math.floorDiv(from - phase + step - 1, step); // first k with due_k >= from
            final long last = Math.floorDiv(to - phase, step) - 1;           // last k with due_k + step <= to
            final TreeMap<Long, List<Long>> perWindow = new TreeMap<>();
            for (long nano : e.getValue()) {
                final long at = epochOf(nano);
                final long k = Math.floorDiv(at - phase + EARLY, step);
                perWindow.computeIfAbsent(k, x -> new ArrayList<>()).add(at - (phase + k * step));
                if (k >= first && k <= last) {
                    latest = Math.max(latest, at - (phase + k * step));
                }
            }
            int gap = 0;
            for (long k = first; k <= last; k++) {
                windows++;
                final List<Long> in = perWindow.getOrDefault(k, List.of());
                gap = in.isEmpty() ? gap + 1 : 0;
                longestGap = Math.max(longestGap, gap);
                if (in.isEmpty()) {
                    missing++;
                } else if (in.size() > 1) {
                    doubled++;
                    // The hits' offsets from the due time, and how many hits the window before had: a check
                    // later than a whole interval shows as an empty window before a doubled one.
                    doubles.add(e.getKey() + "@" + Instant.ofEpochSecond(0, phase + k * step) + " offsets "
                        + in.stream().map(o -> o / 1_000_000 + "ms").toList() + " before "
                        + perWindow.getOrDefault(k - 1, List.of()).size());
                }
            }
        }
        return new Count(windows, missing, doubled, doubles, latest / 1e6, longestGap);
    }
}
