package dev.spillway.runtime.db;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * One schema step. Steps run in ascending {@link #version} order, each at most once per database (recorded in
 * {@code schema_version}), all under one advisory lock and each in its own transaction with its
 * {@code schema_version} row, so a step is either fully applied and recorded or not at all.
 *
 * <p>Rules for a step: use {@code IF NOT EXISTS} / {@code CREATE OR REPLACE} where PostgreSQL allows it (a
 * database created before {@code schema_version} existed may already hold the objects); never depend on a step
 * with a higher version; never change a released step (add a new one). Versions need not be contiguous, and a
 * missing lower version is applied even when higher ones already are, so steps from parallel branches merge in
 * any order.
 *
 * @param version unique, positive; ranges by feature are listed in {@link CollectorSchema}
 * @param description one line for {@code schema_version.description} and the log
 * @param step the DDL, run on a connection inside the step's transaction
 */
public record Migration(int version, String description, Step step) {

    /** The body of a step. Gets a connection with auto-commit off; must not commit or roll back itself. */
    @FunctionalInterface
    public interface Step {
        /** Applies the step. */
        void apply(Connection c) throws SQLException;
    }

    /** A step made of plain SQL statements, run in order. */
    public static Migration sql(int version, String description, String... statements) {
        return new Migration(version, description, c -> {
            try (var st = c.createStatement()) {
                for (String s : statements) {
                    st.execute(s);
                }
            }
        });
    }
}
