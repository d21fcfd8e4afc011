package dev.spillway.statuspage;

import dev.spillway.testkit.TimescaleLite;
import dev.spillway.telemetry.timescale.StorageLayout;
import dev.spillway.telemetry.timescale.TimescaleSink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@link StatusQueriesContract} on real TimescaleDB (the shared timescaledb-lite tool): the schema step creates
 * the rollups as continuous aggregates with refresh and retention policies, and the page's queries give the same
 * exact answers as on plain PostgreSQL. Skipped, saying why, without Node.js or the tool.
 */
class StatusQueriesTimescaleTest extends StatusQueriesContract {

    private static TimescaleLite tsdb;

    @BeforeAll
    static void start() throws Exception {
        final String missing = TimescaleLite.missing();
        if (missing != null) {
            // Surefire does not print a class-level assumption's message: say it on the console.
            System.out.println("SKIPPED: StatusQueriesTimescaleTest: " + missing);
        }
        assumeTrue(missing == null, "SKIPPED: " + missing);
        tsdb = TimescaleLite.start();
        final DataSource ds = tsdb.dataSource();
        // The retrying data source: the tool can reset a session opened while the previous one is still ending.
        try (TimescaleSink sink = TimescaleSink.builder().dataSource(ds).table(CheckSeeder.EVENTS)
            // Seeded by INSERT (CheckSeeder), which needs the rows layout; the blocks layout: RollupSpoolReplayTest.
            .storageLayout(StorageLayout.ROWS).build()) {
            assertTrue(sink.isTimescale(), "the events table is a hypertable");
        }
        CheckSeeder.createSchema(ds);
        try (Connection c = ds.getConnection()) {
            seed(c);
        }
        new StatusQueriesTimescaleTest().refreshRollups();
        refreshRuns(ds);
    }

    @AfterAll
    static void stop() throws Exception {
        if (tsdb != null) {
            tsdb.close();
        }
    }

    @Override
    DataSource dataSource() {
        return tsdb.dataSource();
    }

    /** Background jobs never run on the tool: run the refresh by hand, as the policy would. */
    @Override
    void refreshRollups() throws Exception {
        try (Connection c = dataSource().getConnection(); Statement st = c.createStatement()) {
            st.execute("CALL refresh_continuous_aggregate('" + CheckRollups.MINUTE + "', NULL, NULL)");
            st.execute("CALL refresh_continuous_aggregate('" + CheckRollups.HOUR + "', NULL, NULL)");
            st.execute("CALL refresh_continuous_aggregate('" + CheckRollups.DAY + "', NULL, NULL)");
        }
    }

    @Test
    void rollupsAreContinuousAggregatesWithPolicies() throws Exception {
        assertEquals(List.of("monitor_checks_1d false", "monitor_checks_1h false", "monitor_checks_1m false"), query(
            "SELECT view_name || ' ' || materialized_only FROM timescaledb_information.continuous_aggregates "
                + "ORDER BY view_name"), "real-time: the newest buckets come from raw rows");
        assertEquals(List.of("monitor_checks_1d policy_refresh_continuous_aggregate", "monitor_checks_1d policy_retention",
            "monitor_checks_1h policy_refresh_continuous_aggregate",
            "monitor_checks_1h policy_retention", "monitor_checks_1m policy_refresh_continuous_aggregate",
            "monitor_checks_1m policy_retention"), query("SELECT hypertable_name || ' ' || proc_name FROM "
                + "timescaledb_information.jobs WHERE hypertable_name LIKE 'monitor_checks_%' ORDER BY 1"));
        assertFalse(new CheckRollups(dataSource(), CheckSeeder.EVENTS, () -> NOW).collectorMaintained(),
            "TimescaleDB keeps them, not the collector");
    }

    private List<String> query(String sql) throws Exception {
        try (Connection c = dataSource().getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery(sql)) {
            final List<String> out = new ArrayList<>();
            while (rs.next()) {
                out.add(rs.getString(1));
            }
            return out;
        }
    }
}
