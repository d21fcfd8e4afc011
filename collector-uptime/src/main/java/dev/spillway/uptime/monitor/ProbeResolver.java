package dev.spillway.uptime.monitor;

import dev.spillway.runtime.lifecycle.ServiceThreads;
import okhttp3.Dns;

import java.io.IOException;
import java.net.SocketTimeoutException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Host-name lookups for the non-blocking probes, off the executor's threads and off the selector threads: the JDK's
 * resolver blocks (and has no timeout of its own), so lookups run on a small bounded pool ({@link #THREADS}
 * threads, {@link #QUEUE} waiting) and each one's answer is awaited only until the check's deadline. A slow or
 * hanging resolver so makes the checks of names fail at their deadline ({@code timeout: ...}); it holds neither probe
 * threads nor the checks of IP literals (which need no lookup and never reach the pool). A lookup still waiting in
 * the queue when its check ended is skipped; one that answers after its check ended is ignored.
 */
final class ProbeResolver implements AutoCloseable {

    /** Lookups at once (threads, created on demand, retired after 30 s idle). */
    static final int THREADS = 8;
    /** Lookups waiting for a thread; beyond that a check of a name fails at once ({@code io: ...}). */
    static final int QUEUE = 10_000;

    private final Dns dns;
    private final ThreadPoolExecutor pool;

    ProbeResolver(Dns dns) {
        this.dns = dns;
        this.pool = new ThreadPoolExecutor(THREADS, THREADS, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(QUEUE),
            ServiceThreads.pool("probe-resolve", 256 * 1024));
        pool.allowCoreThreadTimeOut(true);
    }

    /**
     * The first address of {@code host} the policy allows ({@link ProbeAddress#resolve}); completes exceptionally with
     * the lookup's {@link IOException} ({@link AddressDeniedException}, unknown host) or, at {@code deadlineNanos},
     * a {@link SocketTimeoutException}. An IP literal completes at once, on the calling thread.
     */
    CompletableFuture<ProbeAddress.Resolved> resolve(String host, AddressPolicy policy, long deadlineNanos) {
        final String bare = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
        if (!AddressPolicy.literals(bare).isEmpty()) {
            try {
                return CompletableFuture.completedFuture(ProbeAddress.resolve(host, policy, dns));
            } catch (IOException e) {
                return CompletableFuture.failedFuture(e);
            }
        }
        final CompletableFuture<ProbeAddress.Resolved> f = new CompletableFuture<>();
        try {
            pool.execute(() -> {
                if (f.isDone()) {
                    return; // its check ended while it waited
                }
                try {
                    f.complete(ProbeAddress.resolve(host, policy, dns));
                } catch (IOException | RuntimeException e) {
                    f.completeExceptionally(e);
                }
            });
        } catch (RejectedExecutionException e) {
            return CompletableFuture.failedFuture(new IOException("name lookups: " + pool.getQueue().size()
                + " waiting, the most this probe queues"));
        }
        return f.orTimeout(Math.max(1, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
    }

    /** A failure of {@link #resolve} as the IOException it stands for (the deadline as a socket timeout). */
    static IOException cause(Throwable e) {
        final Throwable c = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
        if (c instanceof IOException io) {
            return io;
        }
        if (c instanceof TimeoutException) {
            return new SocketTimeoutException("name lookup timed out");
        }
        return new IOException(c.toString(), c);
    }

    /** Lookups running or waiting. */
    int busy() {
        return pool.getActiveCount() + pool.getQueue().size();
    }

    @Override
    public void close() {
        pool.shutdownNow();
    }
}
