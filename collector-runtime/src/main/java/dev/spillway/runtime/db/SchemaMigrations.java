package dev.spillway.runtime.db;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Applies {@link Migration}s that a database has not seen yet. Serialised across collectors by a session-level
 * advisory lock held for the whole run, so two collectors starting on one database never run a step twice or
 * interleave steps; each step commits together with its {@code schema_version} row.
 */
public final class SchemaMigrations {

    /** Table recording applied steps. */
    public static final String VERSION_TABLE = "schema_version";
    /** Advisory lock key ("spillway" in ASCII as a number), shared by every collector. */
    static final long LOCK_KEY = 0x7370696c6c776179L;

    private static final Logger LOG = LoggerFactory.getLogger(SchemaMigrations.class);

    private SchemaMigrations() {
    }

    /**
     * Applies the missing steps in ascending version order.
     *
     * @return versions applied by this call (empty when the database was up to date)
     * @throws IllegalArgumentException when two steps share a version
     */
    public static List<Integer> apply(DataSource ds, List<Migration> migrations) throws SQLException {
        final List<Migration> ordered = new ArrayList<>(migrations);
        ordered.sort(Comparator.comparingInt(Migration::version));
        for (int i = 1; i < ordered.size(); i++) {
            if (ordered.get(i).version() == ordered.get(i - 1).version()) {
                throw new IllegalArgumentException("two schema steps with version " + ordered.get(i).version());
            }
        }
        final List<Integer> applied = new ArrayList<>();
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(true);
            try (Statement st = c.createStatement()) {
                st.execute("SELECT pg_advisory_lock(" + LOCK_KEY + ")");
            }
            try {
                try (Statement st = c.createStatement()) {
                    st.execute("CREATE TABLE IF NOT EXISTS " + VERSION_TABLE + " (version integer PRIMARY KEY, "
                        + "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
                }
                final Set<Integer> done = new HashSet<>();
                try (Statement st = c.createStatement();
                     ResultSet rs = st.executeQuery("SELECT version FROM " + VERSION_TABLE)) {
                    while (rs.next()) {
                        done.add(rs.getInt(1));
                    }
                }
                for (Migration m : ordered) {
                    if (done.contains(m.version())) {
                        continue;
                    }
                    c.setAutoCommit(false);
                    try {
                        m.step().apply(c);
                        try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + VERSION_TABLE
                            + " (version, description) VALUES (?, ?)")) {
                            ps.setInt(1, m.version());
                            ps.setString(2, m.description());
                            ps.executeUpdate();
                        }
                        c.commit();
                    } catch (SQLException | RuntimeException e) {
                        c.rollback();
                        throw new SQLException("schema step " + m.version() + " (" + m.description() + ") failed: "
                            + e.getMessage(), e);
                    } finally {
                        c.setAutoCommit(true);
                    }
                    applied.add(m.version());
                    LOG.info("schema step {} applied: {}", m.version(), m.description());
                }
            } finally {
                try (Statement st = c.createStatement()) {
                    st.execute("SELECT pg_advisory_unlock(" + LOCK_KEY + ")");
                }
            }
        }
        return applied;
    }
}
