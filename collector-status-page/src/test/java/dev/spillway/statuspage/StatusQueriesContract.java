package dev.spillway.statuspage;

import org.junit.jupiter.api.Test;

import javax.sql.DataSource;
import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The page's numbers from SQL over known checks, exactly: uptime windows, per-hour p50/p95, the strip, the last
 * check's phases, state, incidents. Run on plain PostgreSQL (collector-kept rollup tables) and on TimescaleDB
 * (continuous aggregates): the same queries must give the same answers.
 *
 * <p>Data, with {@code now} = 2026-03-10 12:30 UTC:
 * <ul>
 *   <li>alpha: 180 checks every minute from 09:30 (i = 0..179), check i down when i % 10 == 0, duration i+1 ms;
 *       phases on the last check only, plus a TLS time on the one before (which must not show as the last's);</li>
 *   <li>beta: paused, no checks;</li>
 *   <li>gamma: 10 good checks 20 days ago, 10 checks (5 good) 3 days ago, 10 failing checks from 12:10; DOWN since
 *       the first failure at 11:55; an earlier 10-minute outage 2 days ago.</li>
 * </ul>
 */
abstract class StatusQueriesContract {

    static final Instant NOW = Instant.parse("2026-03-10T12:30:00Z");
    static final Instant ALPHA_FIRST = NOW.minus(Duration.ofHours(3));
    static final double EPS = 1e-9;

    /** The database, schema applied. One session at a time must suffice (timescaledb-lite). */
    abstract DataSource dataSource();

    /** Brings the rollups up to date as of {@link #NOW}. */
    abstract void refreshRollups() throws Exception;

    /** A window's uptime as the report counts it: the rest of {@code window} is unknown. */
    static StatusQueries.Uptime time(long upS, long downS, Duration window) {
        return new StatusQueries.Uptime(upS * 1000, downS * 1000, 0, window.toMillis() - (upS + downS) * 1000);
    }

    /** The page's uptime runs brought up to date as of {@link #NOW}. */
    static void refreshRuns(DataSource ds) throws Exception {
        new UptimeRuns(ds, () -> NOW).refresh();
    }

    StatusQueries queries() {
        return new StatusQueries(dataSource(), CheckSeeder.EVENTS);
    }

    static void seed(Connection c) throws Exception {
        CheckSeeder.monitor(c, "alpha", 60_000, true, "UP", ALPHA_FIRST, null, null);
        CheckSeeder.monitor(c, "beta", 30_000, false, null, null, null, null);
        CheckSeeder.monitor(c, "gamma", 60_000, true, "DOWN", NOW.minus(Duration.ofMinutes(30)),
            NOW.minus(Duration.ofMinutes(35)), "connect: Connection refused");
        for (int i = 0; i < 180; i++) {
            CheckSeeder.check(c, "alpha", ALPHA_FIRST.plus(Duration.ofMinutes(i)), i % 10 != 0, i + 1);
        }
        final Instant last = ALPHA_FIRST.plus(Duration.ofMinutes(179));
        CheckSeeder.value(c, "alpha", "tls_ms", last.minus(Duration.ofMinutes(1)), 99);
        CheckSeeder.value(c, "alpha", "dns_ms", last, 1.5);
        CheckSeeder.value(c, "alpha", "connect_ms", last, 2.5);
        CheckSeeder.value(c, "alpha", "ttfb_ms", last, 40);
        CheckSeeder.value(c, "alpha", "status_code", last, 200);
        CheckSeeder.value(c, "alpha", "cert_expiry_days", last, 9.5);
        for (int i = 0; i < 10; i++) {
            CheckSeeder.check(c, "gamma", NOW.minus(Duration.ofDays(20)).plus(Duration.ofMinutes(i)), true, 10);
            CheckSeeder.check(c, "gamma", NOW.minus(Duration.ofDays(3)).plus(Duration.ofMinutes(i)), i % 2 == 0, 20);
            CheckSeeder.check(c, "gamma", NOW.minus(Duration.ofMinutes(20)).plus(Duration.ofMinutes(i)), false, 5_000);
        }
        final Instant twoDays = NOW.minus(Duration.ofDays(2));
        CheckSeeder.transition(c, "http", "gamma", null, "UP", NOW.minus(Duration.ofDays(21)), null);
        CheckSeeder.transition(c, "http", "gamma", "UP", "DOWN", twoDays, "HTTP 503");
        CheckSeeder.transition(c, "http", "gamma", "DOWN", "UP", twoDays.plus(Duration.ofMinutes(10)), null);
        CheckSeeder.transition(c, "heartbeat", "backup-job", null, "UP", NOW.minus(Duration.ofHours(1)), "first ping");
        CheckSeeder.transition(c, "http", "gamma", "UP", "DOWN", NOW.minus(Duration.ofMinutes(35)),
            "connect: Connection refused");
        CheckSeeder.service(c, "backup-job", "up", 1, "[\"ok\", \"degraded\"]", NOW.minus(Duration.ofSeconds(42)),
            30_000, 5_000);
        CheckSeeder.service(c, "cron", "new", 0, "[\"ok\"]", null, 60_000, 0);
        CheckSeeder.notification(c, "http", "gamma", "UP", "DOWN", NOW.minus(Duration.ofMinutes(35)), "sent", 1, null);
        CheckSeeder.notification(c, "heartbeat", "backup-job", null, "UP", NOW.minus(Duration.ofMinutes(1)), "pending",
            3, "HTTP 500");
    }

    @Test
    void heartbeatServicesAndNotifications() throws Exception {
        final List<StatusQueries.ServiceRow> services = queries().services();
        assertEquals(List.of("backup-job", "cron"), services.stream().map(StatusQueries.ServiceRow::id).toList());
        assertEquals("degraded", services.get(0).statusName(), "the status index named by the registration");
        assertEquals(NOW.minus(Duration.ofSeconds(42)), services.get(0).lastPing());
        assertEquals("UP", ServicesPanel.word(services.get(0).state()));
        assertEquals("WAITING", ServicesPanel.word(services.get(1).state()), "registered, never pinged");
        final List<StatusQueries.NotificationRow> notes = queries().notifications(50);
        assertEquals(2, notes.size());
        assertEquals("backup-job", notes.get(0).subject(), "newest first");
        assertEquals("pending", notes.get(0).state());
        assertEquals(3, notes.get(0).attempts());
        assertEquals("HTTP 500", notes.get(0).lastError());
        assertEquals("sent", notes.get(1).state());
    }

    private static Map<String, StatusQueries.MonitorRow> byName(List<StatusQueries.MonitorRow> rows) {
        final Map<String, StatusQueries.MonitorRow> m = new HashMap<>();
        rows.forEach(r -> m.put(r.name(), r));
        return m;
    }

    @Test
    void uptimeWindowsAreTheReportsTime() throws Exception {
        final Map<String, StatusQueries.MonitorRow> rows = byName(queries().monitors(NOW));
        final StatusQueries.MonitorRow alpha = rows.get("alpha");
        // 180 results a minute apart, each standing for 60 s (the last up to now): 162 up, 18 down.
        assertEquals(time(9_720, 1_080, Duration.ofHours(24)), alpha.day());
        assertEquals(0.9, alpha.day().fraction(), EPS);
        assertEquals(time(9_720, 1_080, Duration.ofDays(30)), alpha.month());
        final StatusQueries.MonitorRow gamma = rows.get("gamma");
        // Each burst of 10 results: the last one stands for 1.5 intervals (90 s), then nothing is known.
        assertEquals(time(0, 630, Duration.ofHours(24)), gamma.day());
        assertEquals(time(300, 330 + 630, Duration.ofDays(7)), gamma.week());
        assertEquals(time(630 + 300, 960, Duration.ofDays(30)), gamma.month());
        assertEquals(930.0 / 1890, gamma.month().fraction(), EPS);
        final StatusQueries.MonitorRow beta = rows.get("beta");
        assertEquals("PAUSED", beta.state());
        assertNull(beta.day().fraction(), "no checks: unknown, not 0% or 100%");
        assertEquals(List.of("alpha", "beta", "gamma"), queries().monitors(NOW).stream()
            .map(StatusQueries.MonitorRow::name).toList(), "ordered by name");
    }

    @Test
    void overviewPagesListProblemsFirstAndCountEveryMonitor() throws Exception {
        final StatusQueries pagesOfTwo = new StatusQueries(dataSource(), CheckSeeder.EVENTS, 2,
            dev.spillway.uptime.monitor.UptimeReport.Maintenance.NONE);
        final StatusQueries.MonitorPage first = pagesOfTwo.page(1, NOW, new ReadTimes());
        assertEquals(List.of("gamma", "alpha"), first.rows().stream().map(StatusQueries.MonitorRow::name).toList(),
            "DOWN before UP, PAUSED last");
        assertEquals(2, first.pages());
        assertEquals(3, first.total());
        assertEquals(Map.of("DOWN", 1, "PENDING", 0, "UP", 1, "PAUSED", 1), first.counts(), "over all pages");
        assertEquals(time(930, 960, Duration.ofDays(30)), first.rows().get(0).month(), "a page's rows are whole rows");
        assertEquals(90, first.rows().get(1).strip().size());
        final StatusQueries.MonitorPage second = pagesOfTwo.page(2, NOW, new ReadTimes());
        assertEquals(List.of("beta"), second.rows().stream().map(StatusQueries.MonitorRow::name).toList());
        assertEquals(2, pagesOfTwo.page(7, NOW, new ReadTimes()).page(), "past the end: the last page");
        assertEquals("3 monitors: 1 DOWN, 1 UP, 1 PAUSED", MonitorsPanel.summary(first));
    }

    @Test
    void responseTimeBucketsAreExactPercentilesPerHour() throws Exception {
        final StatusQueries.Series rt = queries().responseTime("alpha", StatusQueries.Range.WEEK, NOW);
        final long h9 = Instant.parse("2026-03-10T09:00:00Z").getEpochSecond();
        assertEquals(List.of(h9, h9 + 3600, h9 + 7200, h9 + 10800), rt.t(), "closed hours and the open one");
        // The open hour 12:00 holds checks 150..179: durations 151..180.
        assertEquals(165.5, rt.p50().get(3), EPS);
        assertEquals(178.55, rt.p95().get(3), EPS);
        // Hour 10:00 holds checks 30..89 with durations 31..90 ms (percentile_cont, linear interpolation).
        assertEquals(60.5, rt.p50().get(1), EPS);
        assertEquals(87.05, rt.p95().get(1), EPS);
        // Hour 09:00 holds checks 0..29: durations 1..30.
        assertEquals(15.5, rt.p50().get(0), EPS);
        assertEquals(28.55, rt.p95().get(0), EPS);
    }

    /**
     * A page nobody read since the start is answered from a first stage: the same counts, rows, uptime and strips,
     * the sparklines a point per hour from the hour rollup; the second stage reads the minutes and is then exactly
     * the page as read in one go.
     */
    @Test
    void firstStageOfAPageHasItsCountsAndRowsWithHourlySparklinesAndTheMinutesFollow() throws Exception {
        final StatusQueries.MonitorPage whole = queries().page(1, StatusQueries.Filter.NONE, NOW, new ReadTimes());
        final StatusQueries started = queries(); // a collector just started: no sparkline points kept
        final StatusQueries.MonitorPage quick = started.page(1, StatusQueries.Filter.NONE, NOW, new ReadTimes(), true);
        assertFalse(started.sparklinesKept(quick, NOW), "nothing kept yet: a second stage follows");
        assertEquals(whole.counts(), quick.counts(), "counts by state over every monitor");
        assertEquals(whole.total(), quick.total());
        assertEquals(whole.all(), quick.all());
        assertEquals(whole.rows().size(), quick.rows().size());
        for (int i = 0; i < whole.rows().size(); i++) {
            final StatusQueries.MonitorRow w = whole.rows().get(i);
            final StatusQueries.MonitorRow q = quick.rows().get(i);
            assertEquals(w.name(), q.name(), "the same order");
            assertEquals(List.of(w.state(), w.day(), w.week(), w.month(), w.strip()),
                List.of(q.state(), q.day(), q.week(), q.month(), q.strip()), w.name());
            assertEquals(w.last(), q.last(), w.name());
        }
        final StatusQueries.Series hourly = byName(quick.rows()).get("alpha").responseTime();
        final StatusQueries.Series hours = queries().responseTime("alpha", StatusQueries.Range.WEEK, NOW);
        final long h9 = Instant.parse("2026-03-10T09:00:00Z").getEpochSecond();
        assertEquals(List.of(h9, h9 + 3600, h9 + 7200), hourly.t().subList(0, 3), "a point per closed hour");
        assertTrue(hours.t().containsAll(hourly.t()), "hour rollup rows only: " + hourly.t());
        for (int i = 0; i < hourly.t().size(); i++) {
            final int at = hours.t().indexOf(hourly.t().get(i));
            assertEquals(hours.p50().get(at), hourly.p50().get(i), EPS);
            assertEquals(hours.p95().get(at), hourly.p95().get(i), EPS);
        }
        assertTrue(byName(quick.rows()).get("beta").responseTime().t().isEmpty());

        final StatusQueries.MonitorPage second = started.withSparklines(quick, NOW, new ReadTimes());
        assertEquals(whole.rows(), second.rows(), "the second stage: the page as read in one go");
        assertEquals(whole.counts(), second.counts());
        assertTrue(started.sparklinesKept(second, NOW), "its closed points are kept");
        assertEquals(whole.rows(), started.page(1, StatusQueries.Filter.NONE, NOW, new ReadTimes(), true).rows(),
            "with the points kept a first stage is the whole read");
    }

    @Test
    void overviewSparklineIsTheMinuteRollupPer30MinutesOver24Hours() throws Exception {
        final StatusQueries.Series rt = byName(queries().monitors(NOW)).get("alpha").responseTime();
        // 09:30..12:29, one check a minute: 6 points of 30 minutes, not one per hour.
        assertEquals(6, rt.t().size());
        assertEquals(Instant.parse("2026-03-10T09:30:00Z").getEpochSecond(), rt.t().get(0));
        assertEquals(Instant.parse("2026-03-10T12:00:00Z").getEpochSecond(), rt.t().get(5));
        // 09:30..09:59: durations 1..30: the median of the minutes' p50 is 15.5, the highest minute p95 30.
        assertEquals(15.5, rt.p50().get(0), EPS);
        assertEquals(30.0, rt.p95().get(0), EPS);
        assertTrue(byName(queries().monitors(NOW)).get("beta").responseTime().t().isEmpty());
    }

    @Test
    void stripHoldsTheLast90ChecksOldestFirstAndTheLastCheckItsOwnPhases() throws Exception {
        final StatusQueries.MonitorRow alpha = byName(queries().monitors(NOW)).get("alpha");
        assertEquals(90, alpha.strip().size());
        final List<Boolean> expected = new ArrayList<>();
        for (int i = 90; i < 180; i++) {
            expected.add(i % 10 != 0);
        }
        assertEquals(expected, alpha.strip().stream().map(StatusQueries.Check::up).toList());
        assertEquals(ALPHA_FIRST.plus(Duration.ofMinutes(90)).toEpochMilli(), alpha.strip().get(0).epochMillis());
        final StatusQueries.LastCheck last = alpha.last();
        assertEquals(ALPHA_FIRST.plus(Duration.ofMinutes(179)).toEpochMilli(), last.epochMillis());
        assertTrue(last.up());
        assertEquals(180.0, last.durationMs(), EPS);
        assertEquals(1.5, last.dnsMs(), EPS);
        assertEquals(2.5, last.connectMs(), EPS);
        assertNull(last.tlsMs(), "the TLS time belongs to the check before");
        assertEquals(40.0, last.ttfbMs(), EPS);
        assertEquals(200, last.statusCode());
        assertEquals(9.5, last.certExpiryDays(), EPS);
        assertTrue(byName(queries().monitors(NOW)).get("beta").strip().isEmpty());
    }

    @Test
    void stateIncidentAndTransitions() throws Exception {
        final StatusQueries.MonitorRow gamma = byName(queries().monitors(NOW)).get("gamma");
        assertEquals("DOWN", gamma.state());
        assertEquals(NOW.minus(Duration.ofMinutes(35)), gamma.incidentStart(), "from the first failing check");
        assertEquals("connect: Connection refused", gamma.lastError());
        assertNull(byName(queries().monitors(NOW)).get("alpha").incidentStart());

        final List<StatusQueries.TransitionRow> recent = queries().transitions(50);
        assertEquals(5, recent.size());
        assertEquals("DOWN", recent.get(0).toState(), "newest first");
        assertEquals("heartbeat", recent.get(1).kind(), "heartbeats are listed too");

        final List<StatusQueries.Incident> incidents = queries().incidents("gamma", 50);
        assertEquals(2, incidents.size());
        assertEquals(NOW.minus(Duration.ofMinutes(35)), incidents.get(0).start());
        assertNull(incidents.get(0).end(), "ongoing");
        assertEquals(NOW.minus(Duration.ofDays(2)), incidents.get(1).start());
        assertEquals(NOW.minus(Duration.ofDays(2)).plus(Duration.ofMinutes(10)), incidents.get(1).end());
        assertEquals("HTTP 503", incidents.get(1).reason());
    }

    @Test
    void detailRangesReadTheMinuteOrHourRollup() throws Exception {
        // 1 h = 11:30..12:30: results 120..179, of which 120, 130, 140, 150, 160, 170 failed.
        assertEquals(time(3_240, 360, Duration.ofHours(1)), queries().uptime("alpha", StatusQueries.Range.HOUR, NOW));
        final StatusQueries.Series minutes = queries().responseTime("alpha", StatusQueries.Range.HOUR, NOW);
        assertEquals(59, minutes.t().size());
        assertEquals(122.0, minutes.p50().get(0), EPS, "one check per minute: p50 = its duration");
        assertEquals(122.0, minutes.p95().get(0), EPS);
        assertEquals(time(9_720, 1_080, Duration.ofHours(24)), queries().uptime("alpha", StatusQueries.Range.DAY, NOW));
        assertEquals(time(300, 960, Duration.ofDays(7)), queries().uptime("gamma", StatusQueries.Range.WEEK, NOW));
        assertEquals(4, queries().responseTime("alpha", StatusQueries.Range.MONTH, NOW).t().size());
        assertTrue(queries().exists("alpha"));
        assertFalse(queries().exists("nope"));
        assertNull(queries().monitor("nope", NOW));
    }

    @Test
    void aMonitorWithLocationsShowsEachLocationsState() throws Exception {
        try (Connection c = dataSource().getConnection(); java.sql.Statement st = c.createStatement()) {
            st.execute("INSERT INTO monitors (name, url, interval_ms, locations) VALUES ('delta', 'http://h/', 60000, "
                + "'{c,a,b}')");
            st.execute("INSERT INTO monitor_location_state (monitor, location, state, confirmed_state, since, "
                + "last_check_at, last_error, collector) VALUES "
                + "('delta', 'a', 'DOWN', 'DOWN', '2026-03-10T12:20:00Z', '2026-03-10T12:29:00Z', 'HTTP 503', 'x-1'), "
                + "('delta', 'b', 'UP', 'UP', '2026-03-10T10:00:00Z', '2026-03-10T12:29:30Z', NULL, 'y-2')");
        }
        try {
            final StatusQueries.Locations l = queries().locations("delta");
            assertEquals(2, l.quorum(), "default: a majority of 3");
            assertEquals(List.of("c", "a", "b"), l.rows().stream().map(StatusQueries.LocationRow::location).toList(),
                "in the order listed");
            assertNull(l.rows().get(0).state(), "c: no result yet");
            assertEquals("DOWN", l.rows().get(1).state());
            assertEquals("HTTP 503", l.rows().get(1).lastError());
            assertEquals(Instant.parse("2026-03-10T12:29:30Z"), l.rows().get(2).lastCheck());
            assertNull(queries().locations("alpha"), "a monitor without locations");
            final StringBuilder h = new StringBuilder();
            MonitorDetailPanel.locationsHtml(h, l, NOW);
            final String html = h.toString();
            assertTrue(html.contains("DOWN when at least 2 of 3 locations"), html);
            assertTrue(html.contains("<tr data-location=\"a\"><th scope=\"row\">a</th><td><span class=\"state "
                + "state-down\">DOWN</span>"), html);
            assertTrue(html.contains("HTTP 503") && html.contains("NO RESULT") && html.contains("1m 0s ago"), html);
        } finally {
            try (Connection c = dataSource().getConnection(); java.sql.Statement st = c.createStatement()) {
                st.execute("DELETE FROM monitors WHERE name = 'delta'");
            }
        }
    }
}
