package dev.spillway.telemetry.timescale;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Read-side checks of an events table, through plain JDBC (independent of the sink under test). */
final class EventTable {

    private final String url;
    private final String user;
    private final String password;
    private final String table;

    EventTable(String url, String user, String password, String table) {
        this.url = url;
        this.user = user;
        this.password = password;
        this.table = SchemaManager.quote(table);
    }

    long count() {
        return queryLong("select count(*) from " + table);
    }

    long queryLong(String sql) {
        try (Connection c = DriverManager.getConnection(url, user, password); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        } catch (SQLException e) {
            throw new IllegalStateException(sql, e);
        }
    }

    /** Sequences of one source, ascending. */
    List<Long> sequences(int sourceId) {
        try (Connection c = DriverManager.getConnection(url, user, password); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select seq from " + table + " where source_id = " + sourceId
                 + " order by seq")) {
            final List<Long> out = new ArrayList<>();
            while (rs.next()) {
                out.add(rs.getLong(1));
            }
            return out;
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Asserts that no (source, seq) is stored twice: for every source, {@code count(distinct seq) = count(*)}, and
     * that the table holds exactly {@code expectedRows} rows.
     */
    void assertExactlyOnce(long expectedRows) {
        assertEquals(0, queryLong("select count(*) from (select source_id from " + table
            + " group by source_id having count(distinct seq) <> count(*)) d"), "sources with duplicated seq");
        assertEquals(expectedRows, count(), "rows in " + table);
    }
}
