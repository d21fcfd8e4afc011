package dev.spillway.telemetry.internal;

import dev.spillway.telemetry.timescale.SqlStates;

import java.net.ConnectException;
import java.sql.SQLTransientConnectionException;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * Tells a failed write that means "the sink cannot be reached" (the database is down, restarting, or the network to
 * it is cut) from one that only concerns this write (a deadlock, a lock timeout, bad data). With a spool, a batch
 * that fails the first way is spooled at once instead of spending the retry budget: retrying cannot help until
 * the sink is back, and the replayer's probe finds out when it is (see {@link WorkerPool}). Retrying the first
 * batches of an outage for the whole budget (8 attempts, 60 s by default) used to hold the workers while the ring
 * filled, so {@code ack=commit} writers got 503 at the start of every outage although the spool had room.
 *
 * <p>Unreachable: a connection failure by SQLSTATE (class {@code 08}, a server shutting down or starting,
 * {@code 57P01}-{@code 57P03}), a pool that could not hand out a connection
 * ({@link SQLTransientConnectionException}), or a refused connection. Not a plain I/O error: a sink that is reached
 * but refuses for now (a full JetStream stream throws an {@code IOException}) must push back through its retries,
 * not fill the spool; such failures keep the retry budget.
 */
final class SinkReachability {

    private static final int MAX_CAUSE_DEPTH = 32;

    private SinkReachability() {
    }

    static boolean unreachable(Throwable failure) {
        if (failure == null) {
            return false;
        }
        final String state = SqlStates.firstSqlState(failure);
        if (state != null && (state.startsWith("08") || state.startsWith("57P0"))) {
            return true;
        }
        final Map<Throwable, Boolean> seen = new IdentityHashMap<>();
        Throwable t = failure;
        for (int depth = 0; t != null && depth < MAX_CAUSE_DEPTH && seen.put(t, Boolean.TRUE) == null; depth++) {
            if (t instanceof SQLTransientConnectionException || t instanceof ConnectException) {
                return true;
            }
            t = t.getCause();
        }
        return false;
    }
}
