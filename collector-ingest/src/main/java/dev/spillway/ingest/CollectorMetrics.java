package dev.spillway.ingest;

import dev.spillway.ingest.series.SeriesRegistry;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

import java.util.EnumMap;
import java.util.Map;

/**
 * The collector's own meters, beside the pipeline's {@code spillway_events_*}:
 * {@code spillway_collector_lines_accepted_total{protocol}}, {@code spillway_collector_lines_rejected_total{reason}},
 * {@code spillway_collector_string_fields_skipped_total}, {@code spillway_collector_new_series_total},
 * {@code spillway_collector_series_known} and {@code spillway_collector_http_requests_total{status}}.
 */
public final class CollectorMetrics {

    private final MeterRegistry registry;
    private final Counter accepted;
    private final Counter stringsSkipped;
    private final Map<RejectReason, Counter> rejected = new EnumMap<>(RejectReason.class);
    private final Counter roomWaitAdmitted;
    private final Counter roomWaitRefused;
    private final java.util.concurrent.atomic.AtomicInteger roomWaiting = new java.util.concurrent.atomic.AtomicInteger();

    /** @param series the catalogue whose size and creations are published; the collector holds it strongly */
    public CollectorMetrics(MeterRegistry registry, SeriesRegistry series) {
        this.registry = registry;
        this.accepted = Counter.builder("spillway.collector.lines.accepted")
            .description("line-protocol lines accepted").register(registry);
        this.roomWaitAdmitted = Counter.builder("spillway.collector.http.room.waits")
            .description("write requests that arrived with the ring above its high-water mark and waited for room: "
                + "admitted once there was room, or refused (503) when the wait ran out")
            .tag("outcome", "admitted").register(registry);
        this.roomWaitRefused = Counter.builder("spillway.collector.http.room.waits")
            .description("write requests that arrived with the ring above its high-water mark and waited for room: "
                + "admitted once there was room, or refused (503) when the wait ran out")
            .tag("outcome", "refused").register(registry);
        io.micrometer.core.instrument.Gauge.builder("spillway.collector.http.room.waiting", roomWaiting,
                java.util.concurrent.atomic.AtomicInteger::get)
            .description("write requests waiting for room in the ring now (see spillway.collector.http.room.waits)")
            .register(registry);
        this.stringsSkipped = Counter.builder("spillway.collector.string.fields.skipped")
            .description("string fields dropped (events carry numbers only)").register(registry);
        for (RejectReason r : RejectReason.values()) {
            rejected.put(r, Counter.builder("spillway.collector.lines.rejected").tag("reason", r.tag())
                .description("line-protocol lines not ingested, by reason").register(registry));
        }
        Gauge.builder("spillway.collector.series.known", series, SeriesRegistry::size)
            .description("series known to the collector").register(registry);
        FunctionCounter.builder("spillway.collector.new.series", series, s -> (double) s.created())
            .description("series this collector created").register(registry);
    }

    /** A write request found the ring above its high-water mark and waits for room. */
    public void roomWaitStarted() {
        roomWaiting.incrementAndGet();
    }

    /** A write request that waited for room in the ring: {@code admitted}, or refused when the wait ran out. */
    public void roomWaitEnded(boolean admitted) {
        roomWaiting.decrementAndGet();
        (admitted ? roomWaitAdmitted : roomWaitRefused).increment();
    }

    /** Counts accepted lines. */
    public void accepted(long n) {
        accepted.increment(n);
    }

    /** Counts rejected lines. */
    public void rejected(RejectReason reason, long n) {
        rejected.get(reason).increment(n);
    }

    /** Counts skipped string fields. */
    public void stringsSkipped(long n) {
        stringsSkipped.increment(n);
    }

    /**
     * Counts one HTTP response.
     *
     * @param endpoint one of a fixed set of paths, or {@code other}, so scanners cannot grow the label set
     */
    public void httpResponse(String endpoint, int status) {
        Counter.builder("spillway.collector.http.requests").description("HTTP requests answered, by endpoint and status")
            .tag("endpoint", endpoint).tag("status", Integer.toString(status)).register(registry).increment();
    }

    /** Lines accepted since start. */
    public long acceptedTotal() {
        return (long) accepted.count();
    }

    /** Lines rejected since start, all reasons. */
    public long rejectedTotal() {
        double sum = 0;
        for (Counter c : rejected.values()) {
            sum += c.count();
        }
        return (long) sum;
    }

    /** Strings skipped since start. */
    public long stringsSkippedTotal() {
        return (long) stringsSkipped.count();
    }
}
