package dev.spillway.collector;

import dev.spillway.collector.config.PipelineSettings;
import dev.spillway.runtime.lifecycle.Service;
import dev.spillway.runtime.lifecycle.ServiceStack;
import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.sink.Sink;
import dev.spillway.telemetry.sink.RetryPolicy;
import io.micrometer.core.instrument.MeterRegistry;

import java.time.Duration;

/**
 * The collector's one pipeline, built from its settings and pushed onto the service stack so that stopping drains
 * it: everything accepted reaches the sink, the spool, or a counter before the connections behind it close. Keeps
 * the final account of that drain for the collector's last log line.
 */
final class DrainedPipeline {

    private final Pipeline pipeline;
    private volatile PipelineStats drained;

    private DrainedPipeline(Pipeline pipeline) {
        this.pipeline = pipeline;
    }

    /** Builds the pipeline on {@code sink} and pushes its drain, with the close timeout plus {@code slack}. */
    static DrainedPipeline start(ServiceStack services, PipelineSettings ps, Sink sink, MeterRegistry meters,
                                 Duration slack) {
        final DrainedPipeline p = new DrainedPipeline(Pipeline.builder().name("collector").sink(sink)
            .ringSize(ps.ringSize()).batchSize(ps.batchSize()).flushInterval(ps.flushInterval())
            .workers(ps.workers()).overflowPolicy(ps.overflowPolicy())
            .retryPolicy(RetryPolicy.builder().maxAttempts(ps.retryAttempts()).maxElapsed(ps.retryMaxElapsed()).build())
            .closeTimeout(ps.closeTimeout()).meterRegistry(meters).spool(ps.spool()).build());
        services.push(Service.of("pipeline", d -> {
            p.drained = p.pipeline.close(ps.closeTimeout());
            return p.drained.isBalanced();
        }), ps.closeTimeout().plus(slack));
        return p;
    }

    Pipeline pipeline() {
        return pipeline;
    }

    /** The account at the end of the drain, or null before it (or when it never ran). */
    PipelineStats drained() {
        return drained;
    }
}
