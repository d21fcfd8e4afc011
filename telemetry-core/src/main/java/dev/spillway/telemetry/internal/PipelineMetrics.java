package dev.spillway.telemetry.internal;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;

import java.util.ArrayList;
import java.util.List;
import java.util.function.ToDoubleFunction;

/**
 * Publishes a pipeline's accounting to Micrometer. Every meter reads the live counters on scrape, so the hot
 * path pays nothing for metrics. All meters carry the tag {@code pipeline=<name>}, and all are removed from the
 * registry at close ({@link #unbind()}), so a later pipeline of the same name gets its own.
 *
 * <ul>
 *   <li>{@code spillway.events.ingested}, {@code .written}, {@code .written.late}, {@code .failed} (counters);
 *       {@code spillway.events.abandoned} (gauge: in doubt since the close deadline)</li>
 *   <li>{@code spillway.events.dropped{reason=overwritten|rejected_full|rejected_closed|rejected_interrupted|rejected_invalid|spool_full}}</li>
 *   <li>{@code spillway.events.pending} (gauge: accepted, not yet resolved; from the same snapshot as {@code stats()})</li>
 *   <li>{@code spillway.batches.written}, {@code .failed}, {@code spillway.batch.retries} (counters)</li>
 *   <li>{@code spillway.callback.failures} (counter: throws from classifiers, handlers, idle strategies, Errors from sinks)</li>
 *   <li>{@code spillway.batch.write} (timer: latency of successful sink writes)</li>
 *   <li>{@code spillway.ring.occupancy}, {@code spillway.ring.capacity}, {@code spillway.batches.inflight} (gauges)</li>
 *   <li>with a spool: {@code spillway.events.spooled}, {@code spillway.spool.bytes}, {@code spillway.spool.full},
 *       {@code spillway.spool.oldest.age} (seconds) (gauges); {@code spillway.batches.spooled},
 *       {@code spillway.batches.replayed}, {@code spillway.spool.corrupt.records},
 *       {@code spillway.spool.dropped.segments}, {@code spillway.events.recovered} (counters)</li>
 * </ul>
 */
final class PipelineMetrics {

    private final MeterRegistry registry;
    private final List<Meter> meters = new ArrayList<>();
    private final Timer writeTimer;

    PipelineMetrics(MeterRegistry registry, String pipelineName, PipelineCore core, PipelineCounters counters,
                    Spool spool) {
        this.registry = registry;
        final Tags tags = Tags.of("pipeline", pipelineName);
        counter("spillway.events.ingested", "events offered to ingest, accepted or not", tags, core,
            c -> (double) c.account().ingested());
        counter("spillway.events.written", "events the sink durably wrote", tags, counters, c -> (double) c.written());
        counter("spillway.events.written.late", "events whose write returned successfully after the close deadline "
            + "had given their batch up", tags, counters, c -> (double) c.writtenLate());
        meters.add(Gauge.builder("spillway.events.abandoned", counters, c -> (double) c.abandoned())
            .description("events given up at the close deadline while their write was still running: outcome "
                + "unknown until it returns").tags(tags).register(registry));
        counter("spillway.events.failed", "events given up on", tags, core, c -> (double) c.account().failed());
        final String dropped = "spillway.events.dropped";
        final String droppedHelp = "events lost before the sink, by reason";
        counter(dropped, droppedHelp, tags.and("reason", "overwritten"), counters, c -> (double) c.overwritten());
        counter(dropped, droppedHelp, tags.and("reason", "rejected_full"), counters, c -> (double) c.rejectedFull());
        counter(dropped, droppedHelp, tags.and("reason", "rejected_closed"), core,
            c -> (double) c.account().rejectedClosed());
        counter(dropped, droppedHelp, tags.and("reason", "rejected_interrupted"), counters,
            c -> (double) c.rejectedInterrupted());
        counter(dropped, droppedHelp, tags.and("reason", "rejected_invalid"), counters,
            c -> (double) c.rejectedInvalid());
        counter("spillway.batches.written", "batches the sink wrote", tags, counters, c -> (double) c.batchesWritten());
        counter("spillway.batches.failed", "batches given up on", tags, counters, c -> (double) c.batchesFailed());
        counter("spillway.batch.retries", "write attempts after a first failure", tags, counters,
            c -> (double) c.retries());
        counter("spillway.callback.failures", "throws from user callbacks and Errors from sinks, survived", tags,
            counters, c -> (double) c.callbackFailures());
        meters.add(Gauge.builder("spillway.events.pending", core, c -> (double) c.account().pending())
            .description("events accepted and not yet written, dropped, failed or spooled").tags(tags)
            .register(registry));
        if (spool != null) {
            counter(dropped, droppedHelp, tags.and("reason", "spool_full"), spool, s -> (double) s.droppedEvents());
            meters.add(Gauge.builder("spillway.spool.full", spool, s -> s.isFull() ? 1 : 0)
                .description("1 while the spool refuses batches for lack of room").tags(tags).register(registry));
            meters.add(Gauge.builder("spillway.events.spooled", core, c -> (double) c.account().spooled())
                .description("events in the spool waiting for replay").tags(tags).register(registry));
            meters.add(Gauge.builder("spillway.spool.bytes", spool, s -> (double) s.bytes()).baseUnit("bytes")
                .description("bytes of spool segment files on disk").tags(tags).register(registry));
            meters.add(Gauge.builder("spillway.spool.oldest.age", spool, Spool::oldestAgeSeconds).baseUnit("seconds")
                .description("age of the oldest batch waiting in the spool").tags(tags).register(registry));
            counter("spillway.batches.spooled", "batches appended to the spool", tags, spool,
                s -> (double) s.appendedBatches());
            counter("spillway.batches.replayed", "spooled batches written back", tags, spool,
                s -> (double) s.replayedBatches());
            counter("spillway.spool.corrupt.records", "torn or corrupt spool records skipped", tags, spool,
                s -> (double) s.corruptRecords());
            counter("spillway.spool.dropped.segments", "spool segments dropped because the spool was full (only "
                + "segments without commit-acknowledged batches; their events: dropped{reason=spool_full})", tags,
                spool, s -> (double) s.droppedSegments());
            counter("spillway.events.recovered", "events found in the spool at start (counted in ingested)", tags,
                spool, s -> (double) s.recoveredEvents());
        }
        meters.add(Gauge.builder("spillway.ring.occupancy", core, c -> (double) c.ringOccupancy())
            .description("events in the ring not yet read by the pump").tags(tags).register(registry));
        meters.add(Gauge.builder("spillway.ring.capacity", core, c -> (double) c.ringCapacity())
            .description("slots in the ring").tags(tags).register(registry));
        meters.add(Gauge.builder("spillway.batches.inflight", counters, c -> (double) c.batchesInFlight())
            .description("batches handed to workers and not yet finished").tags(tags).register(registry));
        writeTimer = Timer.builder("spillway.batch.write").description("latency of successful sink writes")
            .tags(tags).publishPercentileHistogram().register(registry);
        meters.add(writeTimer);
    }

    /** The batch-write timer, for the workers to record into. */
    Timer writeTimer() {
        return writeTimer;
    }

    /** Removes every meter of this pipeline from the registry. */
    void unbind() {
        for (Meter m : meters) {
            registry.remove(m);
        }
    }

    private <T> void counter(String name, String help, Tags tags, T source, ToDoubleFunction<T> f) {
        meters.add(FunctionCounter.builder(name, source, f).description(help).tags(tags).register(registry));
    }
}
