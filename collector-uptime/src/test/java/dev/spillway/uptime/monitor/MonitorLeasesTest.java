package dev.spillway.uptime.monitor;

import dev.spillway.runtime.db.SchemaMigrations;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.MutableClock;
import dev.spillway.uptime.schema.UptimeSchema;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The lease rule on a real PostgreSQL, with a clock moved by hand (no waiting): fair shares, joining, leaving,
 * dying (expiry), stalling (a lost lease), paused monitors, concurrent claims, and the state row's compare-and-set.
 */
class MonitorLeasesTest {

    private static final Duration TTL = Duration.ofSeconds(8);
    private static final int N = 10;

    private static TestDatabase db;
    private static DataSource ds;
    private MutableClock clock;

    /** A collector as the lease rule sees it: its leases and what its listener was told. */
    private final class Member implements MonitorLeases.Listener {
        final MonitorLeases leases;
        final Set<String> checking = ConcurrentHashMap.newKeySet();
        /** What the last claim said of each monitor's last check by its previous holder. */
        final Map<String, Instant> uncheckedSince = new ConcurrentHashMap<>();

        Member(String id) {
            this.leases = new MonitorLeases(ds, id, TTL, clock);
        }

        @Override
        public void acquired(Set<String> monitors) {
            for (String m : monitors) {
                assertTrue(checking.add(m), leases.collectorId() + " told twice to start " + m);
            }
        }

        @Override
        public void acquired(Set<String> monitors, Map<String, Instant> since) {
            acquired(monitors);
            uncheckedSince.putAll(since);
        }

        @Override
        public void released(Set<String> monitors) {
            for (String m : monitors) {
                assertTrue(checking.remove(m), leases.collectorId() + " told to stop " + m + " it was not checking");
            }
        }

        MonitorLeases.Round round() throws SQLException {
            return round(all());
        }

        MonitorLeases.Round round(Set<String> leasable) throws SQLException {
            final MonitorLeases.Round r = leases.round(leasable, this);
            assertEquals(checking, leases.held(), "the listener's view is the lease set");
            return r;
        }
    }

    @BeforeAll
    static void database() throws SQLException {
        db = TestDatabase.create("monitor_leases");
        ds = db.dataSource();
        SchemaMigrations.apply(ds, UptimeSchema.migrations());
    }

    /** Ends the session holding a collector's liveness lock, as PostgreSQL does when the process is killed. */
    private static void terminateLivenessOf(Member m) {
        assertEquals(1, db.queryLong("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = "
            + MonitorLeases.LOCK_NAMESPACE + " AND objid = " + m.leases.lockKey() + " AND objsubid = 2 AND granted"),
            "its lock is held before");
        db.execute("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = "
            + MonitorLeases.LOCK_NAMESPACE + " AND objid = " + m.leases.lockKey() + " AND objsubid = 2");
        dev.spillway.telemetry.testsupport.Await.until(Duration.ofSeconds(30), () -> db.queryLong("SELECT count(*) "
            + "FROM pg_locks WHERE locktype = 'advisory' AND classid = " + MonitorLeases.LOCK_NAMESPACE
            + " AND objid = " + m.leases.lockKey() + " AND objsubid = 2") == 0, "the backend gone, its lock with it");
    }

    @AfterAll
    static void close() {
        db.close();
    }

    @BeforeEach
    void monitors() {
        db.execute("DELETE FROM " + UptimeSchema.MONITOR_COLLECTORS);
        db.execute("DELETE FROM " + UptimeSchema.MONITORS);
        for (int i = 0; i < N; i++) {
            db.execute("INSERT INTO monitors (name, url) VALUES ('m" + i + "', 'http://127.0.0.1:1/')");
        }
        clock = new MutableClock(Instant.parse("2026-03-01T00:00:00Z"));
    }

    private static Set<String> all() {
        final Set<String> s = new TreeSet<>();
        for (int i = 0; i < N; i++) {
            s.add("m" + i);
        }
        return s;
    }

    /** No monitor held twice, and (when {@code complete}) every monitor held by someone. */
    private static void assertPartition(boolean complete, Member... members) {
        final Map<String, String> owner = new HashMap<>();
        for (Member m : members) {
            for (String name : m.leases.held()) {
                final String other = owner.put(name, m.leases.collectorId());
                assertTrue(other == null, name + " held by " + other + " and " + m.leases.collectorId());
            }
        }
        if (complete) {
            assertEquals(all(), owner.keySet(), "every monitor leased");
        }
        // The database agrees with what each collector believes.
        for (Member m : members) {
            assertEquals(m.leases.held().size(), db.queryLong("SELECT count(*) FROM monitor_leases WHERE holder = '"
                + m.leases.collectorId() + "' AND expires_at > '" + java.sql.Timestamp.from(Instant.EPOCH) + "'"));
        }
    }

    @Test
    void theFairShareAddsUpToTheMonitorsAndFavoursTheFirstIds() {
        final List<String> live = List.of("a", "b", "c");
        assertEquals(4, MonitorLeases.share(10, live, "a"));
        assertEquals(3, MonitorLeases.share(10, live, "b"));
        assertEquals(3, MonitorLeases.share(10, live, "c"));
        assertEquals(3, MonitorLeases.share(10, List.of("a", "c", "d"), "b"), "not seen yet: counted where it sorts");
        assertEquals(0, MonitorLeases.share(0, live, "a"));
        for (int n = 0; n < 50; n++) {
            int sum = 0;
            for (String id : live) {
                sum += MonitorLeases.share(n, live, id);
            }
            assertEquals(n, sum, "shares of " + n);
        }
    }

    @Test
    void collectorsJoiningShareTheMonitorsFairlyWithoutOverlap() throws SQLException {
        final Member a = new Member("a");
        final Member b = new Member("b");
        final Member c = new Member("c");
        MonitorLeases.Round r = a.round();
        assertEquals(N, r.acquired().size(), "alone: everything");
        assertEquals(1, r.liveCollectors());
        assertTrue(a.leases.holds("m0"));

        r = b.round();
        assertEquals(0, r.acquired().size(), "a's leases are live: b takes none of them");
        assertEquals(5, r.share());
        assertPartition(true, a, b);
        r = a.round();
        assertEquals(5, r.released().size(), "a gives up its surplus");
        assertFalse(a.leases.holds("m9"), "released: not checked any more");
        b.round();
        assertPartition(true, a, b);
        assertEquals(5, a.leases.held().size());
        assertEquals(5, b.leases.held().size());

        c.round();
        a.round();
        b.round();
        c.round();
        assertPartition(true, a, b, c);
        assertEquals(List.of(4, 3, 3), List.of(a.leases.held().size(), b.leases.held().size(),
            c.leases.held().size()));
        // Settled: further rounds move nothing.
        for (Member m : List.of(a, b, c)) {
            r = m.round();
            assertTrue(r.acquired().isEmpty() && r.released().isEmpty(), m.leases.collectorId() + " " + r);
        }
    }

    /**
     * A lease whose trust lapsed (the round that took or renewed it ended after TTL - TTL/4, as rounds did on a
     * database loaded with 100,000 lease rows) is still leased: the service keeps the monitor on its schedule
     * ({@code MonitorService.schedule} asks {@link MonitorLeases#leased}) and each tick skips it until the next
     * round renews the trust. Scheduling on {@code holds} dropped such monitors for as long as the lease stayed held.
     */
    @Test
    void aLeaseWhoseTrustLapsedIsStillLeasedAndTrustedAgainAfterTheNextRound() throws SQLException {
        final Member a = new Member("a");
        settle(a);
        final String m = a.leases.held().iterator().next();
        assertTrue(a.leases.holds(m) && a.leases.leased(m));
        clock.advance(TTL.minus(TTL.dividedBy(4)));
        assertFalse(a.leases.holds(m), "not renewed within ttl - ttl/4: not checked now");
        assertTrue(a.leases.leased(m), "but still this collector's lease: kept on the schedule");
        a.round();
        assertTrue(a.leases.holds(m), "renewed: checked again");
        assertEquals(N, a.leases.held().size());
    }

    @Test
    void aStoppedCollectorsMonitorsAreTakenAtOnceAndADeadOnesAfterTheTtl() throws SQLException {
        final Member a = new Member("a");
        final Member b = new Member("b");
        final Member c = new Member("c");
        settle(a, b, c);

        // Graceful stop: freed at once.
        final Set<String> fromA = a.leases.held();
        a.leases.releaseAll(a);
        assertTrue(a.checking.isEmpty());
        b.round();
        c.round();
        b.round();
        assertPartition(true, b, c);
        final Set<String> taken = new HashSet<>(b.leases.held());
        taken.addAll(c.leases.held());
        assertTrue(taken.containsAll(fromA));

        // Killed (no more rounds): within the TTL its leases are left alone...
        final Set<String> fromC = c.leases.held();
        clock.advance(TTL.minusSeconds(1));
        b.round();
        assertEquals(N - fromC.size(), b.leases.held().size(), "c is still live: its leases stay");
        // ...and c itself stops trusting them once a quarter of the TTL is all that is left.
        assertFalse(c.leases.holds(fromC.iterator().next()), "c has not renewed for ttl - 1s: it stops checking");
        clock.advance(Duration.ofSeconds(1).plusMillis(1));
        r(b);
        assertEquals(N, b.leases.held().size(), "after the TTL: b alone, takes everything");
        assertEquals(1, b.leases.liveCollectors());
    }

    private static void r(Member m) throws SQLException {
        m.round();
    }

    private static void settle(Member... members) throws SQLException {
        for (int i = 0; i < 3; i++) {
            for (Member m : members) {
                m.round();
            }
        }
        assertPartition(true, members);
    }

    @Test
    void aStalledCollectorLearnsItLostItsLeasesAndRejoins() throws SQLException {
        final Member a = new Member("a");
        final Member b = new Member("b");
        settle(a, b);
        final Set<String> fromB = b.leases.held();
        // b stalls for more than the TTL; a renews all along and takes b's leases once they expire.
        for (int i = 0; i < 5; i++) {
            clock.advance(TTL.dividedBy(4));
            a.round();
        }
        assertEquals(N, a.leases.held().size());
        assertTrue(fromB.stream().noneMatch(b.leases::holds), "b's trust ran out before a took them");
        // b wakes up: its renewal finds none of them, it is told to stop, then it gets its share back.
        final MonitorLeases.Round r = b.round();
        assertEquals(fromB, r.released(), "lost to a");
        assertTrue(r.acquired().isEmpty(), "a's leases are live");
        a.round();
        b.round();
        assertPartition(true, a, b);
        assertEquals(5, b.leases.held().size());
    }

    @Test
    void pausedAndDeletedMonitorsAreReleasedAndNewOnesClaimed() throws SQLException {
        final Member a = new Member("a");
        final Member b = new Member("b");
        settle(a, b);
        final Set<String> leasable = all();
        leasable.remove("m0");
        leasable.remove("m9");
        a.round(leasable);
        b.round(leasable);
        a.round(leasable);
        b.round(leasable);
        assertFalse(a.leases.held().contains("m0") || b.leases.held().contains("m0"), "paused: nobody checks it");
        assertEquals(8, a.leases.held().size() + b.leases.held().size());

        db.execute("DELETE FROM monitors WHERE name = 'm1'");
        db.execute("INSERT INTO monitors (name, url) VALUES ('new', 'http://127.0.0.1:1/')");
        leasable.remove("m1");
        leasable.add("new");
        for (int i = 0; i < 2; i++) {
            a.round(leasable);
            b.round(leasable);
        }
        final Set<String> held = new TreeSet<>(a.leases.held());
        held.addAll(b.leases.held());
        assertEquals(leasable, held, "the deleted one is gone (its lease row with it), the new one is claimed");
        assertEquals(4, a.leases.held().size());
        assertEquals(4, b.leases.held().size());
    }

    @Test
    void concurrentClaimsTakeDisjointLeases() throws Exception {
        final int members = 4;
        final List<Member> list = new ArrayList<>();
        for (int i = 0; i < members; i++) {
            list.add(new Member("c" + i));
        }
        // Everyone heartbeats first, so all know there are four; then all claim at the same moment.
        for (Member m : list) {
            m.leases.round(Set.of(), m);
        }
        final ExecutorService pool = Executors.newFixedThreadPool(members);
        try {
            for (int round = 0; round < 3; round++) {
                final CyclicBarrier start = new CyclicBarrier(members);
                final List<Future<MonitorLeases.Round>> rounds = new ArrayList<>();
                for (Member m : list) {
                    rounds.add(pool.submit(() -> {
                        start.await(30, TimeUnit.SECONDS);
                        return m.leases.round(all(), m);
                    }));
                }
                for (Future<MonitorLeases.Round> f : rounds) {
                    f.get(60, TimeUnit.SECONDS);
                }
                assertPartition(false, list.toArray(new Member[0]));
            }
        } finally {
            pool.shutdownNow();
        }
        for (Member m : list) {
            m.round();
        }
        assertPartition(true, list.toArray(new Member[0]));
        int most = 0;
        for (Member m : list) {
            most = Math.max(most, m.leases.held().size());
        }
        assertEquals(3, most, "10 over 4: 3, 3, 2, 2");
    }

    @Test
    void aStateRowIsWrittenOnlyFromTheVersionItWasReadAt() throws SQLException {
        final MonitorState up = MonitorState.initial(clock.instant()).after(true, clock.instant(), 3, 1).next();
        final MonitorState pending = up.after(false, clock.instant(), 3, 1).next();
        try (Connection c = ds.getConnection()) {
            final long v1 = MonitorStore.saveState(c, "m0", up, clock.instant(), null, 0);
            assertTrue(v1 > 0, "first write: no row expected, none there");
            assertEquals(0, MonitorStore.saveState(c, "m0", up, clock.instant(), null, 0),
                "a second 'first result' (another collector's) is refused");
            final long v2 = MonitorStore.saveState(c, "m0", pending, clock.instant(), "x", v1);
            assertTrue(v2 > v1);
            assertEquals(0, MonitorStore.saveState(c, "m0", pending, clock.instant(), "x", v1),
                "a write from the stale version is refused");
            assertEquals(0, MonitorStore.saveState(c, "gone", up, clock.instant(), null, 0), "no such monitor");
        }
        final MonitorStore.StateRow row = new MonitorStore(ds).loadStates(List.of("m0")).get("m0");
        assertEquals(MonitorState.Status.PENDING, row.state().state());
        // Deleted and created again: the new row's version is above every earlier one (one sequence).
        db.execute("DELETE FROM monitors WHERE name = 'm0'");
        db.execute("INSERT INTO monitors (name, url) VALUES ('m0', 'http://127.0.0.1:1/')");
        try (Connection c = ds.getConnection()) {
            assertTrue(MonitorStore.saveState(c, "m0", up, clock.instant(), null, 0) > row.version());
        }
    }

    @Test
    void aKilledCollectorsLeasesAreTakenAtTheNextRoundLongBeforeTheTtl() throws SQLException {
        final Member a = new Member("a");
        final Member b = new Member("b");
        final Member c = new Member("c");
        settle(a, b, c);
        assertFalse(a.leases.checkLiveness(a), "all alive: nothing new, no round asked for");
        final Set<String> fromC = c.leases.held();
        // c is killed: the kernel closes its socket, PostgreSQL ends its session and releases its lock. Its row
        // and its leases are far from expiry; the clock does not move at all.
        terminateLivenessOf(c);
        assertTrue(a.leases.checkLiveness(a), "a sees a collector die and asks for a round");
        assertFalse(a.leases.checkLiveness(a), "seen once: not asked again");
        MonitorLeases.Round r = a.round();
        assertEquals(2, r.liveCollectors(), "the dead one does not count, though its row has not expired");
        assertFalse(r.acquired().isEmpty(), "a takes its new share at once");
        assertTrue(fromC.containsAll(r.acquired()), "from the dead collector only");
        b.round();
        assertPartition(false, a, b);
        final Set<String> taken = new TreeSet<>(a.leases.held());
        taken.addAll(b.leases.held());
        assertEquals(all(), taken, "every monitor held by a and b after one round each, with no time passing");
        assertEquals(5, a.leases.held().size());
        assertEquals(5, b.leases.held().size());
        for (String m : fromC) {
            final Instant since = a.leases.held().contains(m) ? a.uncheckedSince.get(m) : b.uncheckedSince.get(m);
            assertEquals(clock.instant(), since, m + ": unchecked since its holder was seen dead (not before)");
        }
    }

    @Test
    void aCollectorThatLosesItsLockStopsTrustingItsLeasesAndStartsOverUnderANewKey() throws SQLException {
        final Member a = new Member("a");
        final Member b = new Member("b");
        settle(a, b);
        final Set<String> fromA = a.leases.held();
        final int oldKey = a.leases.lockKey();
        terminateLivenessOf(a); // its connection broken (a database restart, an administrator), the process alive
        assertTrue(fromA.stream().allMatch(a.leases::holds), "not noticed yet");
        // b notices first and takes a's leases at once; a finds its lock lost at its next check and fences.
        b.round();
        assertEquals(N, b.leases.held().size(), "b alone in the live list: takes everything, clock unmoved");
        assertTrue(a.leases.checkLiveness(a), "a's own lock is gone: a round is asked for");
        assertTrue(a.checking.isEmpty(), "a's listener was told to stop every monitor");
        assertTrue(fromA.stream().noneMatch(a.leases::holds), "a trusts none of its leases any more");
        // Its next round takes a new lock under a new key and gets its share back through the rebalance.
        MonitorLeases.Round r = a.round();
        assertTrue(a.leases.lockKey() != oldKey, "a new key: the old one stays dead for everyone");
        assertEquals(2, r.liveCollectors());
        b.round();
        a.round();
        assertPartition(true, a, b);
        assertEquals(5, a.leases.held().size());
        assertTrue(a.leases.held().stream().allMatch(a.leases::holds));
        for (Member m : List.of(a, b)) {
            r = m.round();
            assertTrue(r.acquired().isEmpty() && r.released().isEmpty(), "settled: " + r);
        }
    }

    @Test
    void aCollectorThatLosesItsLockBeforeAnyoneNoticesFreesAndReclaimsItsLeases() throws SQLException {
        final Member a = new Member("a");
        final Member b = new Member("b");
        settle(a, b);
        terminateLivenessOf(a);
        // a's own round finds the lock lost before b looked: it fences, frees what it had, takes a new lock and
        // claims its share again; b never sees a dead.
        final MonitorLeases.Round r = a.round();
        assertEquals(5, r.released().size(), "told to stop");
        assertEquals(5, r.acquired().size(), "claimed again under the new key");
        assertFalse(b.leases.checkLiveness(b), "b sees nobody dead: a's row names its new, held key");
        b.round();
        assertPartition(true, a, b);
        assertEquals(5, a.leases.held().size());
        assertEquals(5, b.leases.held().size());
    }

    @Test
    void aNewHolderLearnsFromWhenItsMonitorsWereNotCheckedAnyMore() throws SQLException {
        final Member a = new Member("a");
        final Member b = new Member("b");
        a.round();
        assertEquals(N, a.uncheckedSince.size());
        assertTrue(a.uncheckedSince.values().stream().allMatch(Instant.MIN::equals), "never held: never checked");
        // A rebalance: a frees five, b claims them; they were unchecked since a freed them.
        b.round();
        clock.advance(Duration.ofMillis(300));
        final Instant freedAt = clock.instant();
        a.round();
        clock.advance(Duration.ofMillis(300));
        b.round();
        assertEquals(5, b.uncheckedSince.size());
        assertTrue(b.uncheckedSince.values().stream().allMatch(freedAt::equals), b.uncheckedSince.toString());
        // Expired (a stalled, its lock still held): unchecked since a's trust ended, ttl/4 before the expiry.
        final Instant aRenewed = clock.instant();
        a.round();
        b.uncheckedSince.clear();
        for (int i = 0; i < 5; i++) {
            clock.advance(TTL.dividedBy(4));
            b.round();
        }
        assertEquals(N, b.leases.held().size());
        assertEquals(5, b.uncheckedSince.size());
        final Instant trustEnd = aRenewed.plus(TTL).minus(TTL.dividedBy(4));
        assertTrue(b.uncheckedSince.values().stream().allMatch(trustEnd::equals), b.uncheckedSince.toString());
        assertTrue(fromNone(a), "a's trust has run out");
    }

    private static String queryString(String sql) {
        try (Connection c = ds.getConnection(); java.sql.Statement st = c.createStatement();
             java.sql.ResultSet rs = st.executeQuery(sql)) {
            assertTrue(rs.next(), "a row from " + sql);
            return rs.getString(1);
        } catch (SQLException e) {
            throw new IllegalStateException("failed: " + sql, e);
        }
    }

    /** The lease rows' versions: a row written in any way gets a new xmin. */
    private static String leaseRowVersions() {
        return queryString("SELECT coalesce(md5(string_agg(monitor || ':' || xmin::text, ',' ORDER BY monitor)), "
            + "'') FROM monitor_leases");
    }

    private static String rowVersion(Member m) {
        return queryString("SELECT xmin::text FROM monitor_collectors WHERE id = '" + m.leases.collectorId() + "'");
    }

    /**
     * The cost of a round does not grow with the leases held: with 10,000 monitors shared by two collectors, settled
     * rounds (clock moving, trust renewed each time) write each collector's own heartbeat row and not one lease row.
     * (Before: every round rewrote every lease row its collector held, 40,000 row updates a second at 100,000
     * monitors and the default TTL.)
     */
    @Test
    void aRoundWithManyLeasesWritesOnlyTheCollectorsOwnRow() throws SQLException {
        db.execute("INSERT INTO monitors (name, url) SELECT 'big' || i, 'http://127.0.0.1:1/' "
            + "FROM generate_series(0, 9999) i");
        final Set<String> many = new TreeSet<>(all());
        for (int i = 0; i < 10_000; i++) {
            many.add("big" + i);
        }
        final Member a = new Member("a");
        final Member b = new Member("b");
        for (int i = 0; i < 3; i++) {
            a.round(many);
            b.round(many);
        }
        assertEquals(many.size() / 2, a.leases.held().size());
        assertEquals(many.size() / 2, b.leases.held().size());
        final String leases = leaseRowVersions();
        for (int i = 0; i < 8; i++) {
            final String aRow = rowVersion(a);
            final String bRow = rowVersion(b);
            clock.advance(TTL.dividedBy(4));
            final MonitorLeases.Round ra = a.round(many);
            final MonitorLeases.Round rb = b.round(many);
            assertTrue(ra.acquired().isEmpty() && ra.released().isEmpty() && rb.acquired().isEmpty()
                && rb.released().isEmpty(), "settled: " + ra + " " + rb);
            assertFalse(aRow.equals(rowVersion(a)), "a's heartbeat row renewed");
            assertFalse(bRow.equals(rowVersion(b)), "b's heartbeat row renewed");
            assertEquals(leases, leaseRowVersions(), "round " + i + ": no lease row written");
        }
        // Eight rounds of TTL/4: twice the TTL has passed since any lease row was written, and every lease is
        // trusted, held in the database, and the other collector's live one.
        assertTrue(a.leases.held().stream().allMatch(a.leases::holds), "a trusts all its leases");
        assertTrue(b.leases.held().stream().allMatch(b.leases::holds), "b trusts all its leases");
        assertEquals(many.size() / 2, db.queryLong("SELECT count(*) FROM monitor_leases WHERE holder = 'a'"));
        assertEquals(many.size() / 2, db.queryLong("SELECT count(*) FROM monitor_leases WHERE holder = 'b'"));
    }

    /**
     * The rule when a collector's row expires: whoever takes its leases first marks its row fenced, and the
     * collector, back, finds its heartbeat refused, drops every lease locally (its listener told to stop, no lease
     * trusted) and starts over under a new key, as after a lost lock. Its monitors are never trusted by both.
     */
    @Test
    void aStalledCollectorWhoseRowExpiredIsFencedAndDropsItsLeasesWhenItComesBack() throws SQLException {
        final Member a = new Member("a");
        final Member b = new Member("b");
        settle(a, b);
        final Set<String> fromB = b.leases.held();
        final int oldKey = b.leases.lockKey();
        for (int i = 0; i < 5; i++) {
            clock.advance(TTL.dividedBy(4));
            a.round();
            for (String m : fromB) {
                assertFalse(a.leases.holds(m) && b.leases.holds(m), m + " trusted by both");
            }
        }
        assertEquals(N, a.leases.held().size(), "a took b's leases after b's row expired");
        assertEquals(1, db.queryLong("SELECT count(*) FROM monitor_collectors WHERE id = 'b' AND fenced_at IS NOT "
            + "NULL"), "b's row is fenced");
        assertEquals(1, a.leases.liveCollectors(), "a fenced row is not live");
        assertEquals(fromB, b.leases.held(), "b, stalled, has not noticed yet");
        assertTrue(fromB.stream().noneMatch(b.leases::holds), "but its trust ran out before a took them");
        final MonitorLeases.Round r = b.round();
        assertEquals(fromB, r.released(), "b drops them");
        assertTrue(b.checking.isEmpty(), "b's listener told to stop them all");
        assertTrue(r.acquired().isEmpty(), "a's leases are live: none taken back");
        assertTrue(fromB.stream().noneMatch(b.leases::holds), "none trusted");
        assertTrue(b.leases.lockKey() != oldKey, "b starts over under a new key");
        assertEquals(0, db.queryLong("SELECT count(*) FROM monitor_collectors WHERE fenced_at IS NOT NULL"),
            "b's row written afresh");
        assertFalse(a.leases.checkLiveness(a), "b's old key gone with its fenced row: not a new death");
        a.round();
        b.round();
        assertPartition(true, a, b);
        assertEquals(5, b.leases.held().size(), "b back to its share");
    }

    /**
     * A row that expired without anyone fencing it (every collector stalled, or a collector alone) is renewed: no
     * lease can have been taken (taking needs the fence first), so the collector keeps them, trusted again, under
     * the same key, without writing a lease row.
     */
    @Test
    void aRowThatExpiredUnseenIsRenewedAndItsLeasesKept() throws SQLException {
        final Member a = new Member("a");
        settle(a);
        final int key = a.leases.lockKey();
        final String leases = leaseRowVersions();
        clock.advance(TTL.multipliedBy(3));
        assertTrue(a.leases.held().stream().noneMatch(a.leases::holds), "trust ran out");
        final MonitorLeases.Round r = a.round();
        assertTrue(r.acquired().isEmpty() && r.released().isEmpty(), r.toString());
        assertEquals(key, a.leases.lockKey());
        assertTrue(a.leases.held().stream().allMatch(a.leases::holds), "trusted again");
        assertEquals(N, a.leases.held().size());
        assertEquals(leases, leaseRowVersions(), "no lease row written");
    }

    /**
     * A fenced collector that never comes back: its row is deleted {@code KEEP_DEAD} after it expired and the
     * leases still recorded under it (monitors no live collector wanted meanwhile, here paused) are freed with it.
     */
    @Test
    void aFencedRowDeletedAfterAnHourFreesTheLeasesLeftUnderIt() throws SQLException {
        final Member a = new Member("a");
        final Member b = new Member("b");
        settle(a, b);
        final Set<String> fromB = b.leases.held();
        final Set<String> others = all();
        others.removeAll(fromB);
        clock.advance(TTL.plusSeconds(1));
        a.round(others); // b's monitors paused meanwhile: a fences b but has no use for its leases
        assertEquals(1, db.queryLong("SELECT count(*) FROM monitor_collectors WHERE id = 'b' AND fenced_at IS NOT "
            + "NULL"));
        assertEquals(fromB.size(), db.queryLong("SELECT count(*) FROM monitor_leases WHERE holder = 'b'"));
        clock.advance(MonitorLeases.KEEP_DEAD.plusSeconds(1));
        a.round(others);
        assertEquals(0, db.queryLong("SELECT count(*) FROM monitor_collectors WHERE id = 'b'"), "deleted");
        assertEquals(0, db.queryLong("SELECT count(*) FROM monitor_leases WHERE holder = 'b'"), "its leases freed");
        final MonitorLeases.Round r = a.round(); // resumed
        assertEquals(fromB, r.acquired());
        assertEquals(MonitorLeases.KEEP_DEAD.plusSeconds(1).plus(TTL).plusSeconds(1),
            Duration.between(Instant.parse("2026-03-01T00:00:00Z"), a.uncheckedSince.get(fromB.iterator().next())),
            "unchecked since they were freed");
    }

    private static boolean fromNone(Member m) {
        return m.leases.held().stream().noneMatch(m.leases::holds);
    }
}
