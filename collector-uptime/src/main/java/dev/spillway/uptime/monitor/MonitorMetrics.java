package dev.spillway.uptime.monitor;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Per-monitor series on {@code /metrics} for the monitors this collector checks (a monitor appears with its first
 * result here and goes when its lease moves or it is deleted): {@code spillway_monitor_up{monitor}} (1, 0),
 * {@code spillway_monitor_last_duration_seconds{monitor}}, {@code spillway_monitor_cert_expiry_seconds{monitor}}
 * (https and tls; NaN otherwise) and {@code spillway_monitor_status{monitor,state}} (1 for the current state of
 * UP, DOWN, PENDING, PAUSED, else 0): 7 series a monitor, for at most {@link #CAP} monitors per collector; monitors
 * beyond are not exported and counted in {@code spillway_monitor_series_capped}.
 */
final class MonitorMetrics {

    /** Most monitors exported per collector (7 series each). */
    static final int CAP = 1000;

    private final MeterRegistry meters;
    private final Map<String, List<Meter>> exported = new ConcurrentHashMap<>();
    private final AtomicLong capped = new AtomicLong();
    private final Map<String, Boolean> cappedNames = new ConcurrentHashMap<>();

    MonitorMetrics(MeterRegistry meters) {
        this.meters = meters;
        Gauge.builder("spillway.monitor.series.capped", capped, AtomicLong::get)
            .description("monitors checked here but not exported per monitor on /metrics (more than " + CAP + ")")
            .register(meters);
    }

    /** Exports a monitor once it has a result here (no-op when it is exported already or the cap is reached). */
    void export(String name, MonitorService.Runtime rt) {
        if (exported.containsKey(name) || cappedNames.containsKey(name)) {
            return;
        }
        synchronized (this) {
            if (exported.containsKey(name)) {
                return;
            }
            if (exported.size() >= CAP) {
                cappedNames.put(name, Boolean.TRUE);
                capped.set(cappedNames.size());
                return;
            }
            final List<Meter> m = new ArrayList<>();
            m.add(Gauge.builder("spillway.monitor.up", rt, r -> read(r, last -> last.up() ? 1 : 0))
                .tag("monitor", name).description("whether the monitor's last check here passed").register(meters));
            m.add(Gauge.builder("spillway.monitor.last.duration", rt, r -> read(r, last -> last.durationMs() / 1000))
                .tag("monitor", name).baseUnit("seconds").description("duration of the monitor's last check here")
                .register(meters));
            // Seconds, not days: Prometheus' base unit (promtool refuses a _days name).
            m.add(Gauge.builder("spillway.monitor.cert.expiry", rt, r -> read(r, last -> last.certExpiryDays() * 86_400))
                .tag("monitor", name).baseUnit("seconds").description("time until the certificate of the monitor's "
                    + "last check expires (https and tls monitors; NaN for others)").register(meters));
            for (MonitorState.Status s : MonitorState.Status.values()) {
                m.add(Gauge.builder("spillway.monitor.status", rt, r -> {
                    synchronized (r) {
                        return r.state.state() == s ? 1 : 0;
                    }
                }).tag("monitor", name).tag("state", s.name()).description("the monitor's state (1 for the current "
                    + "one)").register(meters));
            }
            exported.put(name, m);
        }
    }

    /** Stops exporting a monitor (deleted, or checked elsewhere now). */
    synchronized void remove(String name) {
        final List<Meter> m = exported.remove(name);
        if (m != null) {
            m.forEach(meters::remove);
        }
        if (cappedNames.remove(name) != null) {
            capped.set(cappedNames.size());
        }
    }

    /** Monitors exported. */
    int size() {
        return exported.size();
    }

    private static double read(MonitorService.Runtime r, java.util.function.ToDoubleFunction<CheckResult> f) {
        synchronized (r) {
            return r.last == null ? Double.NaN : f.applyAsDouble(r.last);
        }
    }
}
