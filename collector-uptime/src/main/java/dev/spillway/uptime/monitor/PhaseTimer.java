package dev.spillway.uptime.monitor;

import okhttp3.Call;
import okhttp3.EventListener;
import okhttp3.Handshake;
import okhttp3.Protocol;

import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSocket;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.List;

/**
 * Collects the phase durations of one check from OkHttp's events, as blackbox_exporter does: DNS, connect, TLS
 * and time to first byte. One instance per check, attached to every request of it (redirects included) as a
 * request tag; OkHttp calls it on the checking thread (calls are synchronous and fast fallback is off), so plain fields
 * suffice.
 */
final class PhaseTimer extends EventListener {

    private final long checkStart;
    private long dnsStart;
    private long dnsNanos;
    private long connectStart;
    private long connectNanos;
    private long tlsStart;
    private long tlsNanos;
    private long firstByte;
    private long tlsAtConnectStart;
    private boolean tlsOpen;
    private boolean resolved;
    private X509Certificate leaf;
    private boolean connected;
    private boolean tls;

    PhaseTimer(long checkStartNanos) {
        this.checkStart = checkStartNanos;
    }

    @Override
    public void dnsStart(Call call, String domainName) {
        dnsStart = System.nanoTime();
    }

    @Override
    public void dnsEnd(Call call, String domainName, List<InetAddress> addresses) {
        dnsNanos += System.nanoTime() - dnsStart;
        resolved = true;
    }

    @Override
    public void connectStart(Call call, InetSocketAddress address, Proxy proxy) {
        connectStart = System.nanoTime();
        tlsAtConnectStart = tlsNanos;
        tlsOpen = false;
    }

    @Override
    public void secureConnectStart(Call call) {
        tlsStart = System.nanoTime();
        tlsOpen = true;
    }

    @Override
    public void secureConnectEnd(Call call, Handshake handshake) {
        tlsNanos += System.nanoTime() - tlsStart;
        tlsOpen = false;
        tls = true;
    }

    @Override
    public void connectEnd(Call call, InetSocketAddress address, Proxy proxy, Protocol protocol) {
        connected(System.nanoTime());
    }

    @Override
    public void connectFailed(Call call, InetSocketAddress address, Proxy proxy, Protocol protocol,
                              IOException ioe) {
        connected(System.nanoTime());
    }

    private void connected(long now) {
        if (tlsOpen) {
            // The handshake failed: its time so far is TLS time.
            tlsNanos += now - tlsStart;
            tlsOpen = false;
            tls = true;
        }
        // OkHttp's connect phase encloses the TLS handshake; report TCP connect alone.
        connectNanos += now - connectStart - (tlsNanos - tlsAtConnectStart);
        connected = true;
    }

    @Override
    public void connectionAcquired(Call call, okhttp3.Connection connection) {
        // Read from the socket rather than OkHttp's Handshake: the latter is empty for tls_verify=false because
        // OkHttp cannot clean an untrusted chain. Also covers reused (keep-alive) connections.
        leaf = null;
        if (connection.socket() instanceof SSLSocket ssl) {
            try {
                final Certificate[] chain = ssl.getSession().getPeerCertificates();
                if (chain.length > 0 && chain[0] instanceof X509Certificate x) {
                    leaf = x;
                }
            } catch (SSLPeerUnverifiedException e) {
                leaf = null; // no certificate presented: nothing to report
            }
        }
    }

    /** The leaf certificate of the last connection used, or null. */
    X509Certificate leaf() {
        return leaf;
    }

    @Override
    public void responseHeadersStart(Call call) {
        firstByte = System.nanoTime();
    }

    /** DNS in ms; 0 when a connection was made without a lookup (IP literal); NaN when not connected. */
    double dnsMs() {
        return resolved ? ms(dnsNanos) : connected ? 0 : Double.NaN;
    }

    /** TCP connect in ms, NaN when no new connection was made. */
    double connectMs() {
        return connected ? ms(connectNanos) : Double.NaN;
    }

    /** TLS handshake in ms, NaN without one. */
    double tlsMs() {
        return tls ? ms(tlsNanos) : Double.NaN;
    }

    /** From the check's start to the last response's first byte, NaN without a response. */
    double ttfbMs() {
        return firstByte == 0 ? Double.NaN : ms(firstByte - checkStart);
    }

    private static double ms(long nanos) {
        return nanos / 1e6;
    }
}
