package dev.spillway.uptime.monitor;

import dev.spillway.uptime.monitor.MonitorState.Status;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The quorum rule of a monitor with locations: its combined state from the states of its locations.
 *
 * <ul>
 *   <li>Each location runs the monitor's state machine on its own results (failure and success thresholds as
 *       the monitor's): a location <em>sees it down</em> when its confirmed state is DOWN.</li>
 *   <li>A location <em>counts</em> when it has a confirmed state and its latest check started less than
 *       {@link #staleAfter} ago (two intervals plus the lease TTL): a location whose collector is gone, or whose
 *       lease is not held, stops counting instead of freezing the state.</li>
 *   <li>The monitor is DOWN when at least {@code k} of the counting locations see it down, where {@code k} is the
 *       monitor's {@code quorum} (default a majority of its locations), lowered to the number of counting
 *       locations when fewer count (so with one location left it alone decides); otherwise UP. With no location
 *       counting there is no verdict and the combined state stays as it is.</li>
 * </ul>
 */
public final class Quorum {

    private Quorum() {
    }

    /**
     * The verdict.
     *
     * @param confirmed DOWN or UP, or null when no location counts
     * @param since when the verdict's state began: for DOWN the moment the quorum was reached (the
     *     {@code needed}-th earliest start of the down locations' DOWN), for UP the given time
     * @param down the counting locations that see it down
     * @param up the counting locations that see it up
     * @param needed how many had to see it down
     */
    public record Verdict(Status confirmed, Instant since, List<String> down, List<String> up, int needed) {

        /** For people: {@code "DOWN from a, b (2 of 3 locations counting, 2 needed)"}. */
        public String describe(int locations) {
            return (confirmed == Status.DOWN ? "down from " + String.join(", ", down)
                : "up" + (down.isEmpty() ? "" : " (down only from " + String.join(", ", down) + ")"))
                + " (" + (down.size() + up.size()) + " of " + locations + " locations counting, quorum " + needed
                + ")";
        }
    }

    /** Results older than this do not count: two intervals plus the lease TTL (a lease's takeover bound). */
    public static Duration staleAfter(MonitorSpec spec, Duration leaseTtl) {
        return spec.interval().multipliedBy(2).plus(leaseTtl);
    }

    /** Whether a location's row counts at {@code now}. */
    static boolean counts(MonitorState state, Instant lastCheckAt, Instant now, Duration staleAfter) {
        return state != null && state.confirmed() != null && lastCheckAt != null
            && lastCheckAt.isAfter(now.minus(staleAfter));
    }

    /**
     * The verdict over the monitor's listed locations (rows of other locations are ignored).
     *
     * @param rows per location: its state and the start of its latest check
     * @param now the time the staleness is measured at
     * @param upAt the {@code since} of an UP verdict (the check that brought it)
     */
    public static Verdict of(MonitorSpec spec, Map<String, MonitorLocation> rows, Instant now, Duration staleAfter,
                             Instant upAt) {
        final List<String> down = new ArrayList<>();
        final List<String> up = new ArrayList<>();
        final List<Instant> downSince = new ArrayList<>();
        for (String location : spec.locations()) {
            final MonitorLocation row = rows.get(location);
            if (row == null || !counts(row.state(), row.lastCheckAt(), now, staleAfter)) {
                continue;
            }
            if (row.state().confirmed() == Status.DOWN) {
                down.add(location);
                downSince.add(row.state().since());
            } else {
                up.add(location);
            }
        }
        final int counting = down.size() + up.size();
        if (counting == 0) {
            return new Verdict(null, null, down, up, spec.quorum());
        }
        final int needed = Math.min(spec.quorum(), counting);
        if (down.size() >= needed) {
            downSince.sort(null);
            return new Verdict(Status.DOWN, downSince.get(needed - 1), down, up, needed);
        }
        return new Verdict(Status.UP, upAt, down, up, needed);
    }
}
