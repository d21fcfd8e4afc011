package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.runtime.api.ApiException;
import dev.spillway.runtime.api.ApiResponse;
import dev.spillway.collector.db.CollectorSchema;
import dev.spillway.runtime.db.Migration;
import dev.spillway.runtime.db.SchemaMigrations;
import dev.spillway.ingest.FieldKinds;
import dev.spillway.ingest.Point;
import dev.spillway.ingest.PointWriter;
import dev.spillway.ingest.WriteResult;
import dev.spillway.uptime.transitions.Transition;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pieces other inputs build on: PointWriter, the API router, schema migrations, the transition log. */
class SharedInfrastructureTest {

    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static TestDatabase db;

    @BeforeAll
    static void start() {
        db = TestDatabase.create("collector_infra");
    }

    @AfterAll
    static void stop() {
        db.close();
    }

    @Test
    void pointsAndLineProtocolShareSeriesSequencesAndAccounting() throws Exception {
        try (CollectorHarness h = CollectorHarness.start(db)) {
            assertEquals(204, h.post("/api/v2/write", "shared,host=a v=1 1000000000\n").statusCode());
            final PointWriter.Producer p = h.collector.pointWriter().producer("test");
            final WriteResult r = p.write(Point.builder("shared").tag("host", "a").time(2_000_000_000L)
                .field("v", FieldKinds.FLOAT, 2).field("ok", FieldKinds.BOOLEAN, 1).build()).get();
            assertTrue(r.written(), r.toString());
            assertEquals(2, r.events());
            Await.until(WAIT, () -> h.count("measurement = 'shared'") == 3, "three rows");
            // Same series as the line: one catalogue row for field v, and its sequence continued.
            assertEquals(1, db.queryLong("SELECT count(*) FROM telemetry_sources WHERE measurement='shared' "
                + "AND field='v'"));
            assertEquals(1, db.queryLong("SELECT max(seq) FROM telemetry WHERE measurement='shared' AND field='v'"));
            assertEquals(1, p.points(WriteResult.Outcome.WRITTEN));
            assertEquals(2, p.eventsWritten());
            final String metrics = h.get("/metrics").body();
            assertTrue(metrics.contains("spillway_collector_points_total{outcome=\"written\",producer=\"test\"} 1.0"),
                metrics);
        }
    }

    @Test
    void preloadCreatesSeriesInBulkAndWritesThenNeedNoDatabase() throws Exception {
        try (CollectorHarness h = CollectorHarness.start(db)) {
            final List<Point> templates = new ArrayList<>();
            for (int i = 0; i < 500; i++) {
                templates.add(Point.builder("bulk").tag("n", Integer.toString(i)).time(0)
                    .field("a", FieldKinds.FLOAT, 0).field("b", FieldKinds.FLOAT, 0).build());
            }
            assertEquals(1000, h.collector.pointWriter().preload(templates));
            assertEquals(0, h.collector.pointWriter().preload(templates), "idempotent");
            assertEquals(1000, db.queryLong("SELECT count(*) FROM telemetry_sources WHERE measurement = 'bulk'"));
            final var f = h.collector.pointWriter().producer("bulk-test").write(Point.builder("bulk").tag("n", "7")
                .time(1_000_000_000L).field("a", FieldKinds.FLOAT, 1).build());
            assertTrue(f.isDone(), "known series: written without waiting for the database");
            assertTrue(f.get().written());
            Await.until(WAIT, () -> h.count("measurement = 'bulk'") == 1, "row written");
        }
    }

    @Test
    void routerSharesAuthErrorShapeAndBodyLimit() throws Exception {
        try (CollectorHarness h = CollectorHarness.start(db, "--token", "s3cret")) {
            h.collector.router()
                .route("GET", "/api/v1/echo/{name}", req -> ApiResponse.ok(Map.of("name", req.param("name"))))
                .route("POST", "/api/v1/echo", req -> ApiResponse.ok(req.json()))
                .route("GET", "/api/v1/conflict", req -> {
                    throw ApiException.invalid("interval", "must be at least 1s");
                })
                .publicRoute("GET", "/api/v1/open", req -> ApiResponse.ok(Map.of("open", true)));
            final String auth = "Token s3cret";
            assertEquals(401, h.get("/api/v1/echo/x").statusCode());
            final HttpResponse<String> ok = h.get("/api/v1/echo/x", "Authorization", auth);
            assertEquals(200, ok.statusCode(), ok.body());
            assertEquals("x", JSON.readTree(ok.body()).get("name").asText());
            assertEquals(200, h.get("/api/v1/open").statusCode());
            final JsonNode invalid = JSON.readTree(h.get("/api/v1/conflict", "Authorization", auth).body());
            assertEquals("invalid", invalid.get("code").asText());
            assertEquals("interval", invalid.get("field").asText());
            assertEquals(404, h.get("/api/v1/nothing", "Authorization", auth).statusCode());
            assertEquals(405, h.post("/api/v1/echo/x", "{}", "Authorization", auth).statusCode());
            final HttpResponse<String> untyped = h.post("/api/v1/echo", "{}", "Authorization", auth);
            assertEquals(415, untyped.statusCode(), "a JSON endpoint needs a JSON content type");
            assertEquals("Content-Type", JSON.readTree(untyped.body()).get("header").asText());
            final HttpResponse<String> bad = h.post("/api/v1/echo", "{nope", "Authorization", auth,
                "Content-Type", "application/json");
            assertEquals(400, bad.statusCode());
            assertTrue(JSON.readTree(bad.body()).get("message").asText().startsWith("body is not valid JSON"));
            final HttpResponse<String> big = h.post("/api/v1/echo", "\"" + "x".repeat(1 << 20) + "\"",
                "Authorization", auth);
            assertEquals(413, big.statusCode(), big.body());
            // The write API is untouched by the router.
            assertEquals(401, h.post("/api/v2/write", "m v=1").statusCode());
        }
    }

    @Test
    void migrationsRunOnceInOrderUnderOneLockEvenWhenStartedConcurrently() throws Exception {
        try (TestDatabase fresh = TestDatabase.create("collector_migrate")) {
            final List<Integer> order = Collections.synchronizedList(new ArrayList<>());
            final List<Migration> steps = List.of(
                new Migration(7, "second", c -> {
                    order.add(7);
                    c.createStatement().execute("ALTER TABLE m_test ADD COLUMN IF NOT EXISTS b int");
                }),
                new Migration(3, "first", c -> {
                    order.add(3);
                    c.createStatement().execute("CREATE TABLE IF NOT EXISTS m_test (a int)");
                }));
            final ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                final List<Callable<List<Integer>>> runs = new ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    runs.add(() -> SchemaMigrations.apply(fresh.dataSource(), steps));
                }
                int appliedTotal = 0;
                for (Future<List<Integer>> f : pool.invokeAll(runs)) {
                    appliedTotal += f.get().size();
                }
                assertEquals(2, appliedTotal, "each step applied by exactly one of the concurrent runs");
            } finally {
                pool.shutdownNow();
            }
            assertEquals(List.of(3, 7), order);
            assertEquals(2, fresh.queryLong("SELECT count(*) FROM schema_version"));
            // A failing step rolls back with its version row and names itself.
            final SQLException e = assertThrows(SQLException.class, () -> SchemaMigrations.apply(fresh.dataSource(),
                List.of(Migration.sql(9, "broken", "CREATE TABLE m_ok (a int)", "SELECT * FROM missing_table"))));
            assertTrue(e.getMessage().contains("schema step 9 (broken)"), e.getMessage());
            assertEquals(0, fresh.queryLong("SELECT count(*) FROM pg_tables WHERE tablename = 'm_ok'"));
            assertEquals(2, fresh.queryLong("SELECT count(*) FROM schema_version"));
            // The collector's own steps on top: all recorded, and a second run applies nothing.
            fresh.execute("CREATE TABLE telemetry_events_x (time timestamptz, source_id int, value double precision, "
                + "seq bigint)");
            SchemaMigrations.apply(fresh.dataSource(), CollectorSchema.migrations("telemetry_events_x"));
            assertTrue(SchemaMigrations.apply(fresh.dataSource(), CollectorSchema.migrations("telemetry_events_x"))
                .isEmpty());
        }
    }

    @Test
    void transitionListenersWriteInTheStateChangesTransaction() throws Exception {
        try (CollectorHarness h = CollectorHarness.start(db)) {
            db.execute("CREATE TABLE IF NOT EXISTS outbox_test (transition_id bigint, text text)");
            h.collector.transitions().addListener((c, t) -> {
                try (var ps = c.prepareStatement("INSERT INTO outbox_test VALUES (?, ?)")) {
                    ps.setLong(1, t.id());
                    ps.setString(2, t.subject() + " " + t.toState());
                    ps.executeUpdate();
                }
            });
            try (Connection c = db.connect()) {
                c.setAutoCommit(false);
                h.collector.transitions().record(c, Transition.of(Transition.KIND_HTTP, "rolled", null, "DOWN",
                    Instant.now(), "test"));
                c.rollback();
                final Transition t = h.collector.transitions().record(c, Transition.of(Transition.KIND_HTTP, "kept",
                    "UP", "DOWN", Instant.now(), "test"));
                c.commit();
                assertTrue(t.id() > 0);
            }
            assertEquals(0, db.queryLong("SELECT count(*) FROM monitor_transitions WHERE monitor = 'rolled'"));
            assertEquals(0, db.queryLong("SELECT count(*) FROM outbox_test WHERE text LIKE 'rolled%'"));
            assertEquals(1, db.queryLong("SELECT count(*) FROM outbox_test o JOIN monitor_transitions t "
                + "ON t.id = o.transition_id WHERE o.text = 'kept DOWN'"));
        }
    }
}
