package dev.spillway.telemetry.timescale;

import org.postgresql.PGConnection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The connections inside a write right now, so that {@link TimescaleSink#abortWrites()} can abort them: closing
 * the socket makes the blocked write fail at once, and the server rolls the open transaction back when it sees
 * the client gone, so an abandoned write never commits later.
 */
final class InFlightConnections {

    private static final Logger LOG = LoggerFactory.getLogger(TimescaleSink.class); // users watch the sink's logger

    private final Set<Connection> connections = ConcurrentHashMap.newKeySet();

    void add(Connection conn) {
        connections.add(conn);
    }

    void remove(Connection conn) {
        connections.remove(conn);
    }

    /** Aborts every connection inside a write; returns how many. */
    int abortAll() {
        int aborted = 0;
        for (Connection conn : connections) {
            try {
                // The physical connection: a pool's proxy may not pass abort() through.
                final Connection physical = conn.isWrapperFor(PGConnection.class)
                    ? (Connection) conn.unwrap(PGConnection.class) : conn;
                physical.abort(Runnable::run);
                aborted++;
            } catch (SQLException | RuntimeException e) {
                LOG.warn("aborting a connection inside a write failed: {}", e.toString());
            }
        }
        return aborted;
    }
}
