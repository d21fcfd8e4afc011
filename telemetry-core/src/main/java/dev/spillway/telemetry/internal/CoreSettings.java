package dev.spillway.telemetry.internal;

import dev.spillway.telemetry.sink.FailedBatchHandler;
import dev.spillway.telemetry.sink.RetryPolicy;
import dev.spillway.telemetry.sink.Sink;
import io.micrometer.core.instrument.MeterRegistry;
import org.agrona.concurrent.IdleStrategy;

/**
 * Validated settings of one pipeline, as the API's builder hands them to {@link PipelineCore}.
 *
 * @param failedBatchHandler may be null
 * @param meterRegistry may be null
 * @param spool the spool, or null for none
 * @param routeBySource whether each source's events go to one worker (one lane per worker), or batches go to
 *     whichever worker is free (arrival order)
 */
public record CoreSettings(
    String name,
    Sink sink,
    int ringSize,
    int batchSize,
    long flushIntervalNanos,
    int workers,
    RingMode mode,
    RetryPolicy retryPolicy,
    FailedBatchHandler failedBatchHandler,
    IdleStrategy idleStrategy,
    MeterRegistry meterRegistry,
    SpoolSettings spool,
    boolean routeBySource) {
}
