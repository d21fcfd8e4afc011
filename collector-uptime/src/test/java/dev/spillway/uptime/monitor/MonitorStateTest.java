package dev.spillway.uptime.monitor;

import dev.spillway.uptime.monitor.MonitorState.Status;
import org.junit.jupiter.api.Test;

import java.time.Instant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

/** The state machine: thresholds, PENDING, recovery, flapping, back-dated incidents. */
class MonitorStateTest {

    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

    private static Instant t(int s) {
        return T0.plusSeconds(s);
    }

    @Test
    void firstResultIsATransitionAndDownNeedsTheThreshold() {
        MonitorState s = MonitorState.initial(T0);
        MonitorState.Step step = s.after(true, t(1), 3, 1);
        assertEquals(Status.UP, step.transition(), "first result");
        s = step.next();
        step = s.after(false, t(2), 3, 1);
        assertEquals(Status.PENDING, step.next().state());
        assertNull(step.transition(), "UP -> PENDING is not confirmed");
        step = step.next().after(false, t(3), 3, 1);
        assertEquals(Status.PENDING, step.next().state());
        step = step.next().after(false, t(4), 3, 1);
        assertEquals(Status.DOWN, step.transition());
        assertEquals(t(2), step.next().since(), "the incident starts at the first failing check");
        s = step.next();
        step = s.after(false, t(5), 3, 1);
        assertNull(step.transition(), "still down");
        assertFalse(step.next().differs(s), "capped counters: nothing to persist while it stays down");
    }

    @Test
    void recoveryNeedsTheSuccessThreshold() {
        MonitorState s = MonitorState.initial(T0);
        for (int i = 1; i <= 2; i++) {
            s = s.after(false, t(i), 2, 3).next();
        }
        assertEquals(Status.DOWN, s.state());
        assertEquals(t(1), s.since());
        MonitorState.Step step = s.after(true, t(3), 2, 3);
        assertEquals(Status.DOWN, step.next().state());
        step = step.next().after(false, t(4), 2, 3);
        assertNull(step.transition());
        s = step.next();
        for (int i = 5; i <= 6; i++) {
            step = s.after(true, t(i), 2, 3);
            assertNull(step.transition());
            s = step.next();
        }
        step = s.after(true, t(7), 2, 3);
        assertEquals(Status.UP, step.transition());
        assertEquals(t(7), step.next().since());
    }

    @Test
    void flappingBelowTheThresholdProducesNoTransition() {
        MonitorState s = MonitorState.initial(T0).after(true, t(0), 3, 1).next();
        for (int i = 1; i <= 50; i++) {
            final MonitorState.Step step = s.after(i % 3 != 0, t(i), 3, 1);
            assertNull(step.transition(), "check " + i);
            s = step.next();
        }
        assertEquals(Status.UP, s.confirmed());
    }

    @Test
    void pauseKeepsTheConfirmedStateForResume() {
        final MonitorState down = MonitorState.initial(T0).after(false, t(1), 1, 1).next();
        final MonitorState paused = down.paused();
        assertEquals(Status.PAUSED, paused.state());
        assertNull(paused.after(true, t(2), 1, 1).transition(), "a late result while paused changes nothing");
        final MonitorState resumed = paused.resumed();
        assertEquals(Status.DOWN, resumed.state());
        assertEquals(Status.UP, resumed.after(true, t(3), 1, 1).transition());
        assertEquals(Status.PENDING, MonitorState.initial(T0).paused().resumed().state());
    }
}
