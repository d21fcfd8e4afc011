package dev.spillway.collector;

import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

/** The collector's one Prometheus registry, with the JVM and the process bound as every Micrometer service has them. */
final class CollectorMeters {

    private CollectorMeters() {
    }

    /**
     * Binds {@code jvm_*}, {@code process_*} and {@code system_*} meters to {@code registry}.
     *
     * @return the GC binder, which must be closed at shutdown
     */
    static JvmGcMetrics bindJvm(PrometheusMeterRegistry registry) {
        // promtool's lint refuses two of Micrometer's standard names: a "_count" gauge and an abbreviated unit.
        registry.config()
            .meterFilter(MeterFilter.deny(id -> id.getName().equals("process.cpu.time"))) // process_cpu_usage stays
            .meterFilter(new MeterFilter() {
                @Override
                public Meter.Id map(Meter.Id id) {
                    return id.getName().equals("system.cpu.count") ? id.withName("system.cpu.processors") : id;
                }
            });
        new ClassLoaderMetrics().bindTo(registry);
        new JvmMemoryMetrics().bindTo(registry);
        final JvmGcMetrics gc = new JvmGcMetrics();
        gc.bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        new FileDescriptorMetrics().bindTo(registry);
        return gc;
    }

    /** An empty registry. */
    static PrometheusMeterRegistry create() {
        return new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    }
}
