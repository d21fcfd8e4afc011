package dev.spillway.telemetry;

import dev.spillway.telemetry.sink.RetryPolicy;
import dev.spillway.telemetry.testsupport.Await;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Duration;
import java.util.concurrent.Semaphore;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every setting is validated at build time with a message naming it and its range; metrics tell the truth. */
class PipelineConfigTest {

    static Stream<Arguments> invalidSettings() {
        return Stream.of(
            Arguments.of((UnaryOperator<Pipeline.Builder>) b -> b.sink(null), "sink is required"),
            Arguments.of((UnaryOperator<Pipeline.Builder>) b -> b.ringSize(1000), "ringSize must be a power of two"),
            Arguments.of((UnaryOperator<Pipeline.Builder>) b -> b.ringSize(1), "ringSize must be a power of two"),
            Arguments.of((UnaryOperator<Pipeline.Builder>) b -> b.ringSize(64).batchSize(65), "batchSize must be 1..ringSize (64)"),
            Arguments.of((UnaryOperator<Pipeline.Builder>) b -> b.batchSize(0), "batchSize must be"),
            Arguments.of((UnaryOperator<Pipeline.Builder>) b -> b.workers(0), "workers must be 1..256, was 0"),
            Arguments.of((UnaryOperator<Pipeline.Builder>) b -> b.flushInterval(Duration.ZERO), "flushInterval must be 1ms..1h"),
            Arguments.of((UnaryOperator<Pipeline.Builder>) b -> b.closeTimeout(Duration.ofSeconds(-1)), "closeTimeout must be 0..1h"),
            Arguments.of((UnaryOperator<Pipeline.Builder>) b -> b.name("has space"), "name must be 1-64"),
            Arguments.of((UnaryOperator<Pipeline.Builder>) b -> b.overflowPolicy(null), "overflowPolicy must not be null"));
    }

    @ParameterizedTest
    @MethodSource("invalidSettings")
    void buildRejectsInvalidSettingsNamingThem(UnaryOperator<Pipeline.Builder> misconfigure, String expected) {
        final Pipeline.Builder builder = misconfigure.apply(Pipeline.builder().sink(new RecordingSink()));
        final IllegalArgumentException e = assertThrows(IllegalArgumentException.class, builder::build);
        assertTrue(e.getMessage().startsWith("Pipeline.") && e.getMessage().contains(expected), e.getMessage());
    }

    /**
     * Issue #14: the default batch (16,384) is capped at the ring size, so a small ring still builds without a batch
     * size; with BLOCK every event arrives, in at least 200 / 64 writes, also routed by source.
     */
    @ParameterizedTest(name = "routed by source: {0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void theDefaultBatchIsCappedAtTheRingSize(boolean routeBySource) {
        assertEquals(16_384, Pipeline.DEFAULT_BATCH_SIZE);
        final RecordingSink sink = new RecordingSink();
        final Pipeline pipeline = Pipeline.builder().sink(sink).ringSize(64).workers(2).routeBySource(routeBySource)
            .overflowPolicy(OverflowPolicy.BLOCK).flushInterval(Duration.ofMillis(1)).build();
        for (int i = 0; i < 200; i++) {
            assertTrue(pipeline.ingest(i, i % 5, (short) 0, i, i));
        }
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(10));
        assertTrue(stats.isBalanced(), stats::toString);
        assertEquals(200, stats.written(), stats::toString);
        assertEquals(200, sink.events().size());
        assertTrue(sink.writes() >= 4, "batches of at most 64 events: " + sink.writes());
    }

    @Test
    void retryPolicyValidatesToo() {
        assertThrows(IllegalArgumentException.class, () -> RetryPolicy.builder().maxAttempts(0).build());
        assertThrows(IllegalArgumentException.class, () -> RetryPolicy.builder().jitter(1.5).build());
        final IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RetryPolicy.builder()
            .initialBackoff(Duration.ofSeconds(2)).maxBackoff(Duration.ofSeconds(1)).build());
        assertTrue(e.getMessage().contains("maxBackoff"), e.getMessage());
    }

    @Test
    void backoffGrowsExponentiallyUpToItsCap() {
        final RetryPolicy p = RetryPolicy.builder().initialBackoff(Duration.ofMillis(10)).maxBackoff(Duration.ofMillis(50))
            .multiplier(2).jitter(0).build();
        assertEquals(10_000_000L, p.backoffNanos(1));
        assertEquals(20_000_000L, p.backoffNanos(2));
        assertEquals(40_000_000L, p.backoffNanos(3));
        assertEquals(50_000_000L, p.backoffNanos(4));
        final RetryPolicy jittered = RetryPolicy.builder().initialBackoff(Duration.ofMillis(10)).jitter(0.5).build();
        for (int i = 0; i < 100; i++) {
            final long b = jittered.backoffNanos(1);
            assertTrue(b >= 5_000_000L && b <= 15_000_000L, "jitter stays within +/-50%: " + b);
        }
    }

    @Test
    void metricsReportTheSameAccountAsStatsAndAreRemovedAtClose() {
        final SimpleMeterRegistry registry = new SimpleMeterRegistry();
        final Semaphore permits = new Semaphore(0);
        final Pipeline pipeline = Pipeline.builder().name("metered").sink(batch -> {
                permits.acquire();
                return batch.size() - 1;
            })
            .meterRegistry(registry).batchSize(4).workers(1).build();
        for (int i = 0; i < 8; i++) {
            pipeline.ingest(i, 1, (short) 0, i, i);
        }
        permits.release(2);
        Await.until(Duration.ofSeconds(10), () -> pipeline.stats().batchesWritten() == 2, "both batches written");
        final PipelineStats stats = pipeline.stats();
        assertEquals(8.0, registry.get("spillway.events.ingested").tag("pipeline", "metered").functionCounter().count());
        assertEquals((double) stats.written(), registry.get("spillway.events.written").functionCounter().count());
        assertEquals(6.0, stats.written());
        assertEquals((double) stats.rejectedInvalid(),
            registry.get("spillway.events.dropped").tag("reason", "rejected_invalid").functionCounter().count());
        assertEquals(0.0, registry.get("spillway.events.pending").gauge().value());
        assertEquals(2.0, registry.get("spillway.batch.write").timer().count());
        assertEquals(65_536.0, registry.get("spillway.ring.capacity").gauge().value());

        final PipelineStats closed = pipeline.close(Duration.ofSeconds(10));
        assertTrue(closed.isBalanced(), closed::toString);
        assertTrue(registry.find("spillway.events.ingested").meters().isEmpty(), "meters removed at close");
        assertTrue(registry.getMeters().isEmpty(), "every meter removed: " + registry.getMeters());

        // A second pipeline of the same name starts from zero, not from the first one's meters.
        final Pipeline second = Pipeline.builder().name("metered").sink(batch -> batch.size())
            .meterRegistry(registry).build();
        assertTrue(second.ingest(1, 1, (short) 0, 1, 1));
        assertEquals(1.0, registry.get("spillway.events.ingested").tag("pipeline", "metered").functionCounter().count());
        second.close(Duration.ofSeconds(10));
    }
}
