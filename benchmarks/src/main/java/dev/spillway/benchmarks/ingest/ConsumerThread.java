package dev.spillway.benchmarks.ingest;

import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.IdleStrategy;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The baselines' single consumer: calls {@link #drainOnce()} in a loop and idles with the same backoff Spillway's
 * pump uses by default (spin 100, yield 10, park 1 us .. 1 ms), so the comparison is not about idle policy.
 */
abstract class ConsumerThread implements Runnable {

    private final CountDownLatch gate;
    private final Thread thread;
    private final AtomicLong delivered = new AtomicLong();
    private volatile boolean running = true;

    ConsumerThread(String name, boolean stalled) {
        this.gate = new CountDownLatch(stalled ? 1 : 0);
        this.thread = new Thread(this, name);
        this.thread.setDaemon(true);
    }

    final void start() {
        thread.start();
    }

    /** Takes up to one batch from the channel and hands it to the (no-op) sink; returns how many events. */
    abstract int drainOnce();

    @Override
    public final void run() {
        final IdleStrategy idle = new BackoffIdleStrategy(100, 10, TimeUnit.MICROSECONDS.toNanos(1),
            TimeUnit.MILLISECONDS.toNanos(1));
        try {
            gate.await();
        } catch (InterruptedException e) {
            return;
        }
        long count = 0;
        while (running) {
            final int n = drainOnce();
            if (n > 0) {
                count += n;
                delivered.lazySet(count);
            }
            idle.idle(n);
        }
        int n;
        while ((n = drainOnce()) > 0) { // final drain after stop
            count += n;
        }
        delivered.set(count);
    }

    final long cpuNanos() {
        return ThreadCpu.nanos(thread);
    }

    final long delivered() {
        return delivered.get();
    }

    final void release() {
        gate.countDown();
    }

    final void stop() {
        release();
        running = false;
        try {
            thread.join(TimeUnit.SECONDS.toMillis(30));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive()) {
            throw new IllegalStateException(thread.getName() + " did not stop");
        }
    }
}
