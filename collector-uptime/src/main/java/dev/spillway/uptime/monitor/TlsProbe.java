package dev.spillway.uptime.monitor;

import okhttp3.internal.tls.OkHostnameVerifier;

import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.LongAdder;

/**
 * A {@code tls://host:port} check of any TLS server (not only HTTPS): connect under the address policy, handshake
 * (SNI {@code tls.server_name}, else the URL's host when it is a name), then judge the certificate the server sent:
 * days to the leaf's expiry ({@code cert_expiry_days}), whether the chain is trusted ({@code chain_valid}, by the
 * JDK's trust store) and whether the leaf names the host ({@code host_name_match}, as OkHttp matches for https).
 *
 * <p>The handshake itself accepts any certificate, so an untrusted or mismatched one is still measured and
 * reported rather than failing as a bare handshake error. DOWN when fewer than {@code tls.min_days} days remain,
 * and, with {@code tls_verify} (the default), when the chain is not trusted or the name does not match.
 *
 * <p>Non-blocking, like {@link TcpProbe}: {@link #start} returns at once (a name is looked up on the
 * {@link ProbeResolver}'s pool until the check's deadline), then checks the chosen address against the {@link AddressPolicy} right before a non-blocking connect
 * and returns; the handshake runs through an {@link SSLEngine} on the probe's one selector thread
 * ({@code probe-tls}), which ends every check at its deadline. So a server that accepts and never answers holds a
 * connection, not a thread. The engine's delegated tasks (certificate parsing, key exchange) run on that thread
 * too: a handshake costs it CPU, never a wait.
 */
final class TlsProbe implements AutoCloseable {

    private static final double MS_PER_DAY = 86_400_000.0;
    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);
    /** The selector thread's buffers: network bytes in and out, and (unused) application bytes of a handshake. */
    private static final int BUFFER = 64 * 1024;

    private final AddressPolicy policy;
    private final ProbeResolver resolver;
    private final LongAdder received;
    private final LongAdder denied;
    private final SSLContext trustAll;
    private final X509TrustManager trust;
    private final SelectorLoop loop = new SelectorLoop("probe-tls");
    private final ByteBuffer netIn = ByteBuffer.allocate(BUFFER);
    private final ByteBuffer netOut = ByteBuffer.allocate(BUFFER);
    private final ByteBuffer app = ByteBuffer.allocate(BUFFER);

    /**
     * @param received counts bytes read
     * @param denied counts checks the address policy refused
     * @param trust judges the peer's chain (null: the JDK's default trust)
     */
    TlsProbe(AddressPolicy policy, ProbeResolver resolver, LongAdder received, LongAdder denied,
             X509TrustManager trust) {
        this.denied = denied;
        this.policy = policy;
        this.resolver = resolver;
        this.received = received;
        try {
            this.trustAll = SSLContext.getInstance("TLS");
            trustAll.init(null, new TrustManager[] {new AcceptAll()}, null);
            if (trust != null) {
                this.trust = trust;
            } else {
                final TrustManagerFactory f = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
                f.init((KeyStore) null);
                this.trust = (X509TrustManager) f.getTrustManagers()[0];
            }
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("TLS is not available: " + e, e);
        }
    }

    /** Runs one check and waits for its result (for callers with a thread to spare, e.g. a test). */
    CheckResult check(MonitorSpec spec) {
        return start(spec).join();
    }

    /**
     * Starts one check without blocking (a host name is looked up on the {@link ProbeResolver}'s pool); never throws.
     * The future completes with the result by the check's deadline (never exceptionally, unless completed from
     * outside; completing it closes the connection).
     */
    CompletableFuture<CheckResult> start(MonitorSpec spec) {
        final Handshake h = new Handshake(spec);
        resolver.resolve(spec.url().getHost(), policy, h.deadline).whenComplete((r, e) -> {
            if (e != null) {
                h.fail(Probes.classify(ProbeResolver.cause(e), spec));
            } else {
                connect(h, r);
            }
        });
        return h.future;
    }

    /** Opens the connection to the resolved address (policy checked right before) and hands it to the loop. */
    private void connect(Handshake h, ProbeAddress.Resolved r) {
        if (h.future.isDone()) {
            return; // cancelled meanwhile
        }
        final MonitorSpec spec = h.spec;
        try {
            h.dnsMs = r.dnsMs();
            final InetSocketAddress to = new InetSocketAddress(r.address(), spec.url().getPort());
            final AddressPolicy.Denial d = policy.check(to.getAddress());
            if (d != null) {
                throw new AddressDeniedException(d);
            }
            final SSLEngine engine = trustAll.createSSLEngine(h.name, spec.url().getPort());
            engine.setUseClientMode(true);
            final SSLParameters p = engine.getSSLParameters();
            if (AddressPolicy.literals(h.name).isEmpty()) {
                p.setServerNames(List.of(new SNIHostName(h.name)));
            }
            engine.setSSLParameters(p);
            h.engine = engine;
            final SocketChannel ch = SocketChannel.open();
            h.channel = ch;
            h.closeWhenDone(ch);
            ch.configureBlocking(false);
            h.connectStart = System.nanoTime();
            h.connectedAtOnce = ch.connect(to);
        } catch (IOException e) {
            h.fail(Probes.classify(e, spec));
            return;
        } catch (IllegalArgumentException e) {
            h.fail("tls: " + e.getMessage()); // a server name SNI cannot carry
            return;
        }
        if (!loop.hand(h)) {
            h.fail("io: probe closed");
        }
    }

    /** One check on the selector thread: connect, the handshake through the engine, then the certificate judged. */
    private final class Handshake extends SelectorLoop.Job {
        final String name;
        SSLEngine engine;
        SocketChannel channel;
        boolean connectedAtOnce;
        long connectStart;
        long tlsStart;
        double dnsMs = Double.NaN;
        double connectMs = Double.NaN;
        /** Network bytes received and not yet unwrapped (a partial record), or null. */
        ByteBuffer in;
        /** Network bytes wrapped and not yet written, or null. */
        ByteBuffer out;

        Handshake(MonitorSpec spec) {
            super(spec, denied);
            final String host = spec.url().getHost();
            this.name = spec.check().tlsServerName() != null ? spec.check().tlsServerName()
                : host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
        }

        @Override
        void register(Selector sel) throws IOException {
            final SelectionKey k = channel.register(sel, 0, this);
            if (connectedAtOnce) {
                connected(k);
            } else {
                k.interestOps(SelectionKey.OP_CONNECT);
            }
        }

        @Override
        void ready(SelectionKey k) throws IOException {
            if (k.isConnectable()) {
                if (channel.finishConnect()) {
                    connected(k);
                }
                return;
            }
            if (k.isReadable()) {
                netIn.clear();
                if (in != null) {
                    netIn.put(in);
                }
                final int got = channel.read(netIn);
                if (got < 0) {
                    // What a blocking handshake reports when the server closes the connection.
                    throw new SSLHandshakeException("Remote host terminated the handshake");
                }
                received.add(got);
                in = netIn.flip();
            }
            try {
                drive(k);
            } finally {
                if (in == netIn) { // keep only what is left of the shared buffer
                    in = netIn.hasRemaining() ? ByteBuffer.allocate(netIn.remaining()).put(netIn).flip() : null;
                }
            }
        }

        private void connected(SelectionKey k) throws IOException {
            connectMs = (System.nanoTime() - connectStart) / 1e6;
            tlsStart = System.nanoTime();
            engine.beginHandshake();
            drive(k);
        }

        /** Runs the handshake as far as the bytes at hand allow, then waits for the channel. */
        private void drive(SelectionKey k) throws IOException {
            for (int steps = 0; !future.isDone(); steps++) {
                if (steps == 1_000) {
                    throw new SSLHandshakeException("the handshake made no progress in " + steps + " steps");
                }
                if (out != null) {
                    channel.write(out);
                    if (out.hasRemaining()) {
                        k.interestOps(SelectionKey.OP_WRITE);
                        return;
                    }
                    out = null;
                }
                switch (engine.getHandshakeStatus()) {
                    case NEED_TASK -> {
                        // Certificate and key-exchange work, on this thread (a few ms of CPU at most).
                        for (Runnable t; (t = engine.getDelegatedTask()) != null; ) {
                            t.run();
                        }
                    }
                    case NEED_WRAP -> {
                        netOut.clear();
                        final SSLEngineResult r = engine.wrap(EMPTY, netOut);
                        netOut.flip();
                        if (netOut.hasRemaining()) {
                            out = ByteBuffer.allocate(netOut.remaining()).put(netOut).flip();
                        }
                        if (r.getStatus() == SSLEngineResult.Status.CLOSED && out == null) {
                            throw new SSLHandshakeException("the handshake was closed");
                        }
                    }
                    case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
                        app.clear();
                        final SSLEngineResult r = engine.unwrap(in == null ? EMPTY : in, app);
                        if (r.getStatus() == SSLEngineResult.Status.BUFFER_UNDERFLOW) {
                            k.interestOps(SelectionKey.OP_READ);
                            return;
                        }
                        if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
                            throw new SSLHandshakeException("Remote host terminated the handshake");
                        }
                    }
                    default -> {
                        handshaken();
                        return;
                    }
                }
            }
        }

        private void handshaken() throws IOException {
            final double tlsMs = (System.nanoTime() - tlsStart) / 1e6;
            final Certificate[] peer = engine.getSession().getPeerCertificates();
            final X509Certificate[] chain = new X509Certificate[peer.length];
            for (int i = 0; i < peer.length; i++) {
                chain[i] = (X509Certificate) peer[i];
            }
            final double days = (chain[0].getNotAfter().getTime() - System.currentTimeMillis()) / MS_PER_DAY;
            boolean chainValid;
            String untrusted = null;
            try {
                trust.checkServerTrusted(chain, "UNKNOWN");
                chainValid = true;
            } catch (CertificateException e) {
                chainValid = false;
                untrusted = e.getMessage();
            }
            final boolean nameMatch = OkHostnameVerifier.INSTANCE.verify(name, chain[0]);
            String error = null;
            if (spec.tlsVerify() && !chainValid) {
                error = "tls: certificate chain not trusted: " + untrusted;
            } else if (spec.tlsVerify() && !nameMatch) {
                error = "tls: certificate does not match host name '" + name + "'";
            } else if (days < spec.check().tlsMinDays()) {
                error = "certificate: " + (days < 0 ? "expired " + String.format("%.1f", -days) + " days ago"
                    : "expires in " + String.format("%.1f", days) + " days") + " (tls.min_days "
                    + spec.check().tlsMinDays() + ")";
            }
            closeNotify();
            final Map<String, Double> extra = new LinkedHashMap<>();
            extra.put("chain_valid", chainValid ? 1.0 : 0.0);
            extra.put("host_name_match", nameMatch ? 1.0 : 0.0);
            complete(new CheckResult(startedAt, error == null, -1, (System.nanoTime() - start) / 1e6, dnsMs,
                connectMs, tlsMs, Double.NaN, days, error, false, extra));
        }

        /** Sends close_notify as far as the socket takes it at once (the connection is closed right after). */
        private void closeNotify() {
            try {
                engine.closeOutbound();
                netOut.clear();
                engine.wrap(EMPTY, netOut);
                channel.write(netOut.flip());
            } catch (IOException e) {
                // the connection closes anyway
            }
        }

        @Override
        void fail(String error) {
            complete(new CheckResult(startedAt, false, -1, (System.nanoTime() - start) / 1e6, dnsMs,
                connectMs, Double.NaN, Double.NaN, Double.NaN, error, false, Map.of()));
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

    /** The handshake takes any certificate; the check judges it afterwards. */
    private static final class AcceptAll implements X509TrustManager {
        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {
            // not a server
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) {
            // judged after the handshake
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
