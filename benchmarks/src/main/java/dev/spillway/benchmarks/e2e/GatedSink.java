package dev.spillway.benchmarks.e2e;

import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.Sink;

import java.util.concurrent.CountDownLatch;

/** A sink that holds every write until {@link #open()}, then passes it on: "the database paused". */
final class GatedSink implements Sink {

    private final Sink delegate;
    private final CountDownLatch gate = new CountDownLatch(1);

    GatedSink(Sink delegate) {
        this.delegate = delegate;
    }

    void open() {
        gate.countDown();
    }

    @Override
    public int write(EventBatch batch) throws Exception {
        gate.await();
        return delegate.write(batch);
    }

    @Override
    public boolean isRetryable(Throwable failure) {
        return delegate.isRetryable(failure);
    }

    @Override
    public void close() {
        try {
            delegate.close();
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("closing " + delegate + " failed", e);
        }
    }
}
