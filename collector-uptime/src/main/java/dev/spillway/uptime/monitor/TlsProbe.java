package dev.spillway.uptime.monitor;

import okhttp3.internal.tls.OkHostnameVerifier;

import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import java.io.IOException;
import java.nio.channels.SelectionKey;
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

    private final AddressPolicy policy;
    private final ProbeResolver resolver;
    private final LongAdder received;
    private final LongAdder denied;
    private final SSLContext trustAll;
    private final X509TrustManager trust;
    private final SelectorLoop loop = new SelectorLoop("probe-tls");
    /** The selector thread's TLS buffers. */
    private final EngineIo.Scratch scratch = new EngineIo.Scratch();

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
        loop.connect(h, resolver, policy, spec.url().getHost(), spec.url().getPort());
        return h.future;
    }

    /** A client engine for {@code name} that takes any certificate (judged afterwards), SNI when it is a name. */
    private SSLEngine engine(String name, int port) throws SSLException {
        final SSLEngine engine = trustAll.createSSLEngine(name, port);
        engine.setUseClientMode(true);
        final SSLParameters p = engine.getSSLParameters();
        if (AddressPolicy.literals(name).isEmpty()) {
            try {
                p.setServerNames(List.of(new SNIHostName(name)));
            } catch (IllegalArgumentException e) {
                throw new SSLException(e.getMessage()); // a server name SNI cannot carry
            }
        }
        engine.setSSLParameters(p);
        return engine;
    }

    /** One check on the selector thread: connect, the handshake through the engine, then the certificate judged. */
    private final class Handshake extends SelectorLoop.Connection {
        final String name;
        SSLEngine engine;
        EngineIo tls;
        long tlsStart;
        double dnsMs = Double.NaN;
        double connectMs = Double.NaN;

        Handshake(MonitorSpec spec) {
            super(spec, denied);
            final String host = spec.url().getHost();
            this.name = spec.check().tlsServerName() != null ? spec.check().tlsServerName()
                : host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
        }

        @Override
        void resolved(ProbeAddress.Resolved r) throws IOException {
            dnsMs = r.dnsMs();
            engine = engine(name, spec.url().getPort());
        }

        @Override
        void connected(SelectionKey k) throws IOException {
            connectMs = (System.nanoTime() - connectStart) / 1e6;
            tlsStart = System.nanoTime();
            tls = new EngineIo(engine, channel, received, scratch);
            engine.beginHandshake();
            if (tls.handshake(k)) {
                handshaken();
            }
        }

        @Override
        void io(SelectionKey k) throws IOException {
            try {
                if (k.isReadable() && tls.fill() < 0) {
                    // What a blocking handshake reports when the server closes the connection.
                    throw new SSLHandshakeException("Remote host terminated the handshake");
                }
                if (tls.handshake(k)) {
                    handshaken();
                }
            } finally {
                tls.keep();
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
            tls.closeNotify();
            final Map<String, Double> extra = new LinkedHashMap<>();
            extra.put("chain_valid", chainValid ? 1.0 : 0.0);
            extra.put("host_name_match", nameMatch ? 1.0 : 0.0);
            complete(new CheckResult(startedAt, error == null, -1, (System.nanoTime() - start) / 1e6, dnsMs,
                connectMs, tlsMs, Double.NaN, days, error, false, extra));
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
