package dev.spillway.uptime.transitions;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * Called for every confirmed {@link Transition}, on the connection and inside the transaction that changes the
 * state and inserts the {@code monitor_transitions} row: whatever the listener writes on {@code c} commits or
 * rolls back together with the state change (a transactional outbox).
 *
 * <p>For notifications: implement this to insert outbox rows (one per channel) with {@code c}; a relay then
 * claims them with {@code SELECT ... FOR UPDATE SKIP LOCKED} and sends them after the commit. Register it with
 * {@link StateTransitions#addListener}.
 *
 * <p>Rules: use only {@code c} (no other connection: it would not see the uncommitted row and would not roll
 * back with it); do not commit, roll back or change auto-commit; do no network I/O (the transaction holds row
 * locks); be quick. Throwing rolls the whole state change back; the caller logs it and retries the state change
 * with the next check, so throw only for database errors.
 */
@FunctionalInterface
public interface TransitionListener {

    /**
     * @param c the open connection of the state change's transaction
     * @param t the transition, with its {@code monitor_transitions.id}
     */
    void onTransition(Connection c, Transition t) throws SQLException;
}
