package dev.spillway.runtime.lifecycle;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Services in the order they were started, stopped in reverse: the composition root pushes each service once it
 * is up, and one {@link #stopAll} (or {@link #close}) takes everything down, also after a start that failed half
 * way. The one place that logs {@code stopping X ... stopped in N ms}.
 *
 * <p>Teardown always completes (as HikariCP's shutdown does): each stop runs on its own thread and is waited for at
 * most its deadline plus a short grace; a stop that overruns or throws is logged once with the service's name and
 * the stack goes on to the next one, so one stuck service never keeps the others (the database, the data
 * directory lock) open.
 *
 * <p>Thread-safe; {@link #stopAll} runs once.
 */
public final class ServiceStack implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ServiceStack.class);
    // A stop that honours its deadline returns within it; this covers the last log line and thread exit.
    private static final Duration GRACE = Duration.ofMillis(500);

    private final Deque<Entry> started = new ArrayDeque<>();
    private final AtomicBoolean stopped = new AtomicBoolean();

    private record Entry(Service service, Duration budget) {
    }

    /**
     * Records a started service.
     *
     * @param budget how long its stop may take
     * @return {@code service}
     */
    public synchronized <T extends Service> T push(T service, Duration budget) {
        if (stopped.get()) {
            throw new IllegalStateException("stack already stopped; " + service.name() + " would never be stopped");
        }
        started.push(new Entry(service, budget));
        return service;
    }

    /** Stops every service in reverse start order; idempotent. */
    public void stopAll() {
        if (!stopped.compareAndSet(false, true)) {
            return;
        }
        while (true) {
            final Entry e;
            synchronized (this) {
                e = started.poll();
            }
            if (e == null) {
                return;
            }
            stop(e.service(), e.budget());
        }
    }

    /** Same as {@link #stopAll}. */
    @Override
    public void close() {
        stopAll();
    }

    /**
     * Stops one service on its own thread with a deadline {@code budget} from now; logs how it went.
     *
     * @return whether it stopped completely in time
     */
    public static boolean stop(Service service, Duration budget) {
        final String name = service.name();
        LOG.debug("stopping {} ...", name);
        final long start = System.nanoTime();
        final Deadline deadline = Deadline.in(budget);
        final AtomicReference<Object> outcome = new AtomicReference<>();
        final CountDownLatch done = new CountDownLatch(1);
        ServiceThreads.start("stop-" + name, () -> {
            try {
                outcome.set(service.stop(deadline));
            } catch (Throwable t) {
                outcome.set(t);
            } finally {
                done.countDown();
            }
        });
        boolean finished;
        try {
            finished = done.await(budget.plus(GRACE).toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
            finished = false;
        }
        final long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        final Object result = outcome.get();
        if (!finished) {
            LOG.warn("stopping {} ... still not stopped after {} ms (budget {} ms); going on without it", name, ms,
                budget.toMillis());
            return false;
        }
        if (result instanceof Throwable t) {
            LOG.warn("stopping {} ... failed after {} ms: {}", name, ms, t.toString());
            LOG.debug("stop of {} failed", name, t);
            return false;
        }
        if (Boolean.TRUE.equals(result)) {
            LOG.info("stopping {} ... stopped in {} ms", name, ms);
            return true;
        }
        LOG.warn("stopping {} ... gave up waiting after {} ms (budget {} ms)", name, ms, budget.toMillis());
        return false;
    }
}
