package dev.spillway.telemetry.timescale;

import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.Sink;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

/** A sink that holds every write at a gate the test opens, then delegates: a slow sink without sleeps. */
final class GatedSink implements Sink {

    private final Sink delegate;
    private final CountDownLatch gate = new CountDownLatch(1);
    private final AtomicLong entered = new AtomicLong();

    GatedSink(Sink delegate) {
        this.delegate = delegate;
    }

    /** Lets every waiting and future write through. */
    void open() {
        gate.countDown();
    }

    /** Writes that have reached the gate so far. */
    long entered() {
        return entered.get();
    }

    @Override
    public int write(EventBatch batch) throws Exception {
        entered.incrementAndGet();
        gate.await();
        return delegate.write(batch);
    }

    @Override
    public boolean isRetryable(Throwable failure) {
        return delegate.isRetryable(failure);
    }

    @Override
    public void close() throws Exception {
        delegate.close();
    }
}
