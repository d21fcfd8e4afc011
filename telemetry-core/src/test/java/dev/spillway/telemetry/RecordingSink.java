package dev.spillway.telemetry;

import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.Sink;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A sink for pipeline tests: records every delivered event, and can be held (each write waits for a permit)
 * so that tests control exactly when the pump's batches drain.
 */
final class RecordingSink implements Sink {

    /** One delivered event. */
    record Event(long timestampNanos, int sourceId, short kind, double value, long sequence) {
    }

    private final List<Event> events = new ArrayList<>();
    private final Semaphore permits;
    private final AtomicLong writes = new AtomicLong();

    /** A sink that writes immediately. */
    RecordingSink() {
        this.permits = null;
    }

    /** A sink whose every write takes one permit from {@code permits} first. */
    RecordingSink(Semaphore permits) {
        this.permits = permits;
    }

    @Override
    public int write(EventBatch batch) throws InterruptedException {
        if (permits != null) {
            permits.acquire();
        }
        writes.incrementAndGet();
        synchronized (events) {
            for (int i = 0; i < batch.size(); i++) {
                events.add(new Event(batch.timestampNanos(i), batch.sourceId(i), batch.kind(i), batch.value(i),
                    batch.sequence(i)));
            }
        }
        return batch.size();
    }

    List<Event> events() {
        synchronized (events) {
            return new ArrayList<>(events);
        }
    }

    long writes() {
        return writes.get();
    }
}
