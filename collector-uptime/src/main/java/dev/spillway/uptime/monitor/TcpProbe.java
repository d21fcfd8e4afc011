package dev.spillway.uptime.monitor;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * A {@code tcp://host:port} check: resolve (under the address policy), connect, and with {@code tcp.send} write
 * the text; with {@code tcp.expect} read until the reply contains it (at most {@link #MAX_REPLY} bytes), the
 * connection is closed, or the timeout. Up when it connected (and the reply held the expected text).
 */
final class TcpProbe {

    /** Most reply bytes read per check. */
    static final int MAX_REPLY = 64 * 1024;

    private final GuardedSocketFactory sockets;
    private final AddressPolicy policy;

    TcpProbe(AddressPolicy policy, LongAdder received) {
        this.policy = policy;
        this.sockets = new GuardedSocketFactory(policy, received);
    }

    CheckResult check(MonitorSpec spec) {
        final Instant startedAt = Probes.now();
        final long start = System.nanoTime();
        final long deadline = start + spec.timeout().toNanos();
        double dnsMs = Double.NaN;
        double connectMs = Double.NaN;
        double replyMs = Double.NaN;
        String error = null;
        try {
            final ProbeAddress.Resolved r = ProbeAddress.resolve(spec.url().getHost(), policy);
            dnsMs = r.dnsMs();
            try (Socket s = sockets.createSocket()) {
                final long c0 = System.nanoTime();
                s.connect(new InetSocketAddress(r.address(), spec.url().getPort()), Probes.remainingMs(deadline));
                connectMs = (System.nanoTime() - c0) / 1e6;
                final CheckOptions o = spec.check();
                if (o.tcpSend() != null) {
                    s.getOutputStream().write(o.tcpSend().getBytes(StandardCharsets.UTF_8));
                    s.getOutputStream().flush();
                }
                if (o.tcpExpect() != null) {
                    final long r0 = System.nanoTime();
                    error = expect(s, o.tcpExpect(), deadline);
                    if (error == null) {
                        replyMs = (System.nanoTime() - r0) / 1e6;
                    }
                }
            }
        } catch (IOException e) {
            error = Probes.classify(e, spec);
        }
        final Map<String, Double> extra = new LinkedHashMap<>();
        if (!Double.isNaN(replyMs)) {
            extra.put("reply_ms", replyMs);
        }
        return new CheckResult(startedAt, error == null, -1, (System.nanoTime() - start) / 1e6, dnsMs, connectMs,
            Double.NaN, Double.NaN, Double.NaN, error, false, extra);
    }

    /** Reads until the text appears; the reason when it does not. */
    private static String expect(Socket s, String expected, long deadline) throws IOException {
        final InputStream in = s.getInputStream();
        final byte[] buf = new byte[MAX_REPLY];
        int n = 0;
        try {
            while (n < buf.length) {
                s.setSoTimeout(Probes.remainingMs(deadline));
                final int got = in.read(buf, n, buf.length - n);
                if (got < 0) {
                    break;
                }
                n += got;
                if (new String(buf, 0, n, StandardCharsets.UTF_8).contains(expected)) {
                    return null;
                }
            }
        } catch (SocketTimeoutException e) {
            return "expect: '" + expected + "' not received within the timeout" + got(buf, n);
        }
        return "expect: '" + expected + "' not in the reply" + (n == buf.length ? " (first " + MAX_REPLY + " bytes)"
            : " (connection closed)") + got(buf, n);
    }

    private static String got(byte[] buf, int n) {
        if (n == 0) {
            return "; nothing received";
        }
        final String text = new String(buf, 0, Math.min(n, 60), StandardCharsets.UTF_8)
            .replaceAll("\\p{Cntrl}", "?");
        return "; received '" + text + (n > 60 ? "...'" : "'");
    }
}
