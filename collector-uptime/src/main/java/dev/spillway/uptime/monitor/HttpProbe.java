package dev.spillway.uptime.monitor;

import okhttp3.Call;
import okhttp3.ConnectionPool;
import okhttp3.Dns;
import okhttp3.EventListener;
import okhttp3.HttpUrl;
import okhttp3.MediaType;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.RequestBody;
import okhttp3.Response;
import okhttp3.ResponseBody;
import okio.Buffer;
import okio.BufferedSource;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.Proxy;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * Runs one HTTP check with OkHttp and measures its phases, holding the calling thread until it ends. {@link Probes}
 * uses it for HTTP checks only with keep-alive ({@code --probe-keepalive}: OkHttp's pool reuses connections, so
 * connect and TLS are measured only on new ones); without keep-alive (the default) HTTP checks run non-blocking on
 * {@link HttpAsyncProbe}, which keeps every promise below through the rules both share ({@link HttpRules}).
 * Without keep-alive this probe too opens a fresh connection per check (so connect and TLS are measured every
 * time, as blackbox_exporter and Uptime Kuma do). Redirects
 * are followed here (not by OkHttp) so the limit is {@link MonitorSpec#MAX_REDIRECTS} and the whole chain shares
 * the monitor's timeout.
 *
 * <p>Safe by default:
 * <ul>
 *   <li>every connection goes directly (no proxy, whatever the JVM's proxy settings) to an address the
 *   {@link AddressPolicy} allows, checked on the resolved address at connect time ({@link PolicyDns},
 *   {@link GuardedSocketFactory}) and on IP literals of every hop before the request;</li>
 *   <li>the monitor's headers (all of them: {@code Authorization}, {@code Cookie} and custom ones may be secrets)
 *   are sent only while the chain of redirects stays on the first URL's origin (scheme, host, port); from the first
 *   hop to another origin on, none is sent;</li>
 *   <li>a redirect's method and body follow Fetch (browsers): 303 becomes a GET (a HEAD stays a HEAD), 301 and 302
 *   after a POST become a GET, both without the body and its {@code Content-*} headers; 307 and 308 (and 301/302
 *   after PUT, PATCH or DELETE) keep method and body, but only on the first URL's origin: a redirect that would carry
 *   a body to another origin is not followed, and the check fails saying so;</li>
 *   <li>at most {@link #MAX_BODY} response body bytes are read per check: of the final response (a redirect's
 *   body is not read, its connection is closed instead); a body with more is cut there and its connection closed
 *   (not drained), and the result says so ({@link CheckResult#bodyCapped()}).</li>
 * </ul>
 *
 * <p>Thread-safe: one instance serves all probe threads.
 */
public final class HttpProbe {

    /** Most response body bytes read per check (the keyword must appear within them). */
    public static final int MAX_BODY = 1 << 20;

    private final OkHttpClient verifying;
    private final OkHttpClient trusting;
    private final boolean keepAlive;
    private final AddressPolicy policy;
    private final LongAdder denied = new LongAdder();
    private final LongAdder capped = new LongAdder();
    private final LongAdder received = new LongAdder();

    /**
     * With the built-in address policy.
     *
     * @param keepAlive reuse connections between checks (then connect and TLS are measured only on new ones)
     * @param maxConnections idle connections kept with keep-alive
     */
    public HttpProbe(boolean keepAlive, int maxConnections) {
        this(keepAlive, maxConnections, AddressPolicy.defaults());
    }

    /**
     * @param keepAlive reuse connections between checks (then connect and TLS are measured only on new ones)
     * @param maxConnections idle connections kept with keep-alive
     * @param policy where checks may connect
     */
    public HttpProbe(boolean keepAlive, int maxConnections, AddressPolicy policy) {
        this(keepAlive, maxConnections, policy, Dns.SYSTEM);
    }

    /** With a resolver of the test's (names mapped without {@code /etc/hosts}). */
    HttpProbe(boolean keepAlive, int maxConnections, AddressPolicy policy, Dns dns) {
        this.keepAlive = keepAlive;
        this.policy = policy;
        final ConnectionPool pool = keepAlive ? new ConnectionPool(maxConnections, 5, TimeUnit.MINUTES)
            // Nothing idle is kept: every check opens (and measures) its own connection.
            : new ConnectionPool(0, 1, TimeUnit.SECONDS);
        this.verifying = new OkHttpClient.Builder()
            .connectionPool(pool)
            // Directly to the address the policy checked: a proxy would connect wherever it likes.
            .proxy(Proxy.NO_PROXY)
            .dns(new PolicyDns(dns, policy))
            .socketFactory(new GuardedSocketFactory(policy, received))
            .followRedirects(false)
            .followSslRedirects(false)
            .retryOnConnectionFailure(false)
            // Connect on the checking thread, one address at a time: phases are sequential and measurable.
            .fastFallback(false)
            // The per-call timeout (the monitor's) bounds everything; no separate phase timeouts.
            .connectTimeout(0, TimeUnit.MILLISECONDS)
            .readTimeout(0, TimeUnit.MILLISECONDS)
            .writeTimeout(0, TimeUnit.MILLISECONDS)
            .eventListenerFactory(call -> {
                final PhaseTimer t = call.request().tag(PhaseTimer.class);
                return t != null ? t : EventListener.NONE;
            })
            .build();
        final X509TrustManager trustAll = new TrustAll();
        try {
            final SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(null, new TrustManager[] {trustAll}, null);
            this.trusting = verifying.newBuilder()
                .sslSocketFactory(ctx.getSocketFactory(), trustAll)
                .hostnameVerifier((host, session) -> true)
                .build();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("TLS is not available: " + e, e);
        }
    }

    /** Runs the check; never throws (every failure is a down result with its reason). */
    public CheckResult check(MonitorSpec spec) {
        // Microseconds: what the database keeps, so the point, the state and a transition carry the same instant.
        final Instant startedAt = Instant.now().truncatedTo(java.time.temporal.ChronoUnit.MICROS);
        final long start = System.nanoTime();
        final PhaseTimer timer = new PhaseTimer(start);
        final long budget = spec.timeout().toNanos();
        final OkHttpClient client = spec.tlsVerify() ? verifying : trusting;
        int status = -1;
        double certDays = Double.NaN;
        String error = null;
        boolean cut = false;
        HttpUrl url = HttpUrl.get(spec.url().toString());
        final HttpUrl first = url;
        boolean sameOrigin = true;
        String method = spec.method();
        String body = spec.body();
        boolean bodyDropped = false;
        try {
            for (int hop = 0; ; hop++) {
                final long remaining = budget - (System.nanoTime() - start);
                if (remaining <= 0) {
                    throw new InterruptedIOException("timeout");
                }
                final AddressPolicy.Denial literal = policy.checkLiteral(url.host());
                if (literal != null) {
                    throw new AddressDeniedException(literal);
                }
                final Call call = client.newCall(request(spec, url, method, body, timer, sameOrigin, bodyDropped));
                call.timeout().timeout(remaining, TimeUnit.NANOSECONDS);
                try (Response resp = call.execute()) {
                    status = resp.code();
                    certDays = HttpRules.certificateDays(timer.leaf());
                    if (spec.followRedirects() && resp.isRedirect()) {
                        if (resp.body().contentLength() != 0) {
                            // A redirect's body is not needed: close the connection rather than drain it.
                            call.cancel();
                        }
                        final HttpRules.Hop next = HttpRules.redirect(hop, status, resp.header("Location"),
                            resp.request().url(), first, method, body, bodyDropped, sameOrigin);
                        if (next.error() != null) {
                            error = next.error();
                            break;
                        }
                        url = next.url();
                        method = next.method();
                        body = next.body();
                        bodyDropped = next.bodyDropped();
                        sameOrigin = next.sameOrigin();
                        continue;
                    }
                    final Body text = readCapped(call, resp.body(), MAX_BODY);
                    cut = text.capped;
                    error = HttpRules.judge(spec, status, text.text, text.read, text.capped, resp::header);
                    break;
                }
            }
        } catch (IOException e) {
            final AddressDeniedException refused = deniedCause(e);
            if (refused != null) {
                denied.increment();
                error = refused.getMessage();
            } else {
                error = Probes.classify(e, spec);
            }
        } catch (RuntimeException e) {
            // OkHttp reports some argument problems (e.g. an unsupported Location scheme) unchecked.
            error = "request: " + e;
        }
        if (cut) {
            capped.increment();
        }
        final double durationMs = (System.nanoTime() - start) / 1e6;
        return new CheckResult(startedAt, error == null, status, durationMs, timer.dnsMs(), timer.connectMs(),
            timer.tlsMs(), timer.ttfbMs(), certDays, error, cut);
    }

    /** Checks refused by the address policy (at a connect or for an IP literal of a hop). */
    public long deniedChecks() {
        return denied.sum();
    }

    /** Checks whose response bodies were cut at {@link #MAX_BODY}. */
    public long cappedChecks() {
        return capped.sum();
    }

    /** Bytes read from probe connections (headers, bodies, TLS records). */
    public long receivedBytes() {
        return received.sum();
    }

    /** Whether connections are reused between checks ({@code --probe-keepalive}). */
    boolean keepAlive() {
        return keepAlive;
    }

    /** The policy the probe enforces. */
    public AddressPolicy policy() {
        return policy;
    }

    private static AddressDeniedException deniedCause(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof AddressDeniedException d) {
                return d;
            }
            for (Throwable s : t.getSuppressed()) {
                if (s instanceof AddressDeniedException d) {
                    return d;
                }
            }
        }
        return null;
    }

    private Request request(MonitorSpec spec, HttpUrl url, String method, String body, PhaseTimer timer,
                            boolean sameOrigin, boolean bodyDropped) {
        final Request.Builder b = new Request.Builder().url(url).tag(PhaseTimer.class, timer);
        for (var h : HttpRules.headers(spec, sameOrigin, bodyDropped, keepAlive)) {
            b.header(h.getKey(), h.getValue());
        }
        final RequestBody rb = body == null
            ? (HttpRules.requiresBody(method) ? RequestBody.create(new byte[0], null) : null)
            : RequestBody.create(body.getBytes(StandardCharsets.UTF_8), contentType(spec));
        return b.method(method, rb).build();
    }

    private static MediaType contentType(MonitorSpec spec) {
        for (var e : spec.headers().entrySet()) {
            if (e.getKey().equalsIgnoreCase("Content-Type")) {
                return MediaType.parse(e.getValue());
            }
        }
        return null;
    }

    /** A body as read: its text (up to the cap), bytes read, and whether it went on past the cap. */
    private record Body(String text, long read, boolean capped) {
    }

    /**
     * Reads at most {@code limit} bytes. A body that goes on past them is cut: the call is cancelled, which closes
     * the connection, because closing the response would otherwise drain the rest (OkHttp reads on for up to
     * 100 ms to keep the connection, ~120 MB on loopback).
     */
    private static Body readCapped(Call call, ResponseBody body, long limit) throws IOException {
        final BufferedSource src = body.source();
        final Buffer buf = new Buffer();
        boolean ended = false;
        while (buf.size() < limit) {
            if (src.read(buf, Math.min(8192, limit - buf.size())) == -1) {
                ended = true;
                break;
            }
        }
        final long read = buf.size();
        final boolean cut = !ended && body.contentLength() != read;
        if (cut) {
            call.cancel();
        }
        return new Body(buf.readUtf8(), read, cut);
    }

    /** Accepts every certificate: for monitors with {@code tls_verify: false} only. */
    static final class TrustAll implements X509TrustManager {
        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {
            // not a server
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) {
            // tls_verify: false asks for exactly this
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }

    /** Releases pooled connections and OkHttp's threads. */
    public void close() {
        verifying.connectionPool().evictAll();
        trusting.connectionPool().evictAll();
        verifying.dispatcher().executorService().shutdown();
    }

}
