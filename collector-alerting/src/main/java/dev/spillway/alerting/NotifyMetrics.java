package dev.spillway.alerting;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * Meters of the relay: {@code spillway_notify_sent_total}, {@code spillway_notify_retried_total},
 * {@code spillway_notify_failed_total} (given up: too old or refused), {@code spillway_notify_channels_disabled_total},
 * and the gauges {@code spillway_notify_outbox_pending} and {@code spillway_notify_outbox_oldest_pending_seconds}
 * (as of the relay's last round).
 */
final class NotifyMetrics {

    private final Counter sent;
    private final Counter retried;
    private final Counter failed;
    private final Counter disabled;
    private volatile double oldestPendingSeconds;
    private volatile double pending;

    NotifyMetrics(MeterRegistry registry) {
        sent = Counter.builder("spillway.notify.sent").description("notifications accepted by a receiver")
            .register(registry);
        retried = Counter.builder("spillway.notify.retried")
            .description("delivery attempts answered 429, 5xx or not at all, to be retried").register(registry);
        failed = Counter.builder("spillway.notify.failed")
            .description("notifications given up (too old, or refused by the receiver)").register(registry);
        disabled = Counter.builder("spillway.notify.channels.disabled")
            .description("channels disabled after a permanent failure").register(registry);
        Gauge.builder("spillway.notify.outbox.oldest.pending.seconds", this, m -> m.oldestPendingSeconds)
            .description("age of the oldest undelivered notification").register(registry);
        Gauge.builder("spillway.notify.outbox.pending", this, m -> m.pending)
            .description("undelivered notifications").register(registry);
    }

    void sent() {
        sent.increment();
    }

    void retried() {
        retried.increment();
    }

    void failed(long n) {
        failed.increment(n);
    }

    void disabled() {
        disabled.increment();
    }

    void outbox(long pendingRows, double oldestSeconds) {
        pending = pendingRows;
        oldestPendingSeconds = oldestSeconds;
    }

    long sentCount() {
        return (long) sent.count();
    }

    long retriedCount() {
        return (long) retried.count();
    }

    long failedCount() {
        return (long) failed.count();
    }

    double oldestPendingSeconds() {
        return oldestPendingSeconds;
    }
}
