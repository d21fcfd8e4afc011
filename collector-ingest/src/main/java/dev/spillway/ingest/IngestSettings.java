package dev.spillway.ingest;

import dev.spillway.runtime.config.HostPort;
import dev.spillway.runtime.config.Units;

import java.time.Duration;

/**
 * The ingest module's validated settings: where line protocol comes in (HTTP, TCP, UDP), who may write, and the
 * limits that keep a client from taking the collector down. Built by {@link IngestOptions#settings}.
 *
 * @param http HTTP listen address
 * @param tcp TCP line-protocol listen address, or null when off
 * @param udp UDP line-protocol listen address, or null when off
 * @param token API token required on writes, /ready and /metrics, or null for no authentication
 * @param allowedHosts names the HTTP API answers to besides addresses, the listen host and loopback names
 *     ({@code --allowed-hosts}), lower case; {@code .example.org} for a domain, {@code *} for any
 * @param trustedProxies proxies whose {@code X-Forwarded-*} headers are believed ({@code --trusted-proxies})
 * @param maxBodySize largest HTTP body as sent (compressed)
 * @param maxDecompressedSize largest HTTP body after gunzip
 * @param httpMaxConnections most open HTTP connections
 * @param httpMaxBuffered most request bytes buffered over all HTTP connections
 * @param httpHeaderTimeout time from a request's first byte to its complete head
 * @param httpReadTimeout time from a request's first byte to its complete body
 * @param httpIdleTimeout idle keep-alive HTTP connections are closed after this
 * @param ack default acknowledgement mode of HTTP writes
 * @param ackTimeout longest an {@code ack=commit} write waits for confirmation before answering 503
 * @param resendWindow how long an HTTP write is remembered for recognising resends; zero when off
 * @param resendWindowRequests most HTTP writes remembered for resends
 * @param resendWindowRows most rows (events) the HTTP writes remembered for resends may hold together
 * @param ingestThreads threads that decompress, parse and ingest HTTP bodies
 * @param highWaterMark ring occupancy fraction above which HTTP writes get 503
 * @param roomWait how long an HTTP write that finds the ring above the high-water mark waits for room before its 503
 * @param maxSeries most series the collector will create
 * @param maxLineLength longest TCP line
 * @param tcpIdleTimeout idle TCP connections are closed after this; zero disables
 * @param tcpMaxConnections most open TCP connections; more are closed on accept
 * @param udpReceiveBuffer the UDP socket receive buffer asked of the kernel
 */
public record IngestSettings(
    HostPort http,
    HostPort tcp,
    HostPort udp,
    String token,
    java.util.List<String> allowedHosts,
    java.util.List<dev.spillway.runtime.config.AddressRange> trustedProxies,
    int maxBodySize,
    int maxDecompressedSize,
    int httpMaxConnections,
    long httpMaxBuffered,
    Duration httpHeaderTimeout,
    Duration httpReadTimeout,
    Duration httpIdleTimeout,
    AckMode ack,
    Duration ackTimeout,
    Duration resendWindow,
    int resendWindowRequests,
    int resendWindowRows,
    int ingestThreads,
    double highWaterMark,
    Duration roomWait,
    int maxSeries,
    int maxLineLength,
    Duration tcpIdleTimeout,
    int tcpMaxConnections,
    int udpReceiveBuffer) {

    /** Whether writes need a token. */
    public boolean authRequired() {
        return token != null;
    }

    /** The token masked, durations and sizes as people write them, for logs. */
    @Override
    public String toString() {
        return "http=" + http + " tcp=" + (tcp == null ? "off" : tcp) + " udp=" + (udp == null ? "off" : udp)
            + " auth=" + (token != null ? "token" : "off") + " allowedHosts=" + allowedHosts + " trustedProxies="
            + trustedProxies + " maxBody=" + Units.formatSize(maxBodySize)
            + " maxSeries=" + maxSeries + " highWaterMark=" + highWaterMark + " roomWait="
            + Units.formatDuration(roomWait) + " ingestThreads=" + ingestThreads
            + " ack=" + ack.name().toLowerCase(java.util.Locale.ROOT) + " ackTimeout="
            + Units.formatDuration(ackTimeout) + " resendWindow=" + (resendWindow.isZero() ? "off"
            : Units.formatDuration(resendWindow) + "/" + resendWindowRequests + " requests/" + resendWindowRows
            + " rows");
    }
}
