package dev.spillway.uptime.monitor;

import dev.spillway.runtime.lifecycle.ServiceThreads;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.Closeable;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.channels.CancelledKeyException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.time.Instant;
import java.util.PriorityQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.LongAdder;

/**
 * One selector thread for a non-blocking probe ({@link TcpProbe}, {@link DnsProbe}, {@link TlsProbe},
 * {@link HttpAsyncProbe}): started with
 * the first check handed to it, it registers each check's channel, runs the check's steps as its channels become
 * ready, and ends every check at its deadline from its own timer. A step that throws ends that check, never the
 * loop; a loop that fails ends its checks down and the next check starts a new one. {@link #close} ends every open
 * check down ({@code io: probe closed}) and stops the thread.
 */
final class SelectorLoop implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(SelectorLoop.class);

    /**
     * One check on the loop: the future is completed by whoever ends it (the loop, a cancel, the executor's safety
     * net); the rest of its state belongs to the selector thread once handed over. Completing the future closes
     * what the check holds ({@link #closeWhenDone}).
     */
    abstract static class Job {
        final MonitorSpec spec;
        final Instant startedAt = Probes.now();
        final long start = System.nanoTime();
        final long deadline;
        final CompletableFuture<CheckResult> future = new CompletableFuture<>();
        private final LongAdder denied;
        /** Whether its deadline is in the loop's timers (selector thread). */
        private boolean timed;

        /** @param denied counts checks the address policy refused (before their future completes) */
        Job(MonitorSpec spec, LongAdder denied) {
            this.spec = spec;
            this.deadline = start + spec.timeout().toNanos();
            this.denied = denied;
        }

        /**
         * Ends the check with its result (no-op when it ended already); a refusal by the address policy is counted
         * first, so whoever waits for the result sees it counted.
         */
        final void complete(CheckResult r) {
            if (future.isDone()) {
                return;
            }
            if (r.error() != null && r.error().startsWith("address policy: ")) {
                denied.increment();
            }
            future.complete(r);
        }

        /** Registers the job's channel with the selector and sets its interest (selector thread). */
        abstract void register(Selector sel) throws IOException;

        /** Its channel is ready (selector thread; never called after the future completed). */
        abstract void ready(SelectionKey k) throws IOException;

        /** Ends the check down with the reason (any thread; no-op when it ended already). */
        abstract void fail(String error);

        /** The deadline passed (selector thread): by default down as a timeout. */
        void expire() {
            fail(Probes.classify(new SocketTimeoutException("timeout"), spec));
        }

        /** Closes the channel however the check ends, from whichever thread ends it. */
        final void closeWhenDone(Closeable c) {
            future.whenComplete((v, e) -> closeQuietly(c));
        }
    }

    /**
     * A check over one TCP connection at a time, opened by {@link #connect}: the host resolved on the
     * {@link ProbeResolver}'s pool, the address checked against the {@link AddressPolicy} right before a non-blocking
     * connect, then the channel handed to the loop. A check may {@link #connect} again (an HTTP redirect) once it
     * closed its previous channel.
     */
    abstract static class Connection extends Job {
        /** The current connection (set before the job is handed to the loop). */
        SocketChannel channel;
        /** When the current connect started ({@link System#nanoTime}). */
        long connectStart;
        private boolean connectedAtOnce;

        Connection(MonitorSpec spec, LongAdder denied) {
            super(spec, denied);
        }

        /**
         * The host resolved, before the policy check and the connect (resolver or starting thread): what the check
         * needs from the lookup (its time) or before connecting (an SSLEngine); throwing ends the check.
         */
        abstract void resolved(ProbeAddress.Resolved r) throws IOException;

        /** The connection is established (selector thread). */
        abstract void connected(SelectionKey k) throws IOException;

        /** The established channel is ready (selector thread). */
        abstract void io(SelectionKey k) throws IOException;

        @Override
        final void register(Selector sel) throws IOException {
            final SelectionKey k = channel.register(sel, 0, this);
            if (connectedAtOnce) {
                connected(k);
            } else {
                k.interestOps(SelectionKey.OP_CONNECT);
            }
        }

        @Override
        final void ready(SelectionKey k) throws IOException {
            if (k.isConnectable()) {
                if (channel.finishConnect()) {
                    connected(k);
                }
                return;
            }
            io(k);
        }
    }

    /**
     * Starts a {@link Connection}'s connect without blocking: {@code host} is looked up on the resolver's pool (an IP
     * literal at once), the address is checked against the policy right before a non-blocking connect, and the job
     * is handed to this loop; every failure ends the job down with its reason. Never throws.
     */
    void connect(Connection c, ProbeResolver resolver, AddressPolicy policy, String host, int port) {
        resolver.resolve(host, policy, c.deadline).whenComplete((r, e) -> {
            if (e != null) {
                c.fail(Probes.classify(ProbeResolver.cause(e), c.spec));
            } else {
                open(c, r, policy, port);
            }
        });
    }

    private void open(Connection c, ProbeAddress.Resolved r, AddressPolicy policy, int port) {
        if (c.future.isDone()) {
            return; // cancelled meanwhile
        }
        try {
            c.resolved(r);
            final InetSocketAddress to = new InetSocketAddress(r.address(), port);
            final AddressPolicy.Denial d = policy.check(to.getAddress());
            if (d != null) {
                throw new AddressDeniedException(d);
            }
            final SocketChannel ch = SocketChannel.open();
            c.channel = ch;
            c.closeWhenDone(ch); // however it ends, from whichever thread
            ch.configureBlocking(false);
            c.connectStart = System.nanoTime();
            c.connectedAtOnce = ch.connect(to);
        } catch (IOException e) {
            c.fail(Probes.classify(e, c.spec));
            return;
        } catch (RuntimeException e) {
            LOG.error("{}: check of {} failed unexpectedly", name, c.spec.name(), e);
            c.fail("internal: " + e);
            return;
        }
        if (!hand(c)) {
            c.fail("io: probe closed");
        }
    }

    private final String name;
    /** Work handed to the selector thread: registrations of new checks. */
    private final ConcurrentLinkedQueue<Job> arriving = new ConcurrentLinkedQueue<>();
    private final Object lifecycle = new Object();
    // Guarded by lifecycle.
    private Selector selector;
    private Thread loop;
    private volatile boolean closed;

    /** @param name the selector thread's name, e.g. {@code probe-tcp} */
    SelectorLoop(String name) {
        this.name = name;
    }

    /** Hands a started check to the selector thread (starting it); false when closed or no selector opens. */
    boolean hand(Job j) {
        final Selector s;
        synchronized (lifecycle) {
            if (closed) {
                return false;
            }
            if (selector == null) {
                try {
                    selector = Selector.open();
                } catch (IOException e) {
                    LOG.error("{}: cannot open a selector: {}", name, e.toString());
                    return false;
                }
                final Selector sel = selector;
                loop = ServiceThreads.start(name, () -> run(sel));
            }
            s = selector;
            arriving.add(j); // under the lock: a loop that ends drains arriving after it stopped taking checks
        }
        s.wakeup();
        return true;
    }

    private void run(Selector sel) {
        final PriorityQueue<Job> timers = new PriorityQueue<>((a, b) -> Long.compare(a.deadline - b.deadline, 0));
        try {
            while (!closed) {
                final Job first = timers.peek();
                final long waitMs = first == null ? 0
                    : Math.max(1, (first.deadline - System.nanoTime() + 999_999) / 1_000_000);
                sel.select(waitMs);
                for (Job next; (next = arriving.poll()) != null; ) {
                    final Job j = next;
                    if (!j.future.isDone()) {
                        if (!j.timed) {
                            j.timed = true; // handed again (the next hop of a redirect): one timer is enough
                            timers.add(j);
                        }
                        safely(j, () -> j.register(sel));
                    }
                }
                for (SelectionKey k : sel.selectedKeys()) {
                    final Job j = (Job) k.attachment();
                    safely(j, () -> {
                        if (j.future.isDone()) {
                            k.cancel();
                        } else {
                            j.ready(k);
                        }
                    });
                }
                sel.selectedKeys().clear();
                final long now = System.nanoTime();
                while (!timers.isEmpty() && (timers.peek().future.isDone() || timers.peek().deadline - now <= 0)) {
                    final Job j = timers.poll();
                    if (!j.future.isDone()) {
                        safely(j, j::expire);
                    }
                }
            }
        } catch (IOException | RuntimeException | Error e) {
            LOG.error("{}: selector loop failed; its checks end down", name, e);
        } finally {
            synchronized (lifecycle) {
                if (selector == sel) {
                    selector = null; // a failed loop: the next check starts a new one (unless closed)
                    loop = null;
                }
            }
            for (Job j; (j = arriving.poll()) != null; ) {
                j.fail("io: probe closed");
            }
            for (Job j : timers) {
                j.fail("io: probe closed");
            }
            for (SelectionKey k : sel.keys()) {
                if (k.attachment() instanceof Job j) {
                    j.fail("io: probe closed");
                }
            }
            closeQuietly(sel);
        }
    }

    /** Runs one step of a check; what it throws ends that check, never the loop. */
    private void safely(Job j, IoStep step) {
        try {
            step.run();
        } catch (ClosedChannelException | CancelledKeyException e) {
            j.fail("io: connection closed"); // no-op when it was closed because the check ended
        } catch (IOException e) {
            j.fail(Probes.classify(e, j.spec));
        } catch (RuntimeException e) {
            LOG.error("{}: check of {} failed unexpectedly", name, j.spec.name(), e);
            j.fail("internal: " + e);
        }
    }

    @FunctionalInterface
    interface IoStep {
        void run() throws IOException;
    }

    static void closeQuietly(Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            LOG.trace("close: {}", e.toString());
        }
    }

    /** Whether the selector thread runs. */
    boolean running() {
        synchronized (lifecycle) {
            return loop != null && loop.isAlive();
        }
    }

    /** Ends every open check down ("io: probe closed"), closes their channels and stops the selector thread. */
    @Override
    public void close() {
        final Thread t;
        final Selector s;
        synchronized (lifecycle) {
            closed = true;
            t = loop;
            s = selector;
        }
        if (s != null) {
            s.wakeup();
        }
        if (t != null) {
            try {
                t.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
