package dev.spillway.telemetry.timescale;

import dev.spillway.telemetry.OverflowPolicy;
import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.SourceHandle;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Fault 5: events overwritten in a full ring show up as per-source sequence gaps that {@link GapQuery} finds. */
class GapQueryTest {

    private static TestDatabase db;

    @BeforeAll
    static void createDatabase() {
        db = TestDatabase.create("gaps");
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    @ParameterizedTest
    @EnumSource(StorageLayout.class)
    void queryListsKnownGaps(StorageLayout layout) throws Exception {
        final String name = "known_gaps_" + layout.name().toLowerCase(java.util.Locale.ROOT);
        try (TimescaleSink sink = TimescaleSink.builder().dataSource(db.dataSource()).table(name)
                .storageLayout(layout).build()) {
            final TestBatch b = new TestBatch(1);
            for (long seq : new long[] {0, 1, 2, 5, 6, 10}) {
                b.add(seq * 1_000, 1, (short) 1, 0, seq);
            }
            for (long seq : new long[] {3, 4, 8}) {
                b.add(seq * 1_000, 2, (short) 1, 0, seq);
            }
            sink.write(b);
        }
        assertEquals(List.of("1 2 5 2", "1 6 10 3", "2 4 8 3"), gaps(GapQuery.sql(name)));
        assertEquals(List.of("1 2 5 2", "1 6 10 3", "2 4 8 3"), gaps(GapQuery.sql(name, layout)));
    }

    /**
     * With {@link StorageLayout#BLOCKS} the batches of 64 events over 8 sources hold up to 8 events per source, so
     * both blocks (with and without stored sequences) and rows are written; the gaps found must be exact either way.
     */
    @ParameterizedTest
    @EnumSource(StorageLayout.class)
    void overwrittenEventsEqualTheGapsFound(StorageLayout layout) throws Exception {
        final String name = "overwritten_" + layout.name().toLowerCase(java.util.Locale.ROOT);
        final GatedSink gated = new GatedSink(TimescaleSink.builder().jdbcUrl(db.jdbcUrl()).username(db.user())
            .password(db.password()).table(name).storageLayout(layout).build());
        final Pipeline pipeline = Pipeline.builder().name("gaps").sink(gated).workers(1).ringSize(64)
            .batchSize(layout == StorageLayout.BLOCKS ? 64 : 16)
            .flushInterval(Duration.ofMillis(2)).overflowPolicy(OverflowPolicy.OVERWRITE_OLDEST)
            .retryPolicy(PoisonedRowPipelineTest.fastRetries()).build();
        final int sourceCount = 8;
        final SourceHandle[] sources = new SourceHandle[sourceCount];
        for (int s = 0; s < sourceCount; s++) {
            sources[s] = pipeline.source(100 + s);
            sources[s].record((short) 1, 0); // seq 0
        }
        // Once the pump has taken the first events out of the ring they cannot be overwritten any more: every
        // source's first event survives, so every later loss is a gap between stored events.
        Await.until(Duration.ofSeconds(10), () -> pipeline.stats().ringOccupancy() == 0 && gated.entered() >= 1,
            "first events read: " + pipeline.stats());
        // One producer, round robin: the newest ring-full of events holds the last event of every source, so no
        // loss hides at the end either.
        for (int round = 1; round <= 2_000; round++) {
            for (SourceHandle source : sources) {
                source.record((short) 1, round);
            }
        }
        gated.open();
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(30));

        assertTrue(stats.isBalanced(), stats.toString());
        assertEquals(sourceCount * 2_001L, stats.ingested());
        assertTrue(stats.overwritten() > 0, "the tiny ring overflowed: " + stats);
        assertEquals(0, stats.failed() + stats.rejected());
        final EventTable table = new EventTable(db.jdbcUrl(), db.user(), db.password(), name);
        table.assertExactlyOnce(stats.written());
        final long missing = table.queryLong("select coalesce(sum(missing), 0) from (" + GapQuery.sql(name) + ") g");
        assertEquals(stats.overwritten(), missing, "gaps found by the query vs. overwritten count; " + stats);
        assertEquals(gaps(GapQuery.sql(name)), gaps(GapQuery.sql(name, layout)), "the layout's own gap query");
        for (int s = 0; s < sourceCount; s++) {
            final List<Long> seqs = table.sequences(100 + s);
            assertEquals(0L, seqs.get(0));
            assertEquals(2_000L, seqs.get(seqs.size() - 1));
        }
    }

    private static List<String> gaps(String sql) throws Exception {
        try (Connection c = db.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery(sql)) {
            final List<String> out = new ArrayList<>();
            while (rs.next()) {
                out.add(rs.getInt("source_id") + " " + rs.getLong("after_seq") + " " + rs.getLong("before_seq") + " "
                    + rs.getLong("missing"));
            }
            return out;
        }
    }
}
