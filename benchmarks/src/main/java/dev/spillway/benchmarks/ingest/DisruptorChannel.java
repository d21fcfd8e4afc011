package dev.spillway.benchmarks.ingest;

import com.lmax.disruptor.BatchEventProcessor;
import com.lmax.disruptor.BatchEventProcessorBuilder;
import com.lmax.disruptor.EventHandler;
import com.lmax.disruptor.InsufficientCapacityException;
import com.lmax.disruptor.RingBuffer;
import com.lmax.disruptor.SleepingWaitStrategy;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Baseline (d): the Disruptor used the way its maintainers intend for a never-blocking producer: a multi-producer
 * {@link RingBuffer} of preallocated slots, {@code tryPublishEvent} semantics (drop-newest when full: the consumer's
 * sequence gates the producers), and a {@link BatchEventProcessor} whose handler does nothing but count.
 *
 * <p>The consumer waits with {@link SleepingWaitStrategy} (spin, yield, then park 100 ns), whose publish-side
 * signal is a no-op, like Spillway's pump backoff; {@code BlockingWaitStrategy} would take a lock on every publish.
 *
 * <p>{@link #offer} is the body of {@code RingBuffer.tryPublishEvent(EventTranslator)} ({@code tryNext}, fill the
 * slot, {@code publish}; false on {@code InsufficientCapacityException}) with the translator inlined: the
 * Disruptor's arg-taking translators would box the primitives, and a per-thread translator would add a
 * {@code ThreadLocal} lookup that the other implementations do not pay.
 */
public final class DisruptorChannel implements IngestChannel {

    /** A preallocated ring entry. */
    public static final class Slot {
        long timestampNanos;
        int sourceId;
        short kind;
        double value;
        long sequence;
    }

    private volatile long cpuAtClose = -1;
    private final RingBuffer<Slot> ring;
    private final BatchEventProcessor<Slot> processor;
    private final Thread thread;
    private final CountDownLatch gate;
    private final AtomicLong delivered = new AtomicLong();

    public DisruptorChannel(int capacity, boolean stalled) {
        this.gate = new CountDownLatch(stalled ? 1 : 0);
        this.ring = RingBuffer.createMultiProducer(Slot::new, capacity, new SleepingWaitStrategy());
        final CountDownLatch g = gate;
        final AtomicLong d = delivered;
        final EventHandler<Slot> handler = new EventHandler<>() {
            private long count;

            @Override
            public void onEvent(Slot event, long sequence, boolean endOfBatch) throws InterruptedException {
                if (count == 0) {
                    g.await();
                }
                count++;
                if (endOfBatch) {
                    d.lazySet(count);
                }
            }
        };
        this.processor = new BatchEventProcessorBuilder().build(ring, ring.newBarrier(), handler);
        ring.addGatingSequences(processor.getSequence());
        this.thread = new Thread(processor, "disruptor-consumer");
        thread.setDaemon(true);
        thread.start();
    }

    @Override
    public boolean offer(long timestampNanos, int sourceId, short kind, double value, long sequence) {
        // Exactly the body of RingBuffer.tryPublishEvent(translator) with the translator inlined.
        final long seq;
        try {
            seq = ring.tryNext();
        } catch (InsufficientCapacityException full) { // a preallocated singleton: no allocation
            return false;
        }
        try {
            final Slot slot = ring.get(seq);
            slot.timestampNanos = timestampNanos;
            slot.sourceId = sourceId;
            slot.kind = kind;
            slot.value = value;
            slot.sequence = sequence;
        } finally {
            ring.publish(seq);
        }
        return true;
    }

    @Override
    public long delivered() {
        return delivered.get();
    }

    @Override
    public long overwritten() {
        return 0;
    }

    @Override
    public long consumerCpuNanos() {
        final long atClose = cpuAtClose;
        return atClose >= 0 ? atClose : ThreadCpu.nanos(thread);
    }

    @Override
    public void release() {
        gate.countDown();
    }

    @Override
    public void close() {
        cpuAtClose = consumerCpuNanos(); // JMH reads the last iteration's counters after the trial teardown
        release();
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (processor.getSequence().get() < ring.getCursor() && System.nanoTime() < deadline) {
            Thread.yield();
        }
        processor.halt();
        try {
            thread.join(TimeUnit.SECONDS.toMillis(30));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive()) {
            throw new IllegalStateException("disruptor consumer did not stop");
        }
    }
}
