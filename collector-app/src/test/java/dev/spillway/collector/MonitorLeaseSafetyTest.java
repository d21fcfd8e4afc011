package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.TargetServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;

import static dev.spillway.collector.MonitorLeasesEndToEndTest.transitions;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What another collector does to this one, played with SQL on the shared tables: a state row changed under it
 * (its next write is refused and records no transition), its lease taken (it stops checking, and its API shows the
 * holder's state), the lease given back (it takes the monitor over from the state the other left).
 */
class MonitorLeaseSafetyTest {

    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final ObjectMapper JSON = new ObjectMapper();

    private TestDatabase db;
    private TargetServer target;

    @BeforeEach
    void start() throws Exception {
        db = TestDatabase.create("monitor_lease_safety");
        target = TargetServer.http().on("/s", TargetServer.Behaviour.ok("ok"));
    }

    @AfterEach
    void stop() {
        target.close();
        db.close();
    }

    private static JsonNode get(CollectorHarness h, String path) throws Exception {
        final HttpResponse<String> r = h.get(path);
        assertEquals(200, r.statusCode(), r.body());
        return JSON.readTree(r.body());
    }

    private static double metric(CollectorHarness h, String name) throws Exception {
        double sum = 0;
        for (String line : h.get("/metrics").body().split("\n")) {
            if (line.startsWith(name + "{") || line.startsWith(name + " ")) {
                sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return sum;
    }

    private String create(CollectorHarness h) throws Exception {
        final HttpResponse<String> r = h.put("/api/v1/monitors/s", "{\"url\":\"" + target.url("/s")
            + "\",\"interval\":\"1s\",\"failure_threshold\":1}", "Content-Type", "application/json");
        assertEquals(201, r.statusCode(), r.body());
        Await.untilNoThrow(WAIT, () -> "UP".equals(get(h, "/api/v1/monitors/s").get("status").get("state").asText()),
            "s is UP");
        return "s";
    }

    /** What another collector's write of a DOWN state looks like (its transition in the same transaction). */
    private void otherCollectorRecordsDown(boolean withTransition) throws Exception {
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            c.setAutoCommit(false);
            assertEquals(1, st.executeUpdate("UPDATE monitor_state SET state = 'DOWN', confirmed_state = 'DOWN', "
                + "since = now(), consecutive_failures = 1, consecutive_successes = 0, first_failure_at = now(), "
                + "version = nextval('monitor_state_version') WHERE name = 's'"));
            if (withTransition) {
                st.executeUpdate("INSERT INTO monitor_transitions (kind, monitor, from_state, to_state, started_at, "
                    + "reason) VALUES ('http', 's', 'UP', 'DOWN', now(), 'seen by another collector')");
            }
            c.commit();
        }
    }

    private String text(String sql) throws Exception {
        try (Connection c = db.connect(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    /**
     * A lease round stuck behind a lock on {@code monitor_leases} (held here for longer than the trust window, as a
     * database loaded by 100,000 lease rows held rounds) is cancelled by its statement deadline (the TTL), counted in
     * the log, and a later round claims the monitor created meanwhile: it is checked. (A round that ends after its trust
     * window without being cancelled is {@code MonitorLeasesTest.aLeaseWhoseTrustLapsedIsStillLeasedAndTrustedAgainAfterTheNextRound}.)
     */
    @Test
    void aLeaseRoundStuckBehindALockIsCancelledAndALaterRoundClaimsTheMonitor() throws Exception {
        try (CollectorHarness h = CollectorHarness.start(db, "--monitor-lease-ttl", "2s");
             Connection blocker = db.connect()) {
            blocker.setAutoCommit(false);
            try (Statement st = blocker.createStatement()) {
                st.execute("LOCK TABLE monitor_leases IN ACCESS EXCLUSIVE MODE");
            }
            final java.util.concurrent.CompletableFuture<HttpResponse<String>> created =
                java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                    try {
                        return h.put("/api/v1/monitors/s", "{\"url\":\"" + target.url("/s")
                            + "\",\"interval\":\"1s\",\"failure_threshold\":1}", "Content-Type", "application/json");
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                });
            // The lease round waits for the lock; keep it waiting for longer than the trust window (1.5 s).
            Await.untilNoThrow(WAIT, () -> waitingOnLocks() > 0, "the lease round waits for monitor_leases");
            final long since = System.nanoTime();
            Await.until(WAIT, () -> System.nanoTime() - since >= Duration.ofSeconds(3).toNanos(),
                "the round is held past its trust window");
            blocker.commit();
            assertEquals(201, created.get(60, java.util.concurrent.TimeUnit.SECONDS).statusCode());
            Await.untilNoThrow(WAIT, () -> "UP".equals(get(h, "/api/v1/monitors/s").get("status").get("state")
                .asText()), "s is checked once the lease is renewed");
            assertTrue(metric(h, "spillway_monitor_leases_acquired_total") >= 1, "the lease was acquired");
        }
    }

    /** Backends of this database waiting for a lock. */
    private long waitingOnLocks() throws Exception {
        try (Connection c = db.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                 + "AND wait_event_type = 'Lock'")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    @Test
    void aWriteFromAStaleStateIsRefusedAndRecordsNoTransition() throws Exception {
        try (CollectorHarness h = CollectorHarness.start(db)) {
            create(h);
            otherCollectorRecordsDown(true);
            target.on("/s", TargetServer.Behaviour.status(500));
            // This collector still believes UP: its failing check computes UP -> DOWN, and the write is refused.
            Await.untilNoThrow(WAIT, () -> metric(h, "spillway_monitor_state_conflicts_total") == 1,
                "the stale write refused");
            final long executed = get(h, "/api/v1/status").get("checks").get("executed").asLong();
            Await.untilNoThrow(WAIT, () -> get(h, "/api/v1/status").get("checks").get("executed").asLong()
                >= executed + 2, "two more failing checks, from the state as re-read");
            assertEquals(List.of("->UP", "UP>DOWN"), transitions(db).get("s"), "the other collector's DOWN only");
            assertEquals(1, metric(h, "spillway_monitor_state_conflicts_total"), "re-read once, then in step");
            assertEquals("DOWN", get(h, "/api/v1/monitors/s").get("status").get("state").asText());

            target.on("/s", TargetServer.Behaviour.ok("ok"));
            Await.untilNoThrow(WAIT, () -> List.of("->UP", "UP>DOWN", "DOWN>UP").equals(transitions(db).get("s")),
                "the recovery recorded once, by this collector");
        }
    }

    @Test
    void aCollectorWhoseLeaseIsTakenStopsCheckingShowsTheHoldersStateAndTakesOverFromIt() throws Exception {
        try (CollectorHarness h = CollectorHarness.start(db, "--monitor-lease-ttl", "2s")) {
            create(h);
            final String me = get(h, "/api/v1/status").get("leases").get("collector").asText();
            // Another collector, live for an hour, holds the lease now (as if this one had stalled past the TTL).
            db.execute("INSERT INTO monitor_collectors (id, host, started_at, seen_at, expires_at) VALUES ('thief', "
                + "'elsewhere', now(), now(), now() + interval '1 hour')");
            db.execute("UPDATE monitor_leases SET holder = 'thief', expires_at = now() + interval '1 hour' "
                + "WHERE monitor = 's'");
            Await.untilNoThrow(WAIT, () -> {
                final JsonNode s = get(h, "/api/v1/status");
                return s.get("monitors").get("active").asInt() == 0 && s.get("leases").get("held").asInt() == 0
                    && s.get("leases").get("live_collectors").asInt() == 2;
            }, "this collector lets go of s");
            // Whatever was in flight has landed after one more round; after three more, still no new check.
            awaitRounds(me, 1);
            final int hits = target.hits("/s").size();
            awaitRounds(me, 3);
            assertEquals(hits, target.hits("/s").size(), "no check without the lease");

            otherCollectorRecordsDown(false);
            assertEquals("DOWN", get(h, "/api/v1/monitors/s").get("status").get("state").asText(),
                "the API shows the holder's state, read from the database");

            // The other collector leaves: this one takes s over and goes on from the state it left.
            db.execute("UPDATE monitor_leases SET holder = NULL, expires_at = '-infinity' WHERE monitor = 's'");
            db.execute("DELETE FROM monitor_collectors WHERE id = 'thief'");
            Await.untilNoThrow(WAIT, () -> List.of("->UP", "DOWN>UP").equals(transitions(db).get("s")),
                "taken over from DOWN: the recovery recorded once");
            assertTrue(get(h, "/api/v1/status").get("leases").get("held").asInt() == 1);
        }
    }

    @Test
    void aCheckThatEndsAfterItsLeaseMovedDoesNotUndoTheNewHoldersState() throws Exception {
        try (CollectorHarness h = CollectorHarness.start(db, "--monitor-lease-ttl", "2s")) {
            final HttpResponse<String> created = h.put("/api/v1/monitors/s", "{\"url\":\"" + target.url("/s")
                + "\",\"interval\":\"20s\",\"timeout\":\"16s\",\"failure_threshold\":1}", "Content-Type",
                "application/json");
            assertEquals(201, created.statusCode(), created.body());
            Await.untilNoThrow(WAIT, () -> "UP".equals(get(h, "/api/v1/monitors/s").get("status").get("state")
                .asText()), "s is UP");
            // The next check hangs 12 s (and then answers 200); while it hangs, the lease moves to another collector,
            // which sees the target down and records DOWN.
            target.on("/s", TargetServer.Behaviour.slow(12_000));
            final long executed = get(h, "/api/v1/status").get("checks").get("executed").asLong();
            Await.untilNoThrow(WAIT, () -> target.hits("/s").size() == 2, "the second check in flight");
            db.execute("INSERT INTO monitor_collectors (id, host, started_at, seen_at, expires_at) VALUES ('thief', "
                + "'elsewhere', now(), now(), now() + interval '1 hour')");
            db.execute("UPDATE monitor_leases SET holder = 'thief', expires_at = now() + interval '1 hour' "
                + "WHERE monitor = 's'");
            Await.untilNoThrow(WAIT, () -> get(h, "/api/v1/status").get("leases").get("held").asInt() == 0,
                "this collector lets go of s");
            otherCollectorRecordsDown(true);
            assertEquals("DOWN", get(h, "/api/v1/monitors/s").get("status").get("state").asText(),
                "the API shows the holder's state (and this collector now knows its row)");
            // The hanging check answers 200 now: an older result than the holder's, it must not flip s back UP.
            Await.untilNoThrow(WAIT, () -> get(h, "/api/v1/status").get("checks").get("executed").asLong()
                > executed, "the hanging check ended");
            Await.untilNoThrow(WAIT, () -> metric(h, "spillway_monitor_results_after_lease_total") == 1,
                "the late result counted");
            assertEquals(List.of("->UP", "UP>DOWN"), transitions(db).get("s"), "no DOWN>UP from the late result");
            assertEquals("DOWN", text("SELECT state FROM monitor_state WHERE name = 's'"));
        }
    }

    /** Waits until this collector's heartbeat row was renewed {@code n} more times (each round renews it). */
    private void awaitRounds(String collector, int n) throws Exception {
        final String sql = "SELECT seen_at::text FROM monitor_collectors WHERE id = '" + collector + "'";
        for (int i = 0; i < n; i++) {
            final String seen = text(sql);
            Await.untilNoThrow(WAIT, () -> !seen.equals(text(sql)), "a lease round of " + collector);
        }
    }
}
