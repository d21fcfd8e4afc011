package dev.spillway.telemetry;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PipelineBasicsTest {

    @Test
    void deliversEveryEventInOrderAndBalancesAtClose() {
        final RecordingSink sink = new RecordingSink();
        final Pipeline pipeline = Pipeline.builder().sink(sink).ringSize(1024).batchSize(100).workers(1).build(); // one worker: batches stay in order
        final SourceHandle source = pipeline.source(7);
        for (int i = 0; i < 10_000; i++) {
            assertTrue(source.record(1_700_000_000_000_000_000L + i, (short) 3, i * 0.5));
        }
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(10));

        final List<RecordingSink.Event> events = sink.events();
        final long overwritten = stats.overwritten();
        assertEquals(10_000, stats.ingested());
        assertEquals(10_000 - overwritten, events.size());
        assertEquals(events.size(), stats.written());
        assertTrue(stats.isBalanced(), stats::toString);
        long previous = -1;
        for (RecordingSink.Event e : events) {
            assertEquals(7, e.sourceId());
            assertEquals(3, e.kind());
            assertTrue(e.sequence() > previous, "sequences increase");
            assertEquals(e.sequence() * 0.5, e.value());
            assertEquals(1_700_000_000_000_000_000L + e.sequence(), e.timestampNanos());
            previous = e.sequence();
        }
    }

    @Test
    void refusesAndCountsEventsAfterClose() {
        final Pipeline pipeline = Pipeline.builder().sink(new RecordingSink()).build();
        assertTrue(pipeline.ingest(1, 1, (short) 0, 1.0, 0));
        final PipelineStats atClose = pipeline.close(Duration.ofSeconds(10));
        assertFalse(pipeline.isRunning());
        assertFalse(pipeline.ingest(2, 1, (short) 0, 2.0, 1));
        final PipelineStats after = pipeline.stats();
        assertEquals(1, atClose.ingested());
        assertEquals(2, after.ingested());
        assertEquals(1, after.written());
        assertEquals(1, after.rejectedClosed());
        assertTrue(after.isBalanced(), after::toString);
        assertEquals(atClose, pipeline.close(Duration.ofSeconds(1)), "close is idempotent and returns the final account");
    }
}
