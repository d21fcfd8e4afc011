package dev.spillway.benchmarks.ingest;

import dev.spillway.telemetry.OverflowPolicy;
import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.Sink;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Spillway's own path: {@link Pipeline#ingest} with {@link OverflowPolicy#OVERWRITE_OLDEST}, the default pump
 * and worker settings (batch 4,096 or the capacity if smaller, 2 workers, backoff idle strategy), and a sink that does nothing but return
 * {@code batch.size()} (after waiting on the stall gate, which is already open unless opened stalled).
 */
public final class SpillwayChannel implements IngestChannel {

    private final CountDownLatch gate;
    private static final AtomicInteger INSTANCES = new AtomicInteger();

    private volatile long cpuAtClose = -1;
    private final Pipeline pipeline;
    private final List<Thread> consumerThreads;

    public SpillwayChannel(int capacity, boolean stalled) {
        this(capacity, stalled, Math.min(Channels.CONSUMER_BATCH, capacity), 2);
    }

    /** With a non-default batch size and worker count (for the hand-off diagnostic). */
    public SpillwayChannel(int capacity, boolean stalled, int batchSize, int workers) {
        this.gate = new CountDownLatch(stalled ? 1 : 0);
        final String name = "bench" + INSTANCES.incrementAndGet();
        this.pipeline = Pipeline.builder()
            .name(name)
            .sink(new NoOpSink(gate))
            .ringSize(capacity)
            .batchSize(batchSize)
            .workers(workers)
            .overflowPolicy(OverflowPolicy.OVERWRITE_OLDEST)
            .closeTimeout(Duration.ofSeconds(30))
            .build();
        this.consumerThreads = ThreadCpu.named(name + "-"); // the pump and the workers
    }

    /** Returns {@code batch.size()} without looking at the events, once the stall gate is open. */
    static final class NoOpSink implements Sink {
        private final CountDownLatch gate;

        NoOpSink(CountDownLatch gate) {
            this.gate = gate;
        }

        @Override
        public int write(EventBatch batch) throws InterruptedException {
            gate.await();
            return batch.size();
        }
    }

    @Override
    public boolean offer(long timestampNanos, int sourceId, short kind, double value, long sequence) {
        return pipeline.ingest(timestampNanos, sourceId, kind, value, sequence);
    }

    @Override
    public long delivered() {
        return pipeline.stats().written();
    }

    @Override
    public long overwritten() {
        return pipeline.stats().overwritten();
    }

    @Override
    public long consumerCpuNanos() {
        final long atClose = cpuAtClose;
        if (atClose >= 0) {
            return atClose;
        }
        long sum = 0;
        for (Thread t : consumerThreads) {
            sum += ThreadCpu.nanos(t);
        }
        return sum;
    }

    /** The pipeline itself, for accounting checks. */
    public Pipeline pipeline() {
        return pipeline;
    }

    @Override
    public void release() {
        gate.countDown();
    }

    @Override
    public void close() {
        cpuAtClose = consumerCpuNanos(); // JMH reads the last iteration's counters after the trial teardown
        release();
        pipeline.close();
    }
}
