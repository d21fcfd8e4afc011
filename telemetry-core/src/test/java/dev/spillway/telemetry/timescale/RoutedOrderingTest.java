package dev.spillway.telemetry.timescale;

import dev.spillway.telemetry.OverflowPolicy;
import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.SourceHandle;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Issue #14: with batches routed to the workers by source, each source's rows are committed in sequence order,
 * against a real PostgreSQL. Four producers own 16 sources each (through {@link SourceHandle}s), four workers
 * write small batches, so every source's rows are spread over hundreds of transactions on several connections.
 *
 * <p>What the database shows: PostgreSQL hands out transaction ids in the order transactions start writing, and a
 * worker starts its next transaction only after the previous one committed. So if one worker writes each source,
 * a source's rows ordered by {@code seq} have non-decreasing {@code xmin}; a later sequence committed by an earlier
 * transaction (another worker overtaking) would show as a smaller {@code xmin}.
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class RoutedOrderingTest {

    private static final long BASE = 1_700_000_000_000_000_000L;
    private static final int PRODUCERS = 4;
    private static final int SOURCES_PER_PRODUCER = 16;
    private static final int EVENTS_PER_SOURCE = 1_500;
    private static TestDatabase db;

    @BeforeAll
    static void createDatabase() {
        db = TestDatabase.create("routed_order");
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    @Test
    void eachSourceIsCommittedInSequenceOrderAcrossFourWorkers() throws Exception {
        final String name = "routed_order";
        // the rows layout: the commit order is read from the rows' xmin
        final TimescaleSink sink = TimescaleSink.builder().storageLayout(StorageLayout.ROWS).jdbcUrl(db.jdbcUrl()).username(db.user())
            .password(db.password()).table(name).poolName("routed-order").poolSize(4).build();
        final Pipeline pipeline = Pipeline.builder().name("routed-order").sink(sink).workers(4).routeBySource(true)
            .batchSize(256).ringSize(4_096).flushInterval(Duration.ofMillis(5)).overflowPolicy(OverflowPolicy.BLOCK)
            .build();
        final CountDownLatch start = new CountDownLatch(1);
        final List<Thread> producers = new ArrayList<>();
        for (int p = 0; p < PRODUCERS; p++) {
            final int producer = p;
            final Thread t = new Thread(() -> {
                final SourceHandle[] sources = new SourceHandle[SOURCES_PER_PRODUCER];
                for (int s = 0; s < SOURCES_PER_PRODUCER; s++) {
                    sources[s] = pipeline.source(producer * 1_000 + s);
                }
                try {
                    start.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
                for (int i = 0; i < EVENTS_PER_SOURCE * SOURCES_PER_PRODUCER; i++) {
                    final SourceHandle h = sources[i % SOURCES_PER_PRODUCER];
                    if (!h.record(BASE + i, (short) 1, i)) {
                        fail("refused under BLOCK: " + h.sourceId());
                    }
                }
            }, "producer-" + p);
            producers.add(t);
            t.start();
        }
        start.countDown();
        for (Thread t : producers) {
            t.join();
        }
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(60));
        final long total = (long) PRODUCERS * SOURCES_PER_PRODUCER * EVENTS_PER_SOURCE;
        assertTrue(stats.isBalanced(), stats::toString);
        assertEquals(total, stats.ingested(), stats::toString);
        assertEquals(total, stats.written(), stats::toString);
        new EventTable(db.jdbcUrl(), db.user(), db.password(), name).assertExactlyOnce(total);

        final Map<Integer, Long> lastSeq = new HashMap<>();
        final Map<Integer, Long> lastXmin = new HashMap<>();
        final Map<Integer, Set<Long>> transactions = new HashMap<>();
        try (Connection c = db.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select source_id, seq, xmin::text::bigint from " + name
                 + " order by source_id, seq")) {
            while (rs.next()) {
                final int source = rs.getInt(1);
                final long seq = rs.getLong(2);
                final long xmin = rs.getLong(3);
                final long expectedSeq = lastSeq.getOrDefault(source, -1L) + 1;
                assertEquals(expectedSeq, seq, "source " + source + ": every sequence, once");
                final Long before = lastXmin.get(source);
                if (before != null && xmin < before) {
                    fail("source " + source + ": seq " + seq + " committed by transaction " + xmin
                        + ", before seq " + (seq - 1) + " (transaction " + before + ")");
                }
                lastSeq.put(source, seq);
                lastXmin.put(source, xmin);
                transactions.computeIfAbsent(source, k -> new HashSet<>()).add(xmin);
            }
        }
        assertEquals(PRODUCERS * SOURCES_PER_PRODUCER, lastSeq.size(), "every source stored");
        for (Map.Entry<Integer, Set<Long>> e : transactions.entrySet()) {
            assertTrue(e.getValue().size() >= 10, "source " + e.getKey() + " spans many transactions, so its order "
                + "was at stake: " + e.getValue().size());
        }
    }
}
