package dev.spillway.collector;

import dev.spillway.collector.config.CollectorConfig;
import dev.spillway.collector.config.CollectorOptions;
import dev.spillway.collector.db.EventsTable;
import dev.spillway.testkit.LogCapture;
import dev.spillway.testkit.TimescaleLite;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.telemetry.timescale.TimescaleSink;
import org.junit.jupiter.api.Test;

import javax.sql.DataSource;
import java.io.OutputStream;
import java.io.PrintStream;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * What {@code --retention}, {@code --compress-after}, {@code --chunk-interval} and {@code --index-mode} do to the
 * events table. On plain PostgreSQL (the test database, like the embedded one) the TimescaleDB-only ones are
 * reported in one warning naming them and nothing is dropped; on TimescaleDB (the shared timescaledb-lite tool,
 * reached through its retrying data source since it resets a session opened while the previous one ends) they
 * become the hypertable's chunk interval and its jobs, which drop and compress the right chunks when run, and a
 * changed value replaces the old one at the next start.
 */
class TimescaleOptionsTest {

    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final String TABLE = EventsTable.NAME;

    @Test
    void onPlainPostgresTheTimescaleOptionsAreReportedAsNotApplicableAndNothingIsDropped() throws Exception {
        try (TestDatabase db = TestDatabase.create("collector_ts_options_plain");
             LogCapture log = LogCapture.of(EventsTable.class.getName())) {
            // The rows layout: its table carries the index and takes the DELETE (blocks: see blocksAreNamedToo)
            try (CollectorHarness h = CollectorHarness.start(db, "--retention", "30d", "--compress-after", "7d",
                "--chunk-interval", "6h", "--index-mode", "brin-time", "--storage-layout", "rows")) {
                assertEquals(List.of("--retention 30d, --compress-after 7d, --chunk-interval 6h do not apply: the "
                    + "database has no TimescaleDB, telemetry_events is a plain table and keeps every row (delete old "
                    + "rows yourself, e.g. DELETE FROM telemetry_events WHERE time < now() - interval '2592000 "
                    + "seconds')"), log.messages());
                // A point far older than the retention is stored and stays.
                final long old = (System.currentTimeMillis() - Duration.ofDays(400).toMillis()) * 1_000_000L;
                assertEquals(204, h.post("/api/v2/write", "aged v=1 " + old).statusCode());
                Await.until(WAIT, () -> h.count("measurement = 'aged'") == 1, "old point stored");
                assertEquals(0, db.queryLong("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"));
                // --index-mode applies on plain PostgreSQL too.
                assertEquals(List.of("telemetry_events_time_brin"), strings(db.connect(),
                    "SELECT indexname FROM pg_indexes WHERE tablename = '" + TABLE + "' ORDER BY 1"));
            }
            try (CollectorHarness h = CollectorHarness.start(db)) {
                assertEquals(1, log.messages().size(), "no warning when none of them is given: " + log.messages());
                assertEquals(1, h.count("measurement = 'aged'"));
            }
        }
    }

    /** With the blocks layout (a new database's default) the warning names the two tables to delete from. */
    @Test
    void onPlainPostgresTheWarningNamesTheBlocksTables() throws Exception {
        try (TestDatabase db = TestDatabase.create("collector_ts_options_blocks");
             LogCapture log = LogCapture.of(EventsTable.class.getName())) {
            try (CollectorHarness h = CollectorHarness.start(db, "--retention", "30d")) {
                assertEquals(List.of("--retention 30d does not apply: the database has no TimescaleDB, "
                    + "telemetry_events_blocks and telemetry_events_rows (behind the view telemetry_events) are plain "
                    + "tables and keep every row (delete old rows yourself, e.g. DELETE FROM telemetry_events_blocks "
                    + "WHERE time_max < now() - interval '2592000 seconds'; DELETE FROM telemetry_events_rows WHERE "
                    + "time < now() - interval '2592000 seconds')"), log.messages());
                db.execute("DELETE FROM telemetry_events_blocks WHERE time_max < now() - interval '2592000 seconds'; "
                    + "DELETE FROM telemetry_events_rows WHERE time < now() - interval '2592000 seconds'");
                assertEquals(204, h.post("/api/v2/write", "fresh v=1").statusCode());
                Await.until(WAIT, () -> h.count("measurement = 'fresh'") == 1, "a point stored after the delete");
            }
        }
    }

    @Test
    void onTimescaleDbTheyBecomeTheChunkIntervalAndJobsThatDropAndCompressTheRightChunks() throws Exception {
        final String missing = TimescaleLite.missing();
        assumeTrue(missing == null, "SKIPPED: " + missing);
        try (TimescaleLite tsdb = TimescaleLite.start();
             LogCapture log = LogCapture.of(EventsTable.class.getName())) {
            final DataSource ds = tsdb.dataSource();
            // The rows layout's table (TimescaleDdlTest covers the blocks layout's two hypertables)
            buildSink(tsdb, ds, "--retention", "30d", "--compress-after", "7d", "--chunk-interval", "6h",
                "--storage-layout", "rows");
            assertEquals(List.of(), log.messages(), "nothing to report on TimescaleDB");
            assertEquals(List.of("06:00:00"), strings(ds.getConnection(), "SELECT time_interval::text FROM "
                + "timescaledb_information.dimensions WHERE hypertable_name = '" + TABLE + "'"));
            assertEquals(List.of("policy_compression 7 days", "policy_retention 30 days"), jobs(ds));
            assertEquals(List.of("source_id segmentby", "time orderby"), strings(ds.getConnection(),
                "SELECT attname || ' ' || CASE WHEN segmentby_column_index IS NOT NULL THEN 'segmentby' ELSE 'orderby' "
                    + "END FROM timescaledb_information.compression_settings WHERE hypertable_name = '" + TABLE
                    + "' ORDER BY 1"));

            // Their effect (background jobs never run on the tool: run them as the scheduler would).
            try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
                st.execute("INSERT INTO " + TABLE + " VALUES (now() - interval '60 days', 1, 1, 1, 0), "
                    + "(now() - interval '10 days', 1, 1, 2, 1), (now() - interval '1 hour', 1, 1, 3, 2)");
            }
            runJob(ds, "policy_retention");
            assertEquals(List.of("2", "3"), strings(ds.getConnection(), "SELECT value::int::text FROM " + TABLE
                + " ORDER BY time"), "the chunk older than 30 days is dropped, the others kept");
            runJob(ds, "policy_compression");
            assertEquals(List.of("true", "false"), strings(ds.getConnection(), "SELECT is_compressed::text FROM "
                    + "timescaledb_information.chunks WHERE hypertable_name = '" + TABLE + "' ORDER BY range_start"),
                "the chunk older than 7 days is compressed, the recent one is not");
            assertEquals(List.of("2", "3"), strings(ds.getConnection(), "SELECT value::int::text FROM " + TABLE
                + " ORDER BY time"), "compressed rows still read back");

            // The next start with other values replaces them (one job each, the new ages, the new interval).
            buildSink(tsdb, ds, "--retention", "14d", "--compress-after", "2d", "--chunk-interval", "12h",
                "--storage-layout", "rows");
            assertEquals(List.of("policy_compression 2 days", "policy_retention 14 days"), jobs(ds));
            assertEquals(List.of("12:00:00"), strings(ds.getConnection(), "SELECT time_interval::text FROM "
                + "timescaledb_information.dimensions WHERE hypertable_name = '" + TABLE + "'"));
        }
    }

    /** Options as a user gives them, through the collector's own sink construction, on the tool's data source. */
    private static void buildSink(TimescaleLite tsdb, DataSource ds, String... options) throws Exception {
        final List<String> args = new ArrayList<>(List.of("--jdbc-url", tsdb.url(), "--db-user", "postgres",
            "--db-password", "postgres"));
        args.addAll(List.of(options));
        final CollectorConfig cfg = ((CollectorOptions.Run) CollectorOptions.parse(args.toArray(String[]::new),
            Map.of(), new PrintStream(OutputStream.nullOutputStream()))).config();
        try (TimescaleSink sink = EventsTable.sink(cfg.database(), ds, Duration.ofHours(1)).build()) {
            assertTrue(sink.isTimescale(), "the events table is a hypertable");
            assertEquals(null, EventsTable.reportNotApplicable(cfg.database(), sink.isTimescale()));
        }
    }

    /** Each job of the events table with its age setting, normalised by PostgreSQL ({@code 7 days}). */
    private static List<String> jobs(DataSource ds) throws Exception {
        return strings(ds.getConnection(), "SELECT proc_name || ' ' || justify_hours(coalesce("
            + "(config->>'compress_after')::interval, (config->>'drop_after')::interval))::text "
            + "FROM timescaledb_information.jobs WHERE hypertable_name = '" + TABLE + "' ORDER BY proc_name");
    }

    private static void runJob(DataSource ds, String proc) throws Exception {
        final List<String> ids = strings(ds.getConnection(), "SELECT job_id::text FROM timescaledb_information.jobs "
            + "WHERE hypertable_name = '" + TABLE + "' AND proc_name = '" + proc + "'");
        assertEquals(1, ids.size(), proc + ": " + ids);
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.execute("CALL run_job(" + Integer.parseInt(ids.get(0)) + ")");
        }
    }

    /** The first column of every row; closes the connection. */
    private static List<String> strings(Connection c, String sql) throws Exception {
        try (c; Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            final List<String> out = new ArrayList<>();
            while (rs.next()) {
                out.add(rs.getString(1));
            }
            return out;
        }
    }
}
