package dev.spillway.uptime.transitions;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Instant;

/**
 * Where a state owner puts a {@link Notification} it wants announced, on the connection and inside the transaction
 * of its state change (the same contract as {@link TransitionListener}: only {@code c}, no commit, no network I/O).
 * The alerting module's outbox implements it; the uptime module only knows this interface, so dependencies point
 * from alerting to uptime and never back.
 */
@FunctionalInterface
public interface NotificationQueue {

    /**
     * @param c the open connection of the state change's transaction
     * @param n what to announce
     * @param now when it was enqueued (the outbox row's {@code created_at})
     */
    void enqueue(Connection c, Notification n, Instant now) throws SQLException;
}
