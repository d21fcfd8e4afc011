package dev.spillway.benchmarks.ingest;

import java.util.concurrent.locks.LockSupport;

/**
 * One way of getting pointer-free events from producer threads to a single draining consumer, as compared by
 * {@code IngestThroughputBenchmark} and {@code IngestStalledLatencyBenchmark}.
 *
 * <p>Accounting contract, checked by the tests: once producers have stopped and {@link #awaitDrained} returned
 * true, {@code delivered() + overwritten() == accepted}, where {@code accepted} is the number of {@link #offer}
 * calls that returned true. Every {@code offer} that returned false is a refusal (drop-newest) and was never
 * accepted. So {@code offered == delivered + overwritten + refused}.
 */
public interface IngestChannel extends AutoCloseable {

    /**
     * Offers one event from any thread.
     *
     * @return true when accepted (it may be overwritten later and then shows in {@link #overwritten()}), false
     *     when refused (the channel was full and drops the newest)
     */
    boolean offer(long timestampNanos, int sourceId, short kind, double value, long sequence);

    /** Events handed to the consumer's sink so far. */
    long delivered();

    /** Accepted events lost inside the channel (overwritten by newer ones) so far. */
    long overwritten();

    /**
     * Waits until the consumer has resolved every accepted event ({@code delivered + overwritten == accepted}).
     * Only meaningful while no producer is offering.
     *
     * @param accepted how many offers returned true since the channel was opened
     * @return whether the channel drained within the timeout
     */
    default boolean awaitDrained(long accepted, long timeoutNanos) {
        final long deadline = System.nanoTime() + timeoutNanos;
        while (delivered() + overwritten() < accepted) {
            if (System.nanoTime() - deadline > 0) {
                return false;
            }
            // Poll slowly: delivered() may allocate (Spillway's stats() snapshot), and JMH's gc profiler sees it.
            LockSupport.parkNanos(100_000);
        }
        return true;
    }

    /**
     * CPU time used so far by the channel's consumer side (Spillway: the pump and the workers; the baselines: their
     * one consumer thread), in nanoseconds. Delivered events per consumer CPU-second is the drain efficiency, which
     * does not depend on how the OS shares the cores between producers and consumer.
     */
    long consumerCpuNanos();

    /** Lets a consumer that was opened stalled start draining. Idempotent. */
    void release();

    /** Releases the consumer, drains what it can, stops every thread the channel started. */
    @Override
    void close();
}
