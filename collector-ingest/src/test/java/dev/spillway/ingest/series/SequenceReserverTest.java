package dev.spillway.ingest.series;

import dev.spillway.runtime.db.SchemaMigrations;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Sequence reservations against a real PostgreSQL: numbers come only from committed ranges, a restart after a crash
 * starts at the reserved limit (no reuse), a clean shutdown saves the exact next number, and a second writer on
 * the same series makes this one jump above it instead of overlapping.
 */
class SequenceReserverTest {

    private static TestDatabase db;

    @BeforeAll
    static void start() throws Exception {
        db = TestDatabase.create("collector_seq");
        db.execute("CREATE TABLE telemetry_events (time timestamptz NOT NULL, source_id int NOT NULL, "
            + "kind smallint NOT NULL, value double precision NOT NULL, seq bigint NOT NULL)");
        SchemaMigrations.apply(db.dataSource(), SeriesSchema.migrations("telemetry_events"));
    }

    @AfterAll
    static void stop() {
        db.close();
    }

    private static SeriesRegistry registry() throws Exception {
        // A long interval: rounds happen only when a taker asks, so the test sees each one.
        return new SeriesRegistry(db.dataSource(), 100, 1, Duration.ofHours(1));
    }

    private static Series series(SeriesRegistry r, String host) {
        return r.resolve(SeriesKey.of("seq", List.of("host", host), "v"), "seq", List.of("host", host), "v").join();
    }

    private static long nextSeqInDb(String host) {
        return db.queryLong("SELECT next_seq FROM telemetry_sources WHERE tags->>'host' = '" + host + "'");
    }

    @Test
    void aCrashNeverReusesAndACleanShutdownLeavesNoGap() throws Exception {
        final long firstRun;
        // Run 1: a new series has its first block reserved; taking beyond it asks for more.
        SeriesRegistry r = registry();
        Series s = series(r, "a");
        for (long i = 0; i < 3000; i++) {
            assertEquals(i, s.takeSequence());
        }
        firstRun = s.peekSequence();
        assertTrue(nextSeqInDb("a") >= firstRun, "reserved " + nextSeqInDb("a") + " < used " + firstRun);
        r.close(); // a crash: nothing saved beyond the reservations

        // Run 2 after the "crash": continues at the reserved limit, above everything run 1 used.
        final long reservedAtCrash = nextSeqInDb("a");
        r = registry();
        s = series(r, "a");
        final long first = s.takeSequence();
        assertEquals(reservedAtCrash, first, "continues exactly at the reserved limit");
        assertTrue(first >= firstRun);
        for (int i = 0; i < 10; i++) {
            s.takeSequence();
        }
        final long expectedNext = s.peekSequence();
        r.saveSequences(); // clean shutdown
        assertEquals(Series.UNAVAILABLE, s.takeSequence(), "no numbers after the save");
        r.close();
        assertEquals(expectedNext, nextSeqInDb("a"), "the exact next number is saved");

        // Run 3 after the clean shutdown: no gap.
        r = registry();
        assertEquals(expectedNext, series(r, "a").takeSequence());
        r.close();
    }

    @Test
    void twoWritersOnOneSeriesNeverShareANumber() throws Exception {
        final SeriesRegistry one = registry();
        final SeriesRegistry two = registry();
        try {
            final Series a = series(one, "shared");
            final Series b = series(two, "shared"); // reserved the block above one's
            final Set<Long> seen = new HashSet<>();
            final CompletableFuture<long[]> fromTwo = CompletableFuture.supplyAsync(() -> {
                final long[] got = new long[5000];
                for (int i = 0; i < got.length; i++) {
                    got[i] = b.takeSequence();
                }
                return got;
            });
            for (int i = 0; i < 5000; i++) {
                final long n = a.takeSequence();
                assertTrue(n >= 0, "unavailable");
                assertTrue(seen.add(n), "number " + n + " twice");
            }
            for (long n : fromTwo.join()) {
                assertTrue(n >= 0, "unavailable");
                assertTrue(seen.add(n), "number " + n + " taken by both writers");
            }
            assertEquals(10_000, seen.size());
            assertTrue(nextSeqInDb("shared") > seen.stream().mapToLong(Long::longValue).max().orElseThrow());
        } finally {
            one.close();
            two.close();
        }
    }
}
