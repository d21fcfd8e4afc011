package dev.spillway.uptime.monitor;

import okhttp3.internal.tls.OkHostnameVerifier;

import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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
 */
final class TlsProbe {

    private static final double MS_PER_DAY = 86_400_000.0;

    private final AddressPolicy policy;
    private final GuardedSocketFactory sockets;
    private final SSLContext trustAll;
    private final X509TrustManager trust;

    TlsProbe(AddressPolicy policy, LongAdder received, X509TrustManager trust) {
        this.policy = policy;
        this.sockets = new GuardedSocketFactory(policy, received);
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

    CheckResult check(MonitorSpec spec) {
        final Instant startedAt = Probes.now();
        final long start = System.nanoTime();
        final long deadline = start + spec.timeout().toNanos();
        final String host = spec.url().getHost();
        final String name = spec.check().tlsServerName() != null ? spec.check().tlsServerName()
            : host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
        double dnsMs = Double.NaN;
        double connectMs = Double.NaN;
        double tlsMs = Double.NaN;
        double days = Double.NaN;
        Boolean chainValid = null;
        Boolean nameMatch = null;
        String error = null;
        try {
            final ProbeAddress.Resolved r = ProbeAddress.resolve(host, policy);
            dnsMs = r.dnsMs();
            try (Socket plain = sockets.createSocket()) {
                final long c0 = System.nanoTime();
                plain.connect(new InetSocketAddress(r.address(), spec.url().getPort()), Probes.remainingMs(deadline));
                connectMs = (System.nanoTime() - c0) / 1e6;
                // autoClose: closing the TLS socket sends close_notify and closes the connection; a layered socket
                // that leaves the connection open waits for the server's close_notify (up to the timeout) instead.
                try (SSLSocket s = (SSLSocket) trustAll.getSocketFactory().createSocket(plain, name,
                    spec.url().getPort(), true)) {
                    final SSLParameters p = s.getSSLParameters();
                    if (AddressPolicy.literals(name).isEmpty()) {
                        p.setServerNames(List.of(new SNIHostName(name)));
                    }
                    s.setSSLParameters(p);
                    s.setSoTimeout(Probes.remainingMs(deadline));
                    final long t0 = System.nanoTime();
                    s.startHandshake();
                    tlsMs = (System.nanoTime() - t0) / 1e6;
                    final Certificate[] peer = s.getSession().getPeerCertificates();
                    final X509Certificate[] chain = new X509Certificate[peer.length];
                    for (int i = 0; i < peer.length; i++) {
                        chain[i] = (X509Certificate) peer[i];
                    }
                    days = (chain[0].getNotAfter().getTime() - System.currentTimeMillis()) / MS_PER_DAY;
                    String untrusted = null;
                    try {
                        trust.checkServerTrusted(chain, "UNKNOWN");
                        chainValid = true;
                    } catch (CertificateException e) {
                        chainValid = false;
                        untrusted = e.getMessage();
                    }
                    nameMatch = OkHostnameVerifier.INSTANCE.verify(name, chain[0]);
                    if (spec.tlsVerify() && !chainValid) {
                        error = "tls: certificate chain not trusted: " + untrusted;
                    } else if (spec.tlsVerify() && !nameMatch) {
                        error = "tls: certificate does not match host name '" + name + "'";
                    } else if (days < spec.check().tlsMinDays()) {
                        error = "certificate: " + (days < 0 ? "expired " + String.format("%.1f", -days) + " days ago"
                            : "expires in " + String.format("%.1f", days) + " days") + " (tls.min_days "
                            + spec.check().tlsMinDays() + ")";
                    }
                }
            }
        } catch (IOException e) {
            error = Probes.classify(e, spec);
        }
        final Map<String, Double> extra = new LinkedHashMap<>();
        if (chainValid != null) {
            extra.put("chain_valid", chainValid ? 1.0 : 0.0);
            extra.put("host_name_match", nameMatch ? 1.0 : 0.0);
        }
        return new CheckResult(startedAt, error == null, -1, (System.nanoTime() - start) / 1e6, dnsMs, connectMs,
            tlsMs, Double.NaN, days, error, false, extra);
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
