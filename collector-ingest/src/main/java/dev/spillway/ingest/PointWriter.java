package dev.spillway.ingest;

import dev.spillway.ingest.Saturation;
import dev.spillway.ingest.series.Series;
import dev.spillway.ingest.series.SeriesKey;
import dev.spillway.ingest.series.SeriesKeyBuilder;
import dev.spillway.ingest.series.SeriesLimitException;
import dev.spillway.ingest.series.SeriesRegistry;
import dev.spillway.telemetry.Pipeline;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * The one way data enters the collector's pipeline. Line protocol (HTTP, TCP, UDP), probe results and heartbeat
 * pings all become events here, so series resolution, per-series sequence numbers, the series limit,
 * back-pressure and accounting are the same for all of them. Nothing else calls {@link Pipeline#ingest} (or {@link Pipeline#ingestClaimed}).
 *
 * <h2>How to use it</h2>
 * Each input takes one {@link Producer} at start ({@code writer.producer("heartbeat")}); its counters appear as
 * {@code spillway_collector_points_total{producer,outcome}} and
 * {@code spillway_collector_point_events_total{producer,outcome}}. Then either
 * <ul>
 *   <li>{@link Producer#write(Point)}: the convenient path for inputs that produce whole points (probes,
 *       heartbeats). Resolves (and if needed creates) the point's series, then ingests one event per field with
 *       the series' next sequence. Completes at once when every series is known, otherwise on a series thread
 *       once they exist; never completes exceptionally (failures are {@link WriteResult outcomes}). The point is
 *       all-or-nothing with respect to series errors; or</li>
 *   <li>{@link #cached}, {@link #resolve} and {@link Producer#ingest}: the allocation-free path used by the
 *       line-protocol parser, which needs to keep lines of known series moving while new ones are created.</li>
 * </ul>
 * Before accepting work from the outside, check {@link #saturated()} and push back (HTTP 503, skipping a probe
 * result is not an option: probes write and let the pipeline's overflow policy decide).
 *
 * <p>Back-pressure: {@link Producer#ingest} follows the pipeline's overflow policy ({@code block} waits for a
 * free slot; the others refuse or overwrite, and the pipeline counts it). A refused event has still consumed its
 * sequence number, so the refusal shows as a gap in {@code seq} as well as in the counters.
 *
 * <p>Thread-safe.
 */
public final class PointWriter {

    private final Pipeline pipeline;
    private final SeriesRegistry registry;
    private final Saturation saturation;
    private final MeterRegistry meters;
    private final Map<String, Producer> producers = new ConcurrentHashMap<>();

    /**
     * @param saturation when inputs should push back
     * @param meters where the per-producer counters are registered
     */
    public PointWriter(Pipeline pipeline, SeriesRegistry registry, Saturation saturation, MeterRegistry meters) {
        this.pipeline = pipeline;
        this.registry = registry;
        this.saturation = saturation;
        this.meters = meters;
    }

    /** The producer handle for an input, created on first use; the same name returns the same handle. */
    public Producer producer(String name) {
        return producers.computeIfAbsent(name, Producer::new);
    }

    /**
     * The series for the key in the builder if known, without blocking or allocating; null when it must be
     * {@link #resolve resolved}.
     */
    public Series cached(SeriesKeyBuilder seriesKey) {
        return registry.cached(seriesKey);
    }

    /**
     * Finds or creates a series; see {@link SeriesRegistry#resolve}. Completes exceptionally with
     * {@link SeriesLimitException} at the limit, or with the database error.
     */
    public CompletableFuture<Series> resolve(SeriesKey seriesKey, String measurement, List<String> tags,
                                             String field) {
        return registry.resolve(seriesKey, measurement, tags, field);
    }

    /**
     * Completes when every ring sequence in {@code [from, to]} (from {@link Producer#ingestClaimed}) is resolved:
     * {@code true} when all were committed or durably spooled, {@code false} when any was lost. See
     * {@link Pipeline#whenResolved}.
     */
    public CompletableFuture<Boolean> whenResolved(long from, long to) {
        return pipeline.whenResolved(from, to);
    }

    /**
     * Opens an acknowledgement scope before ingesting events whose client will be told they are durable (an HTTP
     * write with {@code ack=commit}): while it is open, a full spool never drops batches holding them. Close it with
     * {@link #closeAckScope} once the answer is decided. See {@link Pipeline#openAckScope}.
     */
    public long openAckScope() {
        return pipeline.openAckScope();
    }

    /** Closes a scope from {@link #openAckScope}. */
    public void closeAckScope(long scope) {
        pipeline.closeAckScope(scope);
    }

    /**
     * Creates the series of every field of these points ahead of their first write, in a few database round
     * trips on the caller's thread (values and times are ignored). For inputs that know their series in advance,
     * such as the result fields of thousands of monitors loaded at start.
     *
     * @return series created in the database
     */
    public int preload(List<Point> templates) throws java.sql.SQLException {
        final List<SeriesRegistry.Ref> refs = new java.util.ArrayList<>();
        for (Point p : templates) {
            for (int i = 0; i < p.fieldCount(); i++) {
                refs.add(new SeriesRegistry.Ref(p.seriesKey(i), p.measurement(), p.tags(), p.field(i)));
            }
        }
        return registry.preload(refs);
    }

    /** Whether series carry local ids (a NATS-only edge's, see {@link SeriesRegistry#edge}) and not catalogue ids. */
    public boolean localSeriesIds() {
        return registry.edge();
    }

    /** Whether inputs should turn new work away (ring above the high-water mark, spool full, or closing). */
    public boolean saturated() {
        return saturation.saturated();
    }

    /** One input's door into the pipeline, with its own counters. */
    public final class Producer {
        private final String name;
        private final LongAdder eventsWritten = new LongAdder();
        private final LongAdder eventsRefused = new LongAdder();
        private final LongAdder[] points = new LongAdder[WriteResult.Outcome.values().length];

        private Producer(String name) {
            this.name = name;
            FunctionCounter.builder("spillway.collector.point.events", eventsWritten, LongAdder::sum)
                .tag("producer", name).tag("outcome", "written")
                .description("events handed to the pipeline and accepted, by producer").register(meters);
            FunctionCounter.builder("spillway.collector.point.events", eventsRefused, LongAdder::sum)
                .tag("producer", name).tag("outcome", "refused")
                .description("events the pipeline refused, by producer").register(meters);
            for (WriteResult.Outcome o : WriteResult.Outcome.values()) {
                final LongAdder a = new LongAdder();
                points[o.ordinal()] = a;
                FunctionCounter.builder("spillway.collector.points", a, LongAdder::sum)
                    .tag("producer", name).tag("outcome", o.tag())
                    .description("points written through PointWriter.write, by producer and outcome")
                    .register(meters);
            }
        }

        /** The producer's name, as in the meters. */
        public String name() {
            return name;
        }

        /**
         * Ingests one event with the series' next sequence number. Allocation-free.
         *
         * @return false when the pipeline refused it (closing, or full under a refusing policy) or no sequence
         *     number could be reserved for it (database down for {@code SequenceReserver}'s wait, or shutting down)
         */
        public boolean ingest(long timestampNanos, Series series, short kind, double value) {
            return ingestClaimed(timestampNanos, series, kind, value) >= 0;
        }

        /**
         * Like {@link #ingest}, returning the ring sequence the event claimed (for {@link #whenResolved}), or -1
         * when the pipeline refused it or no sequence number could be reserved. Allocation-free.
         */
        public long ingestClaimed(long timestampNanos, Series series, short kind, double value) {
            final long ring = claimUncounted(timestampNanos, series, kind, value);
            if (ring >= 0) {
                eventsWritten.increment();
            } else {
                eventsRefused.increment();
            }
            return ring;
        }

        /**
         * {@link #ingestClaimed} without touching the counters: for a caller that tallies a whole body's events and
         * adds them once with {@link #count} (the line-protocol ingestor), instead of one contended counter update
         * per event.
         */
        long claimUncounted(long timestampNanos, Series series, short kind, double value) {
            final long seq = series.takeSequence();
            return seq == Series.UNAVAILABLE ? -1
                : pipeline.ingestClaimed(timestampNanos, series.id(), kind, value, seq);
        }

        /** Adds events claimed through {@link #claimUncounted} to the counters. */
        void count(long written, long refused) {
            if (written != 0) {
                eventsWritten.add(written);
            }
            if (refused != 0) {
                eventsRefused.add(refused);
            }
        }

        /**
         * Writes a whole point: one event per field. Never completes exceptionally.
         *
         * @return completes at once when all series are known, otherwise on a series thread
         */
        public CompletableFuture<WriteResult> write(Point p) {
            final int n = p.fieldCount();
            final Series[] known = new Series[n];
            final SeriesKey[] keys = new SeriesKey[n];
            boolean allKnown = true;
            for (int i = 0; i < n; i++) {
                keys[i] = p.seriesKey(i);
                known[i] = registry.cached(keys[i]);
                allKnown &= known[i] != null;
            }
            if (allKnown) {
                return CompletableFuture.completedFuture(ingestAll(p, known));
            }
            @SuppressWarnings("unchecked")
            final CompletableFuture<Series>[] all = new CompletableFuture[n];
            for (int i = 0; i < n; i++) {
                all[i] = known[i] != null ? CompletableFuture.completedFuture(known[i])
                    : registry.resolve(keys[i], p.measurement(), p.tags(), p.field(i));
            }
            return CompletableFuture.allOf(all).handle((ignored, err) -> {
                for (int i = 0; i < n; i++) {
                    try {
                        known[i] = all[i].join();
                    } catch (CompletionException e) {
                        if (e.getCause() instanceof SeriesLimitException limit) {
                            return count(new WriteResult(WriteResult.Outcome.SERIES_LIMIT, 0, limit.getMessage()
                                + " (measurement '" + p.measurement() + "', field '" + p.field(i) + "')"));
                        }
                        return count(new WriteResult(WriteResult.Outcome.SERIES_ERROR, 0,
                            "could not create series: " + e.getCause()));
                    }
                }
                return ingestAll(p, known);
            });
        }

        private WriteResult ingestAll(Point p, Series[] series) {
            for (int i = 0; i < series.length; i++) {
                if (!ingest(p.timestampNanos(), series[i], p.kind(i), p.value(i))) {
                    return count(new WriteResult(WriteResult.Outcome.REFUSED, i,
                        "collector is not accepting data right now"));
                }
            }
            return count(new WriteResult(WriteResult.Outcome.WRITTEN, series.length, null));
        }

        private WriteResult count(WriteResult r) {
            points[r.outcome().ordinal()].increment();
            return r;
        }

        /** Points with the given outcome so far. */
        public long points(WriteResult.Outcome outcome) {
            return points[outcome.ordinal()].sum();
        }

        /** Events the pipeline accepted from this producer. */
        public long eventsWritten() {
            return eventsWritten.sum();
        }

        /** Events the pipeline refused from this producer. */
        public long eventsRefused() {
            return eventsRefused.sum();
        }
    }
}
