package dev.spillway.telemetry.timescale;

import org.junit.jupiter.api.Test;

import java.io.EOFException;
import java.io.IOException;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The SQLSTATE table itself (the classes of real server errors are checked in {@link SinkWriteTest}). */
class SqlStatesTest {

    @Test
    void transientStates() {
        for (String s : new String[] {"08000", "08003", "08006", "08007", "08001", "40001", "40P01", "53000",
            "53100", "53200", "53300", "57P01", "57P02", "57P03", "55P03", "57014", "25006"}) {
            assertTrue(SqlStates.isTransient(new SQLException("x", s)), s);
        }
    }

    @Test
    void permanentStates() {
        for (String s : new String[] {"22012", "22P02", "23505", "23514", "42P01", "42601", "42501", "XX000",
            "TS103", "0A000", "25P02", "40000", "57P04"}) {
            assertFalse(SqlStates.isTransient(new SQLException("x", s)), s);
        }
        assertFalse(SqlStates.isTransient(null));
        assertFalse(SqlStates.isTransient(new IllegalStateException("bug")));
    }

    @Test
    void causeChainIsWalkedAndTheFirstStateDecides() {
        final SQLException io = new SQLException("An I/O error occurred", "08006", new EOFException());
        assertTrue(SqlStates.isTransient(new RuntimeException(io)));
        assertTrue(SqlStates.isConnectionBroken(io));
        assertTrue(SqlStates.isTransient(new RuntimeException(new IOException("reset"))));
        assertTrue(SqlStates.isTransient(new SQLTransientConnectionException(
            "spillway - Connection is not available, request timed out after 1000ms.")));
        assertTrue(SqlStates.isTransient(new SQLException("wrapper without state", null,
            new SQLException("inner", "40P01"))));
        assertFalse(SqlStates.isTransient(new SQLException("check", "23514", new IOException("irrelevant"))));
        assertTrue(SqlStates.isDataError(new RuntimeException(new SQLException("x", "22003"))));
        assertEquals("57014", SqlStates.firstSqlState(new Exception(new SQLException("x", "57014"))));
        final RuntimeException loop = new RuntimeException("a");
        final RuntimeException other = new RuntimeException("b", loop);
        loop.initCause(other);
        assertFalse(SqlStates.isTransient(loop), "a cause cycle terminates");
    }
}
