package dev.spillway.uptime.monitor;

import java.io.IOException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.LongAdder;

/**
 * A {@code tcp://host:port} check, non-blocking: resolve (under the address policy), connect, and with
 * {@code tcp.send} write the text; with {@code tcp.expect} read until the reply contains it (at most
 * {@link #MAX_REPLY} bytes), the connection is closed, or the timeout. Up when it connected (and the reply held the
 * expected text).
 *
 * <p>{@link #start} returns at once: a name is looked up on the {@link ProbeResolver}'s small pool, awaited until
 * the check's deadline (an IP literal needs no lookup); then the chosen address is checked against the
 * {@link AddressPolicy} right before a non-blocking connect (as {@link GuardedSocketFactory} does), and the rest of
 * the check runs on the probe's one selector thread ({@code probe-tcp}, started with the first check), which also ends every check at
 * its deadline (closing its connection). So a check that hangs holds a connection, not a thread. Completing the
 * returned future from outside (cancel, the executor's safety net) closes the connection too.
 */
final class TcpProbe implements AutoCloseable {

    /** Most reply bytes read per check. */
    static final int MAX_REPLY = 64 * 1024;

    private final AddressPolicy policy;
    private final ProbeResolver resolver;
    private final LongAdder received;
    private final LongAdder denied;
    private final SelectorLoop loop = new SelectorLoop("probe-tcp");
    /** The selector thread's read buffer (each check keeps only what it read). */
    private final ByteBuffer scratch = ByteBuffer.allocate(MAX_REPLY);

    /**
     * @param received counts bytes read
     * @param denied counts checks the address policy refused
     */
    TcpProbe(AddressPolicy policy, ProbeResolver resolver, LongAdder received, LongAdder denied) {
        this.denied = denied;
        this.policy = policy;
        this.resolver = resolver;
        this.received = received;
    }

    /** Runs one check and waits for its result (for callers with a thread to spare, e.g. a test). */
    CheckResult check(MonitorSpec spec) {
        return start(spec).join();
    }

    /**
     * Starts one check without blocking (a host name is looked up on the {@link ProbeResolver}'s pool); never
     * throws. The future completes with the result by the check's deadline (never exceptionally, unless completed
     * from outside).
     */
    CompletableFuture<CheckResult> start(MonitorSpec spec) {
        final Check c = new Check(spec);
        loop.connect(c, resolver, policy, spec.url().getHost(), spec.url().getPort());
        return c.future;
    }

    /** One check's state: the future is completed by whoever ends it; the rest is the selector thread's. */
    private final class Check extends SelectorLoop.Connection {
        double dnsMs = Double.NaN;
        double connectMs = Double.NaN;
        ByteBuffer sending;
        long replyStart;
        byte[] reply;
        int n;

        Check(MonitorSpec spec) {
            super(spec, denied);
        }

        @Override
        void resolved(ProbeAddress.Resolved r) {
            dnsMs = r.dnsMs();
        }

        @Override
        void io(SelectionKey k) throws IOException {
            if (k.isWritable()) {
                write(k);
            } else if (k.isReadable()) {
                read();
            }
        }

        @Override
        void connected(SelectionKey k) throws IOException {
            connectMs = (System.nanoTime() - connectStart) / 1e6;
            final CheckOptions o = spec.check();
            if (o.tcpSend() != null) {
                sending = ByteBuffer.wrap(o.tcpSend().getBytes(StandardCharsets.UTF_8));
                write(k);
            } else {
                sent(k);
            }
        }

        private void write(SelectionKey k) throws IOException {
            channel.write(sending);
            if (sending.hasRemaining()) {
                k.interestOps(SelectionKey.OP_WRITE);
            } else {
                sending = null;
                sent(k);
            }
        }

        private void sent(SelectionKey k) {
            if (spec.check().tcpExpect() == null) {
                finish(null, Double.NaN);
                return;
            }
            replyStart = System.nanoTime();
            reply = new byte[256];
            k.interestOps(SelectionKey.OP_READ);
        }

        private void read() throws IOException {
            final String expected = spec.check().tcpExpect();
            scratch.clear().limit(MAX_REPLY - n);
            final int got = channel.read(scratch);
            if (got < 0) {
                finish(notInReply(expected), Double.NaN);
                return;
            }
            if (got == 0) {
                return;
            }
            received.add(got);
            if (n + got > reply.length) {
                reply = Arrays.copyOf(reply, Math.min(MAX_REPLY, Math.max(reply.length * 2, n + got)));
            }
            scratch.flip().get(reply, n, got);
            n += got;
            if (new String(reply, 0, n, StandardCharsets.UTF_8).contains(expected)) {
                finish(null, (System.nanoTime() - replyStart) / 1e6);
            } else if (n == MAX_REPLY) {
                finish(notInReply(expected), Double.NaN);
            }
        }

        private String notInReply(String expected) {
            return "expect: '" + expected + "' not in the reply" + (n == MAX_REPLY ? " (first " + MAX_REPLY
                + " bytes)" : " (connection closed)") + got();
        }

        /** The deadline passed (selector thread). */
        @Override
        void expire() {
            if (reply != null) {
                finish("expect: '" + spec.check().tcpExpect() + "' not received within the timeout" + got(),
                    Double.NaN);
            } else {
                finish(Probes.classify(new SocketTimeoutException("timeout"), spec), Double.NaN);
            }
        }

        private String got() {
            if (n == 0) {
                return "; nothing received";
            }
            final String text = new String(reply, 0, Math.min(n, 60), StandardCharsets.UTF_8)
                .replaceAll("\\p{Cntrl}", "?");
            return "; received '" + text + (n > 60 ? "...'" : "'");
        }

        /** Ends the check down with the reason (from any thread; no-op when it ended already). */
        @Override
        void fail(String error) {
            finish(error, Double.NaN);
        }

        private void finish(String error, double replyMs) {
            final Map<String, Double> extra = new LinkedHashMap<>();
            if (!Double.isNaN(replyMs)) {
                extra.put("reply_ms", replyMs);
            }
            complete(new CheckResult(startedAt, error == null, -1, (System.nanoTime() - start) / 1e6, dnsMs,
                connectMs, Double.NaN, Double.NaN, Double.NaN, error, false, extra));
        }
    }

    /** Whether the selector thread runs. */
    boolean running() {
        return loop.running();
    }

    /** Ends every open check down ("io: probe closed"), closes their connections and stops the selector thread. */
    @Override
    public void close() {
        loop.close();
    }
}
