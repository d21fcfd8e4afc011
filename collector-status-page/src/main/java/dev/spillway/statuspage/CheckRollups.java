package dev.spillway.statuspage;

import dev.spillway.ingest.series.SeriesSchema;
import dev.spillway.runtime.db.Migration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.function.Supplier;

/**
 * Per-monitor check rollups in 1-minute and 1-hour buckets ({@code monitor_checks_1m}, {@code monitor_checks_1h}):
 * checks, good checks, and p50/p95/max of {@code duration_ms}, computed from the monitor result series in the
 * events table. The status page reads only these for uptime and response-time plots, so its cost does not grow
 * with the raw data.
 *
 * <p>With TimescaleDB (the events table is a hypertable) they are continuous aggregates with refresh and retention
 * policies, real-time (the newest, not yet materialised buckets are computed from raw rows at query time). On
 * plain PostgreSQL they are tables with the same columns, kept by {@link #refresh} (the collector runs it every
 * {@link #REFRESH_PERIOD}): it recomputes the last {@link #MINUTE_LOOKBACK} / {@link #HOUR_LOOKBACK} of buckets
 * (truncated to the bucket) with the same {@code SELECT}, so the page's queries are the same on both; the day sums
 * are rolled up from the hours. Results arriving later than those look-backs are not folded in on plain PostgreSQL (TimescaleDB's invalidation log does fold them in).
 */
public final class CheckRollups {

    /** 1-minute buckets: the detail page's 1 h and 24 h ranges. */
    public static final String MINUTE = "monitor_checks_1m";
    /** 1-hour buckets: uptime windows, the overview's 24 h plot, the 7 d and 30 d ranges. */
    public static final String HOUR = "monitor_checks_1h";
    /** 1-day sums of checks and good checks (rolled up from the hours): the 7 d and 30 d uptime windows. */
    public static final String DAY = "monitor_checks_1d";
    /** How often the plain-PostgreSQL rollups are brought up to date. */
    public static final Duration REFRESH_PERIOD = Duration.ofSeconds(30);
    static final Duration MINUTE_LOOKBACK = Duration.ofMinutes(5);
    /** The current hour, and the previous one during the first five minutes of an hour (late checks). */
    static final Duration HOUR_LOOKBACK = Duration.ofMinutes(5);
    static final Duration MINUTE_KEEP = Duration.ofDays(2);
    static final Duration HOUR_KEEP = Duration.ofDays(400);
    static final Duration DAY_KEEP = Duration.ofDays(800);
    /** A backfill (first start, or after downtime) works in slices of this, so no statement runs for long. */
    private static final Duration SLICE = Duration.ofDays(1);
    /** date_bin origin that puts minute and hour buckets where TimescaleDB's time_bucket puts them. */
    private static final String ORIGIN = "TIMESTAMPTZ '2000-01-01 00:00:00+00'";

    private static final Logger LOG = LoggerFactory.getLogger(CheckRollups.class);

    private final DataSource dataSource;
    private final String eventsTable;
    private final Supplier<Instant> clock;

    /**
     * @param clock "now" (tests pass a fixed one)
     */
    public CheckRollups(DataSource dataSource, String eventsTable, Supplier<Instant> clock) {
        this.dataSource = dataSource;
        this.eventsTable = eventsTable;
        this.clock = clock;
    }

    /**
     * The schema steps (status page range 300-399) that create the rollups in the flavour the database allows:
     * 300 minutes and hours, 301 days; and 302, the {@link UptimeRuns} the page's uptime figures come from.
     */
    public static List<Migration> migrations(String eventsTable) {
        return List.of(new Migration(300, "monitor check rollups (1 min, 1 h)", c -> {
            if (isHypertable(c, eventsTable)) {
                createContinuousAggregates(c, eventsTable);
            } else {
                createTables(c);
            }
        }), new Migration(301, "monitor check rollup (1 d)", c -> {
            if (isHypertable(c, eventsTable)) {
                createDayAggregate(c);
            } else {
                createDayTable(c);
            }
        }), UptimeRuns.migration());
    }

    /**
     * The aggregate over the monitor result series: one row per bucket and monitor. {@code up} counts checks and
     * good checks; {@code duration_ms} gives the percentiles (exact per bucket: no sketch).
     */
    static String select(String eventsTable, String bucket) {
        return "SELECT " + bucket + " AS bucket, s.tags->>'monitor' AS monitor, "
            + "count(*) FILTER (WHERE s.field = 'up') AS checks, "
            + "count(*) FILTER (WHERE s.field = 'up' AND e.value > 0) AS up_checks, "
            + "percentile_cont(0.5) WITHIN GROUP (ORDER BY e.value) FILTER (WHERE s.field = 'duration_ms') AS p50_ms, "
            + "percentile_cont(0.95) WITHIN GROUP (ORDER BY e.value) FILTER (WHERE s.field = 'duration_ms') AS p95_ms, "
            + "max(e.value) FILTER (WHERE s.field = 'duration_ms') AS max_ms "
            + "FROM " + eventsTable + " e JOIN " + SeriesSchema.SOURCES + " s ON s.id = e.source_id "
            + "WHERE s.measurement = 'monitor' AND s.field IN ('up', 'duration_ms')";
    }

    private static boolean isHypertable(Connection c, String table) throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")) {
            if (!rs.next()) {
                return false;
            }
        }
        try (PreparedStatement ps = c.prepareStatement(
            "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = ?")) {
            ps.setString(1, table);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        }
    }

    private static void createContinuousAggregates(Connection c, String eventsTable) throws SQLException {
        try (Statement st = c.createStatement()) {
            for (String[] level : new String[][] {{MINUTE, "1 minute", "2 hours", "1 minute", "1 minute", "2 days"},
                {HOUR, "1 hour", "3 days", "1 hour", "10 minutes", "400 days"}}) {
                st.execute("CREATE MATERIALIZED VIEW IF NOT EXISTS " + level[0]
                    + " WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS "
                    + select(eventsTable, "time_bucket(INTERVAL '" + level[1] + "', e.time)")
                    + " GROUP BY 1, 2 WITH NO DATA");
                st.execute("SELECT add_continuous_aggregate_policy('" + level[0] + "', start_offset => INTERVAL '"
                    + level[2] + "', end_offset => INTERVAL '" + level[3] + "', schedule_interval => INTERVAL '"
                    + level[4] + "', if_not_exists => true)");
                st.execute("SELECT add_retention_policy('" + level[0] + "', drop_after => INTERVAL '" + level[5]
                    + "', if_not_exists => true)");
            }
        }
    }

    private static void createDayAggregate(Connection c) throws SQLException {
        try (Statement st = c.createStatement()) {
            // Days from hours (a hierarchical continuous aggregate): counts add up exactly, percentiles are not kept.
            st.execute("CREATE MATERIALIZED VIEW IF NOT EXISTS " + DAY
                + " WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS " + daySelect(
                    "time_bucket(INTERVAL '1 day', bucket)") + " GROUP BY 1, 2 WITH NO DATA");
            st.execute("SELECT add_continuous_aggregate_policy('" + DAY + "', start_offset => INTERVAL '3 days', "
                + "end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 hour', if_not_exists => true)");
            st.execute("SELECT add_retention_policy('" + DAY + "', drop_after => INTERVAL '800 days', "
                + "if_not_exists => true)");
        }
    }

    /** Days from the hour rollup. */
    static String daySelect(String bucket) {
        return "SELECT " + bucket + " AS bucket, monitor, sum(checks)::bigint AS checks, sum(up_checks)::bigint AS up_checks "
            + "FROM " + HOUR;
    }

    private static void createTables(Connection c) throws SQLException {
        try (Statement st = c.createStatement()) {
            for (String table : new String[] {MINUTE, HOUR}) {
                st.execute("CREATE TABLE IF NOT EXISTS " + table + " (bucket timestamptz NOT NULL, monitor text NOT NULL, "
                    + "checks bigint NOT NULL, up_checks bigint NOT NULL, p50_ms double precision, "
                    + "p95_ms double precision, max_ms double precision, PRIMARY KEY (monitor, bucket))");
                // The overview reads every monitor's recent buckets: by time first.
                st.execute("CREATE INDEX IF NOT EXISTS " + table + "_bucket_idx ON " + table + " (bucket)");
            }
        }
    }

    private static void createDayTable(Connection c) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute("CREATE TABLE IF NOT EXISTS " + DAY + " (bucket timestamptz NOT NULL, monitor text NOT NULL, "
                + "checks bigint NOT NULL, up_checks bigint NOT NULL, PRIMARY KEY (monitor, bucket))");
            st.execute("CREATE INDEX IF NOT EXISTS " + DAY + "_bucket_idx ON " + DAY + " (bucket)");
        }
    }

    /** Whether the rollups are plain tables this collector must keep (false: TimescaleDB keeps them). */
    public boolean collectorMaintained() throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT relkind::text FROM pg_class WHERE relname = ?")) {
            ps.setString(1, MINUTE);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() && rs.getString(1).equals("r");
            }
        }
    }

    /**
     * Brings both plain tables up to date: recomputes the buckets of the look-back window (and, after a pause or
     * on first start, everything since the newest stored bucket, within the retention), then drops buckets past
     * retention. Idempotent; two collectors doing it at once compute the same rows.
     */
    public void refresh() throws SQLException {
        final Instant now = clock.get();
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            refresh(c, MINUTE, ChronoUnit.MINUTES, "1 minute", now, MINUTE_LOOKBACK, MINUTE_KEEP);
            refresh(c, HOUR, ChronoUnit.HOURS, "1 hour", now, HOUR_LOOKBACK, HOUR_KEEP);
            refreshDays(c, now);
        }
    }

    /** Days from hours: today (and yesterday in the first minutes of a day), or everything after a pause. */
    private static void refreshDays(Connection c, Instant now) throws SQLException {
        Instant from = now.minus(HOUR_LOOKBACK).truncatedTo(ChronoUnit.DAYS);
        final Instant newest = newestBucket(c, DAY);
        if (newest == null || newest.isBefore(from)) {
            from = newest != null ? newest : now.minus(DAY_KEEP).truncatedTo(ChronoUnit.DAYS);
        }
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + DAY + " (bucket, monitor, checks, up_checks) "
            + daySelect("date_bin(INTERVAL '1 day', bucket, " + ORIGIN + ")") + " WHERE bucket >= ? GROUP BY 1, 2 "
            + "ON CONFLICT (monitor, bucket) DO UPDATE SET checks = EXCLUDED.checks, up_checks = EXCLUDED.up_checks")) {
            ps.setTimestamp(1, Timestamp.from(from));
            ps.executeUpdate();
        }
        try (PreparedStatement ps = c.prepareStatement("DELETE FROM " + DAY + " WHERE bucket < ?")) {
            ps.setTimestamp(1, Timestamp.from(now.minus(DAY_KEEP).truncatedTo(ChronoUnit.DAYS)));
            ps.executeUpdate();
        }
    }

    private void refresh(Connection c, String table, ChronoUnit unit, String width, Instant now, Duration lookback,
                         Duration keep) throws SQLException {
        Instant from = now.minus(lookback).truncatedTo(unit);
        final Instant newest = newestBucket(c, table);
        final Instant oldestKept = now.minus(keep).truncatedTo(unit);
        if (newest == null || newest.isBefore(from)) {
            final Instant firstRaw = newest != null ? newest : oldestMonitorEvent(c, oldestKept);
            if (firstRaw != null && firstRaw.isBefore(from)) {
                from = (firstRaw.isBefore(oldestKept) ? oldestKept : firstRaw).truncatedTo(unit);
            }
        }
        final Instant to = now.plus(1, unit).truncatedTo(unit);
        final String sql = "INSERT INTO " + table + " (bucket, monitor, checks, up_checks, p50_ms, p95_ms, max_ms) "
            + select(eventsTable, "date_bin(INTERVAL '" + width + "', e.time, " + ORIGIN + ")")
            + " AND e.time >= ? AND e.time < ? GROUP BY 1, 2 "
            + "ON CONFLICT (monitor, bucket) DO UPDATE SET checks = EXCLUDED.checks, up_checks = EXCLUDED.up_checks, "
            + "p50_ms = EXCLUDED.p50_ms, p95_ms = EXCLUDED.p95_ms, max_ms = EXCLUDED.max_ms";
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (Instant a = from; a.isBefore(to); a = a.plus(SLICE)) {
                final Instant b = a.plus(SLICE).isBefore(to) ? a.plus(SLICE) : to;
                ps.setTimestamp(1, Timestamp.from(a));
                ps.setTimestamp(2, Timestamp.from(b));
                ps.executeUpdate();
            }
        }
        try (PreparedStatement ps = c.prepareStatement("DELETE FROM " + table + " WHERE bucket < ?")) {
            ps.setTimestamp(1, Timestamp.from(oldestKept));
            final int dropped = ps.executeUpdate();
            if (dropped > 0) {
                LOG.debug("dropped {} {} rows past retention", dropped, table);
            }
        }
    }

    private static Instant newestBucket(Connection c, String table) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT max(bucket) FROM " + table)) {
            rs.next();
            final Timestamp t = rs.getTimestamp(1);
            return t == null ? null : t.toInstant();
        }
    }

    private Instant oldestMonitorEvent(Connection c, Instant notBefore) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT min(e.time) FROM " + eventsTable + " e JOIN "
            + SeriesSchema.SOURCES + " s ON s.id = e.source_id WHERE s.measurement = 'monitor' AND s.field = 'up'"
            + " AND e.time >= ?")) {
            ps.setTimestamp(1, Timestamp.from(notBefore));
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                final Timestamp t = rs.getTimestamp(1);
                return t == null ? null : t.toInstant();
            }
        }
    }
}
