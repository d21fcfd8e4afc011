package dev.spillway.uptime.monitor;

import okhttp3.CertificatePinner;
import okhttp3.HttpUrl;
import okhttp3.internal.tls.OkHostnameVerifier;

import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.LongAdder;

/**
 * HTTP checks without a thread per check in flight: an HTTP/1.1 client on one selector thread ({@code probe-http}),
 * plain or TLS through an {@link SSLEngine} ({@link EngineIo}), one fresh connection per request
 * ({@code Connection: close}). Used for every HTTP check when keep-alive is off (the default); with
 * {@code --probe-keepalive} checks keep running on OkHttp ({@link HttpProbe}), which pools connections.
 *
 * <p>It keeps every promise of {@link HttpProbe}, through the rules both share ({@link HttpRules}):
 * <ul>
 *   <li>every connection goes directly (no proxy) to an address the {@link AddressPolicy} allows: IP literals of
 *   every hop are checked before the request, names are resolved on the {@link ProbeResolver}'s pool (the first
 *   allowed address is used) and the address is checked again right before the non-blocking connect
 *   ({@link SelectorLoop#connect});</li>
 *   <li>the monitor's headers only while the redirect chain stays on the first URL's origin; redirects followed here
 *   up to {@link MonitorSpec#MAX_REDIRECTS} with Fetch's method and body rules, a body never re-sent to another
 *   origin; the whole chain shares the monitor's timeout (the job's deadline, which the loop enforces);</li>
 *   <li>at most {@link HttpProbe#MAX_BODY} body bytes read (after gunzipping: {@code Accept-Encoding: gzip} is
 *   sent and the body decoded as OkHttp does transparently, unless the monitor sets {@code Accept-Encoding} or
 *   {@code Range} itself); a longer body is cut and its connection closed ({@link CheckResult#bodyCapped()}); a
 *   redirect's body is not read at all;</li>
 *   <li>TLS verified by default (the JDK's trust store, the host name as OkHttp's {@link OkHostnameVerifier}
 *   matches it), not verified with {@code tls_verify: false}; SNI for names; the leaf's expiry reported;</li>
 *   <li>the phases as {@link PhaseTimer} measures them: lookups, TCP connects and handshakes summed over the hops,
 *   time to the final response's first byte.</li>
 * </ul>
 * Every failure is a down result with HttpProbe's words. The TLS handshake's CPU work runs on the selector thread.
 */
final class HttpAsyncProbe implements AutoCloseable {

    /** Most bytes read from a plain connection at once (so a capped body costs little more than the cap). */
    private static final int READ = 32 * 1024;

    private final AddressPolicy policy;
    private final ProbeResolver resolver;
    private final LongAdder received;
    private final LongAdder denied;
    private final LongAdder capped;
    private final SSLContext verifying;
    private final SSLContext trusting;
    private final SelectorLoop loop = new SelectorLoop("probe-http");
    /** The selector thread's buffers. */
    private final EngineIo.Scratch scratch = new EngineIo.Scratch();
    private final ByteBuffer bytes = ByteBuffer.allocate(EngineIo.Scratch.SIZE);

    /**
     * @param received counts bytes read (TLS records included)
     * @param denied counts checks the address policy refused
     * @param capped counts checks whose bodies were cut at {@link HttpProbe#MAX_BODY}
     * @param trust what verification trusts (null: the JDK's trust store, as {@link HttpProbe}; a test's otherwise)
     */
    HttpAsyncProbe(AddressPolicy policy, ProbeResolver resolver, LongAdder received, LongAdder denied,
                   LongAdder capped, X509TrustManager trust) {
        this.policy = policy;
        this.resolver = resolver;
        this.received = received;
        this.denied = denied;
        this.capped = capped;
        try {
            final TrustManager[] trusted;
            if (trust != null) {
                trusted = new TrustManager[] {trust};
            } else {
                final TrustManagerFactory f = TrustManagerFactory.getInstance(
                    TrustManagerFactory.getDefaultAlgorithm());
                f.init((KeyStore) null);
                trusted = f.getTrustManagers();
            }
            this.verifying = SSLContext.getInstance("TLS");
            verifying.init(null, trusted, null);
            this.trusting = SSLContext.getInstance("TLS");
            trusting.init(null, new TrustManager[] {new HttpProbe.TrustAll()}, null);
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
        final Exchange x = new Exchange(spec);
        try {
            x.url = HttpUrl.get(spec.url().toString());
        } catch (IllegalArgumentException e) {
            x.fail("request: " + e);
            return x.future;
        }
        x.first = x.url;
        x.request();
        return x.future;
    }

    /** Checks refused by the address policy (of the counter this probe was given). */
    long deniedChecks() {
        return denied.sum();
    }

    /** Checks whose bodies were cut (of the counter this probe was given). */
    long cappedChecks() {
        return capped.sum();
    }

    /** Bytes read (of the counter this probe was given). */
    long receivedBytes() {
        return received.sum();
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

    /** One check: its chain of requests, one connection each, on the selector thread. */
    private final class Exchange extends SelectorLoop.Connection {
        // The chain.
        HttpUrl url;
        HttpUrl first;
        String method;
        String body;
        boolean bodyDropped;
        boolean sameOrigin = true;
        int hop;
        // Phases, summed over the hops (as PhaseTimer sums OkHttp's events).
        boolean lookedUp;
        double dnsMs;
        boolean connectedOnce;
        long connectNanos;
        boolean tlsMeasured;
        long tlsNanos;
        long firstByte;
        int status = -1;
        double certDays = Double.NaN;
        // The current hop.
        ByteBuffer requestBytes;
        boolean askedGzip;
        boolean connected;
        SSLEngine engine;
        EngineIo tls;
        long tlsStart;
        boolean firstSeen;
        boolean handshaking;
        boolean sending;
        X509Certificate leaf;
        HttpResponseReader reader;
        boolean headSeen;

        Exchange(MonitorSpec spec) {
            super(spec, denied);
            this.method = spec.method();
            this.body = spec.body();
        }

        /** Starts the current hop: its IP literal checked, its request made, then resolve and connect. */
        void request() {
            final AddressPolicy.Denial literal = policy.checkLiteral(url.host());
            if (literal != null) {
                fail(new AddressDeniedException(literal).getMessage());
                return;
            }
            try {
                requestBytes = ByteBuffer.wrap(encode());
            } catch (IllegalArgumentException e) {
                fail("request: " + e); // as OkHttp refuses such a request
                return;
            }
            connected = false;
            connectStart = 0;
            tls = null;
            engine = null;
            firstSeen = false;
            leaf = null;
            handshaking = false;
            sending = false;
            headSeen = false;
            reader = new HttpResponseReader(method.equals("HEAD"), askedGzip, HttpProbe.MAX_BODY);
            loop.connect(this, resolver, policy, url.host(), url.port());
        }

        /** The request's bytes: request line, headers (the shared ones, then those of body and transport), body. */
        private byte[] encode() {
            final byte[] content = body != null ? body.getBytes(StandardCharsets.UTF_8)
                : HttpRules.requiresBody(method) ? new byte[0] : null;
            if (content != null && (method.equals("GET") || method.equals("HEAD"))) {
                throw new IllegalArgumentException("method " + method + " must not have a request body.");
            }
            // By lower-case name, in order; a later header replaces an earlier one (as Request.Builder.header).
            final Map<String, Map.Entry<String, String>> h = new LinkedHashMap<>();
            for (var e : HttpRules.headers(spec, sameOrigin, bodyDropped, false)) {
                put(h, e.getKey(), e.getValue());
            }
            if (content != null) {
                h.remove("transfer-encoding");
                put(h, "Content-Length", Integer.toString(content.length));
            }
            if (!h.containsKey("host")) {
                put(h, "Host", hostHeader(url));
            }
            askedGzip = !h.containsKey("accept-encoding") && !h.containsKey("range");
            if (askedGzip) {
                put(h, "Accept-Encoding", "gzip");
            }
            final StringBuilder sb = new StringBuilder(256).append(method).append(' ').append(url.encodedPath());
            if (url.encodedQuery() != null) {
                sb.append('?').append(url.encodedQuery());
            }
            sb.append(" HTTP/1.1\r\n");
            for (var e : h.values()) {
                checkHeader(e.getKey(), e.getValue());
                sb.append(e.getKey()).append(": ").append(e.getValue()).append("\r\n");
            }
            sb.append("\r\n");
            final byte[] head = sb.toString().getBytes(StandardCharsets.ISO_8859_1);
            if (content == null || content.length == 0) {
                return head;
            }
            final byte[] all = Arrays.copyOf(head, head.length + content.length);
            System.arraycopy(content, 0, all, head.length, content.length);
            return all;
        }

        @Override
        void resolved(ProbeAddress.Resolved r) throws IOException {
            if (AddressPolicy.literals(url.host()).isEmpty()) {
                lookedUp = true;
                dnsMs += r.dnsMs();
            }
            engine = url.isHttps() ? engine() : null;
        }

        private SSLEngine engine() throws SSLException {
            final SSLEngine engine = (spec.tlsVerify() ? verifying : trusting).createSSLEngine(url.host(), url.port());
            engine.setUseClientMode(true);
            final SSLParameters p = engine.getSSLParameters();
            if (AddressPolicy.literals(url.host()).isEmpty()) {
                try {
                    p.setServerNames(List.of(new SNIHostName(url.host())));
                } catch (IllegalArgumentException e) {
                    throw new SSLException(e.getMessage()); // a name SNI cannot carry
                }
            }
            // As OkHttp's default (MODERN_TLS): TLS 1.3 and 1.2 only.
            final List<String> protocols = new ArrayList<>(List.of("TLSv1.3", "TLSv1.2"));
            protocols.retainAll(List.of(engine.getSupportedProtocols()));
            p.setProtocols(protocols.toArray(String[]::new));
            engine.setSSLParameters(p);
            return engine;
        }

        @Override
        void connected(SelectionKey k) throws IOException {
            connected = true;
            connectedOnce = true;
            connectNanos += System.nanoTime() - connectStart;
            if (engine != null) {
                tls = new EngineIo(engine, channel, received, scratch);
                handshaking = true;
                tlsStart = System.nanoTime();
                tls.engine.beginHandshake();
                if (tls.handshake(k)) {
                    handshaken(k);
                }
            } else {
                send(k);
            }
        }

        @Override
        void io(SelectionKey k) throws IOException {
            try {
                if (handshaking) {
                    if (k.isReadable() && tls.fill() < 0) {
                        // What a blocking handshake reports when the server closes the connection.
                        throw new SSLHandshakeException("Remote host terminated the handshake");
                    }
                    if (tls.handshake(k)) {
                        handshaken(k);
                    }
                } else if (sending) {
                    send(k);
                } else {
                    receive();
                }
            } finally {
                if (tls != null) {
                    tls.keep();
                }
            }
        }

        private void handshaken(SelectionKey k) throws IOException {
            handshaking = false;
            tlsMeasured = true;
            tlsNanos += System.nanoTime() - tlsStart;
            final Certificate[] chain = tls.engine.getSession().getPeerCertificates();
            leaf = chain.length > 0 && chain[0] instanceof X509Certificate x ? x : null;
            if (spec.tlsVerify() && (leaf == null || !OkHostnameVerifier.INSTANCE.verify(url.host(), leaf))) {
                // OkHttp's words for the same failure.
                throw new SSLPeerUnverifiedException("Hostname " + url.host() + " not verified:"
                    + (leaf == null ? " no certificate" : "\n    certificate: " + CertificatePinner.pin(leaf)
                    + "\n    DN: " + leaf.getSubjectX500Principal().getName()
                    + "\n    subjectAltNames: " + OkHostnameVerifier.INSTANCE.allSubjectAltNames(leaf)));
            }
            send(k);
        }

        /** Writes the request as far as the socket takes it; then waits for the response. */
        private void send(SelectionKey k) throws IOException {
            sending = true;
            if (tls != null) {
                if (!tls.write(requestBytes, k)) {
                    return;
                }
            } else {
                channel.write(requestBytes);
                if (requestBytes.hasRemaining()) {
                    k.interestOps(SelectionKey.OP_WRITE);
                    return;
                }
            }
            sending = false;
            k.interestOps(SelectionKey.OP_READ);
        }

        /** Reads what arrived and hands it to the response reader. */
        private void receive() throws IOException {
            if (tls == null) {
                bytes.clear().limit(READ);
                final int got = channel.read(bytes);
                if (got < 0) {
                    ended();
                    return;
                }
                received.add(got);
                consume(bytes.flip());
                return;
            }
            final EngineIo hop = tls; // a redirect ends this connection's reading (and resets tls)
            final int got = hop.fill();
            while (!future.isDone() && tls == hop) {
                final int n = hop.read(bytes.clear());
                if (n < 0) {
                    ended();
                    return;
                }
                if (n == 0) {
                    break;
                }
                consume(bytes.flip());
            }
            if (got < 0 && !future.isDone() && tls == hop) {
                ended();
            }
        }

        private void consume(ByteBuffer b) throws IOException {
            if (b.hasRemaining() && !firstSeen) {
                firstSeen = true; // the last response's first byte is the check's (as PhaseTimer keeps it)
                firstByte = System.nanoTime();
            }
            while (b.hasRemaining() && !future.isDone()) {
                reader.feed(b);
                if (reader.headRead() && !headSeen) {
                    headSeen = true;
                    status = reader.status();
                    certDays = HttpRules.certificateDays(leaf);
                    if (spec.followRedirects() && HttpRules.isRedirect(status)) {
                        redirect();
                        return;
                    }
                }
                if (reader.done()) {
                    finish();
                    return;
                }
            }
        }

        /** The connection ended (the peer closed it). */
        private void ended() throws IOException {
            reader.end(url.redact());
            finish();
        }

        /** Follows a redirect (its body not read: its connection is closed) or ends the chain. */
        private void redirect() {
            SelectorLoop.closeQuietly(channel);
            final HttpRules.Hop next = HttpRules.redirect(hop, status, reader.header("Location"), url, first, method,
                body, bodyDropped, sameOrigin);
            if (next.error() != null) {
                done(next.error(), false);
                return;
            }
            url = next.url();
            method = next.method();
            body = next.body();
            bodyDropped = next.bodyDropped();
            sameOrigin = next.sameOrigin();
            hop++;
            request();
        }

        /** The final response is read (or its body cut): the verdict. */
        private void finish() {
            final boolean cut = reader.capped();
            if (cut) {
                capped.increment();
            }
            SelectorLoop.closeQuietly(channel); // cut or not: nothing is drained, nothing is kept
            done(HttpRules.judge(spec, status, reader.text(), reader.bodyLength(), cut, reader::header), cut);
        }

        @Override
        void fail(String error) {
            if (connectStart != 0 && !connected) {
                // The connect failed (or the check ended during it): its time so far is connect time.
                connectNanos += System.nanoTime() - connectStart;
                connectedOnce = true;
                connectStart = 0;
            }
            if (handshaking) {
                tlsNanos += System.nanoTime() - tlsStart; // a failed handshake is still timed
                tlsMeasured = true;
                handshaking = false;
            }
            done(error, false);
        }

        private void done(String error, boolean cut) {
            final double dns = lookedUp ? dnsMs : connectedOnce ? 0 : Double.NaN;
            complete(new CheckResult(startedAt, error == null, status, (System.nanoTime() - start) / 1e6, dns,
                connectedOnce ? connectNanos / 1e6 : Double.NaN, tlsMeasured ? tlsNanos / 1e6 : Double.NaN,
                firstByte == 0 ? Double.NaN : (firstByte - start) / 1e6, certDays, error, cut));
        }
    }

    private static void put(Map<String, Map.Entry<String, String>> h, String name, String value) {
        final String key = name.toLowerCase(Locale.ROOT);
        h.remove(key); // a replaced header moves to the end, as OkHttp's does
        h.put(key, Map.entry(name, value));
    }

    /** {@code host[:port]} as OkHttp writes the {@code Host} header (the port only when not the scheme's default). */
    private static String hostHeader(HttpUrl url) {
        final String host = url.host().contains(":") ? "[" + url.host() + "]" : url.host();
        return url.port() == HttpUrl.defaultPort(url.scheme()) ? host : host + ":" + url.port();
    }

    /** Refuses what cannot go into a header line, as OkHttp's {@code Headers} does (no CR, LF or non-ASCII). */
    private static void checkHeader(String name, String value) {
        if (name.isEmpty()) {
            throw new IllegalArgumentException("name is empty");
        }
        for (int i = 0; i < name.length(); i++) {
            final char c = name.charAt(i);
            if (c <= '\u0020' || c >= '\u007f') {
                throw new IllegalArgumentException(String.format("Unexpected char 0x%02x at %d in header name: %s",
                    (int) c, i, name));
            }
        }
        for (int i = 0; i < value.length(); i++) {
            final char c = value.charAt(i);
            if (c != '\t' && (c < '\u0020' || c >= '\u007f')) {
                throw new IllegalArgumentException(String.format("Unexpected char 0x%02x at %d in %s value", (int) c,
                    i, name));
            }
        }
    }
}
