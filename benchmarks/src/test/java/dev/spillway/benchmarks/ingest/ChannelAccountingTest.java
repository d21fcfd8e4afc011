package dev.spillway.benchmarks.ingest;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every channel the ingest benchmarks compare delivers exactly what it accepts:
 * {@code offered == delivered + overwritten + refused} once drained, both while its consumer runs and when the
 * consumer was stalled while the channel overflowed.
 */
class ChannelAccountingTest {

    private static final int CAPACITY = 1024;

    @ParameterizedTest
    @ValueSource(strings = {Channels.SPILLWAY, Channels.MUTEX_RING, Channels.ABQ, Channels.DISRUPTOR})
    void twoProducersAgainstARunningConsumer(String impl) throws Exception {
        final int perProducer = 300_000;
        final AtomicLong accepted = new AtomicLong();
        final AtomicLong refused = new AtomicLong();
        try (IngestChannel channel = Channels.open(impl, CAPACITY, false)) {
            final CountDownLatch start = new CountDownLatch(1);
            final Thread[] producers = new Thread[2];
            for (int t = 0; t < producers.length; t++) {
                final int source = t;
                producers[t] = new Thread(() -> {
                    try {
                        start.await();
                    } catch (InterruptedException e) {
                        return;
                    }
                    long ok = 0;
                    long no = 0;
                    for (long s = 0; s < perProducer; s++) {
                        if (channel.offer(s, source, (short) 1, s * 0.5, s)) {
                            ok++;
                        } else {
                            no++;
                        }
                    }
                    accepted.addAndGet(ok);
                    refused.addAndGet(no);
                });
                producers[t].start();
            }
            start.countDown();
            for (Thread p : producers) {
                p.join();
            }
            assertTrue(channel.awaitDrained(accepted.get(), TimeUnit.SECONDS.toNanos(10)), impl + " did not drain");
            final long offered = 2L * perProducer;
            assertEquals(offered, accepted.get() + refused.get());
            assertEquals(offered, channel.delivered() + channel.overwritten() + refused.get(),
                impl + ": delivered " + channel.delivered() + " overwritten " + channel.overwritten()
                    + " refused " + refused.get());
            assertTrue(channel.delivered() > 0, impl + " delivered nothing");
            if (channel instanceof SpillwayChannel) {
                assertTrue(((SpillwayChannel) channel).pipeline().stats().isBalanced());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {Channels.SPILLWAY, Channels.MUTEX_RING, Channels.ABQ, Channels.DISRUPTOR})
    void stalledConsumerOverflowsThenDeliversWhatItKept(String impl) {
        final long offered = 4L * CAPACITY;
        long accepted = 0;
        try (IngestChannel channel = Channels.open(impl, CAPACITY, true)) {
            for (long s = 0; s < offered; s++) {
                if (channel.offer(s, 0, (short) 1, s * 0.5, s)) {
                    accepted++;
                }
            }
            assertEquals(0, channel.delivered(), impl + " delivered while stalled");
            channel.release();
            assertTrue(channel.awaitDrained(accepted, TimeUnit.SECONDS.toNanos(10)), impl + " did not drain");
            final long refused = offered - accepted;
            assertEquals(offered, channel.delivered() + channel.overwritten() + refused);
            switch (impl) {
                case Channels.MUTEX_RING: // keeps the newest CAPACITY, overwrote the rest
                    assertEquals(CAPACITY, channel.delivered());
                    assertEquals(offered - CAPACITY, channel.overwritten());
                    break;
                case Channels.ABQ:
                case Channels.DISRUPTOR: // keeps the first CAPACITY, refused the rest
                    assertEquals(CAPACITY, channel.delivered());
                    assertEquals(offered - CAPACITY, refused);
                    break;
                default: // Spillway: the pump read some batches before it stalled; the ring kept the newest
                    assertEquals(0, refused);
                    assertTrue(channel.delivered() >= CAPACITY, "delivered " + channel.delivered());
                    break;
            }
        }
    }
}
