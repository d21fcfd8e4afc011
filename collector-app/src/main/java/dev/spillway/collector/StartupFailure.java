package dev.spillway.collector;

import dev.spillway.collector.config.CollectorConfig;

import java.net.UnknownHostException;
import java.sql.SQLException;
import java.util.HashSet;
import java.util.Set;

/**
 * Says in one sentence why the collector could not start, with the cause, for the one line {@link CollectorMain}
 * prints: {@code cannot connect to the database at jdbc:postgresql://db:5432/x as spillway: Connection refused}.
 * The stack trace is for the log at debug level, not for the terminal.
 */
final class StartupFailure {

    private StartupFailure() {
    }

    /** One line, no stack trace: what could not be done, where, and the root cause. */
    static String describe(Throwable failure, CollectorConfig config) {
        final String cause = rootCause(failure);
        if (isDatabaseConnection(failure)) {
            return "cannot connect to the database at " + database(config) + ": " + cause;
        }
        if (has(failure, SQLException.class)) {
            return "the database at " + database(config) + " failed while the collector set it up: " + cause;
        }
        if (config.nats().usesNats() && fromPackage(failure, "io.nats.")) {
            return "cannot connect to NATS at " + config.nats().servers() + ": " + cause;
        }
        final String top = oneLine(failure.getMessage());
        return "startup failed: " + (top == null || top.equals(cause) || top.endsWith(cause) ? cause
            : top + " (" + cause + ")");
    }

    /** {@code jdbc:postgresql://h/db as user} (password masked), or the embedded database and its directory. */
    private static String database(CollectorConfig config) {
        if (config.database().embedded()) {
            return "embedded PostgreSQL in " + config.database().dataDir();
        }
        return config.database().maskedJdbcUrl() + (config.database().user() != null ? " as " + config.database().user() : "");
    }

    /**
     * The pool could not open its first connection, or the driver refused one: SQL states of class 08 (connection
     * exception), 28 (authorization) or 3D000 (no such database).
     */
    private static boolean isDatabaseConnection(Throwable t) {
        for (Throwable c : chain(t)) {
            if (c.getClass().getName().equals("com.zaxxer.hikari.pool.HikariPool$PoolInitializationException")) {
                return true;
            }
            if (c instanceof SQLException sql && sql.getSQLState() != null
                && (sql.getSQLState().startsWith("08") || sql.getSQLState().startsWith("28")
                || sql.getSQLState().equals("3D000"))) {
                return true;
            }
        }
        return false;
    }

    /** The innermost cause's message in one line, e.g. {@code Connection refused}. */
    static String rootCause(Throwable t) {
        Throwable root = t;
        for (Throwable c : chain(t)) {
            root = c;
        }
        if (root instanceof UnknownHostException) {
            return "unknown host " + root.getMessage();
        }
        final String message = oneLine(root.getMessage());
        return message == null ? root.getClass().getSimpleName() : message;
    }

    private static boolean has(Throwable t, Class<? extends Throwable> type) {
        for (Throwable c : chain(t)) {
            if (type.isInstance(c)) {
                return true;
            }
        }
        return false;
    }

    private static boolean fromPackage(Throwable t, String prefix) {
        for (Throwable c : chain(t)) {
            if (c.getClass().getName().startsWith(prefix)) {
                return true;
            }
            for (StackTraceElement e : c.getStackTrace()) {
                if (e.getClassName().startsWith(prefix)) {
                    return true;
                }
            }
        }
        return false;
    }

    /** The throwable and its causes, each once. */
    private static Iterable<Throwable> chain(Throwable t) {
        final java.util.List<Throwable> out = new java.util.ArrayList<>();
        final Set<Throwable> seen = new HashSet<>();
        for (Throwable c = t; c != null && seen.add(c); c = c.getCause()) {
            out.add(c);
        }
        return out;
    }

    private static String oneLine(String message) {
        if (message == null || message.isBlank()) {
            return null;
        }
        return message.strip().replaceAll("\\s*\\R\\s*", " ");
    }
}
