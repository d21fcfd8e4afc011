package dev.spillway.uptime.monitor;

import javax.net.ssl.SSLException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.LongAdder;

/**
 * One probe per check type behind one {@link #check}: HTTP ({@link HttpAsyncProbe}, or {@link HttpProbe} with
 * keep-alive), {@link TcpProbe}, {@link DnsProbe}, {@link TlsProbe} and {@link IcmpProbe}. All obey the same
 * {@link AddressPolicy}, all count their denials and received bytes together, and none throws: every failure is a
 * down result with its reason ({@code category: detail}). HTTP (without keep-alive, the default), TCP, DNS and TLS
 * checks are non-blocking ({@link #nonBlocking}, {@link #start}): they hold a socket on their probe's selector
 * thread, not a thread, while they wait. ICMP checks, and HTTP checks with keep-alive ({@code --probe-keepalive}:
 * OkHttp's connection pool), are blocking: they hold a thread for their whole duration.
 */
public final class Probes implements AutoCloseable {

    private final HttpProbe http;
    /** HTTP checks without keep-alive; null with keep-alive (then {@link #http} runs them, blocking). */
    private final HttpAsyncProbe httpAsync;
    private final TcpProbe tcp;
    private final DnsProbe dns;
    private final TlsProbe tls;
    private final IcmpProbe icmp;
    private final ProbeResolver resolver;
    private final LongAdder denied = new LongAdder();
    private final LongAdder received = new LongAdder();
    private final LongAdder capped = new LongAdder();

    /**
     * @param keepAlive HTTP keep-alive: checks run blocking on OkHttp ({@link HttpProbe}) and reuse connections;
     *     without it (the default) they run non-blocking ({@link HttpAsyncProbe}), a fresh connection each
     * @param maxConnections idle HTTP connections kept with keep-alive
     * @param policy where checks may connect
     */
    public Probes(boolean keepAlive, int maxConnections, AddressPolicy policy) {
        this(new HttpProbe(keepAlive, maxConnections, policy), policy, null);
    }

    /**
     * With a trust manager of the test's for TLS checks' chain validation and the non-blocking HTTP probe's
     * verification (null: the JDK's default trust).
     */
    Probes(HttpProbe http, AddressPolicy policy, javax.net.ssl.X509TrustManager trust) {
        this(http, policy, trust, okhttp3.Dns.SYSTEM);
    }

    /**
     * With a resolver of the test's for the names of checks ({@code http} resolves its own; the non-blocking HTTP
     * probe, used when {@code http} has no keep-alive, resolves with {@code names}).
     */
    Probes(HttpProbe http, AddressPolicy policy, javax.net.ssl.X509TrustManager trust, okhttp3.Dns names) {
        this.http = http;
        this.resolver = new ProbeResolver(names);
        this.httpAsync = http.keepAlive() ? null
            : new HttpAsyncProbe(policy, resolver, received, denied, capped, trust);
        this.tcp = new TcpProbe(policy, resolver, received, denied);
        this.dns = new DnsProbe(policy, resolver, denied);
        this.tls = new TlsProbe(policy, resolver, received, denied, trust);
        this.icmp = new IcmpProbe(policy);
    }

    /** Runs one check of any type and waits for its result; never throws. */
    public CheckResult check(MonitorSpec spec) {
        if (spec.type() == CheckType.HTTP && httpAsync == null) {
            return http.check(spec);
        }
        if (nonBlocking(spec)) {
            return start(spec).join();
        }
        final CheckResult r = icmp.check(spec);
        counted(r);
        return r;
    }

    /**
     * Whether the check runs without holding a thread while it waits ({@link #start}): tcp, dns and tls, and http
     * unless keep-alive is on.
     */
    boolean nonBlocking(MonitorSpec spec) {
        return spec.type() == CheckType.TCP || spec.type() == CheckType.DNS || spec.type() == CheckType.TLS
            || (spec.type() == CheckType.HTTP && httpAsync != null);
    }

    /**
     * Starts a {@linkplain #nonBlocking non-blocking} check and returns at once (names are looked up on a small pool
     * of their own, {@link ProbeResolver}); the future completes with the result by the check's timeout (never
     * exceptionally unless completed from outside; cancelling it ends the check and closes its connection).
     *
     * @throws IllegalArgumentException for a check type that is not non-blocking
     */
    CompletableFuture<CheckResult> start(MonitorSpec spec) {
        if (!nonBlocking(spec)) {
            throw new IllegalArgumentException("not a non-blocking check type: " + spec.type());
        }
        final CompletableFuture<CheckResult> f = switch (spec.type()) {
            case TCP -> tcp.start(spec);
            case DNS -> dns.start(spec);
            case HTTP -> httpAsync.start(spec);
            default -> tls.start(spec);
        };
        return f; // the probe's own future (cancelling it reaches the probe); denials are counted by the probe
                  // before the future completes
    }

    private void counted(CheckResult r) {
        if (r.error() != null && r.error().startsWith("address policy: ")) {
            denied.increment();
        }
    }

    /** Checks of every type refused by the address policy. */
    public long deniedChecks() {
        return http.deniedChecks() + denied.sum();
    }

    /** HTTP checks whose response bodies were cut at {@link HttpProbe#MAX_BODY} bytes. */
    public long cappedChecks() {
        return http.cappedChecks() + capped.sum();
    }

    /** Bytes read from probe connections of every type. */
    public long receivedBytes() {
        return http.receivedBytes() + received.sum();
    }

    /** The blocking HTTP probe (its own counters), used for HTTP checks with keep-alive. */
    public HttpProbe http() {
        return http;
    }

    /** The non-blocking HTTP probe (its selector thread), or null with keep-alive. */
    HttpAsyncProbe httpAsync() {
        return httpAsync;
    }

    /** The TCP probe (its selector thread). */
    TcpProbe tcp() {
        return tcp;
    }

    /** The name lookups of tcp, dns and tls checks. */
    ProbeResolver resolver() {
        return resolver;
    }

    /** The TLS probe (its selector thread). */
    TlsProbe tls() {
        return tls;
    }

    /** The DNS probe (its selector thread). */
    DnsProbe dns() {
        return dns;
    }

    @Override
    public void close() {
        http.close();
        if (httpAsync != null) {
            httpAsync.close();
        }
        tcp.close();
        dns.close();
        tls.close();
        resolver.close();
    }

    /** The start of a check: microseconds, what the database keeps. */
    static Instant now() {
        return Instant.now().truncatedTo(ChronoUnit.MICROS);
    }

    /**
     * Milliseconds left until the deadline, at least 1 (0 would mean "no timeout" to sockets).
     *
     * @throws SocketTimeoutException when it has passed
     */
    static int remainingMs(long deadlineNanos) throws SocketTimeoutException {
        final long ms = (deadlineNanos - System.nanoTime()) / 1_000_000;
        if (ms <= 0) {
            throw new SocketTimeoutException("timeout");
        }
        return (int) Math.min(Integer.MAX_VALUE, ms);
    }

    /** A failure's reason, by category, as HTTP checks give it. */
    static String classify(IOException e, MonitorSpec spec) {
        if (e instanceof AddressDeniedException d) {
            return d.getMessage();
        }
        final String detail = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        if (e instanceof UnknownHostException) {
            return "dns: cannot resolve " + spec.url().getHost();
        }
        if (e instanceof ConnectException || e instanceof NoRouteToHostException) {
            return "connect: " + detail;
        }
        if (e instanceof SSLException) {
            return "tls: " + detail;
        }
        if (e instanceof InterruptedIOException) {
            return "timeout: no complete answer within " + MonitorValidator.format(spec.timeout());
        }
        return "io: " + detail;
    }
}
