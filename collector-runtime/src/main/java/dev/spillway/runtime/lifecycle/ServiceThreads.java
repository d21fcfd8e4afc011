package dev.spillway.runtime.lifecycle;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The one thread factory of the collector's services: named threads ({@code name} for a single thread,
 * {@code name-N} for pools), daemon (a thread never keeps the JVM alive: stopping is the services' job, with a
 * deadline), and an uncaught exception logged once with the thread's name instead of dying silently.
 */
public final class ServiceThreads implements ThreadFactory {

    private static final Logger LOG = LoggerFactory.getLogger(ServiceThreads.class);
    private static final Thread.UncaughtExceptionHandler LOG_UNCAUGHT =
        (t, e) -> LOG.error("thread {} died: {}", t.getName(), e.toString(), e);

    private final String name;
    private final boolean numbered;
    private final long stackSize;
    private final AtomicInteger count = new AtomicInteger();

    private ServiceThreads(String name, boolean numbered, long stackSize) {
        this.name = name;
        this.numbered = numbered;
        this.stackSize = stackSize;
    }

    /** Threads named {@code name-1}, {@code name-2}, ... for a pool. */
    public static ServiceThreads pool(String name) {
        return new ServiceThreads(name, true, 0);
    }

    /** Threads all named {@code name}, for a single-thread executor. */
    public static ServiceThreads single(String name) {
        return new ServiceThreads(name, false, 0);
    }

    /** Threads named {@code name-N} with a given stack size (many small probe threads). */
    public static ServiceThreads pool(String name, long stackSize) {
        return new ServiceThreads(name, true, stackSize);
    }

    /** Starts one thread named {@code name} running {@code body}. */
    public static Thread start(String name, Runnable body) {
        final Thread t = new ServiceThreads(name, false, 0).newThread(body);
        t.start();
        return t;
    }

    @Override
    public Thread newThread(Runnable r) {
        final String threadName = numbered ? name + "-" + count.incrementAndGet() : name;
        final Thread t = new Thread(null, r, threadName, stackSize);
        t.setDaemon(true);
        t.setUncaughtExceptionHandler(LOG_UNCAUGHT);
        return t;
    }
}
