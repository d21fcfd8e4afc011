package dev.spillway.telemetry.timescale;

import java.io.IOException;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.sql.SQLTransientException;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * Classifies database failures by SQLSTATE so that retry decisions are made in one place.
 *
 * <p>The cause chain is walked from the outside in, and the first SQLSTATE found decides: PgJDBC wraps socket
 * failures in a {@code PSQLException} with state {@code 08006} whose cause is the {@link IOException}, and HikariCP
 * wraps "connection is not available" in a {@link SQLTransientConnectionException} that carries the last
 * connect failure's state, if any.
 *
 * <ul>
 *   <li>Transient (worth retrying): class {@code 08} (connection exception, including {@code 08006} I/O error,
 *       {@code 08003} closed connection and {@code 08007} transaction resolution unknown), {@code 40001}
 *       serialization failure, {@code 40P01} deadlock, class {@code 53} insufficient resources,
 *       {@code 57P01}-{@code 57P03} shutdown / cannot connect now, {@code 55P03} lock not available,
 *       {@code 57014} query canceled (statement timeout), {@code 25006} read-only transaction (after a
 *       failover); also an {@link IOException} or a {@link SQLTransientException} without a SQLSTATE.</li>
 *   <li>Permanent: everything else, notably class {@code 22} (data exception), {@code 23} (integrity constraint
 *       violation) and {@code 42} (syntax error or access rule violation).</li>
 * </ul>
 */
public final class SqlStates {

    private static final int MAX_CAUSE_DEPTH = 32;

    private SqlStates() {
    }

    /** Whether {@code failure} is worth retrying (see the class comment). Null-safe: null is not transient. */
    public static boolean isTransient(Throwable failure) {
        final String state = firstSqlState(failure);
        if (state != null) {
            return isTransientState(state);
        }
        return hasCause(failure, IOException.class) || hasCause(failure, SQLTransientException.class);
    }

    /** Whether a SQLSTATE names a transient condition (see the class comment). */
    public static boolean isTransientState(String sqlState) {
        if (sqlState == null || sqlState.length() != 5) {
            return false;
        }
        if (sqlState.startsWith("08") || sqlState.startsWith("53")) {
            return true;
        }
        switch (sqlState) {
            case "40001": case "40P01":
            case "57P01": case "57P02": case "57P03":
            case "55P03": case "57014": case "25006":
                return true;
            default:
                return false;
        }
    }

    /**
     * Whether the failure is caused by the data itself (class {@code 22} data exception or {@code 23} integrity
     * constraint violation): retrying the same rows cannot succeed, but other rows of the batch may.
     */
    public static boolean isDataError(Throwable failure) {
        final String state = firstSqlState(failure);
        return state != null && (state.startsWith("22") || state.startsWith("23"));
    }

    /**
     * Whether the failure means the connection itself is (or may be) unusable: class {@code 08}, a server
     * shutdown ({@code 57P01}-{@code 57P03}) or a plain {@link IOException}. Such a connection must not go back
     * into a pool.
     */
    public static boolean isConnectionBroken(Throwable failure) {
        final String state = firstSqlState(failure);
        if (state != null) {
            return state.startsWith("08") || state.startsWith("57P0");
        }
        return hasCause(failure, IOException.class);
    }

    /** The first SQLSTATE found in the cause chain, or null. */
    public static String firstSqlState(Throwable failure) {
        final Map<Throwable, Boolean> seen = new IdentityHashMap<>();
        Throwable t = failure;
        for (int depth = 0; t != null && depth < MAX_CAUSE_DEPTH && seen.put(t, Boolean.TRUE) == null; depth++) {
            if (t instanceof SQLException) {
                final String state = ((SQLException) t).getSQLState();
                if (state != null && !state.isEmpty()) {
                    return state;
                }
            }
            t = t.getCause();
        }
        return null;
    }

    private static boolean hasCause(Throwable failure, Class<? extends Throwable> type) {
        final Map<Throwable, Boolean> seen = new IdentityHashMap<>();
        Throwable t = failure;
        for (int depth = 0; t != null && depth < MAX_CAUSE_DEPTH && seen.put(t, Boolean.TRUE) == null; depth++) {
            if (type.isInstance(t)) {
                return true;
            }
            t = t.getCause();
        }
        return false;
    }
}
