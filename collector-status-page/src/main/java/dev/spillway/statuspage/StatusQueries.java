package dev.spillway.statuspage;

import dev.spillway.uptime.monitor.UptimeReport;
import dev.spillway.uptime.schema.UptimeSchema;
import dev.spillway.ingest.series.SeriesSchema;
import dev.spillway.alerting.AlertingSchema;

import javax.sql.DataSource;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The status page's reads, all bound by parameters (no SQL is built from input). Uptime and response-time
 * buckets come from the {@link CheckRollups}; the last checks from the raw monitor series through the
 * {@code (source_id, time)} index; state from {@code monitor_state}; changes from {@code monitor_transitions}.
 *
 * <p>Uptime figures are time, counted as the uptime report counts it ({@link UptimeRuns}): up, down, maintenance
 * and unknown time over the last 24 h, 7 d and 30 d up to now; the percentage is {@code up / (up + down)}, so time
 * nobody checked is left out and maintenance is kept apart.
 */
final class StatusQueries {

    /** The overview's uptime windows: 24 h, 7 d, 30 d up to now. */
    static final List<Duration> WINDOWS = List.of(Duration.ofHours(24), Duration.ofDays(7), Duration.ofDays(30));
    /** Monitors per overview page: the page's bytes and database work stay bounded at any number of monitors. */
    static final int PAGE_SIZE = 100;
    /** Checks shown in a monitor's strip. */
    static final int STRIP = 90;
    /** Rows in the transitions list. */
    static final int RECENT = 50;
    /** How far back the strip and the last check are looked for. */
    private static final Duration RECENT_CHECKS = Duration.ofDays(30);
    private static final String PHASE_FIELDS = "'up', 'duration_ms', 'dns_ms', 'connect_ms', 'tls_ms', 'ttfb_ms', "
        + "'status_code', 'cert_expiry_days'";

    private final DataSource dataSource;
    private final String eventsTable;

    private final int pageSize;
    private final UptimeReport.Maintenance maintenance;
    /**
     * Every statement of these reads is cancelled by PostgreSQL past this many seconds (query_canceled, SQLSTATE
     * 57014): a read the page waits for ends, and its connection and read thread are freed, however slow the
     * database.
     */
    private final int timeoutSeconds;

    /** Seconds a statement of the page's reads may take ({@link #timeoutSeconds}). */
    static final int READ_TIMEOUT_SECONDS = 10;

    StatusQueries(DataSource dataSource, String eventsTable) {
        this(dataSource, eventsTable, PAGE_SIZE, UptimeReport.Maintenance.NONE);
    }

    StatusQueries(DataSource dataSource, String eventsTable, int pageSize, UptimeReport.Maintenance maintenance) {
        this(dataSource, eventsTable, pageSize, maintenance, READ_TIMEOUT_SECONDS);
    }

    /**
     * @param pageSize monitors per overview page (tests use small pages)
     * @param maintenance the maintenance windows, as the uptime report takes them
     */
    StatusQueries(DataSource dataSource, String eventsTable, int pageSize, UptimeReport.Maintenance maintenance,
                  int timeoutSeconds) {
        this.dataSource = dataSource;
        this.eventsTable = eventsTable;
        this.pageSize = pageSize;
        this.maintenance = maintenance;
        this.timeoutSeconds = timeoutSeconds;
    }

    /** A statement PostgreSQL cancels past {@link #timeoutSeconds}. */
    private PreparedStatement prepare(Connection c, String sql) throws SQLException {
        final PreparedStatement ps = c.prepareStatement(sql);
        ps.setQueryTimeout(timeoutSeconds);
        return ps;
    }

    /**
     * {@code e} as a {@link java.sql.SQLTimeoutException} when it is a statement cancelled by its timeout (a
     * transient failure: the page answers 503 with Retry-After, as for an outage, not 500), else {@code e}.
     */
    static SQLException timedOut(SQLException e) {
        if ("57014".equals(e.getSQLState()) && !(e instanceof java.sql.SQLTimeoutException)) {
            return new java.sql.SQLTimeoutException("a status page read took longer than its statement timeout and was "
                + "cancelled: " + e.getMessage(), e.getSQLState(), e);
        }
        return e;
    }

    /** A result of one check: when, whether good. */
    record Check(long epochMillis, boolean up) {
    }

    /** The newest check's measurements (null when the probe did not get that far). */
    record LastCheck(long epochMillis, boolean up, Double durationMs, Double dnsMs, Double connectMs, Double tlsMs,
                     Double ttfbMs, Integer statusCode, Double certExpiryDays) {
    }

    /**
     * A window's time in milliseconds, as the uptime report counts it; {@code fraction} is {@code up / (up + down)},
     * null when nothing is known.
     */
    record Uptime(long upMs, long downMs, long maintenanceMs, long unknownMs) {
        static final Uptime NONE = new Uptime(0, 0, 0, 0);

        static Uptime of(UptimeReport.Row r) {
            return new Uptime(r.upMs(), r.downMs(), r.maintenanceMs(), r.unknownMs());
        }

        Double fraction() {
            return upMs + downMs == 0 ? null : (double) upMs / (upMs + downMs);
        }
    }

    /** Response-time buckets as columns: bucket start (epoch seconds), p50 and p95 in ms (null = no data). */
    record Series(List<Long> t, List<Double> p50, List<Double> p95) {
        static Series empty() {
            return new Series(new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
        }
    }

    /** One monitor's row on the overview. */
    record MonitorRow(String name, boolean enabled, String state, Instant since, Instant incidentStart,
                      String lastError, long intervalMs, Uptime day, Uptime week, Uptime month, Series responseTime,
                      List<Check> strip, LastCheck last) {
    }

    /** A confirmed state change. */
    record TransitionRow(long id, String kind, String subject, String fromState, String toState, Instant startedAt,
                         String reason) {
    }

    /** A heartbeat service: state (new, up, down), its current status by name, when it last pinged, its limits. */
    record ServiceRow(String id, String state, int status, String statusName, Instant lastPing, long timeoutMs,
                      long graceMs) {
    }

    /** A notification in the outbox. */
    record NotificationRow(long id, String channel, String type, String subjectKind, String subject, String oldState,
                           String newState, Instant occurredAt, String state, int attempts, String lastError) {
    }

    /** Heartbeat services by id. */
    List<ServiceRow> services() throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = prepare(c, "SELECT id, state, status, statuses->>status, last_ping, "
                 + "timeout_ms, grace_ms FROM " + UptimeSchema.HEARTBEAT_SERVICES + " ORDER BY id");
             ResultSet rs = ps.executeQuery()) {
            final List<ServiceRow> out = new ArrayList<>();
            while (rs.next()) {
                out.add(new ServiceRow(rs.getString(1), rs.getString(2), rs.getInt(3), rs.getString(4),
                    instant(rs.getTimestamp(5)), rs.getLong(6), rs.getLong(7)));
            }
            return out;
        }
    }

    /** The newest notifications, newest first. */
    List<NotificationRow> notifications(int limit) throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = prepare(c, "SELECT id, channel_id, type, subject_kind, subject, old_state, "
                 + "new_state, occurred_at, state, attempts, last_error FROM " + AlertingSchema.NOTIFICATION_OUTBOX
                 + " ORDER BY id DESC LIMIT ?")) {
            ps.setInt(1, limit);
            final List<NotificationRow> out = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new NotificationRow(rs.getLong(1), rs.getString(2), rs.getString(3), rs.getString(4),
                        rs.getString(5), rs.getString(6), rs.getString(7), instant(rs.getTimestamp(8)),
                        rs.getString(9), rs.getInt(10), rs.getString(11)));
                }
            }
            return out;
        }
    }

    /** An outage: from the DOWN transition to the UP that ended it (null while it lasts). */
    record Incident(Instant start, Instant end, String reason) {
    }

    /** Every monitor, by name, with its windows, plot, strip and newest check, as of {@code now}. */
    List<MonitorRow> monitors(Instant now) throws SQLException {
        return rows(states(false, null), now, null, false);
    }

    /** One monitor's row, or null when there is no such monitor. */
    MonitorRow monitor(String name, Instant now) throws SQLException {
        final List<MonitorRow> rows = rows(states(false, name), now, null, false);
        return rows.isEmpty() ? null : rows.get(0);
    }

    /** One monitor's state without its checks: cheap for every monitor, so the overview can order, count, page. */
    record StateRow(String name, boolean enabled, String state, Instant since, Instant incidentStart,
                    String lastError, long intervalMs) {
    }

    /** The states the overview counts, in the order it lists them: problems first. */
    static final List<String> STATE_ORDER = List.of("DOWN", "PENDING", "UP", "PAUSED");

    /**
     * The overview's filter: a part of the name (case-insensitive), a state, a tag {@code key=value}; each null
     * when not asked for.
     */
    record Filter(String query, String state, String tagKey, String tagValue) {
        static final Filter NONE = new Filter(null, null, null, null);

        boolean none() {
            return query == null && state == null && tagKey == null;
        }

        /** The filter as URL parameters ({@code &q=..&state=..&tag=..}), empty when none. */
        String params() {
            final StringBuilder b = new StringBuilder();
            if (query != null) {
                b.append("&q=").append(java.net.URLEncoder.encode(query, java.nio.charset.StandardCharsets.UTF_8));
            }
            if (state != null) {
                b.append("&state=").append(state);
            }
            if (tagKey != null) {
                b.append("&tag=").append(java.net.URLEncoder.encode(tagKey + "=" + tagValue,
                    java.nio.charset.StandardCharsets.UTF_8));
            }
            return b.toString();
        }
    }

    /**
     * One page of the overview's monitors: {@code total} of them match the filter; {@code counts} by state and
     * {@code all} are over every monitor (the header).
     */
    record MonitorPage(int page, int pages, int size, int total, Map<String, Integer> counts, List<MonitorRow> rows,
                       int all, Filter filter) {
        MonitorPage(int page, int pages, int size, int total, Map<String, Integer> counts, List<MonitorRow> rows) {
            this(page, pages, size, total, counts, rows, total, Filter.NONE);
        }
    }

    /**
     * Page {@code page} (1-based; past the last page means the last) of {@link #PAGE_SIZE} monitors, problems first
     * (DOWN, PENDING, UP, PAUSED, then by name). Only the page's monitors are read beyond their state, so the cost
     * of a page does not grow with the number of monitors (one row per monitor for the state and the counts).
     */
    MonitorPage page(int page, Instant now, ReadTimes times) throws SQLException {
        return page(page, Filter.NONE, now, times);
    }

    /** As {@link #page(int, Instant, ReadTimes)}, of the monitors that match {@code filter}. */
    MonitorPage page(int page, Filter filter, Instant now, ReadTimes times) throws SQLException {
        return page(page, filter, now, times, false);
    }

    /**
     * As {@link #page(int, Filter, Instant, ReadTimes)}; with {@code quick} the sparklines of monitors whose closed
     * points are not kept come from the hour rollup (a point per hour: 24 rows per monitor instead of 1,440 minute
     * rows), not kept: the page's first answer after a start, until {@link #withSparklines} reads the minutes.
     */
    MonitorPage page(int page, Filter filter, Instant now, ReadTimes times, boolean quick) throws SQLException {
        final List<StateRow> every = states(true, null);
        times.mark("states");
        final Map<String, Integer> counts = new LinkedHashMap<>();
        STATE_ORDER.forEach(st -> counts.put(st, 0));
        for (StateRow r : every) {
            counts.merge(r.state(), 1, Integer::sum);
        }
        List<StateRow> all = every;
        if (!filter.none()) {
            final java.util.Set<String> tagged = filter.tagKey() == null ? null : tagged(filter);
            final String q = filter.query() == null ? null : filter.query().toLowerCase(java.util.Locale.ROOT);
            all = new ArrayList<>();
            for (StateRow r : every) {
                if ((q == null || r.name().toLowerCase(java.util.Locale.ROOT).contains(q))
                    && (filter.state() == null || filter.state().equals(r.state()))
                    && (tagged == null || tagged.contains(r.name()))) {
                    all.add(r);
                }
            }
            times.mark("filter");
        }
        final int pages = Math.max(1, (all.size() + pageSize - 1) / pageSize);
        final int p = Math.min(Math.max(page, 1), pages);
        final List<StateRow> slice = all.subList(Math.min(all.size(), (p - 1) * pageSize),
            Math.min(all.size(), p * pageSize));
        return new MonitorPage(p, pages, pageSize, all.size(), counts, rows(slice, now, times, quick), every.size(),
            filter);
    }

    /** Whether the closed sparkline points of every monitor on {@code page} are kept (a read of them is short). */
    boolean sparklinesKept(MonitorPage page, Instant now) {
        final long[] bins = sparkBins(now.minus(Duration.ofHours(24)), now);
        for (MonitorRow r : page.rows()) {
            if (!kept(r.name(), bins[0], bins[1], now)) {
                return false;
            }
        }
        return true;
    }

    /** {@code page} with its monitors' sparklines read from the minute rollup (and their closed points kept). */
    MonitorPage withSparklines(MonitorPage page, Instant now, ReadTimes times) throws SQLException {
        if (page.rows().isEmpty()) {
            return page;
        }
        final String[] names = new String[page.rows().size()];
        for (int i = 0; i < names.length; i++) {
            names[i] = page.rows().get(i).name();
        }
        final Map<String, Series> plots;
        try (Connection c = dataSource.getConnection()) {
            c.setReadOnly(true);
            plots = sparklines(c, names, now.minus(Duration.ofHours(24)), now, false);
        }
        times.mark("24h plot");
        final List<MonitorRow> rows = new ArrayList<>(names.length);
        for (MonitorRow r : page.rows()) {
            rows.add(new MonitorRow(r.name(), r.enabled(), r.state(), r.since(), r.incidentStart(), r.lastError(),
                r.intervalMs(), r.day(), r.week(), r.month(), plots.getOrDefault(r.name(), Series.empty()), r.strip(),
                r.last()));
        }
        return new MonitorPage(page.page(), page.pages(), page.size(), page.total(), page.counts(), List.copyOf(rows),
            page.all(), page.filter());
    }

    /** The names of the monitors with the filter's tag. */
    private java.util.Set<String> tagged(Filter filter) throws SQLException {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = prepare(c, "SELECT name FROM "
            + UptimeSchema.MONITORS + " WHERE tags ->> ? = ?")) {
            ps.setString(1, filter.tagKey());
            ps.setString(2, filter.tagValue());
            final java.util.Set<String> out = new java.util.HashSet<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(rs.getString(1));
                }
            }
            return out;
        }
    }

    /** Every monitor's state (or {@code only}'s): by name, or problems first. */
    List<StateRow> states(boolean problemsFirst, String only) throws SQLException {
        final String state = "CASE WHEN NOT m.enabled THEN 'PAUSED' ELSE coalesce(s.state, 'PENDING') END";
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = prepare(c, "SELECT m.name, "
            + "m.enabled, m.interval_ms, " + state + ", s.since, s.first_failure_at, s.last_error FROM "
            + UptimeSchema.MONITORS + " m LEFT JOIN " + UptimeSchema.MONITOR_STATE + " s ON s.name = m.name"
            + (only == null ? "" : " WHERE m.name = ?") + " ORDER BY "
            + (problemsFirst ? "array_position(ARRAY['DOWN', 'PENDING', 'UP', 'PAUSED'], " + state + "), " : "")
            + "m.name")) {
            if (only != null) {
                ps.setString(1, only);
            }
            final List<StateRow> out = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    final String st = rs.getString(4);
                    final Instant since = instant(rs.getTimestamp(5));
                    final Instant firstFailure = instant(rs.getTimestamp(6));
                    final Instant incident = "DOWN".equals(st) ? (firstFailure != null ? firstFailure : since) : null;
                    out.add(new StateRow(rs.getString(1), rs.getBoolean(2), st, since, incident, rs.getString(7),
                        rs.getLong(3)));
                }
            }
            return out;
        }
    }

    /** The rows of {@code states}' monitors, in that order, with their windows, plots, strips and newest checks. */
    private List<MonitorRow> rows(List<StateRow> states, Instant now, ReadTimes times, boolean quick)
        throws SQLException {
        if (states.isEmpty()) {
            return List.of();
        }
        final ReadTimes t = times != null ? times : new ReadTimes();
        final Instant dayFrom = now.minus(Duration.ofHours(24));
        final String[] names = new String[states.size()];
        for (int i = 0; i < names.length; i++) {
            names[i] = states.get(i).name();
        }
        try (Connection c = dataSource.getConnection()) {
            c.setReadOnly(true);
            final Array only = c.createArrayOf("text", names);
            final Map<String, UptimeReport.Row[]> uptimes = UptimeRuns.read(c, only, List.of(names), now,
                WINDOWS, maintenance, timeoutSeconds);
            t.mark("uptime 24h/7d/30d");
            final Map<String, Series> plots = sparklines(c, names, dayFrom, now, quick);
            t.mark(quick ? "24h plot (hours where no points are kept)" : "24h plot");
            final Map<String, List<Check>> strips = new HashMap<>();
            final Map<String, LastCheck> lasts = new HashMap<>();
            recentChecks(c, only, now, strips, lasts);
            t.mark("strips and last checks");
            final List<MonitorRow> rows = new ArrayList<>(states.size());
            for (StateRow s : states) {
                final UptimeReport.Row[] u = uptimes.get(s.name());
                rows.add(new MonitorRow(s.name(), s.enabled(), s.state(), s.since(), s.incidentStart(), s.lastError(),
                    s.intervalMs(), Uptime.of(u[0]), Uptime.of(u[1]), Uptime.of(u[2]),
                    plots.getOrDefault(s.name(), Series.empty()),
                    strips.getOrDefault(s.name(), List.of()), lasts.get(s.name())));
            }
            return rows;
        }
    }

    /** Whether the monitor exists. */
    boolean exists(String name) throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = prepare(c, "SELECT 1 FROM " + UptimeSchema.MONITORS + " WHERE name = ?")) {
            ps.setString(1, name);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        }
    }

    /**
     * One monitor's response-time buckets over {@code range}, from the rollup that suits the range. On plain
     * PostgreSQL the hour rollup holds closed hours only: the open hour is added from its minutes (exact, from
     * their durations).
     */
    Series responseTime(String name, Range range, Instant now) throws SQLException {
        final Instant from = range.from(now);
        try (Connection c = dataSource.getConnection()) {
            c.setReadOnly(true);
            final Series s = series(c, range.table, c.createArrayOf("text", new String[] {name}), from, now)
                .getOrDefault(name, Series.empty());
            final Instant open = now.truncatedTo(ChronoUnit.HOURS);
            if (range.table.equals(CheckRollups.HOUR) && minuteDurations(c)
                && (s.t().isEmpty() || s.t().get(s.t().size() - 1) < open.getEpochSecond())) {
                try (PreparedStatement ps = prepare(c, "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d), "
                    + "percentile_cont(0.95) WITHIN GROUP (ORDER BY d) FROM " + CheckRollups.MINUTE + " m, "
                    + "unnest(m.durations) AS d WHERE m.monitor = ? AND m.bucket >= ? AND m.bucket <= ?")) {
                    ps.setString(1, name);
                    ps.setTimestamp(2, Timestamp.from(open));
                    ps.setTimestamp(3, Timestamp.from(now));
                    try (ResultSet rs = ps.executeQuery()) {
                        if (rs.next() && nullable(rs, 1) != null) {
                            s.t().add(open.getEpochSecond());
                            s.p50().add(nullable(rs, 1));
                            s.p95().add(nullable(rs, 2));
                        }
                    }
                }
            }
            return s;
        }
    }

    private volatile Boolean minuteDurations;

    /** Whether the minute rollup keeps each minute's durations (plain PostgreSQL: the collector keeps it). */
    private boolean minuteDurations(Connection c) throws SQLException {
        Boolean b = minuteDurations;
        if (b == null) {
            try (PreparedStatement ps = prepare(c, "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(?) "
                + "AND attname = 'durations' AND NOT attisdropped")) {
                ps.setString(1, CheckRollups.MINUTE);
                try (ResultSet rs = ps.executeQuery()) {
                    b = rs.next();
                }
            }
            minuteDurations = b;
        }
        return b;
    }

    /** Minutes per point of the overview's 24 h sparkline (48 points: a shape, and the page stays small). */
    static final int SPARK_MINUTES = 30;

    /**
     * The closed 30-minute points of the sparklines read lately, per monitor: a re-read reads only the minutes of
     * the points that can still change (the open one, and the first, cut by the 24 h window), not 24 h of minutes
     * per monitor (1,440 rows each, 144,000 for a page of 100). A point closes once its minutes are done; results
     * stored late (or minutes redone after a pause) reach a closed point within {@link #SPARK_REREAD}, when every
     * monitor's 24 h is read again.
     */
    private final Map<String, SparkBins> sparkCache = new java.util.concurrent.ConcurrentHashMap<>();
    /** How long closed sparkline points are kept before the whole 24 h is read again. */
    static final Duration SPARK_REREAD = Duration.ofMinutes(5);
    /**
     * How long after its end a point counts as closed: past the rollup's refresh period and its look-back for
     * late minutes, so the minutes of a closed point are done when it is kept.
     */
    static final Duration SPARK_SETTLE = Duration.ofMinutes(5);
    /** Monitors whose closed sparkline points are kept at most (pages read lately; about 50 KB each). */
    private static final int SPARK_CACHE_MAX = 20_000;

    /**
     * One monitor's closed points: those starting in {@code [fromSec, toSec)} (epoch seconds), read at {@code readAt}.
     */
    private record SparkBins(long fromSec, long toSec, Series closed, Instant readAt) {
    }

    /**
     * The overview's 24 h sparklines from the minute rollup, one point per {@link #SPARK_MINUTES} minutes: p50 is
     * the median of the minutes' p50, p95 the highest minute p95 (the same on both database flavours). Closed
     * points come from {@link #sparkCache} when it holds them.
     */
    Map<String, Series> sparklines(Connection c, String[] names, Instant from, Instant to)
        throws SQLException {
        return sparklines(c, names, from, to, false);
    }

    /** The first full point and the first point still open of a sparkline over {@code [from, to]} (epoch seconds). */
    private static long[] sparkBins(Instant from, Instant to) {
        final long bin = SPARK_MINUTES * 60L;
        final long firstFull = Math.floorDiv(from.getEpochSecond() + bin - 1, bin) * bin;
        // Points that ended SPARK_SETTLE ago or more are closed (their minutes are done); the rest is read each time.
        final long open = Math.floorDiv(to.minus(SPARK_SETTLE).getEpochSecond(), bin) * bin;
        return new long[] {firstFull, open};
    }

    /** Whether {@code name}'s closed points for a sparkline up to {@code to} are kept. */
    private boolean kept(String name, long firstFull, long open, Instant to) {
        final SparkBins b = sparkCache.get(name);
        return b != null && b.toSec == open && b.fromSec <= firstFull && !b.readAt.isAfter(to)
            && b.readAt.plus(SPARK_REREAD).isAfter(to);
    }

    /**
     * As {@link #sparklines(Connection, String[], Instant, Instant)}; with {@code quick} the monitors whose closed
     * points are not kept get a point per hour from the hour rollup instead of a full read of their minutes (and
     * nothing is kept for them).
     */
    private Map<String, Series> sparklines(Connection c, String[] names, Instant from, Instant to, boolean quick)
        throws SQLException {
        final long[] bins = sparkBins(from, to);
        final long firstFull = bins[0];
        final long open = bins[1];
        final List<String> hits = new ArrayList<>();
        final List<String> misses = new ArrayList<>();
        for (String name : names) {
            if (kept(name, firstFull, open, to)) {
                hits.add(name);
            } else {
                misses.add(name);
            }
        }
        final Map<String, Series> read = new HashMap<>();
        if (quick && !misses.isEmpty()) {
            read.putAll(series(c, CheckRollups.HOUR, c.createArrayOf("text", misses.toArray(new String[0])),
                from.truncatedTo(ChronoUnit.HOURS), to));
        } else if (!misses.isEmpty()) {
            final Map<String, Series> full = sparkRows(c, c.createArrayOf("text", misses.toArray(new String[0])),
                CheckRollups.MINUTE + " WHERE monitor = ANY (?) AND bucket >= ? AND bucket <= ?", from, to);
            read.putAll(full);
            if (sparkCache.size() + misses.size() > SPARK_CACHE_MAX) {
                sparkCache.values().removeIf(b -> !b.readAt.plus(SPARK_REREAD).isAfter(to));
                if (sparkCache.size() + misses.size() > SPARK_CACHE_MAX) {
                    sparkCache.clear();
                }
            }
            for (String name : misses) {
                sparkCache.put(name, new SparkBins(firstFull, open,
                    slice(full.getOrDefault(name, Series.empty()), firstFull, open), to));
            }
        }
        if (!hits.isEmpty()) {
            // The first point (cut by the window: minutes from `from` to its end) and the open one.
            // Two ranges, each an index range per monitor (an OR of them would read the whole 24 h per monitor).
            final Map<String, Series> edges = sparkRows(c, c.createArrayOf("text", hits.toArray(new String[0])),
                "(SELECT monitor, bucket, p50_ms, p95_ms FROM " + CheckRollups.MINUTE + " WHERE monitor = ANY (?) "
                    + "AND bucket >= ? AND bucket < ? UNION ALL SELECT monitor, bucket, p50_ms, p95_ms FROM "
                    + CheckRollups.MINUTE + " WHERE monitor = ANY (?) AND bucket >= ? AND bucket <= ?) m",
                from, Instant.ofEpochSecond(firstFull), Instant.ofEpochSecond(open), to);
            for (String name : hits) {
                final Series e = edges.getOrDefault(name, Series.empty());
                final Series s = slice(e, Long.MIN_VALUE, firstFull);
                append(s, slice(sparkCache.get(name).closed, firstFull, open));
                append(s, slice(e, open, Long.MAX_VALUE));
                read.put(name, s);
            }
        }
        final Map<String, Series> out = new LinkedHashMap<>();
        for (String name : names) {
            final Series s = read.get(name);
            if (s != null && !s.t().isEmpty()) {
                out.put(name, s);
            }
        }
        return out;
    }

    /**
     * The sparkline points from the minute rows {@code source} gives: a table or subquery whose placeholders are
     * the monitors' array and the instants {@code bounds}; with two ranges (four instants) the array is bound to
     * each range.
     */
    private Map<String, Series> sparkRows(Connection c, Array monitors, String source, Instant... bounds)
        throws SQLException {
        final Map<String, Series> out = new LinkedHashMap<>();
        try (PreparedStatement ps = prepare(c, "SELECT monitor, date_bin(INTERVAL '" + SPARK_MINUTES
            + " minutes', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS b, "
            + "percentile_cont(0.5) WITHIN GROUP (ORDER BY p50_ms), max(p95_ms) FROM " + source
            + " GROUP BY 1, 2 ORDER BY 1, 2")) {
            int i = 1;
            for (int r = 0; r < bounds.length; r += 2) {
                ps.setArray(i++, monitors);
                ps.setTimestamp(i++, Timestamp.from(bounds[r]));
                ps.setTimestamp(i++, Timestamp.from(bounds[r + 1]));
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    final Series s = out.computeIfAbsent(rs.getString(1), k -> Series.empty());
                    s.t().add(rs.getTimestamp(2).getTime() / 1000);
                    s.p50().add(nullable(rs, 3));
                    s.p95().add(nullable(rs, 4));
                }
            }
        }
        return out;
    }

    /** A new series of {@code s}'s points starting in {@code [fromSec, toSec)}. */
    private static Series slice(Series s, long fromSec, long toSec) {
        final Series out = Series.empty();
        for (int i = 0; i < s.t().size(); i++) {
            final long t = s.t().get(i);
            if (t >= fromSec && t < toSec) {
                out.t().add(t);
                out.p50().add(s.p50().get(i));
                out.p95().add(s.p95().get(i));
            }
        }
        return out;
    }

    private static void append(Series into, Series more) {
        into.t().addAll(more.t());
        into.p50().addAll(more.p50());
        into.p95().addAll(more.p95());
    }

    /** One monitor's strip and newest check. */
    void recent(String name, Instant now, Map<String, List<Check>> strips, Map<String, LastCheck> lasts)
        throws SQLException {
        try (Connection c = dataSource.getConnection()) {
            c.setReadOnly(true);
            recentChecks(c, c.createArrayOf("text", new String[] {name}), now, strips, lasts);
        }
    }

    /** One monitor's time over {@code [now - range, now)}, as the uptime report counts it. */
    Uptime uptime(String name, Range range, Instant now) throws SQLException {
        try (Connection c = dataSource.getConnection()) {
            c.setReadOnly(true);
            return Uptime.of(UptimeRuns.read(c, c.createArrayOf("text", new String[] {name}), List.of(name), now,
                List.of(range.length), maintenance, timeoutSeconds).get(name)[0]);
        }
    }

    /** The newest transitions of every kind (monitors and heartbeats), newest first. */
    List<TransitionRow> transitions(int limit) throws SQLException {
        return transitions(null, limit);
    }

    private List<TransitionRow> transitions(String subject, int limit) throws SQLException {
        final String sql = "SELECT id, kind, monitor, from_state, to_state, started_at, reason FROM "
            + UptimeSchema.MONITOR_TRANSITIONS + (subject == null ? "" : " WHERE kind = 'http' AND monitor = ?")
            + " ORDER BY id DESC LIMIT ?";
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = prepare(c, sql)) {
            int i = 1;
            if (subject != null) {
                ps.setString(i++, subject);
            }
            ps.setInt(i, limit);
            final List<TransitionRow> out = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new TransitionRow(rs.getLong(1), rs.getString(2), rs.getString(3), rs.getString(4),
                        rs.getString(5), instant(rs.getTimestamp(6)), rs.getString(7)));
                }
            }
            return out;
        }
    }

    /**
     * The state of a monitor seen from one of its locations.
     *
     * @param state that location's state, or null before its first result
     * @param lastCheck the start of its latest check, or null
     */
    record LocationRow(String location, String state, String confirmedState, Instant since, Instant lastCheck,
                       String lastError, String collector) {
    }

    /**
     * A monitor with locations: its quorum and each listed location's state (in the order listed), from
     * {@code monitor_location_state}; null for a monitor without locations.
     */
    record Locations(int quorum, List<LocationRow> rows) {
    }

    Locations locations(String name) throws SQLException {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = prepare(c,
            "SELECT l.loc, m.quorum, s.state, s.confirmed_state, s.since, s.last_check_at, s.last_error, s.collector "
                + "FROM " + UptimeSchema.MONITORS + " m CROSS JOIN LATERAL unnest(m.locations) WITH ORDINALITY "
                + "AS l(loc, n) LEFT JOIN " + UptimeSchema.MONITOR_LOCATION_STATE
                + " s ON s.monitor = m.name AND s.location = l.loc WHERE m.name = ? ORDER BY l.n")) {
            ps.setString(1, name);
            final List<LocationRow> rows = new ArrayList<>();
            int quorum = 0;
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    final int q = rs.getInt(2);
                    quorum = rs.wasNull() ? 0 : q;
                    rows.add(new LocationRow(rs.getString(1), rs.getString(3), rs.getString(4),
                        instant(rs.getTimestamp(5)), instant(rs.getTimestamp(6)), rs.getString(7), rs.getString(8)));
                }
            }
            if (rows.isEmpty()) {
                return null;
            }
            return new Locations(quorum == 0 ? rows.size() / 2 + 1 : quorum, rows);
        }
    }

    /** A monitor's outages, newest first: each DOWN and the UP that followed it. */
    List<Incident> incidents(String name, int limit) throws SQLException {
        final List<TransitionRow> changes = transitions(name, 4 * limit);
        final List<Incident> out = new ArrayList<>();
        Instant end = null;
        for (TransitionRow t : changes) { // newest first
            if ("UP".equals(t.toState())) {
                end = t.startedAt();
            } else if ("DOWN".equals(t.toState())) {
                out.add(new Incident(t.startedAt(), end, t.reason()));
                end = null;
                if (out.size() == limit) {
                    break;
                }
            }
        }
        return out;
    }

    private Map<String, Series> series(Connection c, String table, Array monitors, Instant from, Instant to)
        throws SQLException {
        final Map<String, Series> out = new LinkedHashMap<>();
        try (PreparedStatement ps = prepare(c, "SELECT monitor, bucket, p50_ms, p95_ms FROM " + table
            + " WHERE monitor = ANY (?) AND bucket >= ? AND bucket <= ? ORDER BY monitor, bucket")) {
            ps.setArray(1, monitors);
            ps.setTimestamp(2, Timestamp.from(from));
            ps.setTimestamp(3, Timestamp.from(to));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    final Series s = out.computeIfAbsent(rs.getString(1), k -> Series.empty());
                    s.t().add(rs.getTimestamp(2).getTime() / 1000);
                    s.p50().add(nullable(rs, 3));
                    s.p95().add(nullable(rs, 4));
                }
            }
        }
        return out;
    }

    /**
     * The newest {@link #STRIP} {@code up} results and the newest value of each phase field per monitor: one index
     * probe per series ({@code ORDER BY time DESC LIMIT n} on {@code (source_id, time)}).
     */
    private void recentChecks(Connection c, Array monitors, Instant now, Map<String, List<Check>> strips,
                              Map<String, LastCheck> lasts) throws SQLException {
        final Map<String, Map<String, double[]>> latest = new HashMap<>(); // monitor -> field -> {epochMillis, value}
        // The series by name, through schema step 305's index on (tags ->> 'monitor') (without it, a filter over
        // all monitor series: 70,000 rows for the page's 700 at 10,000 monitors); then per series one
        // (source_id, time) index probe.
        try (PreparedStatement ps = prepare(c, "SELECT s.tags->>'monitor', s.field, x.time, x.value FROM "
            + SeriesSchema.SOURCES + " s CROSS JOIN LATERAL (SELECT e.time, e.value FROM " + eventsTable + " e "
            + "WHERE e.source_id = s.id AND e.time >= ? AND e.time <= ? ORDER BY e.time DESC "
            + "LIMIT CASE WHEN s.field = 'up' THEN " + STRIP + " ELSE 1 END) x "
            + "WHERE s.measurement = 'monitor' AND s.field IN (" + PHASE_FIELDS + ") AND s.tags->>'monitor' = ANY (?)")) {
            ps.setTimestamp(1, Timestamp.from(now.minus(RECENT_CHECKS)));
            ps.setTimestamp(2, Timestamp.from(now));
            ps.setArray(3, monitors);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    final String name = rs.getString(1);
                    final String field = rs.getString(2);
                    final long t = rs.getTimestamp(3).getTime();
                    final double v = rs.getDouble(4);
                    if (field.equals("up")) {
                        strips.computeIfAbsent(name, k -> new ArrayList<>()).add(new Check(t, v > 0));
                    }
                    final double[] prev = latest.computeIfAbsent(name, k -> new HashMap<>()).get(field);
                    if (prev == null || t > prev[0]) {
                        latest.get(name).put(field, new double[] {t, v});
                    }
                }
            }
        }
        for (Map.Entry<String, List<Check>> e : strips.entrySet()) {
            // A monitor whose tags changed has several 'up' series: merge, keep the newest STRIP, oldest first.
            final List<Check> all = e.getValue();
            all.sort((a, b) -> Long.compare(a.epochMillis(), b.epochMillis()));
            e.setValue(List.copyOf(all.subList(Math.max(0, all.size() - STRIP), all.size())));
        }
        for (Map.Entry<String, Map<String, double[]>> e : latest.entrySet()) {
            final Map<String, double[]> f = e.getValue();
            final double[] up = f.get("up");
            if (up == null) {
                continue;
            }
            // Phase values count only when they belong to that same check (a failed check may lack some).
            lasts.put(e.getKey(), new LastCheck((long) up[0], up[1] > 0, same(f, "duration_ms", up[0]),
                same(f, "dns_ms", up[0]), same(f, "connect_ms", up[0]), same(f, "tls_ms", up[0]),
                same(f, "ttfb_ms", up[0]), toInt(same(f, "status_code", up[0])),
                same(f, "cert_expiry_days", up[0])));
        }
    }

    private static Double same(Map<String, double[]> fields, String field, double time) {
        final double[] v = fields.get(field);
        return v != null && v[0] == time ? v[1] : null;
    }

    private static Integer toInt(Double d) {
        return d == null ? null : (int) Math.round(d);
    }

    private static Double nullable(ResultSet rs, int column) throws SQLException {
        final double v = rs.getDouble(column);
        return rs.wasNull() ? null : v;
    }

    private static Instant instant(Timestamp t) {
        return t == null ? null : t.toInstant();
    }

    /** The detail page's ranges and the rollup each reads. */
    enum Range {
        HOUR("1h", Duration.ofHours(1), CheckRollups.MINUTE, ChronoUnit.MINUTES),
        DAY("24h", Duration.ofHours(24), CheckRollups.MINUTE, ChronoUnit.MINUTES),
        WEEK("7d", Duration.ofDays(7), CheckRollups.HOUR, ChronoUnit.HOURS),
        MONTH("30d", Duration.ofDays(30), CheckRollups.HOUR, ChronoUnit.HOURS);

        final String label;
        final Duration length;
        final String table;
        final ChronoUnit unit;

        Range(String label, Duration length, String table, ChronoUnit unit) {
            this.label = label;
            this.length = length;
            this.table = table;
            this.unit = unit;
        }

        /** The first bucket of the range: whole buckets, the current one included. */
        Instant from(Instant now) {
            return now.truncatedTo(unit).minus(length).plus(1, unit);
        }

        static Range parse(String s) {
            for (Range r : values()) {
                if (r.label.equals(s)) {
                    return r;
                }
            }
            return null;
        }
    }
}
