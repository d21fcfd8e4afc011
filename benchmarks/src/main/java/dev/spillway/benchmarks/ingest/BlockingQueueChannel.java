package dev.spillway.benchmarks.ingest;

import java.util.ArrayList;
import java.util.concurrent.ArrayBlockingQueue;

/**
 * Baseline (c): what a user would write with the JDK: one immutable event object per call,
 * {@link ArrayBlockingQueue#offer} (refuses the newest when full), one consumer calling
 * {@link ArrayBlockingQueue#drainTo(java.util.Collection, int)} in batches of 4,096 into a no-op sink.
 */
public final class BlockingQueueChannel implements IngestChannel {

    /** The event as a user would model it. */
    public static final class Event {
        final long timestampNanos;
        final int sourceId;
        final short kind;
        final double value;
        final long sequence;

        Event(long timestampNanos, int sourceId, short kind, double value, long sequence) {
            this.timestampNanos = timestampNanos;
            this.sourceId = sourceId;
            this.kind = kind;
            this.value = value;
            this.sequence = sequence;
        }
    }

    private volatile long cpuAtClose = -1;
    private final ArrayBlockingQueue<Event> queue;
    private final ConsumerThread consumer;

    public BlockingQueueChannel(int capacity, boolean stalled) {
        this.queue = new ArrayBlockingQueue<>(capacity);
        final ArrayList<Event> batch = new ArrayList<>(Channels.CONSUMER_BATCH);
        this.consumer = new ConsumerThread("abq-consumer", stalled) {
            @Override
            int drainOnce() {
                final int n = queue.drainTo(batch, Channels.CONSUMER_BATCH);
                batch.clear(); // the sink does nothing with the batch
                return n;
            }
        };
        consumer.start();
    }

    @Override
    public boolean offer(long timestampNanos, int sourceId, short kind, double value, long sequence) {
        return queue.offer(new Event(timestampNanos, sourceId, kind, value, sequence));
    }

    @Override
    public long delivered() {
        return consumer.delivered();
    }

    @Override
    public long overwritten() {
        return 0;
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
