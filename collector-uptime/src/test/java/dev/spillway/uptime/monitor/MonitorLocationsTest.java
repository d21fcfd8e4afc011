package dev.spillway.uptime.monitor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.runtime.api.ApiException;
import dev.spillway.runtime.db.SchemaMigrations;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.MutableClock;
import dev.spillway.uptime.monitor.MonitorState.Status;
import dev.spillway.uptime.schema.UptimeSchema;
import dev.spillway.uptime.transitions.StateTransitions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Monitors with locations on a real PostgreSQL: the definition's rules (400 naming the field), leases per
 * (monitor, location) in pools, the quorum rule, exactly one transition per change of the combined state with
 * three "collectors" recording at once, and stale locations not freezing the state (clock moved by hand).
 */
class MonitorLocationsTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration TTL = Duration.ofSeconds(3);

    private static TestDatabase db;
    private static DataSource ds;

    @BeforeAll
    static void database() throws SQLException {
        db = TestDatabase.create("monitor_locations");
        ds = db.dataSource();
        SchemaMigrations.apply(ds, UptimeSchema.migrations());
    }

    @AfterAll
    static void close() {
        db.close();
    }

    @BeforeEach
    void empty() {
        db.execute("DELETE FROM " + UptimeSchema.MONITOR_COLLECTORS);
        db.execute("DELETE FROM " + UptimeSchema.MONITORS);
        db.execute("DELETE FROM " + UptimeSchema.MONITOR_TRANSITIONS);
    }

    private static MonitorSpec spec(String json) throws Exception {
        return MonitorValidator.parse(JSON.readTree(json), null);
    }

    private static String str(String sql) throws SQLException {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    private static ApiException invalid(String json) {
        return assertThrows(ApiException.class, () -> spec(json));
    }

    @Test
    void locationsAndQuorumAreValidatedNamingTheField() throws Exception {
        final MonitorSpec s = spec("{\"name\":\"m\",\"url\":\"http://127.0.0.1/\",\"locations\":[\"c\",\"a\",\"b\"]}");
        assertEquals(List.of("a", "b", "c"), s.locations());
        assertEquals(2, s.quorum(), "default: a majority");
        assertTrue(s.located());
        assertEquals(1, spec("{\"name\":\"m\",\"url\":\"http://h/\",\"locations\":[\"a\",\"b\"],\"quorum\":1}").quorum());
        assertEquals(1, spec("{\"name\":\"m\",\"url\":\"http://h/\",\"locations\":[\"a\"]}").quorum());
        assertEquals(3, spec("{\"name\":\"m\",\"url\":\"http://h/\",\"locations\":[\"a\",\"b\",\"c\",\"d\"]}").quorum());
        final MonitorSpec plain = spec("{\"name\":\"m\",\"url\":\"http://h/\"}");
        assertEquals(List.of(), plain.locations());
        assertEquals(0, plain.quorum());
        assertTrue(!MonitorValidator.toJson(plain).has("locations"), "shape unchanged without locations");
        final JsonNode round = MonitorValidator.toJson(s);
        assertEquals(s, MonitorValidator.parse(round, null), "toJson and parse are inverses");

        assertEquals("locations", invalid("{\"name\":\"m\",\"url\":\"http://h/\",\"locations\":\"a\"}").extra().get("field"));
        assertEquals("locations", invalid("{\"name\":\"m\",\"url\":\"http://h/\",\"locations\":[\"a\",\"a\"]}").extra().get("field"));
        assertEquals("locations", invalid("{\"name\":\"m\",\"url\":\"http://h/\",\"locations\":[\"a b\"]}").extra().get("field"));
        assertEquals("locations", invalid("{\"name\":\"m\",\"url\":\"http://h/\",\"locations\":[1]}").extra().get("field"));
        assertEquals("quorum", invalid("{\"name\":\"m\",\"url\":\"http://h/\",\"locations\":[\"a\",\"b\"],\"quorum\":3}").extra().get("field"));
        assertEquals("quorum", invalid("{\"name\":\"m\",\"url\":\"http://h/\",\"locations\":[\"a\"],\"quorum\":0}").extra().get("field"));
        assertEquals("quorum", invalid("{\"name\":\"m\",\"url\":\"http://h/\",\"quorum\":1}").extra().get("field"));
        assertEquals("tags", invalid("{\"name\":\"m\",\"url\":\"http://h/\",\"locations\":[\"a\"],"
            + "\"tags\":{\"location\":\"x\"}}").extra().get("field"));
        final ApiException e = invalid("{\"name\":\"m\",\"url\":\"http://h/\",\"locations\":[\"a\",\"b\"],\"quorum\":3}");
        assertEquals(400, e.status());
        assertTrue(e.getMessage().contains("1..2"), e.getMessage());
    }

    @Test
    void theStoreKeepsLocationsAndQuorum() throws Exception {
        final MonitorStore store = new MonitorStore(ds);
        final MonitorSpec s = spec("{\"name\":\"m\",\"url\":\"http://h/\",\"locations\":[\"a\",\"b\",\"c\"],\"quorum\":3}");
        store.upsert(s);
        final MonitorStore.Row row = store.loadAll().get(0);
        assertEquals(s, MonitorValidator.parse(row.json(), null));
        store.upsert(spec("{\"name\":\"m\",\"url\":\"http://h/\"}"));
        assertEquals(List.of(), MonitorValidator.parse(store.loadAll().get(0).json(), null).locations());
    }

    // ---- leases per (monitor, location) ------------------------------------------------------------------

    private final class Member implements MonitorLeases.Listener {
        final MonitorLeases leases;
        final Set<String> checking = ConcurrentHashMap.newKeySet();

        Member(String id, String location, MutableClock clock) {
            this.leases = new MonitorLeases(ds, id, location, TTL, clock);
        }

        @Override
        public void acquired(Set<String> monitors) {
            monitors.forEach(m -> assertTrue(checking.add(m), leases.collectorId() + " told twice to start " + m));
        }

        @Override
        public void released(Set<String> monitors) {
            monitors.forEach(m -> assertTrue(checking.remove(m), leases.collectorId() + " stops " + m + " unchecked"));
        }

        void round(List<MonitorSpec> specs) throws SQLException {
            final Map<String, String> leasable = new HashMap<>();
            for (MonitorSpec s : specs) {
                final String at = leases.leaseLocation(s);
                if (at != null) {
                    leasable.put(s.name(), at);
                }
            }
            leases.round(leasable, this);
            assertEquals(checking, leases.held(), "the listener's view is the lease set");
        }
    }

    /** Holders by monitor and lease location, from the database. */
    private static Map<String, Map<String, String>> holders() throws SQLException {
        final Map<String, Map<String, String>> out = new TreeMap<>();
        try (Connection c = ds.getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT monitor, location, holder FROM monitor_leases WHERE holder IS NOT "
                 + "NULL")) {
            while (rs.next()) {
                out.computeIfAbsent(rs.getString(1), k -> new TreeMap<>()).put(rs.getString(2), rs.getString(3));
            }
        }
        return out;
    }

    @Test
    void eachListedLocationHoldsItsOwnLeaseAndMonitorsWithoutLocationsGoToAnyOne() throws Exception {
        final MutableClock clock = new MutableClock(Instant.parse("2026-03-01T00:00:00Z"));
        final MonitorStore store = new MonitorStore(ds);
        final List<MonitorSpec> specs = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            specs.add(spec("{\"name\":\"any" + i + "\",\"url\":\"http://h/\"}"));
            specs.add(spec("{\"name\":\"abc" + i + "\",\"url\":\"http://h/\",\"locations\":[\"a\",\"b\",\"c\"]}"));
        }
        specs.add(spec("{\"name\":\"onlya\",\"url\":\"http://h/\",\"locations\":[\"a\"]}"));
        for (MonitorSpec s : specs) {
            store.upsert(s);
        }
        final Member a1 = new Member("a1", "a", clock);
        final Member a2 = new Member("a2", "a", clock);
        final Member b = new Member("b", "b", clock);
        final Member c = new Member("c", "c", clock);
        final Member none = new Member("none", null, clock);
        final List<Member> all = List.of(a1, a2, b, c, none);
        for (int round = 0; round < 3; round++) {
            for (Member m : all) {
                m.round(specs);
            }
        }
        final Map<String, Map<String, String>> h = holders();
        for (int i = 0; i < 6; i++) {
            final Map<String, String> abc = h.get("abc" + i);
            assertEquals(Set.of("a", "b", "c"), abc.keySet(), "one lease per listed location: " + abc);
            assertTrue(Set.of("a1", "a2").contains(abc.get("a")), "a's lease at a: " + abc);
            assertEquals("b", abc.get("b"));
            assertEquals("c", abc.get("c"));
            assertEquals(Set.of(""), h.get("any" + i).keySet(), "any one: one lease");
        }
        assertEquals(Set.of("a"), h.get("onlya").keySet());
        // Pool a (7 leases) split over a1 and a2; pool '' (6) over all five; 'none' holds no located monitor.
        assertEquals(7, a1.leases.held().stream().filter(n -> !n.startsWith("any")).count()
            + a2.leases.held().stream().filter(n -> !n.startsWith("any")).count());
        assertTrue(Math.abs(a1.leases.held().stream().filter(n -> !n.startsWith("any")).count()
            - a2.leases.held().stream().filter(n -> !n.startsWith("any")).count()) <= 1, "fair within pool a");
        assertTrue(none.leases.held().stream().allMatch(n -> n.startsWith("any")), none.leases.held().toString());
        int anyHeld = 0;
        for (Member m : all) {
            anyHeld += (int) m.leases.held().stream().filter(n -> n.startsWith("any")).count();
            assertTrue(m.leases.held().stream().filter(n -> n.startsWith("any")).count() <= 2, "fair share of 6 over 5");
        }
        assertEquals(6, anyHeld);

        // a1 dies (stops renewing): after the TTL a2 takes a's leases, nobody else does.
        clock.advance(TTL.plusSeconds(1));
        for (int round = 0; round < 2; round++) {
            for (Member m : List.of(a2, b, c, none)) {
                m.round(specs);
            }
        }
        final Map<String, Map<String, String>> after = holders();
        for (int i = 0; i < 6; i++) {
            assertEquals("a2", after.get("abc" + i).get("a"), "taken over at the same location");
        }
        assertEquals("a2", after.get("onlya").get("a"));

        // A monitor's locations change: its old lease is released, the new ones claimed.
        specs.set(0, spec("{\"name\":\"any0\",\"url\":\"http://h/\",\"locations\":[\"b\"]}"));
        store.upsert(specs.get(0));
        for (Member m : List.of(a2, b, c, none)) {
            m.round(specs);
        }
        assertEquals(Map.of("b", "b"), holders().get("any0"));
        assertTrue(b.leases.holds("any0"));
    }

    // ---- the quorum --------------------------------------------------------------------------------------

    private static MonitorLocation at(String location, Status confirmed, Instant since, Instant last) {
        return new MonitorLocation(location, new MonitorState(confirmed, confirmed, since, 0, 0, null), last, null,
            null, true);
    }

    @Test
    void theQuorumCountsFreshLocationsOnly() throws Exception {
        final MonitorSpec s = spec("{\"name\":\"m\",\"url\":\"http://h/\",\"interval\":\"1s\",\"timeout\":\"500ms\","
            + "\"locations\":[\"a\",\"b\",\"c\"]}");
        final Instant t = Instant.parse("2026-03-01T00:00:00Z");
        final Duration stale = Quorum.staleAfter(s, TTL);
        assertEquals(Duration.ofSeconds(5), stale, "two intervals plus the TTL");
        final Map<String, MonitorLocation> rows = new HashMap<>();
        rows.put("a", at("a", Status.DOWN, t.minusSeconds(3), t));
        rows.put("b", at("b", Status.UP, t.minusSeconds(60), t));
        rows.put("c", at("c", Status.UP, t.minusSeconds(60), t));
        assertEquals(Status.UP, Quorum.of(s, rows, t, stale, t).confirmed(), "one of three down: UP");
        assertEquals(List.of("a"), Quorum.of(s, rows, t, stale, t).down());
        rows.put("b", at("b", Status.DOWN, t.minusSeconds(2), t));
        final Quorum.Verdict down = Quorum.of(s, rows, t, stale, t);
        assertEquals(Status.DOWN, down.confirmed());
        assertEquals(t.minusSeconds(2), down.since(), "DOWN since the quorum was reached");
        // c stale: 2 count, both down. a and b stale: only c counts, and it is up.
        rows.put("c", at("c", Status.UP, t.minusSeconds(60), t.minusSeconds(6)));
        assertEquals(Status.DOWN, Quorum.of(s, rows, t, stale, t).confirmed());
        rows.put("a", at("a", Status.DOWN, t.minusSeconds(3), t.minusSeconds(6)));
        rows.put("b", at("b", Status.DOWN, t.minusSeconds(3), t.minusSeconds(5)));
        rows.put("c", at("c", Status.UP, t.minusSeconds(60), t));
        assertEquals(Status.UP, Quorum.of(s, rows, t, stale, t).confirmed(), "stale locations do not count");
        rows.put("c", at("c", Status.UP, t.minusSeconds(60), t.minusSeconds(7)));
        assertNull(Quorum.of(s, rows, t, stale, t).confirmed(), "none counts: no verdict");
        // A location listed nowhere is ignored; one without a confirmed state does not count.
        rows.clear();
        rows.put("z", at("z", Status.DOWN, t, t));
        rows.put("a", new MonitorLocation("a", MonitorState.initial(t), t, null, null, false));
        assertNull(Quorum.of(s, rows, t, stale, t).confirmed());
    }

    private static CheckResult result(Instant at, boolean up) {
        return new CheckResult(at, up, up ? 200 : 500, 1, 0, 0, Double.NaN, 1, Double.NaN, up ? null : "status: 500");
    }

    /** Records one result in its own transaction. */
    private static LocationResults.Outcome record(StateTransitions transitions, MonitorSpec s, String location,
                                                  Instant at, boolean up, Instant now) throws SQLException {
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(false);
            final LocationResults.Outcome o = LocationResults.record(c, transitions, s, location, "collector-" + location,
                result(at, up), now, Quorum.staleAfter(s, TTL));
            c.commit();
            return o;
        }
    }

    /** The transitions of each monitor, as "from>to", in order. */
    private static Map<String, List<String>> transitions() throws SQLException {
        final Map<String, List<String>> out = new TreeMap<>();
        try (Connection c = ds.getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT monitor, coalesce(from_state, '-'), to_state FROM "
                 + "monitor_transitions ORDER BY id")) {
            while (rs.next()) {
                out.computeIfAbsent(rs.getString(1), k -> new ArrayList<>()).add(rs.getString(2) + ">" + rs.getString(3));
            }
        }
        return out;
    }

    @Test
    void threeLocationsRecordingAtOnceRecordEachChangeOfTheCombinedStateOnce() throws Exception {
        final int monitors = 40;
        final MonitorStore store = new MonitorStore(ds);
        final List<MonitorSpec> specs = new ArrayList<>();
        for (int i = 0; i < monitors; i++) {
            final MonitorSpec s = spec("{\"name\":\"q" + i + "\",\"url\":\"http://h/\",\"interval\":\"1s\","
                + "\"timeout\":\"500ms\",\"failure_threshold\":1,\"locations\":[\"a\",\"b\",\"c\"]}");
            store.upsert(s);
            specs.add(s);
        }
        final StateTransitions transitions = new StateTransitions();
        final AtomicInteger announced = new AtomicInteger();
        transitions.addListener((c, t) -> announced.incrementAndGet()); // in the transaction, like the outbox
        final Instant t0 = Instant.parse("2026-03-01T00:00:00Z");
        // Steps: every location up; every location down at once; a up; every location up at once.
        final boolean[][] steps = {{true, true, true}, {false, false, false}, {true, false, false}, {true, true, true}};
        final String[] locations = {"a", "b", "c"};
        final CyclicBarrier barrier = new CyclicBarrier(3);
        final ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            final List<Future<?>> done = new ArrayList<>();
            for (int l = 0; l < 3; l++) {
                final int li = l;
                done.add(pool.submit(() -> {
                    for (int step = 0; step < steps.length; step++) {
                        barrier.await(30, TimeUnit.SECONDS);
                        final Instant at = t0.plusSeconds(step);
                        for (MonitorSpec s : specs) {
                            record(transitions, s, locations[li], at, steps[step][li], at);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        final Map<String, List<String>> recorded = transitions();
        for (MonitorSpec s : specs) {
            assertEquals(List.of("->UP", "UP>DOWN", "DOWN>UP"), recorded.get(s.name()), "transitions of " + s.name());
        }
        assertEquals(3 * monitors, announced.get(), "one announcement per change");
        assertEquals(3 * monitors, db.queryLong("SELECT count(*) FROM monitor_location_state"));
    }

    @Test
    void aMinorityDownKeepsItUpAndShowsWhichLocationIsDown() throws Exception {
        final MonitorSpec s = spec("{\"name\":\"m\",\"url\":\"http://h/\",\"interval\":\"1s\",\"timeout\":\"500ms\","
            + "\"failure_threshold\":2,\"locations\":[\"a\",\"b\",\"c\"]}");
        new MonitorStore(ds).upsert(s);
        final StateTransitions transitions = new StateTransitions();
        final Instant t = Instant.parse("2026-03-01T00:00:00Z");
        for (int i = 0; i < 4; i++) {
            final Instant at = t.plusSeconds(i);
            record(transitions, s, "a", at, false, at);
            record(transitions, s, "b", at, true, at);
            record(transitions, s, "c", at, true, at);
        }
        final Instant now = t.plusSeconds(4);
        final Map<String, MonitorLocation> rows;
        try (Connection c = ds.getConnection()) {
            rows = LocationResults.load(c, "m", now, Quorum.staleAfter(s, TTL));
        }
        assertEquals(Status.DOWN, rows.get("a").state().confirmed());
        assertEquals(2, rows.get("a").state().failures());
        assertEquals("status: 500", rows.get("a").lastError());
        assertEquals(Status.UP, rows.get("b").state().confirmed());
        assertTrue(rows.get("a").counts());
        assertEquals(List.of("->UP"), transitions().get("m"));
        assertEquals("UP", str("SELECT confirmed_state FROM monitor_state WHERE name = 'm'"));
        // An older result (a check in flight when the lease moved) changes nothing.
        final LocationResults.Outcome late = record(transitions, s, "a", t.plusSeconds(1), true, now);
        assertNull(late.verdict());
        assertEquals("DOWN", str("SELECT confirmed_state FROM monitor_location_state WHERE monitor = 'm' "
            + "AND location = 'a'"));
    }

    @Test
    void locationsWhoseCollectorsAreGoneStopCountingSoTheStateDoesNotFreeze() throws Exception {
        final MonitorSpec s = spec("{\"name\":\"m\",\"url\":\"http://h/\",\"interval\":\"1s\",\"timeout\":\"500ms\","
            + "\"failure_threshold\":1,\"locations\":[\"a\",\"b\",\"c\"]}");
        new MonitorStore(ds).upsert(s);
        final StateTransitions transitions = new StateTransitions();
        final Instant t = Instant.parse("2026-03-01T00:00:00Z");
        for (String l : List.of("a", "b", "c")) {
            record(transitions, s, l, t, true, t);
        }
        final Instant down = t.plusSeconds(1);
        record(transitions, s, "a", down, false, down);
        record(transitions, s, "b", down, false, down);
        record(transitions, s, "c", down, true, down);
        assertEquals(List.of("->UP", "UP>DOWN"), transitions().get("m"));
        // a's and b's collectors are gone; the target is back, c sees it up. While a and b are fresh (their last
        // results less than 2 intervals + TTL = 5 s old) they still count: DOWN holds.
        for (int i = 2; i <= 5; i++) {
            final Instant at = t.plusSeconds(i);
            record(transitions, s, "c", at, true, at);
        }
        assertEquals(List.of("->UP", "UP>DOWN"), transitions().get("m"), "a and b still count at 4 s");
        assertEquals("DOWN", str("SELECT confirmed_state FROM monitor_state WHERE name = 'm'"));
        final Instant stale = down.plus(Quorum.staleAfter(s, TTL)).plusMillis(1);
        record(transitions, s, "c", stale, true, stale);
        assertEquals(List.of("->UP", "UP>DOWN", "DOWN>UP"), transitions().get("m"), "a and b stale: c decides");
        assertEquals("UP", str("SELECT confirmed_state FROM monitor_state WHERE name = 'm'"));
    }
}
