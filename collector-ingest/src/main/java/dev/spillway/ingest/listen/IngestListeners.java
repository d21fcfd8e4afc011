package dev.spillway.ingest.listen;

import dev.spillway.ingest.BadLineLog;
import dev.spillway.ingest.CollectorMetrics;
import dev.spillway.ingest.IngestSettings;
import dev.spillway.ingest.auth.ApiTokens;
import dev.spillway.ingest.LineIngestor;
import dev.spillway.ingest.Saturation;
import dev.spillway.ingest.internal.http.HttpApi;
import dev.spillway.ingest.internal.http.HttpLimits;
import dev.spillway.ingest.internal.http.HttpServer;
import dev.spillway.ingest.internal.http.WebGuard;
import dev.spillway.ingest.ReadinessProbe;
import dev.spillway.ingest.internal.tcp.TcpServer;
import dev.spillway.ingest.internal.udp.UdpServer;
import dev.spillway.runtime.api.ApiRouter;
import dev.spillway.runtime.api.AuthThrottle;
import dev.spillway.runtime.lifecycle.Deadline;
import dev.spillway.runtime.lifecycle.Service;
import dev.spillway.runtime.lifecycle.ServiceThreads;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The line-protocol inputs: HTTP (writes and the JSON API), optional TCP and UDP, and the threads that parse what
 * they receive. Stopping it refuses new connections and datagrams and lets every request already received finish
 * and get its answer; the connections themselves stay open until {@link NetworkIo} stops, after the drain.
 */
public final class IngestListeners implements Service {

    // Requests read ahead on one HTTP connection; clients rarely pipeline more than a few.
    private static final int MAX_PIPELINED = 16;

    private final ExecutorService httpIngest;
    private final ExecutorService tcpIngest;
    private final BadLineLog badLines;
    private HttpServer http;
    private TcpServer tcp;
    private UdpServer udp;

    private IngestListeners(int threads, BadLineLog badLines) {
        // Bounded: when every thread is busy and the queue is full, new writes get 503 instead of piling up.
        httpIngest = new ThreadPoolExecutor(threads, threads, 0, TimeUnit.SECONDS, new ArrayBlockingQueue<>(threads * 16),
            ServiceThreads.pool("ingest"));
        // TCP batches: at most one task per connection is queued, so the queue is bounded by the connections.
        tcpIngest = new ThreadPoolExecutor(threads, threads, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
            ServiceThreads.pool("tcp-ingest"));
        this.badLines = badLines;
    }

    /**
     * Binds every configured listener; on failure closes what was bound and rethrows.
     *
     * @throws java.net.BindException naming the address and its option
     */
    public static IngestListeners start(IngestSettings s, NetworkIo io, LineIngestor ingestor, Saturation saturation,
                                        ReadinessProbe readiness, CollectorMetrics metrics, BadLineLog badLines,
                                        ApiRouter router, ApiTokens tokens, PrometheusMeterRegistry registry,
                                        AuthThrottle throttle)
        throws Exception {
        final IngestListeners l = new IngestListeners(s.ingestThreads(), badLines);
        try {
            final WebGuard guard = new WebGuard(s.http(), s.allowedHosts(), s.trustedProxies());
            final HttpApi api = new HttpApi(ingestor, l.httpIngest, saturation, readiness, registry, metrics, s.token(),
                s.maxDecompressedSize(), s.roomWait(), router, guard, tokens, throttle);
            final HttpLimits limits = new HttpLimits(s.maxBodySize(), s.httpMaxConnections(), s.httpMaxBuffered(),
                MAX_PIPELINED, s.httpHeaderTimeout(), s.httpReadTimeout(), s.httpIdleTimeout());
            l.http = HttpServer.start(s.http(), io.boss, io.workers, api, limits, io.connections, registry);
            if (s.tcp() != null) {
                l.tcp = TcpServer.start(s.tcp(), io.boss, io.workers, ingestor, metrics, badLines, s.maxLineLength(),
                    s.tcpIdleTimeout(), s.tcpMaxConnections(), io.connections, l.tcpIngest, registry);
            }
            if (s.udp() != null) {
                l.udp = UdpServer.start(s.udp(), io.workers, ingestor, s.udpReceiveBuffer(), registry);
            }
            return l;
        } catch (Exception | Error e) {
            l.stop(Deadline.in(Duration.ofSeconds(5)));
            throw e;
        }
    }

    /** Bound HTTP address. */
    public InetSocketAddress httpAddress() {
        return http.address();
    }

    /** Request bytes the HTTP server holds now (received, not yet answered). */
    public long httpBufferedBytes() {
        return http.bufferedBytes();
    }

    /** Open HTTP connections. */
    public int httpConnections() {
        return http.openConnections();
    }

    /** Bound TCP address, or null when off. */
    public InetSocketAddress tcpAddress() {
        return tcp == null ? null : tcp.address();
    }

    /** Bound UDP address, or null when off. */
    public InetSocketAddress udpAddress() {
        return udp == null ? null : udp.address();
    }

    @Override
    public String name() {
        return "listeners";
    }

    @Override
    public boolean stop(Deadline deadline) throws InterruptedException {
        if (http != null) {
            http.stopAccepting();
        }
        if (tcp != null) {
            tcp.stopAccepting();
        }
        if (udp != null) {
            udp.stopAccepting();
        }
        httpIngest.shutdown();
        tcpIngest.shutdown();
        final boolean drained = deadline.await(httpIngest) & deadline.await(tcpIngest);
        httpIngest.shutdownNow();
        tcpIngest.shutdownNow();
        // Every line and request is in by now: say what the rate-limited warnings kept out of the log.
        badLines.flush();
        if (http != null) {
            http.flushLogs();
        }
        return drained;
    }
}
