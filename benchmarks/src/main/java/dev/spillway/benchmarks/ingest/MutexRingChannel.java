package dev.spillway.benchmarks.ingest;

/** Baseline (b): {@link MutexOverwriteRing} drained by one consumer thread in batches of 4,096 into a no-op sink. */
public final class MutexRingChannel implements IngestChannel {

    private volatile long cpuAtClose = -1;
    private final MutexOverwriteRing ring;
    private final ConsumerThread consumer;

    public MutexRingChannel(int capacity, boolean stalled) {
        this.ring = new MutexOverwriteRing(capacity);
        final long[] batch = new long[Channels.CONSUMER_BATCH * MutexOverwriteRing.stride()];
        this.consumer = new ConsumerThread("mutex-ring-consumer", stalled) {
            @Override
            int drainOnce() {
                return ring.drainTo(batch, Channels.CONSUMER_BATCH); // the sink does nothing with the batch
            }
        };
        consumer.start();
    }

    @Override
    public boolean offer(long timestampNanos, int sourceId, short kind, double value, long sequence) {
        ring.offer(timestampNanos, sourceId, kind, value, sequence);
        return true;
    }

    @Override
    public long delivered() {
        return consumer.delivered();
    }

    @Override
    public long overwritten() {
        return ring.overwritten();
    }

    @Override
    public long consumerCpuNanos() {
        final long atClose = cpuAtClose;
        return atClose >= 0 ? atClose : consumer.cpuNanos();
    }

    @Override
    public void release() {
        consumer.release();
    }

    @Override
    public void close() {
        cpuAtClose = consumerCpuNanos(); // JMH reads the last iteration's counters after the trial teardown
        consumer.stop();
    }
}
