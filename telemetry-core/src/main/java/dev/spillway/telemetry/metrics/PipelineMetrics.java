package dev.spillway.telemetry.metrics;

import dev.spillway.telemetry.ring.EventRing;
import dev.spillway.telemetry.spool.Spool;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;

import java.util.function.ToDoubleFunction;

/**
 * Publishes a pipeline's accounting to Micrometer. Every meter reads the live counters on scrape, so the hot
 * path pays nothing for metrics. All meters carry the tag {@code pipeline=<name>}.
 *
 * <ul>
 *   <li>{@code spillway.events.ingested}, {@code .written}, {@code .failed} (counters)</li>
 *   <li>{@code spillway.events.dropped{reason=overwritten|rejected_full|rejected_closed|rejected_invalid}}</li>
 *   <li>{@code spillway.events.pending} (gauge: accepted, not yet resolved)</li>
 *   <li>{@code spillway.batches.written}, {@code .failed}, {@code spillway.batch.retries} (counters)</li>
 *   <li>{@code spillway.batch.write} (timer: latency of successful sink writes)</li>
 *   <li>{@code spillway.ring.occupancy}, {@code spillway.ring.capacity}, {@code spillway.batches.inflight} (gauges)</li>
 *   <li>with a spool: {@code spillway.events.spooled}, {@code spillway.spool.bytes},
 *       {@code spillway.spool.oldest.age} (seconds) (gauges); {@code spillway.batches.spooled},
 *       {@code spillway.batches.replayed}, {@code spillway.spool.corrupt.records},
 *       {@code spillway.spool.dropped.segments}, {@code spillway.events.recovered} (counters)</li>
 * </ul>
 */
public final class PipelineMetrics {

    private PipelineMetrics() {
    }

    /**
     * Registers the meters.
     *
     * @return the batch-write timer, for the workers to record into
     */
    public static Timer bind(MeterRegistry registry, String pipelineName, PipelineCounters counters, EventRing ring,
                             Spool spool) {
        final Tags tags = Tags.of("pipeline", pipelineName);
        final long recovered = spool == null ? 0 : spool.recoveredEvents();
        counter(registry, "spillway.events.ingested", "events offered to ingest, accepted or not, plus recovered from "
            + "the spool", tags, counters, c -> (double) (ring.claimed() + c.refusedWithoutClaim() + recovered));
        counter(registry, "spillway.events.written", "events the sink durably wrote", tags, counters,
            c -> (double) c.written());
        counter(registry, "spillway.events.failed", "events in batches given up on", tags, counters,
            c -> (double) (c.failed() + (spool == null ? 0 : spool.droppedEvents())));
        final String dropped = "spillway.events.dropped";
        final String droppedHelp = "events lost before the sink, by reason";
        counter(registry, dropped, droppedHelp, tags.and("reason", "overwritten"), counters,
            c -> (double) c.overwritten());
        counter(registry, dropped, droppedHelp, tags.and("reason", "rejected_full"), counters,
            c -> (double) c.rejectedFull());
        counter(registry, dropped, droppedHelp, tags.and("reason", "rejected_closed"), counters,
            c -> (double) c.rejectedClosed());
        counter(registry, dropped, droppedHelp, tags.and("reason", "rejected_invalid"), counters,
            c -> (double) c.rejectedInvalid());
        counter(registry, "spillway.batches.written", "batches the sink wrote", tags, counters,
            c -> (double) c.batchesWritten());
        counter(registry, "spillway.batches.failed", "batches given up on", tags, counters,
            c -> (double) c.batchesFailed());
        counter(registry, "spillway.batch.retries", "write attempts after a first failure", tags, counters,
            c -> (double) c.retries());
        Gauge.builder("spillway.events.pending", counters, c -> (double) (ring.claimed() + c.refusedWithoutClaim()
                + recovered - c.written() - c.overwritten() - c.rejectedFull() - c.rejectedClosed()
                - c.rejectedInvalid() - c.failed()
                - (spool == null ? 0 : spool.droppedEvents() + spool.events())))
            .description("events accepted and not yet written, dropped, failed or spooled").tags(tags)
            .register(registry);
        if (spool != null) {
            Gauge.builder("spillway.events.spooled", spool, s -> (double) s.events())
                .description("events in the spool waiting for replay").tags(tags).register(registry);
            Gauge.builder("spillway.spool.bytes", spool, s -> (double) s.bytes()).baseUnit("bytes")
                .description("bytes of spool segment files on disk").tags(tags).register(registry);
            Gauge.builder("spillway.spool.oldest.age", spool, Spool::oldestAgeSeconds).baseUnit("seconds")
                .description("age of the oldest batch waiting in the spool").tags(tags).register(registry);
            FunctionCounter.builder("spillway.batches.spooled", spool, s -> (double) s.appendedBatches())
                .description("batches appended to the spool").tags(tags).register(registry);
            FunctionCounter.builder("spillway.batches.replayed", spool, s -> (double) s.replayedBatches())
                .description("spooled batches written back").tags(tags).register(registry);
            FunctionCounter.builder("spillway.spool.corrupt.records", spool, s -> (double) s.corruptRecords())
                .description("torn or corrupt spool records skipped").tags(tags).register(registry);
            FunctionCounter.builder("spillway.spool.dropped.segments", spool, s -> (double) s.droppedSegments())
                .description("spool segments dropped because the spool was full").tags(tags).register(registry);
            FunctionCounter.builder("spillway.events.recovered", spool, s -> (double) s.recoveredEvents())
                .description("events found in the spool at start").tags(tags).register(registry);
        }
        Gauge.builder("spillway.ring.occupancy", ring, r -> (double) r.occupancy())
            .description("events in the ring not yet read by the pump").tags(tags).register(registry);
        Gauge.builder("spillway.ring.capacity", ring, r -> (double) r.capacity())
            .description("slots in the ring").tags(tags).register(registry);
        Gauge.builder("spillway.batches.inflight", counters, c -> (double) c.batchesInFlight())
            .description("batches handed to workers and not yet finished").tags(tags).register(registry);
        return Timer.builder("spillway.batch.write").description("latency of successful sink writes")
            .tags(tags).publishPercentileHistogram().register(registry);
    }

    private static void counter(MeterRegistry registry, String name, String help, Tags tags, PipelineCounters counters,
                                ToDoubleFunction<PipelineCounters> f) {
        FunctionCounter.builder(name, counters, f).description(help).tags(tags).register(registry);
    }
}
