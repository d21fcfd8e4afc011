package dev.spillway.uptime.monitor;

import dev.spillway.uptime.schema.UptimeSchema;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.List;

/**
 * Up, down, maintenance and unknown time of monitors over any range, per day (in a time zone) and in total, from
 * the stored results ({@code monitor{monitor=...} up}): a result stands for the time from its check to the next
 * result, but for at most 1.5 intervals (the monitor's current interval): a result that is late by up to half an
 * interval still counts, a missing one (the collector stopped, a tick skipped, a result not stored) leaves the time
 * after that <b>unknown</b>, as is all time before a monitor's first result. So uptime is never reported for time
 * nobody looked, and {@code up + down + maintenance + unknown} is exactly the length of every row.
 *
 * <p>Heartbeat services: {@link #computeServices}, from their state history and the spans a collector was
 * watching.
 *
 * <p>Maintenance windows take precedence over results. They come through the {@link Maintenance} hook: the
 * composition root passes the alerting module's windows ({@code Maintenance.forReports()} there), as this module
 * does not depend on alerting.
 */
public final class UptimeReport {

    /** How far past its interval a result still counts, as a fraction of the interval. */
    public static final double SLACK = 0.5;
    /** Longest range of one report. */
    public static final Duration MAX_RANGE = Duration.ofDays(400);

    /** Maintenance windows of a monitor ({@code [from, to)} pairs, any order). */
    @FunctionalInterface
    public interface Maintenance {
        /** No windows (a collector without the alerting module's windows, and tests). */
        Maintenance NONE = (monitor, from, to) -> List.of();

        List<Instant[]> windows(String monitor, Instant from, Instant to) throws SQLException;

        /**
         * The windows of each of these monitors (all of them in the map, with an empty list for none); by default
         * one {@link #windows} call each.
         */
        default java.util.Map<String, List<Instant[]>> windows(java.util.Collection<String> monitors, Instant from,
                                                               Instant to) throws SQLException {
            final java.util.Map<String, List<Instant[]>> out = new java.util.HashMap<>();
            for (String m : monitors) {
                out.put(m, windows(m, from, to));
            }
            return out;
        }

        /** Maintenance windows of a heartbeat service; none unless the implementation knows them. */
        default List<Instant[]> serviceWindows(String service, Instant from, Instant to) throws SQLException {
            return List.of();
        }
    }

    /**
     * One row: a monitor on a day (or over the whole range for totals), in milliseconds.
     *
     * @param day the day in the report's time zone, or null for a total
     * @param monitor the monitor, or null for the total over all monitors
     */
    public record Row(LocalDate day, String monitor, long upMs, long downMs, long maintenanceMs, long unknownMs) {

        /** {@code up / (up + down)} in percent, or NaN when nothing was known. */
        public double uptimePercent() {
            return upMs + downMs == 0 ? Double.NaN : 100.0 * upMs / (upMs + downMs);
        }

        Row plus(Row o, LocalDate d, String m) {
            return new Row(d, m, upMs + o.upMs, downMs + o.downMs, maintenanceMs + o.maintenanceMs,
                unknownMs + o.unknownMs);
        }
    }

    /** A report: daily rows (by monitor, then day), totals per monitor, and the total of all. */
    public record Report(Instant from, Instant to, ZoneId zone, List<Row> rows, List<Row> totals, Row total) {
    }

    private UptimeReport() {
    }

    /** Computes the report of these monitors over {@code [from, to)}. */
    public static Report compute(DataSource ds, List<MonitorSpec> monitors, Instant from, Instant to, ZoneId zone,
                                 Maintenance maintenance) throws SQLException {
        final java.util.Map<String, Duration> intervals = new java.util.LinkedHashMap<>();
        monitors.forEach(m -> intervals.put(m.name(), m.interval()));
        return compute(ds, intervals, from, to, zone, maintenance);
    }

    /** Computes the report of monitors given by name and interval (in that order) over {@code [from, to)}. */
    public static Report compute(DataSource ds, java.util.Map<String, Duration> monitors, Instant from, Instant to,
                                 ZoneId zone, Maintenance maintenance) throws SQLException {
        try (Connection c = ds.getConnection()) {
            return build(new ArrayList<>(monitors.keySet()), from, to, zone,
                name -> timeline(c, name, monitors.get(name), from, to),
                name -> maintenance.windows(name, from, to));
        }
    }

    /**
     * Computes the report of heartbeat services (by id, in that order) over {@code [from, to)}, from their state
     * history: each confirmed transition ({@code monitor_transitions}, kind {@code heartbeat}) holds until the
     * next; a service is up from a ping that made it available until its deadline passed (the transition is dated
     * at the deadline) or a failure signal, down from then until a ping. Time is <b>unknown</b> before a service's
     * first ping (never pinged, or not registered yet) and whenever no collector with the heartbeats duty was
     * running ({@code heartbeat_watch}: a collector that was stopped or had crashed watched nobody's deadline).
     * Maintenance windows ({@link Maintenance#serviceWindows}) take precedence, as for monitors.
     */
    public static Report computeServices(DataSource ds, List<String> services, Instant from, Instant to, ZoneId zone,
                                         Maintenance maintenance) throws SQLException {
        try (Connection c = ds.getConnection()) {
            final List<long[]> watched = watched(c, from, to);
            return build(services, from, to, zone, id -> serviceTimeline(c, id, watched, from, to),
                id -> maintenance.serviceWindows(id, from, to));
        }
    }

    @FunctionalInterface
    private interface PerSubject<T> {
        T get(String subject) throws SQLException;
    }

    private static Report build(List<String> subjects, Instant from, Instant to, ZoneId zone,
                                PerSubject<long[]> timelines, PerSubject<List<Instant[]>> maintenance)
        throws SQLException {
        final List<Row> rows = new ArrayList<>();
        final List<Row> totals = new ArrayList<>();
        Row total = new Row(null, null, 0, 0, 0, 0);
        for (String name : subjects) {
            final long[] timeline = timelines.get(name);
            final List<Instant[]> windows = maintenance.get(name);
            Row sum = new Row(null, name, 0, 0, 0, 0);
            for (LocalDate d = from.atZone(zone).toLocalDate(); ; d = d.plusDays(1)) {
                final Instant start = max(d.atStartOfDay(zone).toInstant(), from);
                final Instant end = min(d.plusDays(1).atStartOfDay(zone).toInstant(), to);
                if (!start.isBefore(end)) {
                    break;
                }
                final Row r = row(d, name, timeline, windows, start.toEpochMilli(), end.toEpochMilli());
                if (r.upMs() + r.downMs() + r.maintenanceMs() + r.unknownMs() != end.toEpochMilli() - start.toEpochMilli()
                    || r.unknownMs() < 0) {
                    throw new IllegalStateException("report row of " + name + " on " + d + " does not add up: " + r);
                }
                rows.add(r);
                sum = sum.plus(r, null, name);
            }
            totals.add(sum);
            total = total.plus(sum, null, null);
        }
        return new Report(from, to, zone, rows, totals, total);
    }

    /**
     * The union of the watch rows overlapping {@code [from, to)} as sorted, disjoint {@code [start, end)} pairs: a
     * collector that stopped cleanly watched until {@code seen_at}, one that did not until one write period later.
     */
    private static List<long[]> watched(Connection c, Instant from, Instant to) throws SQLException {
        final List<long[]> spans = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT started_at, seen_at, stopped FROM "
            + UptimeSchema.HEARTBEAT_WATCH + " WHERE started_at < ? AND seen_at >= ? ORDER BY started_at")) {
            ps.setTimestamp(1, Timestamp.from(to));
            ps.setTimestamp(2, Timestamp.from(from.minusMillis(UptimeSchema.HEARTBEAT_WATCH_PERIOD_MS)));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    final long s = rs.getTimestamp(1).toInstant().toEpochMilli();
                    final long e = rs.getTimestamp(2).toInstant().toEpochMilli()
                        + (rs.getBoolean(3) ? 0 : UptimeSchema.HEARTBEAT_WATCH_PERIOD_MS);
                    if (!spans.isEmpty() && s <= spans.get(spans.size() - 1)[1]) {
                        final long[] last = spans.get(spans.size() - 1);
                        last[1] = Math.max(last[1], e);
                    } else if (s < e) {
                        spans.add(new long[] {s, e});
                    }
                }
            }
        }
        return spans;
    }

    /**
     * The known stretches of a service as {@code [start, end, up]} triples: its state from its transitions (the one
     * in force at {@code from}, then each until the next), inside the watched spans.
     */
    private static long[] serviceTimeline(Connection c, String id, List<long[]> watched, Instant from, Instant to)
        throws SQLException {
        final List<long[]> changes = new ArrayList<>(); // {at, up}
        try (PreparedStatement ps = c.prepareStatement("(SELECT started_at, to_state, id FROM "
            + UptimeSchema.MONITOR_TRANSITIONS + " WHERE kind = 'heartbeat' AND monitor = ? AND started_at < ? "
            + "ORDER BY started_at DESC, id DESC LIMIT 1) UNION ALL (SELECT started_at, to_state, id FROM "
            + UptimeSchema.MONITOR_TRANSITIONS + " WHERE kind = 'heartbeat' AND monitor = ? AND started_at >= ? "
            + "AND started_at < ?) ORDER BY 1, 3")) {
            ps.setString(1, id);
            ps.setTimestamp(2, Timestamp.from(from));
            ps.setString(3, id);
            ps.setTimestamp(4, Timestamp.from(from));
            ps.setTimestamp(5, Timestamp.from(to));
            ps.setFetchSize(10_000);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    changes.add(new long[] {rs.getTimestamp(1).toInstant().toEpochMilli(),
                        "UP".equals(rs.getString(2)) ? 1 : 0});
                }
            }
        }
        final List<long[]> out = new ArrayList<>();
        for (int i = 0; i < changes.size(); i++) {
            final long s = changes.get(i)[0];
            final long e = i + 1 < changes.size() ? changes.get(i + 1)[0] : to.toEpochMilli();
            for (long[] w : watched) {
                final long a = Math.max(s, w[0]);
                final long b = Math.min(e, w[1]);
                if (a < b) {
                    out.add(new long[] {a, b, changes.get(i)[1]});
                }
            }
        }
        final long[] flat = new long[out.size() * 3];
        for (int i = 0; i < out.size(); i++) {
            System.arraycopy(out.get(i), 0, flat, 3 * i, 3);
        }
        return flat;
    }

    /**
     * The known stretches of a monitor as {@code [start, end, up]} triples (epoch ms; up 1 or 0), in time order,
     * not overlapping.
     */
    private static long[] timeline(Connection c, String name, Duration interval, Instant from, Instant to)
        throws SQLException {
        final long reach = (long) (interval.toMillis() * (1 + SLACK));
        final List<long[]> results = new ArrayList<>();
        // The telemetry view: whichever events table the sink writes.
        try (PreparedStatement ps = c.prepareStatement("SELECT time, value FROM telemetry WHERE measurement = ? "
            + "AND field = 'up' AND tags ->> 'monitor' = ? AND time >= ? AND time < ? ORDER BY time")) {
            ps.setString(1, MonitorService.MEASUREMENT);
            ps.setString(2, name);
            ps.setTimestamp(3, Timestamp.from(from.minusMillis(reach)));
            ps.setTimestamp(4, Timestamp.from(to));
            ps.setFetchSize(10_000);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    results.add(new long[] {rs.getTimestamp(1).toInstant().toEpochMilli(), rs.getDouble(2) > 0 ? 1 : 0});
                }
            }
        }
        return timeline(results, interval);
    }

    /**
     * The known stretches of a monitor from its results, as the report counts them: each result {@code {epoch ms,
     * up (1 or 0)}} (in time order) stands from its time to the next result's, for at most {@link #SLACK} past the
     * interval. Returns {@code [start, end, up]} triples, not overlapping, in time order. Public so that the status
     * page's stored runs are made by this very function.
     */
    public static long[] timeline(List<long[]> results, Duration interval) {
        final long reach = (long) (interval.toMillis() * (1 + SLACK));
        final long[] out = new long[results.size() * 3];
        for (int i = 0; i < results.size(); i++) {
            final long t = results.get(i)[0];
            final long next = i + 1 < results.size() ? results.get(i + 1)[0] : Long.MAX_VALUE;
            out[3 * i] = t;
            out[3 * i + 1] = Math.min(next, t + reach);
            out[3 * i + 2] = results.get(i)[1];
        }
        return out;
    }

    /**
     * Up, down, maintenance and unknown time of {@code [start, end)} from a timeline ({@code [start, end, up]}
     * triples, not overlapping) and maintenance windows: the counting of every report row. Time inside a window is
     * maintenance whatever the timeline says; time neither in the timeline nor in a window is unknown.
     */
    public static Row count(LocalDate day, String subject, long[] timeline, List<Instant[]> windows, Instant start,
                            Instant end) {
        return row(day, subject, timeline, windows, start.toEpochMilli(), end.toEpochMilli());
    }

    private static Row row(LocalDate day, String monitor, long[] timeline, List<Instant[]> windows, long start,
                           long end) {
        long up = 0;
        long down = 0;
        for (int i = 0; i < timeline.length; i += 3) {
            final long s = Math.max(timeline[i], start);
            final long e = Math.min(timeline[i + 1], end);
            if (s >= e) {
                continue;
            }
            // Maintenance takes precedence: what overlaps a window is not up or down.
            final long inWindows = overlap(windows, s, e);
            if (timeline[i + 2] == 1) {
                up += e - s - inWindows;
            } else {
                down += e - s - inWindows;
            }
        }
        final long maintenance = overlap(windows, start, end);
        return new Row(day, monitor, up, down, maintenance, end - start - up - down - maintenance);
    }

    /** Milliseconds of {@code [s, e)} inside the union of the windows. */
    private static long overlap(List<Instant[]> windows, long s, long e) {
        if (windows.isEmpty()) {
            return 0;
        }
        final List<long[]> parts = new ArrayList<>();
        for (Instant[] w : windows) {
            final long a = Math.max(w[0].toEpochMilli(), s);
            final long b = Math.min(w[1].toEpochMilli(), e);
            if (a < b) {
                parts.add(new long[] {a, b});
            }
        }
        parts.sort((x, y) -> Long.compare(x[0], y[0]));
        long sum = 0;
        long cursor = s;
        for (long[] p : parts) {
            final long a = Math.max(p[0], cursor);
            if (p[1] > a) {
                sum += p[1] - a;
                cursor = p[1];
            }
        }
        return sum;
    }

    private static Instant max(Instant a, Instant b) {
        return a.isAfter(b) ? a : b;
    }

    private static Instant min(Instant a, Instant b) {
        return a.isBefore(b) ? a : b;
    }
}
