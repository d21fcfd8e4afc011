package dev.spillway.uptime.monitor;

import dev.spillway.runtime.lifecycle.ServiceThreads;
import dev.spillway.runtime.lifecycle.Deadline;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs checks with at most {@code concurrency} in flight ({@code --probe-concurrency}). Checks beyond that wait
 * in a FIFO queue; nothing is dropped. The queue is bounded by the number of monitors, because the scheduler
 * hands over a monitor's next check only after its previous one finished (otherwise it skips the tick and counts
 * it). Threads are created on demand and retire after 30 s idle, so a collector with 20 monitors does not hold
 * 500 threads.
 *
 * <p>The semaphore is the bound on HTTP requests in flight (and its permits the in-flight gauge); the pool has as
 * many threads as permits because OkHttp's calls are blocking.
 */
final class ProbeExecutor implements AutoCloseable {

    private static final long STACK_SIZE = 256 * 1024;

    private final ThreadPoolExecutor pool;
    private final Semaphore permits;
    private final int concurrency;
    private final Timer queueWait;
    private final AtomicInteger highWater = new AtomicInteger();

    ProbeExecutor(int concurrency, MeterRegistry meters) {
        this.concurrency = concurrency;
        this.permits = new Semaphore(concurrency);
        this.pool = new ThreadPoolExecutor(concurrency, concurrency, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
            ServiceThreads.pool("probe", STACK_SIZE));
        pool.allowCoreThreadTimeOut(true);
        this.queueWait = Timer.builder("spillway.monitor.queue.wait")
            .description("time a due check waited for a free probe slot")
            .publishPercentiles(0.5, 0.99)
            .register(meters);
        Gauge.builder("spillway.monitor.checks.queued", this, ProbeExecutor::queued)
            .description("due checks waiting for a free probe slot").register(meters);
        Gauge.builder("spillway.monitor.checks.in.flight", this, ProbeExecutor::inFlight)
            .description("checks running now (HTTP in flight)").register(meters);
    }

    /**
     * Queues a check.
     *
     * @throws RejectedExecutionException after {@link #close}
     */
    void submit(Runnable check) {
        final long queuedAt = System.nanoTime();
        pool.execute(() -> {
            queueWait.record(System.nanoTime() - queuedAt, TimeUnit.NANOSECONDS);
            permits.acquireUninterruptibly();
            final int now = concurrency - permits.availablePermits();
            highWater.accumulateAndGet(now, Math::max);
            try {
                check.run();
            } finally {
                permits.release();
            }
        });
    }

    /** Checks waiting for a slot. */
    int queued() {
        return pool.getQueue().size();
    }

    /** Checks running. */
    int inFlight() {
        return concurrency - permits.availablePermits();
    }

    /** Most checks that ran at once since start. */
    int maxInFlight() {
        return highWater.get();
    }

    /** The configured bound. */
    int concurrency() {
        return concurrency;
    }

    /** The queue-wait timer (percentiles for the status API). */
    Timer queueWait() {
        return queueWait;
    }

    /** Stops taking checks, interrupts running ones and waits for them to end. */
    @Override
    public void close() {
        stop(Deadline.in(java.time.Duration.ofSeconds(10)));
    }

    /** Stops taking checks, interrupts running ones and waits for them to end by the deadline. */
    boolean stop(Deadline deadline) {
        final int dropped = pool.shutdownNow().size();
        if (dropped > 0) {
            org.slf4j.LoggerFactory.getLogger(ProbeExecutor.class)
                .info("shutdown: {} queued checks not run (their monitors are checked again after restart)", dropped);
        }
        try {
            return deadline.await(pool);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
