package dev.spillway.ingest.series;

import dev.spillway.runtime.db.SchemaMigrations;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The writers' side of NATS-only edges on a real PostgreSQL: each (edge, local id) filed exactly once however many
 * writers meet it at the same moment, one catalogue row per series key across edges, a range of numbers per
 * (edge, series), and definitions that are missing or unreadable reported as retryable.
 */
class EdgeSeriesCatalogueTest {

    private static TestDatabase db;

    @BeforeAll
    static void schema() throws Exception {
        db = TestDatabase.create("edge_series");
        db.execute("CREATE TABLE telemetry_events (time timestamptz NOT NULL, source_id int NOT NULL, "
            + "kind smallint NOT NULL, value double precision NOT NULL, seq bigint NOT NULL)");
        SchemaMigrations.apply(db.dataSource(), SeriesSchema.migrations("telemetry_events"));
    }

    @AfterAll
    static void drop() {
        db.close();
    }

    @Test
    void fourWritersFilingTwoEdgesSeriesAtOnceFileEachOnce() throws Exception {
        // Two edges, each with 20 series; the same keys at both (the edges numbered them differently).
        final Map<String, byte[]> published = new ConcurrentHashMap<>();
        for (String edge : List.of("edge-a", "edge-b")) {
            for (int i = 0; i < 20; i++) {
                final int local = edge.equals("edge-a") ? -(i + 1) : -(20 - i);
                published.put(edge + "/" + local, new SeriesDefinition(local, "press", List.of("line", "L" + i),
                    "force").encode());
            }
        }
        final EdgeSeriesCatalogue.Definitions stream = (origin, id) -> published.get(origin + "/" + id);
        final List<EdgeSeriesCatalogue> writers = new ArrayList<>();
        for (int w = 0; w < 4; w++) {
            writers.add(new EdgeSeriesCatalogue(db.dataSource(), stream));
        }
        final ExecutorService pool = Executors.newFixedThreadPool(4);
        final CountDownLatch go = new CountDownLatch(1);
        final List<Future<Map<String, Integer>>> seen = new ArrayList<>();
        try {
            for (EdgeSeriesCatalogue w : writers) {
                seen.add(pool.submit(() -> {
                    go.await();
                    final Map<String, Integer> ids = new java.util.HashMap<>();
                    for (int i = 1; i <= 20; i++) {
                        ids.put("edge-a/" + -i, w.catalogueId("edge-a", -i));
                        ids.put("edge-b/" + -i, w.catalogueId("edge-b", -i));
                    }
                    return ids;
                }));
            }
            go.countDown();
            final Map<String, Integer> first = seen.get(0).get();
            for (Future<Map<String, Integer>> f : seen) {
                assertEquals(first, f.get(), "every writer maps every (edge, id) to the same catalogue row");
            }
            for (int i = 0; i < 20; i++) {
                assertEquals(first.get("edge-a/" + -(i + 1)), first.get("edge-b/" + -(20 - i)),
                    "one catalogue row per series key, whichever edge numbered it how");
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(40, db.queryLong("SELECT count(*) FROM telemetry_series_edge"), "each (edge, series) once");
        assertEquals(20, db.queryLong("SELECT count(*) FROM telemetry_sources WHERE measurement = 'press'"));
        assertEquals(40, db.queryLong("SELECT count(DISTINCT (source_id, seq_offset)) FROM telemetry_series_edge"),
            "a range of numbers per (edge, series)");
        assertEquals(20, db.queryLong("SELECT count(*) FROM telemetry_series_edge WHERE seq_offset = "
            + EdgeSeriesCatalogue.RANGE), "the first edge of a series numbers from 2^40");
        long filed = 0;
        for (EdgeSeriesCatalogue w : writers) {
            filed += w.filed();
        }
        assertEquals(40, filed, "the writers' counts add up to the rows");
        // A writer started later reads the mappings instead of filing again.
        final EdgeSeriesCatalogue later = new EdgeSeriesCatalogue(db.dataSource(), (o, id) -> {
            throw new AssertionError("a filed series is not read from the stream again");
        });
        assertTrue(later.catalogueId("edge-a", -1) > 0);
        assertEquals(0, later.filed());
    }

    @Test
    void aMissingOrUnreadableDefinitionIsRetryable() throws Exception {
        final EdgeSeriesCatalogue missing = new EdgeSeriesCatalogue(db.dataSource(), (o, id) -> null);
        assertNull(missing.catalogueId("edge-c", -1), "never published: not a series of the catalogue");
        final EdgeSeriesCatalogue down = new EdgeSeriesCatalogue(db.dataSource(), (o, id) -> {
            throw new java.io.IOException("NATS restarting");
        });
        final Exception e = assertThrows(Exception.class, () -> down.mapping("edge-c", -1));
        final var sink = down.sink(new dev.spillway.telemetry.sink.Sink() {
            @Override
            public int write(dev.spillway.telemetry.sink.EventBatch batch) {
                return batch.size();
            }

            @Override
            public boolean isRetryable(Throwable failure) {
                return false;
            }
        });
        assertTrue(sink.isRetryable(e), "a definition that cannot be read now comes back later: " + e);
        final Exception unknown = assertThrows(Exception.class, () -> missing.mapping("edge-c", -1));
        assertTrue(sink.isRetryable(unknown), "not published yet: retried: " + unknown);
        assertEquals(0, db.queryLong("SELECT count(*) FROM telemetry_series_edge WHERE origin = 'edge-c'"));
    }
}
