package dev.spillway.uptime.monitor;

import java.time.Instant;
import java.util.Objects;

/**
 * The persisted state of one monitor and its state machine. Immutable; {@link #after} returns the next state.
 *
 * <pre>
 *             ok                     fail (failures &lt; failure_threshold)
 *   (none) ───────▶ UP ◀──────────── PENDING ◀──────── UP
 *      │            ▲     ok          │
 *      │ fail       │                 │ fail (failures reach failure_threshold)
 *      ▼            │ ok × success_threshold
 *   PENDING ──▶ DOWN ─┘               ▼
 *                                   DOWN   (started at the first failing check)
 * </pre>
 * Confirmed states are UP and DOWN; PENDING is "failing, not yet confirmed"; PAUSED is set by the user. A
 * {@link Step#transition} is reported only when the confirmed state changes (first result, UP to DOWN, DOWN to
 * UP), so flapping below the thresholds produces none. Counters are capped at their threshold, so a monitor that
 * stays UP or DOWN does not change its persisted state with every check.
 *
 * @param state what the monitor shows now
 * @param confirmed the last confirmed state (UP or DOWN), null before the first
 * @param since when the confirmed state began (for DOWN: the first failing check)
 * @param failures consecutive failed checks, capped at the failure threshold
 * @param successes consecutive good checks, capped at the success threshold
 * @param firstFailureAt the first failing check of the current failure streak, or null
 */
public record MonitorState(Status state, Status confirmed, Instant since, int failures, int successes,
                           Instant firstFailureAt) {

    /** What a monitor shows. */
    public enum Status { UP, DOWN, PENDING, PAUSED }

    /** The state of a monitor that has never been checked. */
    public static MonitorState initial(Instant now) {
        return new MonitorState(Status.PENDING, null, now, 0, 0, null);
    }

    /**
     * The state after a check, and the transition it confirms, if any.
     *
     * @param at when the check started
     */
    public Step after(boolean ok, Instant at, int failureThreshold, int successThreshold) {
        if (state == Status.PAUSED) {
            return new Step(this, null); // a check that was running when the monitor was paused
        }
        if (ok) {
            final int s = Math.min(successes + 1, successThreshold);
            if (confirmed == null) {
                return new Step(new MonitorState(Status.UP, Status.UP, at, 0, s, null), Status.UP);
            }
            if (confirmed == Status.DOWN) {
                return s >= successThreshold
                    ? new Step(new MonitorState(Status.UP, Status.UP, at, 0, s, null), Status.UP)
                    : new Step(new MonitorState(Status.DOWN, Status.DOWN, since, 0, s, null), null);
            }
            return new Step(new MonitorState(Status.UP, Status.UP, since, 0, s, null), null);
        }
        final int f = Math.min(failures + 1, failureThreshold);
        final Instant first = firstFailureAt != null ? firstFailureAt : at;
        if (confirmed == Status.DOWN) {
            return new Step(new MonitorState(Status.DOWN, Status.DOWN, since, f, 0, first), null);
        }
        if (f >= failureThreshold) {
            return new Step(new MonitorState(Status.DOWN, Status.DOWN, first, f, 0, first), Status.DOWN);
        }
        return new Step(new MonitorState(Status.PENDING, confirmed, since, f, 0, first), null);
    }

    /** Paused by the user: no checks; the confirmed state is kept for when it resumes. */
    public MonitorState paused() {
        return new MonitorState(Status.PAUSED, confirmed, since, 0, 0, null);
    }

    /** Resumed: back to the confirmed state (PENDING if there is none yet), counters reset. */
    public MonitorState resumed() {
        return new MonitorState(confirmed == null ? Status.PENDING : confirmed, confirmed, since, 0, 0, null);
    }

    /**
     * A state and the confirmed state it newly reached.
     *
     * @param next the new state
     * @param transition the newly confirmed state, or null when none was confirmed by this check
     */
    public record Step(MonitorState next, Status transition) {
    }

    /** Whether {@code other} differs in anything persisted. */
    public boolean differs(MonitorState other) {
        return !Objects.equals(this, other);
    }
}
