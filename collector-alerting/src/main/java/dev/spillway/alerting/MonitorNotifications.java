package dev.spillway.alerting;

import dev.spillway.uptime.transitions.Notification;
import dev.spillway.uptime.transitions.Transition;
import dev.spillway.uptime.transitions.TransitionListener;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Turns confirmed probe-monitor transitions (UP, DOWN, a first result of DOWN) into outbox rows, inside the transaction
 * that records them. Heartbeat transitions are skipped here: the heartbeat side enqueues its own, richer
 * notifications (statuses, last ping) in the same transaction.
 */
public final class MonitorNotifications implements TransitionListener {

    private final Clock clock;
    private final Runnable afterEnqueue;

    /**
     * @param afterEnqueue called after rows were added (e.g. to wake the relay); it runs before the commit, so
     *     the relay may look once too early and then finds the rows at its next poll
     */
    public MonitorNotifications(Clock clock, Runnable afterEnqueue) {
        this.clock = clock;
        this.afterEnqueue = afterEnqueue;
    }

    @Override
    public void onTransition(Connection c, Transition t) throws SQLException {
        if (Transition.KIND_HEARTBEAT.equals(t.kind())) {
            return;
        }
        final Map<String, String> details = new HashMap<>();
        if (t.reason() != null) {
            details.put("reason", t.reason());
        }
        details.put("transition_id", Long.toString(t.id()));
        final String to = t.toState().toLowerCase(Locale.ROOT);
        final int rows = Outbox.enqueue(c, new Notification("monitor." + to, "monitor", t.subject(),
            t.fromState() == null ? null : t.fromState().toLowerCase(Locale.ROOT), to, t.startedAt(), details),
            clock.instant());
        if (rows > 0) {
            afterEnqueue.run();
        }
    }
}
