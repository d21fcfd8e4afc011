package dev.spillway.runtime.api;

import java.sql.SQLException;
import java.sql.SQLNonTransientConnectionException;
import java.sql.SQLRecoverableException;
import java.sql.SQLTransientException;

/**
 * Tells a failure that retrying fixes (the database is down, restarting, out of connections, or the collector is
 * closing its pool) from a bug. The router answers the first kind 503 with {@code Retry-After}, never 500, and logs
 * it without a stack trace.
 */
public final class DatabaseOutage {

    private DatabaseOutage() {
    }

    /**
     * A few words on why the database could not answer when {@code t} (or a cause of it) is such a failure, else
     * null. Connection failures, PostgreSQL's SQLSTATE classes 08 (connection), 53 (insufficient resources),
     * 57P01..57P03 (shutdown, cannot connect now), 40001/40P01 (serialization, deadlock: retry), the JDBC transient
     * and recoverable kinds, and a pool that is closed or timed out.
     */
    public static String describe(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof SQLException e) {
                final String state = e.getSQLState();
                if (state != null && (state.startsWith("08") || state.startsWith("53") || state.equals("57P01")
                    || state.equals("57P02") || state.equals("57P03") || state.equals("40001")
                    || state.equals("40P01"))) {
                    return "SQLSTATE " + state;
                }
                if (e instanceof SQLTransientException || e instanceof SQLNonTransientConnectionException
                    || e instanceof SQLRecoverableException) {
                    return e.getClass().getSimpleName();
                }
                final String m = e.getMessage();
                if (state == null && m != null && (m.contains("has been closed") || m.contains("Connection is not "
                    + "available"))) {
                    return "connection pool closed or exhausted";
                }
            }
        }
        return null;
    }
}
