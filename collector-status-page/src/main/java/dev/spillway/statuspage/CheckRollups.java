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
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Per-monitor check rollups in 1-minute, 1-hour and 1-day buckets ({@code monitor_checks_1m}, {@code _1h},
 * {@code _1d}): checks, good checks, and p50/p95/max of {@code duration_ms}, computed from the monitor result series
 * in the events table. The status page reads only these for its response-time plots, so its cost does not grow
 * with the raw data.
 *
 * <p>With TimescaleDB (the events table is a hypertable) they are continuous aggregates with refresh and retention
 * policies, real-time. On plain PostgreSQL they are tables with the same columns kept incrementally by
 * {@link #refresh}: the batch ledger ({@code <events>_batches}) holds each committed part's event-time range, so a
 * refresh knows which minutes got new rows since the last one, however late (a batch replayed from the spool after
 * an outage included), and recomputes just those minutes from raw rows (rows whose values are unchanged are not
 * written again); a closed hour is recomputed from its
 * minutes (exact percentiles: each minute row keeps its sorted {@code durations}) when one of its minutes changed;
 * a day from its hours. Work per refresh is bounded ({@link #MINUTES_PER_STEP}, {@link #HOURS_PER_STEP},
 * {@link #DAYS_PER_STEP} per step, steps until {@link #BUDGET}), so it costs the same at any history length; what
 * is left (a catch-up) stays in {@code monitor_checks_dirty} for the next refresh. The open hour has no hour row
 * yet (its minutes do): {@link StatusQueries} adds it from the minutes for the page.
 */
public final class CheckRollups {

    /** 1-minute buckets: the detail page's 1 h and 24 h ranges, the overview's 24 h sparkline. */
    public static final String MINUTE = "monitor_checks_1m";
    /** 1-hour buckets: the 7 d and 30 d ranges. */
    public static final String HOUR = "monitor_checks_1h";
    /** 1-day sums of checks and good checks (rolled up from the hours). */
    public static final String DAY = "monitor_checks_1d";
    /** Buckets (level m, h, d) whose rows must be recomputed; plain PostgreSQL only. */
    public static final String DIRTY = "monitor_checks_dirty";
    /** How far the ledger has been read (its {@code committed_at}); plain PostgreSQL only. */
    public static final String CURSOR = "monitor_checks_cursor";
    /** How often the plain-PostgreSQL rollups are brought up to date. */
    public static final Duration REFRESH_PERIOD = Duration.ofSeconds(30);
    static final Duration MINUTE_KEEP = Duration.ofDays(2);
    static final Duration HOUR_KEEP = Duration.ofDays(400);
    static final Duration DAY_KEEP = Duration.ofDays(800);
    /** At most this many minutes recomputed from raw rows per step (newest first). */
    static final int MINUTES_PER_STEP = 10;
    /**
     * What one minute step should take: the minutes per step follow from the last steps' cost per minute (1 to
     * {@link #MINUTES_PER_STEP}), so a catch-up of full minutes at 10,000 monitors takes steps of a few minutes
     * rather than one of 10 that outlasts the refresh's budget many times over.
     */
    static final Duration MINUTE_STEP_TARGET = Duration.ofMillis(300);
    /** Hours recomputed per step. */
    static final int HOURS_PER_STEP = 2;
    /** Days recomputed per step. */
    static final int DAYS_PER_STEP = 2;
    /** A refresh takes further steps while dirty buckets remain, until this much time has passed. */
    static final Duration BUDGET = Duration.ofMillis(700);
    /** Ledger rows are read from this long before the cursor: a transaction's row carries its start time. */
    static final Duration LEDGER_MARGIN = Duration.ofMinutes(5);
    /** Beyond this since the last refresh the ledger may have been pruned: the event times since are redone. */
    static final Duration LEDGER_SAFE = Duration.ofMinutes(30);
    /** Without a ledger table: the look-back each refresh redoes. */
    static final Duration NO_LEDGER_LOOKBACK = Duration.ofMinutes(5);
    /** date_bin origin that puts minute and hour buckets where TimescaleDB's time_bucket puts them. */
    private static final String ORIGIN = "TIMESTAMPTZ '2000-01-01 00:00:00+00'";
    private static final long LOCK = 0x5350_5752_4f4cL; // pg advisory lock key ("SPWROL")

    private static final Logger LOG = LoggerFactory.getLogger(CheckRollups.class);

    private final DataSource dataSource;
    private final String eventsTable;
    private final Supplier<Instant> clock;
    /** Ledger parts already marked ("run/batch" to committed_at millis), within twice the margin. */
    private final Map<String, Long> seen = new HashMap<>();
    private boolean noLedgerLogged;
    /** The oldest event time of a late batch seen since the last {@link #takeOldestLate()}, or null. */
    private Instant oldestLate;

    /**
     * The oldest event time of the batches found since the last call that came later than {@link UptimeRuns#LATE}
     * (the page's uptime runs redo from there), or null; and forgets it.
     */
    synchronized Instant takeOldestLate() {
        final Instant t = oldestLate;
        oldestLate = null;
        return t;
    }

    /** Whether the events table is the blocks layout's view (read from its blocks and rows tables). */
    private boolean blocks;
    private boolean layoutKnown;

    /**
     * @param clock "now" (tests pass a fixed one)
     */
    public CheckRollups(DataSource dataSource, String eventsTable, Supplier<Instant> clock) {
        this(dataSource, eventsTable, clock, CHUNK);
    }

    /** @param chunk monitors per statement of an hour's or a day's recompute (tests use 1) */
    CheckRollups(DataSource dataSource, String eventsTable, Supplier<Instant> clock, int chunk) {
        this.dataSource = dataSource;
        this.eventsTable = eventsTable;
        this.clock = clock;
        this.chunk = chunk;
    }

    /**
     * The schema steps (status page range 300-399) that create the rollups in the flavour the database allows:
     * 300 minutes and hours, 301 days; 302, the {@link UptimeRuns} the page's uptime figures come from; 303, the
     * incremental tables' bookkeeping; 304, an index on the batch ledger's {@code committed_at}; 305, an index on
     * the monitor series' monitor name.
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
        }), UptimeRuns.migration(), new Migration(303, "incremental monitor check rollups", c -> {
            if (!isHypertable(c, eventsTable)) {
                try (Statement st = c.createStatement()) {
                    st.execute("ALTER TABLE " + MINUTE + " ADD COLUMN IF NOT EXISTS durations double precision[]");
                    st.execute("CREATE TABLE IF NOT EXISTS " + DIRTY + " (level text NOT NULL, bucket timestamptz "
                        + "NOT NULL, PRIMARY KEY (level, bucket))");
                    st.execute("CREATE TABLE IF NOT EXISTS " + CURSOR + " (id integer PRIMARY KEY CHECK (id = 1), "
                        + "ledger_seen timestamptz NOT NULL)");
                }
            }
        }), new Migration(304, "index on the batch ledger's committed_at", c -> {
            // Each refresh reads the ledger rows committed since its cursor: by this index, not the whole ledger.
            // The sink creates the ledger before these steps run; a sink that keeps none has no table to index.
            try (Statement st = c.createStatement()) {
                st.execute("DO $$ BEGIN IF to_regclass('" + eventsTable + "_batches') IS NOT NULL THEN "
                    + "CREATE INDEX IF NOT EXISTS " + eventsTable + "_batches_committed_idx ON " + eventsTable
                    + "_batches (committed_at); END IF; END $$");
            }
        }), new Migration(305, "index on the monitor series' monitor name", c -> {
            // The page's strips and newest checks find a listed monitor's series by name: without it, every read
            // scanned all monitor series (7 per monitor: 700,000 at 100,000 monitors) to keep the page's 700.
            try (Statement st = c.createStatement()) {
                st.execute("DO $$ BEGIN IF to_regclass('" + SeriesSchema.SOURCES + "') IS NOT NULL THEN "
                    // Not partial: PostgreSQL keeps statistics of an expression index only when it has no WHERE,
                    // and without them it guessed half the table for 100 names and scanned it (EXPLAIN, 10,000
                    // monitors: 38,739 rows estimated, 700 found).
                    + "CREATE INDEX IF NOT EXISTS " + SeriesSchema.SOURCES + "_monitor_name_idx ON "
                    + SeriesSchema.SOURCES + " ((tags ->> 'monitor')); "
                    + "ANALYZE " + SeriesSchema.SOURCES + "; END IF; END $$");
            }
        }));
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
     * One bounded step of keeping the plain tables: finds what changed since the last step (the batch ledger's
     * new rows, each with its event-time range), marks those minutes dirty, then recomputes dirty minutes from the
     * raw rows (newest first), dirty closed hours from the minutes (exact percentiles over the minutes' durations;
     * hours older than the minutes' retention from the raw rows), dirty days from the hours, for at most
     * {@link #BUDGET} of work, and drops buckets past retention. Does nothing while another collector does it
     * (an advisory lock). Idempotent.
     *
     * @return true when dirty buckets remain (a catch-up): call again soon
     */
    public boolean refresh() throws SQLException {
        final Instant now = clock.get();
        final long started = System.nanoTime();
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            if (!lock(c, "pg_try_advisory_lock")) {
                last = new Work(0, 0, 0, (System.nanoTime() - started) / 1_000_000, false, false);
                return false;
            }
            if (!layoutKnown) {
                try (PreparedStatement ps = c.prepareStatement("SELECT relkind::text = 'v' AND to_regclass(?) IS NOT "
                    + "NULL FROM pg_class WHERE oid = to_regclass(?)")) {
                    ps.setString(1, eventsTable + "_blocks");
                    ps.setString(2, eventsTable);
                    try (ResultSet rs = ps.executeQuery()) {
                        blocks = rs.next() && rs.getBoolean(1);
                    }
                }
                layoutKnown = true;
            }
            try {
                findChanges(c, now);
                // Each step is one bounded statement or a few; the budget is checked before each, so a refresh
                // ends soon after it (a step skipped for the budget counts as work left).
                // The first round takes one step of each level whatever the time: on a slow machine where the
                // minutes alone outlast the budget, closed hours and days still make progress.
                final long deadline = started + BUDGET.toNanos();
                boolean more;
                boolean first = true;
                do {
                    more = minutes(c, now);
                    more = (first || System.nanoTime() < deadline ? hours(c, now) : true) | more;
                    more = (first || System.nanoTime() < deadline ? days(c, now) : true) | more;
                    first = false;
                } while (more && System.nanoTime() < deadline);
                dropExpired(c, now);
                last = new Work(minutesDone, hoursDone, daysDone, (System.nanoTime() - started) / 1_000_000, more,
                    true);
                minutesDone = hoursDone = daysDone = 0;
                return more;
            } finally {
                lock(c, "pg_advisory_unlock");
            }
        }
    }

    /** Brings the tables fully up to date (tests, benchmarks, and a first start that must not wait). */
    public void refreshAll() throws SQLException {
        while (refresh()) {
            // each call is bounded; loop until nothing is dirty
        }
    }

    /**
     * What the last {@link #refresh()} did: buckets recomputed per level, its duration, whether work remains, and
     * whether it ran at all (false: another collector held the lock).
     */
    public record Work(int minutes, int hours, int days, long millis, boolean more, boolean ran) {
    }

    private volatile Work last = new Work(0, 0, 0, 0, false, false);
    /** Whether the next minute step takes the oldest dirty minutes (it alternates while there is a backlog). */
    private boolean oldestNext;
    /** The last minute step's milliseconds per minute bucket (its size for the next step), or -1 before the first. */
    private double minuteMs = -1;
    private int minutesDone;
    private int hoursDone;
    private int daysDone;

    /** The last refresh's work. */
    public Work lastWork() {
        return last;
    }

    private static boolean lock(Connection c, String fn) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT " + fn + "(?)")) {
            ps.setLong(1, LOCK);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getBoolean(1);
            }
        }
    }

    /**
     * Marks dirty what arrived since the last step. First start (or after an upgrade): every raw monitor result
     * within the hours' retention. Then: the event-time range of each ledger row committed since the cursor (less
     * {@link #LEDGER_MARGIN}, as a row's {@code committed_at} is its transaction's start; parts seen already are
     * skipped). Without a ledger table (a sink that keeps none): the last {@link #NO_LEDGER_LOOKBACK}.
     */
    private void findChanges(Connection c, Instant now) throws SQLException {
        final Timestamp dbNow;
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT now()")) {
            rs.next();
            dbNow = rs.getTimestamp(1);
        }
        Timestamp cursor = null;
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT ledger_seen FROM " + CURSOR + " WHERE id = 1")) {
            if (rs.next()) {
                cursor = rs.getTimestamp(1);
            }
        }
        if (cursor == null) {
            final Instant oldest = oldestMonitorEvent(c, now.minus(HOUR_KEEP).truncatedTo(ChronoUnit.HOURS));
            if (oldest != null) {
                markDirty(c, oldest, now, now);
            }
            saveCursor(c, dbNow);
            if (hasLedger(c)) {
                // The batches committed lately are in what was just marked: not again at the next refresh.
                readLedger(c, new Timestamp(dbNow.getTime() - LEDGER_MARGIN.toMillis()), new ArrayList<>());
            }
            return;
        }
        if (!hasLedger(c)) {
            markDirty(c, now.minus(NO_LEDGER_LOOKBACK), now, now);
            saveCursor(c, dbNow);
            return;
        }
        final long behind = dbNow.getTime() - cursor.getTime();
        Timestamp floor = cursor;
        if (behind > LEDGER_SAFE.toMillis()) {
            // Everything since the cursor is marked below, so the cursor may move to now even when no batch was
            // committed since: otherwise an idle database (no ledger rows) kept the cursor where it was and every
            // refresh marked the whole, growing range again (seen: 400 refreshes in 7 minutes redoing 70 minutes).
            floor = dbNow;
            // The refresh did not run for a while: the ledger may have been pruned past the cursor since.
            LOG.info("status page rollups: last refresh {} s ago; redoing the event times since then", behind / 1000);
            markDirty(c, now.minusMillis(behind).minus(LEDGER_MARGIN), now, now);
            oldestLate = now.minusMillis(behind).minus(LEDGER_MARGIN);
        }
        final List<Instant[]> ranges = new ArrayList<>();
        Timestamp newest = readLedger(c, new Timestamp(cursor.getTime() - LEDGER_MARGIN.toMillis()), ranges);
        newest = newest == null || newest.before(floor) ? floor : newest;
        for (Instant[] r : merge(ranges)) {
            markDirty(c, r[0], r[1], now);
            if (r[0].isBefore(now.minus(UptimeRuns.LATE)) && (oldestLate == null || r[0].isBefore(oldestLate))) {
                oldestLate = r[0];
            }
        }
        final long forget = newest.getTime() - 2 * LEDGER_MARGIN.toMillis();
        seen.values().removeIf(t -> t < forget);
        saveCursor(c, newest);
    }

    /**
     * The ledger rows committed since {@code from} that were not seen before: their event-time ranges added to
     * {@code ranges}, their keys remembered. Returns the newest {@code committed_at} among them, or null.
     */
    private Timestamp readLedger(Connection c, Timestamp from, List<Instant[]> ranges) throws SQLException {
        Timestamp newest = null;
        try (PreparedStatement ps = c.prepareStatement("SELECT run_id, batch_id, committed_at, time_min, time_max FROM "
            + ledgerTable() + " WHERE committed_at >= ? AND time_min IS NOT NULL")) {
            ps.setTimestamp(1, from);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    final String key = rs.getString(1) + '/' + rs.getLong(2);
                    final Timestamp committed = rs.getTimestamp(3);
                    if (seen.putIfAbsent(key, committed.getTime()) != null) {
                        continue;
                    }
                    if (newest == null || committed.after(newest)) {
                        newest = committed;
                    }
                    ranges.add(new Instant[] {rs.getTimestamp(4).toInstant(), rs.getTimestamp(5).toInstant()});
                }
            }
        }
        return newest;
    }

    /** Ranges joined where they overlap or touch within a minute (batches of one pipeline mostly do). */
    static List<Instant[]> merge(List<Instant[]> ranges) {
        ranges.sort((x, y) -> x[0].compareTo(y[0]));
        final List<Instant[]> out = new ArrayList<>();
        for (Instant[] r : ranges) {
            final Instant[] prev = out.isEmpty() ? null : out.get(out.size() - 1);
            if (prev != null && !r[0].isAfter(prev[1].plus(1, ChronoUnit.MINUTES))) {
                if (r[1].isAfter(prev[1])) {
                    prev[1] = r[1];
                }
            } else {
                out.add(new Instant[] {r[0], r[1]});
            }
        }
        return out;
    }

    private static void saveCursor(Connection c, Timestamp t) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + CURSOR + " (id, ledger_seen) VALUES (1, ?) "
            + "ON CONFLICT (id) DO UPDATE SET ledger_seen = EXCLUDED.ledger_seen")) {
            ps.setTimestamp(1, t);
            ps.executeUpdate();
        }
    }

    private boolean hasLedger(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT to_regclass(?) IS NOT NULL")) {
            ps.setString(1, ledgerTable());
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                if (!rs.getBoolean(1)) {
                    if (!noLedgerLogged) {
                        noLedgerLogged = true;
                        LOG.warn("status page rollups: no batch ledger {}; late results older than {} are not "
                            + "folded in", ledgerTable(), NO_LEDGER_LOOKBACK);
                    }
                    return false;
                }
                return true;
            }
        }
    }

    private String ledgerTable() {
        return eventsTable + "_batches";
    }

    /**
     * Marks the buckets of event times {@code [from, to]} dirty: minutes within the minutes' retention, hours
     * (recomputed from raw rows) before it; nothing past the hours' retention or more than 5 minutes ahead.
     */
    private static void markDirty(Connection c, Instant from, Instant to, Instant now) throws SQLException {
        final Instant hourHorizon = now.minus(HOUR_KEEP).truncatedTo(ChronoUnit.HOURS);
        final Instant minuteHorizon = minuteHorizon(now);
        final Instant ahead = now.plus(5, ChronoUnit.MINUTES);
        final Instant a = from.isBefore(hourHorizon) ? hourHorizon : from;
        final Instant b = to.isAfter(ahead) ? ahead : to;
        if (b.isBefore(a)) {
            return;
        }
        if (!b.isBefore(minuteHorizon)) {
            insertDirty(c, "m", "1 minute", a.isBefore(minuteHorizon) ? minuteHorizon : a, b);
        }
        if (a.isBefore(minuteHorizon)) {
            final Instant hb = b.isBefore(minuteHorizon) ? b : minuteHorizon.minusNanos(1);
            insertDirty(c, "h", "1 hour", a, hb);
        }
    }

    private static void insertDirty(Connection c, String level, String width, Instant a, Instant b)
        throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + DIRTY + " (level, bucket) SELECT ?, "
            + "generate_series(date_bin(INTERVAL '" + width + "', ?::timestamptz, " + ORIGIN + "), ?::timestamptz, "
            + "INTERVAL '" + width + "') ON CONFLICT DO NOTHING")) {
            ps.setString(1, level);
            ps.setTimestamp(2, Timestamp.from(a));
            ps.setTimestamp(3, Timestamp.from(b));
            ps.executeUpdate();
        }
    }

    private static Instant minuteHorizon(Instant now) {
        return now.minus(MINUTE_KEEP).truncatedTo(ChronoUnit.HOURS).plus(1, ChronoUnit.HOURS);
    }

    /**
     * Up to {@link #MINUTES_PER_STEP} dirty minutes (newest first, or oldest: see below), recomputed from raw rows;
     * their hours marked.
     */
    private boolean minutes(Connection c, Instant now) throws SQLException {
        final int width = minuteMs <= 0 ? 2
            : (int) Math.max(1, Math.min(MINUTES_PER_STEP, MINUTE_STEP_TARGET.toMillis() / minuteMs));
        // Newest first, but every other step with a backlog takes the oldest: the newest minute is marked again at
        // every refresh while checks arrive, and when one step is all a refresh has time for, newest-first alone
        // would never reach the older ones.
        final List<Instant> dirty = dirty(c, "SELECT bucket FROM " + DIRTY + " WHERE level = 'm' ORDER BY bucket "
            + (oldestNext ? "" : "DESC ") + "LIMIT " + (width + 1), null);
        if (dirty.isEmpty()) {
            return false;
        }
        final boolean more = dirty.size() > width;
        oldestNext = more && !oldestNext;
        final List<Instant> todo = new ArrayList<>(dirty.subList(0, Math.min(dirty.size(), width)));
        todo.sort(java.util.Comparator.reverseOrder());
        // Rows whose values did not change are not written again (a redone minute mostly holds the same checks).
        final String upsert = "INSERT INTO " + MINUTE + " AS t (bucket, monitor, checks, up_checks, p50_ms, p95_ms, "
            + "max_ms, durations) " + rawSelect("date_bin(INTERVAL '1 minute', e.time, " + ORIGIN + ")", true)
            + " GROUP BY 1, 2 ON CONFLICT (monitor, bucket) DO UPDATE SET checks = EXCLUDED.checks, "
            + "up_checks = EXCLUDED.up_checks, p50_ms = EXCLUDED.p50_ms, p95_ms = EXCLUDED.p95_ms, "
            + "max_ms = EXCLUDED.max_ms, durations = EXCLUDED.durations WHERE (t.checks, t.up_checks, t.p50_ms, "
            + "t.p95_ms, t.max_ms, t.durations) IS DISTINCT FROM (EXCLUDED.checks, EXCLUDED.up_checks, "
            + "EXCLUDED.p50_ms, EXCLUDED.p95_ms, EXCLUDED.max_ms, EXCLUDED.durations)";
        // Contiguous runs (newest first): one statement each.
        int i = 0;
        while (i < todo.size()) {
            int j = i;
            while (j + 1 < todo.size() && todo.get(j + 1).equals(todo.get(j).minus(1, ChronoUnit.MINUTES))) {
                j++;
            }
            final Instant a = todo.get(j);
            final Instant b = todo.get(i).plus(1, ChronoUnit.MINUTES);
            final long t0 = System.nanoTime();
            c.setAutoCommit(false);
            try {
                try (PreparedStatement ps = c.prepareStatement(upsert)) {
                    bindRange(ps, a, b);
                    ps.executeUpdate();
                }
                insertDirty(c, "h", "1 hour", a, b.minusNanos(1));
                try (PreparedStatement ps = c.prepareStatement("DELETE FROM " + DIRTY + " WHERE level = 'm' AND "
                    + "bucket >= ? AND bucket < ?")) {
                    ps.setTimestamp(1, Timestamp.from(a));
                    ps.setTimestamp(2, Timestamp.from(b));
                    ps.executeUpdate();
                }
                c.commit();
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            } finally {
                c.setAutoCommit(true);
            }
            minutesDone += j - i + 1;
            minuteMs = (System.nanoTime() - t0) / 1e6 / (j - i + 1);
            i = j + 1;
        }
        return more;
    }

    /**
     * Up to {@link #HOURS_PER_STEP} dirty hours that are closed and whose minutes are all done, newest first: from
     * the minute rows (exact percentiles over their durations), {@link #CHUNK} monitors per step (so one step stays
     * short at any number of monitors), or from raw rows before the minutes' retention.
     */
    private boolean hours(Connection c, Instant now) throws SQLException {
        final List<Instant> dirty = dirty(c, "SELECT h.bucket FROM " + DIRTY + " h WHERE h.level = 'h' AND "
            + "h.bucket + INTERVAL '1 hour' <= ? AND NOT EXISTS (SELECT 1 FROM " + DIRTY + " m WHERE m.level = 'm' "
            + "AND m.bucket >= h.bucket AND m.bucket < h.bucket + INTERVAL '1 hour') ORDER BY h.bucket DESC LIMIT "
            + (HOURS_PER_STEP + 1), now);
        if (dirty.isEmpty()) {
            return false;
        }
        final Instant minuteHorizon = minuteHorizon(now);
        boolean more = dirty.size() > HOURS_PER_STEP;
        for (Instant h : dirty.subList(0, Math.min(dirty.size(), HOURS_PER_STEP))) {
            final Instant end = h.plus(1, ChronoUnit.HOURS);
            final boolean fromMinutes = !h.isBefore(minuteHorizon);
            final String after = hourProgress.getOrDefault(h, "");
            final String[] names = fromMinutes ? nextChunk(c, after) : new String[0];
            final boolean lastChunk = names.length <= chunk;
            final String[] chunkNames = lastChunk ? names : java.util.Arrays.copyOf(names, chunk);
            c.setAutoCommit(false);
            try {
                if (fromMinutes) {
                    // One statement: the chunk's hour rows upserted (unchanged ones not written again), and rows of
                    // the chunk's monitors that no longer have minutes in the hour deleted.
                    try (PreparedStatement ps = c.prepareStatement("WITH n AS (SELECT ?::timestamptz AS bucket, "
                        + "m.monitor, sum(m.checks) FILTER (WHERE u.n IS NULL OR u.n = 1) AS checks, "
                        + "sum(m.up_checks) FILTER (WHERE u.n IS NULL OR u.n = 1) AS up_checks, "
                        + "percentile_cont(0.5) WITHIN GROUP (ORDER BY u.d) AS p50_ms, "
                        + "percentile_cont(0.95) WITHIN GROUP (ORDER BY u.d) AS p95_ms, max(m.max_ms) AS max_ms FROM "
                        + MINUTE + " m LEFT JOIN LATERAL unnest(m.durations) WITH ORDINALITY AS u(d, n) ON true "
                        + "WHERE m.monitor = ANY (?) AND m.bucket >= ? AND m.bucket < ? GROUP BY m.monitor), "
                        + "w AS (" + upsertSql(HOUR, true) + ") DELETE FROM " + HOUR + " o WHERE o.bucket = ? AND "
                        + "o.monitor = ANY (?) AND NOT EXISTS (SELECT 1 FROM n WHERE n.monitor = o.monitor)")) {
                        final java.sql.Array array = c.createArrayOf("text", chunkNames);
                        ps.setTimestamp(1, Timestamp.from(h));
                        ps.setArray(2, array);
                        ps.setTimestamp(3, Timestamp.from(h));
                        ps.setTimestamp(4, Timestamp.from(end));
                        ps.setTimestamp(5, Timestamp.from(h));
                        ps.setArray(6, array);
                        ps.executeUpdate();
                    }
                } else {
                    try (PreparedStatement ps = c.prepareStatement("DELETE FROM " + HOUR + " WHERE bucket = ?")) {
                        ps.setTimestamp(1, Timestamp.from(h));
                        ps.executeUpdate();
                    }
                    try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + HOUR + " (bucket, monitor, checks, "
                        + "up_checks, p50_ms, p95_ms, max_ms) " + rawSelect("?::timestamptz", false) + " GROUP BY 1, 2")) {
                        ps.setTimestamp(1, Timestamp.from(h));
                        bindRange(ps, 2, h, end);
                        ps.executeUpdate();
                    }
                }
                if (lastChunk) {
                    insertDirty(c, "d", "1 day", h, h);
                    deleteDirty(c, "h", h);
                }
                c.commit();
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            } finally {
                c.setAutoCommit(true);
            }
            if (lastChunk) {
                hourProgress.remove(h);
                hoursDone++;
            } else {
                hourProgress.put(h, chunkNames[chunkNames.length - 1]);
                more = true;
            }
        }
        return more;
    }

    /**
     * Upserts the rows of CTE {@code n} into an hour or day table; a row whose values are unchanged is not written
     * again (no new row version, no index entries), so redoing a bucket costs writes only where it changed.
     */
    private static String upsertSql(String table, boolean percentiles) {
        final String[] cols = percentiles ? new String[] {"checks", "up_checks", "p50_ms", "p95_ms", "max_ms"}
            : new String[] {"checks", "up_checks"};
        final StringBuilder set = new StringBuilder();
        final StringBuilder mine = new StringBuilder();
        final StringBuilder theirs = new StringBuilder();
        for (String col : cols) {
            set.append(set.length() == 0 ? "" : ", ").append(col).append(" = EXCLUDED.").append(col);
            mine.append(mine.length() == 0 ? "" : ", ").append("t.").append(col);
            theirs.append(theirs.length() == 0 ? "" : ", ").append("EXCLUDED.").append(col);
        }
        return "INSERT INTO " + table + " AS t (bucket, monitor, " + String.join(", ", cols) + ") SELECT bucket, monitor, "
            + String.join(", ", cols) + " FROM n ON CONFLICT (monitor, bucket) DO UPDATE SET " + set + " WHERE ("
            + mine + ") IS DISTINCT FROM (" + theirs + ")";
    }

    /**
     * Monitors per statement of an hour's or a day's recompute: about 0.1 s per statement on a loaded 2-core
     * machine (an hour of 500 monitors is 30,000 minute rows), so a refresh that meets a closed hour stays short.
     */
    static final int CHUNK = 500;
    private final int chunk;
    /** The last monitor name of an hour's chunks done so far (a restart starts the hour again: idempotent). */
    private final Map<Instant, String> hourProgress = new HashMap<>();
    private final Map<Instant, String> dayProgress = new HashMap<>();

    /**
     * The next chunk of monitors by name after {@code after}, plus one more name when there are more (so the caller
     * knows whether this chunk is the last): an hour or a day is recomputed chunk by chunk through the rollups'
     * {@code (monitor, bucket)} keys, each chunk read by the name index (its cost does not grow with the number of
     * monitors). Rows of monitors deleted since are left as they are.
     */
    private String[] nextChunk(Connection c, String after) throws SQLException {
        final List<String> names = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT name FROM "
            + dev.spillway.uptime.schema.UptimeSchema.MONITORS + " WHERE name > ? ORDER BY name LIMIT ?")) {
            ps.setString(1, after);
            ps.setInt(2, chunk + 1);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    names.add(rs.getString(1));
                }
            }
        }
        return names.toArray(new String[0]);
    }

    /** Up to {@link #DAYS_PER_STEP} dirty days whose closed hours are all done: sums of the hours, by chunks. */
    private boolean days(Connection c, Instant now) throws SQLException {
        final List<Instant> dirty = dirty(c, "SELECT d.bucket FROM " + DIRTY + " d WHERE d.level = 'd' AND NOT EXISTS "
            + "(SELECT 1 FROM " + DIRTY + " h WHERE h.level IN ('h', 'm') AND h.bucket >= d.bucket AND h.bucket < "
            + "least(d.bucket + INTERVAL '1 day', date_bin(INTERVAL '1 hour', ?::timestamptz, " + ORIGIN + "))) "
            + "ORDER BY d.bucket DESC LIMIT " + (DAYS_PER_STEP + 1), now);
        if (dirty.isEmpty()) {
            return false;
        }
        boolean more = dirty.size() > DAYS_PER_STEP;
        for (Instant d : dirty.subList(0, Math.min(dirty.size(), DAYS_PER_STEP))) {
            final String[] names = nextChunk(c, dayProgress.getOrDefault(d, ""));
            final boolean lastChunk = names.length <= chunk;
            final String[] chunkNames = lastChunk ? names : java.util.Arrays.copyOf(names, chunk);
            c.setAutoCommit(false);
            try {
                final java.sql.Array array = c.createArrayOf("text", chunkNames);
                try (PreparedStatement ps = c.prepareStatement("WITH n AS (" + daySelect("?::timestamptz")
                    + " WHERE monitor = ANY (?) AND bucket >= ? AND bucket < ? GROUP BY 1, 2), w AS ("
                    + upsertSql(DAY, false) + ") DELETE FROM " + DAY + " o WHERE o.bucket = ? AND o.monitor = ANY (?) "
                    + "AND NOT EXISTS (SELECT 1 FROM n WHERE n.monitor = o.monitor)")) {
                    ps.setTimestamp(1, Timestamp.from(d));
                    ps.setArray(2, array);
                    ps.setTimestamp(3, Timestamp.from(d));
                    ps.setTimestamp(4, Timestamp.from(d.plus(1, ChronoUnit.DAYS)));
                    ps.setTimestamp(5, Timestamp.from(d));
                    ps.setArray(6, array);
                    ps.executeUpdate();
                }
                if (lastChunk) {
                    deleteDirty(c, "d", d);
                }
                c.commit();
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            } finally {
                c.setAutoCommit(true);
            }
            if (lastChunk) {
                dayProgress.remove(d);
                daysDone++;
            } else {
                dayProgress.put(d, chunkNames[chunkNames.length - 1]);
                more = true;
            }
        }
        return more;
    }

    private static List<Instant> dirty(Connection c, String sql, Instant now) throws SQLException {
        final List<Instant> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            if (now != null) {
                ps.setTimestamp(1, Timestamp.from(now));
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(rs.getTimestamp(1).toInstant());
                }
            }
        }
        return out;
    }

    private static void deleteDirty(Connection c, String level, Instant bucket) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("DELETE FROM " + DIRTY + " WHERE level = ? AND bucket = ?")) {
            ps.setString(1, level);
            ps.setTimestamp(2, Timestamp.from(bucket));
            ps.executeUpdate();
        }
    }

    private static void dropExpired(Connection c, Instant now) throws SQLException {
        for (Object[] t : new Object[][] {{MINUTE, now.minus(MINUTE_KEEP).truncatedTo(ChronoUnit.MINUTES)},
            {HOUR, now.minus(HOUR_KEEP).truncatedTo(ChronoUnit.HOURS)},
            {DAY, now.minus(DAY_KEEP).truncatedTo(ChronoUnit.DAYS)}}) {
            try (PreparedStatement ps = c.prepareStatement("DELETE FROM " + t[0] + " WHERE bucket < ?")) {
                ps.setTimestamp(1, Timestamp.from((Instant) t[1]));
                final int dropped = ps.executeUpdate();
                if (dropped > 0) {
                    LOG.debug("dropped {} {} rows past retention", dropped, t[0]);
                }
            }
        }
    }

    /**
     * The monitor results of {@code [?, ?)} aggregated per bucket and monitor, read from the events table's own
     * relations: the table (rows layout), or the blocks (pruned by their time bounds before unnesting) and the
     * rows table (blocks layout; its view could not prune blocks by time). Its range parameters come in pairs.
     */
    private String rawSelect(String bucket, boolean durations) {
        final String monitorSources = "SELECT id FROM " + SeriesSchema.SOURCES + " WHERE measurement = 'monitor' AND "
            + "field IN ('up', 'duration_ms')";
        final String from = blocks
            ? "(SELECT u.time, b.source_id, u.value FROM " + eventsTable + "_blocks b, unnest(b.times, b.vals) AS "
                + "u(time, value) WHERE b.time_max >= ? AND b.time_min < ? AND b.source_id IN (" + monitorSources
                + ") AND u.time >= ? AND u.time < ? UNION ALL SELECT r.time, r.source_id, r.value FROM " + eventsTable
                + "_rows r WHERE r.time >= ? AND r.time < ?) e"
            : eventsTable + " e";
        return "SELECT " + bucket + " AS bucket, s.tags->>'monitor' AS monitor, "
            + "count(*) FILTER (WHERE s.field = 'up') AS checks, "
            + "count(*) FILTER (WHERE s.field = 'up' AND e.value > 0) AS up_checks, "
            + "percentile_cont(0.5) WITHIN GROUP (ORDER BY e.value) FILTER (WHERE s.field = 'duration_ms') AS p50_ms, "
            + "percentile_cont(0.95) WITHIN GROUP (ORDER BY e.value) FILTER (WHERE s.field = 'duration_ms') AS p95_ms, "
            + "max(e.value) FILTER (WHERE s.field = 'duration_ms') AS max_ms"
            + (durations ? ", array_agg(e.value ORDER BY e.value) FILTER (WHERE s.field = 'duration_ms') AS durations" : "")
            + (blocks ? " FROM " + from + " JOIN " + SeriesSchema.SOURCES + " s ON s.id = e.source_id"
                // Rows layout: one (source_id, time) index probe per monitor series, whatever the statistics say. A
                // join left to the planner read the whole table when the minutes asked were newer than the last
                // ANALYZE (estimated 1 row: a sequential scan of 11 million rows, 9 s, at 10,000 monitors).
                // OFFSET 0 keeps the subquery from being flattened back into such a join.
                : " FROM " + SeriesSchema.SOURCES + " s CROSS JOIN LATERAL (SELECT x.time, x.value FROM " + eventsTable
                + " x WHERE x.source_id = s.id AND x.time >= ? AND x.time < ? OFFSET 0) e")
            + " WHERE s.measurement = 'monitor' AND s.field IN ('up', 'duration_ms')";
    }

    private void bindRange(PreparedStatement ps, Instant a, Instant b) throws SQLException {
        bindRange(ps, 1, a, b);
    }

    private void bindRange(PreparedStatement ps, int first, Instant a, Instant b) throws SQLException {
        for (int i = 0; i < (blocks ? 3 : 1); i++) {
            ps.setTimestamp(first + 2 * i, Timestamp.from(a));
            ps.setTimestamp(first + 2 * i + 1, Timestamp.from(b));
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
