package dev.spillway.telemetry.timescale;

import dev.spillway.telemetry.OverflowPolicy;
import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.SourceHandle;
import dev.spillway.telemetry.SpoolConfig;
import dev.spillway.telemetry.sink.RetryPolicy;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.PgCommitCuttingProxy;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A batch whose commit was ambiguous (committed, but the acknowledgement was cut) and that was spooled anyway
 * (no retries left) keeps its ledger key through the spool: the replay finds it committed and writes nothing.
 */
class SpoolCommitCutFaultTest {

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(StorageLayout.class)
    void anAmbiguousCommitThatWasSpooledIsNotWrittenTwiceOnReplay(StorageLayout layout) throws Exception {
        try (TestDatabase db = TestDatabase.create("spoolcut_" + layout.name().toLowerCase(java.util.Locale.ROOT));
             PgCommitCuttingProxy proxy = PgCommitCuttingProxy.start(db.host(), db.port())) {
            final TimescaleSink sink = TimescaleSink.builder().jdbcUrl(proxy.jdbcUrl(db.name())).username(db.user())
                .password(db.password()).poolSize(1).connectionTimeout(Duration.ofSeconds(2)).storageLayout(layout)
                .build();
            final PipelineStats stats;
            try (LogCapture log = new LogCapture(TimescaleSink.class)) {
                final Pipeline pipeline = Pipeline.builder().name("spoolcut").sink(sink).workers(1).batchSize(500)
                    .overflowPolicy(OverflowPolicy.BLOCK).retryPolicy(RetryPolicy.none())
                    .spool(SpoolConfig.builder(dir).segmentBytes(1L << 20).maxBytes(8L << 20).fsyncAlways().build())
                    .build();
                final SourceHandle source = pipeline.source(1);
                for (int i = 0; i < 100; i++) {
                    source.record((short) 1, i);
                }
                Await.until(Duration.ofSeconds(20), () -> pipeline.stats().written() == 100, "warm-up written");
                proxy.cutNextCommit();
                for (int i = 100; i < 1_100; i++) {
                    source.record((short) 1, i);
                }
                Await.until(Duration.ofSeconds(30), () -> pipeline.stats().written() == 1_100
                    && pipeline.stats().spooled() == 0, "all written, the spool replayed: " + pipeline.stats());
                stats = pipeline.close(Duration.ofSeconds(30));
                assertEquals(1, proxy.cuts(), "exactly one commit acknowledgement was cut");
                assertTrue(stats.batchesSpooled() >= 1, "the cut batch went to the spool: " + stats);
                assertTrue(log.messages("DEBUG").stream().anyMatch(m -> m.contains("committed by an earlier attempt")),
                    "the replay found the batch in the ledger: " + log.messages("DEBUG"));
            }
            assertTrue(stats.isBalanced(), stats.toString());
            assertEquals(0, stats.failed());
            final EventTable table = new EventTable(db.jdbcUrl(), db.user(), db.password(), "telemetry_events");
            table.assertExactlyOnce(1_100);
        }
    }
}
