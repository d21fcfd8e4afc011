package dev.spillway.ingest.series;

import dev.spillway.runtime.db.SchemaMigrations;
import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.Sink;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.DedicatedPostgres;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.postgresql.ds.PGSimpleDataSource;

import javax.sql.DataSource;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The series catalogue through a database outage, against a real PostgreSQL stopped and started on the same data
 * directory: with a {@link LocalSeriesStore}, sequence numbers keep coming far beyond the reserved headroom and a
 * series first seen during the outage gets a provisional id at once; neither needs the database. Afterwards (after
 * a crash and restart, or in the same run) every number reserved locally is in {@code next_seq}, each provisional
 * series has its catalogue row, and the sink wrapper maps its events there, shifted above another collector's
 * numbers when that one created the same series meanwhile.
 */
@Timeout(300)
class SeriesOutageTest {

    @TempDir
    static Path shared;
    private static DedicatedPostgres pg;

    @BeforeAll
    static void startServer() {
        pg = TestDatabase.dedicated(shared.resolve("data"), TestDatabase.freePort());
    }

    @AfterAll
    static void stopServer() {
        pg.close();
    }

    private static DataSource database(String name) throws Exception {
        pg.createDatabase(name);
        final PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setURL(pg.jdbcUrl(name));
        ds.setUser(pg.user());
        ds.setConnectTimeout(2);
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE telemetry_events (time timestamptz NOT NULL, source_id int NOT NULL, "
                + "kind smallint NOT NULL, value double precision NOT NULL, seq bigint NOT NULL)");
        }
        SchemaMigrations.apply(ds, SeriesSchema.migrations("telemetry_events"));
        return ds;
    }

    private static Series series(SeriesRegistry r, String host) {
        return r.resolve(SeriesKey.of("out", List.of("host", host), "v"), "out", List.of("host", host), "v").join();
    }

    private static long query(DataSource ds, String sql) throws Exception {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            assertTrue(rs.next(), sql);
            return rs.getLong(1);
        }
    }

    private static Set<Long> take(Series s, int n) {
        final Set<Long> got = new HashSet<>();
        for (int i = 0; i < n; i++) {
            final long v = s.takeSequence();
            assertTrue(v >= 0, "no number available after " + i + " takes");
            assertTrue(got.add(v), "number " + v + " twice");
        }
        return got;
    }

    @Test
    void anOutageNeedsNoDatabaseAndACrashedRunsNumbersAndSeriesReachItAtRestart() throws Exception {
        final DataSource ds = database("crash");
        final Path dir = shared.resolve("spool-crash");
        LocalSeriesStore store = LocalSeriesStore.open(dir);
        // A long interval: rounds happen only when a taker asks.
        SeriesRegistry r = new SeriesRegistry(ds, 100, 1, Duration.ofHours(1), store);
        final Series a = series(r, "a");
        assertTrue(a.id() > 0);
        take(a, 10);
        final Series b;
        final long usedA;
        pg.stop();
        try {
            // Five blocks beyond what was reserved: the first taker past the limit finds the outage, every later
            // extension is local.
            take(a, 5_000);
            usedA = a.peekSequence();
            assertTrue(r.databaseDown(), "the outage was noticed");
            b = series(r, "b");
            assertTrue(b.id() < 0, "a series first seen during the outage is provisional: " + b.id());
            assertEquals(-1, b.databaseId());
            take(b, 3_000);
            assertFalse(store.isEmpty(), "numbers and the new series are on local disk");
        } finally {
            // A crash: nothing is saved, the store is left as it is.
            r.close();
            store.close();
            pg.startServer();
        }
        final long usedB = b.peekSequence();

        store = LocalSeriesStore.open(dir);
        r = new SeriesRegistry(ds, 100, 1, Duration.ofHours(1), store);
        try {
            assertTrue(store.isEmpty(), "everything the store held is in the database now");
            assertTrue(query(ds, "SELECT next_seq FROM telemetry_sources WHERE tags->>'host' = 'a'") >= usedA,
                "next_seq covers the numbers reserved locally");
            final long bId = query(ds, "SELECT id FROM telemetry_sources WHERE tags->>'host' = 'b'");
            assertEquals(bId, query(ds, "SELECT source_id FROM telemetry_series_provisional WHERE provisional = "
                + b.id()), "the provisional id is mapped to the new row");
            assertEquals(0, query(ds, "SELECT seq_offset FROM telemetry_series_provisional"));
            assertTrue(query(ds, "SELECT next_seq FROM telemetry_sources WHERE id = " + bId) >= usedB);
            final Series a2 = series(r, "a");
            assertTrue(a2.takeSequence() >= usedA, "no number of the crashed run is reused");
            final Series b2 = series(r, "b");
            assertEquals(bId, b2.id());
            assertTrue(b2.takeSequence() >= usedB, "no number of the provisional series is reused");
            final SeriesRegistry.Mapping m = r.mapping(b.id());
            assertNotNull(m, "spooled events of the crashed run can still be mapped");
            assertEquals(bId, m.id());
        } finally {
            r.close();
            store.close();
        }
    }

    /**
     * Here the collector is cut off from a database that stays up (its connections fail with SQLSTATE 08001 while
     * {@code partitioned} is set), so that another collector can create one of the same series meanwhile.
     */
    @Test
    void theRunThatSeesTheDatabaseReturnFilesItsProvisionalSeriesAndMapsTheirEvents() throws Exception {
        final DataSource ds = database("inrun");
        final java.util.concurrent.atomic.AtomicBoolean partitioned = new java.util.concurrent.atomic.AtomicBoolean();
        final DataSource cutOff = (DataSource) java.lang.reflect.Proxy.newProxyInstance(
            DataSource.class.getClassLoader(), new Class<?>[] {DataSource.class}, (proxy, method, args) -> {
                if (partitioned.get() && method.getName().equals("getConnection")) {
                    throw new java.sql.SQLTransientConnectionException("partitioned from the database", "08001");
                }
                try {
                    return method.invoke(ds, args);
                } catch (java.lang.reflect.InvocationTargetException e) {
                    throw e.getCause();
                }
            });
        final LocalSeriesStore store = LocalSeriesStore.open(shared.resolve("spool-inrun"));
        final SeriesRegistry r = new SeriesRegistry(cutOff, 100, 1, Duration.ofMillis(50), store);
        try {
            final Series known = series(r, "known");
            take(known, 10);
            partitioned.set(true);
            final Series fresh;
            final Series raced;
            try {
                // Nothing asks the database until a new series comes: creating it finds the outage.
                fresh = series(r, "fresh");
                assertTrue(r.databaseDown());
                raced = series(r, "raced");
                assertTrue(fresh.id() < 0 && raced.id() < 0);
                take(fresh, 2_500);
                take(raced, 10);
                take(known, 3_000);
                // Meanwhile another collector, which can reach the database, created "raced" and used 0..99.
                try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
                    st.execute("INSERT INTO telemetry_sources (measurement, tags, field, next_seq) VALUES "
                        + "('out', '{\"host\": \"raced\"}', 'v', 100)");
                }
            } finally {
                partitioned.set(false);
            }
            Await.until(Duration.ofSeconds(60), () -> !r.databaseDown() && r.mapping(fresh.id()) != null
                && r.mapping(raced.id()) != null && store.isEmpty(), "the outage is reconciled");
            assertEquals(0, r.mapping(fresh.id()).offset());
            assertEquals(100, r.mapping(raced.id()).offset(), "numbers shifted above the other collector's");
            final long racedId = query(ds, "SELECT id FROM telemetry_sources WHERE tags->>'host' = 'raced'");
            assertEquals(racedId, raced.databaseId());
            assertTrue(query(ds, "SELECT next_seq FROM telemetry_sources WHERE id = " + racedId)
                >= 100 + raced.peekSequence());
            assertTrue(query(ds, "SELECT next_seq FROM telemetry_sources WHERE tags->>'host' = 'known'")
                >= known.peekSequence());

            // Events keep the provisional id in the pipeline; the sink wrapper hands the catalogue's on.
            final List<String> written = new ArrayList<>();
            final Sink sink = r.resolvingSink(new Sink() {
                @Override
                public int write(EventBatch batch) {
                    for (int i = 0; i < batch.size(); i++) {
                        written.add(batch.sourceId(i) + ":" + batch.sequence(i));
                    }
                    return batch.size();
                }
            });
            final long racedSeq = raced.takeSequence();
            final long freshSeq = fresh.takeSequence();
            assertEquals(3, sink.write(batch(new int[] {known.id(), raced.id(), fresh.id()},
                new long[] {7, racedSeq, freshSeq})));
            assertEquals(List.of(known.id() + ":7", racedId + ":" + (racedSeq + 100),
                fresh.databaseId() + ":" + freshSeq), written);
        } finally {
            r.close();
            store.close();
        }
    }

    private static EventBatch batch(int[] ids, long[] seqs) {
        return new EventBatch() {
            @Override
            public long batchId() {
                return 1;
            }

            @Override
            public int size() {
                return ids.length;
            }

            @Override
            public long timestampNanos(int index) {
                return 0;
            }

            @Override
            public int sourceId(int index) {
                return ids[index];
            }

            @Override
            public short kind(int index) {
                return 0;
            }

            @Override
            public double value(int index) {
                return index;
            }

            @Override
            public long sequence(int index) {
                return seqs[index];
            }

            @Override
            public long minTimestampNanos() {
                return 0;
            }

            @Override
            public long maxTimestampNanos() {
                return 0;
            }
        };
    }
}
