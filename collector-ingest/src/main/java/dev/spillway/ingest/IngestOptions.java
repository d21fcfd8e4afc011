package dev.spillway.ingest;

import dev.spillway.runtime.config.ConfigException;
import dev.spillway.runtime.config.HostPort;
import dev.spillway.runtime.config.OptionValues;
import dev.spillway.runtime.config.Units;
import dev.spillway.runtime.config.AddressRange;
import picocli.CommandLine.Option;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * The ingest module's command-line options (a picocli mixin of the collector's command). Values are kept as text
 * and converted by {@link #settings}, so that a value from the command line, the environment or a config file
 * fails with the same message naming the option.
 */
public final class IngestOptions {

    @Option(names = "--http", paramLabel = "HOST:PORT", defaultValue = "127.0.0.1:8086",
        description = "HTTP listen address (default: ${DEFAULT-VALUE}, loopback only).")
    String http;

    @Option(names = "--tcp", paramLabel = "HOST:PORT", description = "TCP line-protocol listener (off unless given).")
    String tcp;

    @Option(names = "--udp", paramLabel = "HOST:PORT", description = "UDP line-protocol listener (off unless given).")
    String udp;

    @Option(names = "--token", paramLabel = "TOKEN",
        description = "Require this token for writes, /ready and /metrics (/ping and /health stay open).")
    String token;

    @Option(names = "--allowed-hosts", paramLabel = "NAMES",
        description = "Host names the HTTP API answers to (comma-separated) besides IP addresses, the --http host and,"
            + " on loopback, localhost: the names clients and proxies use to reach the collector. .example.org allows"
            + " a domain and its subdomains; * turns the check off. Other Host headers get 403 (DNS rebinding)"
            + " (default: none).")
    String allowedHosts;

    @Option(names = "--trusted-proxies", paramLabel = "ADDRESSES",
        description = "Reverse proxies (IP addresses or CIDR ranges, comma-separated) whose X-Forwarded-For and"
            + " X-Forwarded-Proto are believed: the sign-in throttle counts the client they report, and sign-in"
            + " cookies are Secure when they say https (default: none).")
    String trustedProxies;

    @Option(names = "--max-body-size", paramLabel = "SIZE", defaultValue = "32MiB",
        description = "Largest HTTP body as sent; larger gets 413 (default: ${DEFAULT-VALUE}).")
    String maxBodySize;

    @Option(names = "--max-decompressed-size", paramLabel = "SIZE", defaultValue = "128MiB",
        description = "Largest HTTP body after gunzip; larger gets 413 (default: ${DEFAULT-VALUE}).")
    String maxDecompressedSize;

    @Option(names = "--http-max-connections", paramLabel = "N", defaultValue = "4096",
        description = "Most open HTTP connections; more are answered 503 and closed (default: ${DEFAULT-VALUE}).")
    String httpMaxConnections;

    @Option(names = "--http-max-buffered", paramLabel = "SIZE", defaultValue = "256MiB",
        description = "Most request bytes held in memory over all HTTP connections; a request that does not fit gets"
            + " 503 + Retry-After (default: ${DEFAULT-VALUE}).")
    String httpMaxBuffered;

    @Option(names = "--http-header-timeout", paramLabel = "DURATION", defaultValue = "10s",
        description = "Close a connection whose request head is not complete this long after its first byte "
            + "(default: ${DEFAULT-VALUE}).")
    String httpHeaderTimeout;

    @Option(names = "--http-read-timeout", paramLabel = "DURATION", defaultValue = "60s",
        description = "Close a connection whose request (head and body) is not complete this long after its first "
            + "byte (default: ${DEFAULT-VALUE}).")
    String httpReadTimeout;

    @Option(names = "--http-idle-timeout", paramLabel = "DURATION", defaultValue = "3m",
        description = "Close keep-alive connections idle this long (default: ${DEFAULT-VALUE}).")
    String httpIdleTimeout;

    @Option(names = "--ack", paramLabel = "accept|commit", defaultValue = "accept",
        description = "When an HTTP write gets 204: accept = once parsed and in the buffer; commit = once every event "
            + "is committed to the database or fsynced in the spool (503 if any was lost). A request may choose "
            + "with ?ack= or the X-Spillway-Ack header (default: ${DEFAULT-VALUE}).")
    String ack;

    @Option(names = "--ack-timeout", paramLabel = "DURATION", defaultValue = "30s",
        description = "Longest an ack=commit write waits for its events to be confirmed before answering 503 "
            + "(default: ${DEFAULT-VALUE}).")
    String ackTimeout;

    @Option(names = "--resend-window", paramLabel = "DURATION", defaultValue = "10m",
        description = "How long an HTTP write is remembered so that a resend of it (same Idempotency-Key, or same "
            + "body) stores each line once; 0 disables (default: ${DEFAULT-VALUE}).")
    String resendWindow;

    @Option(names = "--resend-window-requests", paramLabel = "N", defaultValue = "100000",
        description = "Most HTTP writes remembered for resends; the oldest go first (default: ${DEFAULT-VALUE}).")
    String resendWindowRequests;

    @Option(names = "--resend-window-rows", paramLabel = "N", defaultValue = "50000000",
        description = "Most rows (events) the HTTP writes remembered for resends may hold together; the oldest go "
            + "first (default: ${DEFAULT-VALUE}).")
    String resendWindowRows;

    @Option(names = "--ingest-threads", paramLabel = "N", defaultValue = "4",
        description = "Threads that decompress, parse and ingest HTTP bodies (default: ${DEFAULT-VALUE}).")
    String ingestThreads;

    @Option(names = "--high-water-mark", paramLabel = "FRACTION", defaultValue = "0.9",
        description = "Ring occupancy above which HTTP writes get 503 + Retry-After (default: ${DEFAULT-VALUE}).")
    String highWaterMark;

    @Option(names = "--room-wait", paramLabel = "DURATION", defaultValue = "100ms",
        description = "How long an HTTP write that finds the ring above its high-water mark waits for room before "
            + "its 503 (a full ring usually lasts until a worker finishes a batch; a 503 costs the client its "
            + "Retry-After of 1 s); 0 answers at once (default: ${DEFAULT-VALUE}).")
    String roomWait;

    @Option(names = "--max-series", paramLabel = "N", defaultValue = "100000",
        description = "Most series (measurement+tags+field); lines for new series beyond it are rejected "
            + "(default: ${DEFAULT-VALUE}).")
    String maxSeries;

    @Option(names = "--max-line-length", paramLabel = "SIZE", defaultValue = "1MiB",
        description = "Longest TCP line; longer lines are dropped and counted (default: ${DEFAULT-VALUE}).")
    String maxLineLength;

    @Option(names = "--tcp-idle-timeout", paramLabel = "DURATION", defaultValue = "5m",
        description = "Close TCP connections idle this long; 0 disables (default: ${DEFAULT-VALUE}).")
    String tcpIdleTimeout;

    @Option(names = "--tcp-max-connections", paramLabel = "N", defaultValue = "1024",
        description = "Most open TCP line-protocol connections; more are closed at once, counted and logged "
            + "(default: ${DEFAULT-VALUE}).")
    String tcpMaxConnections;

    @Option(names = "--udp-receive-buffer", paramLabel = "SIZE", defaultValue = "16MiB",
        description = "UDP socket receive buffer to ask the kernel for; Linux caps it at net.core.rmem_max "
            + "(default: ${DEFAULT-VALUE}).")
    String udpReceiveBuffer;

    /**
     * Validates the options.
     *
     * @throws ConfigException naming the first bad option as the user set it
     */
    public IngestSettings settings(OptionValues v) {
        final HostPort httpAddr = v.convert("--http", http, HostPort::parse);
        final HostPort tcpAddr = OptionValues.blank(tcp) ? null : v.convert("--tcp", tcp, HostPort::parse);
        final HostPort udpAddr = OptionValues.blank(udp) ? null : v.convert("--udp", udp, HostPort::parse);
        if (token != null && token.isBlank()) {
            throw v.invalid("--token", "must not be blank (omit it to disable authentication)");
        }
        final List<String> hosts = allowedHosts(v);
        final List<AddressRange> proxies = trustedProxies(v);
        final int body = v.sizeIn("--max-body-size", maxBodySize, 1024, Integer.MAX_VALUE - 1024);
        final int inflated = v.sizeIn("--max-decompressed-size", maxDecompressedSize, 1024, 1 << 30);
        final int maxConnections = v.intIn("--http-max-connections", httpMaxConnections, 1, 1_000_000);
        final long maxBuffered = v.bytesIn("--http-max-buffered", httpMaxBuffered, 64 * 1024, Integer.MAX_VALUE);
        if (maxBuffered < body) {
            throw new ConfigException(v.name("--http-max-buffered") + " (" + Units.formatSize(maxBuffered)
                + ") must be at least " + v.name("--max-body-size") + " (" + Units.formatSize(body)
                + "), or no body of the largest size could be taken");
        }
        final Duration headerTimeout = v.durationIn("--http-header-timeout", httpHeaderTimeout, Duration.ofMillis(10),
            Duration.ofHours(1));
        final Duration readTimeout = v.durationIn("--http-read-timeout", httpReadTimeout, Duration.ofMillis(10),
            Duration.ofHours(1));
        final Duration idleTimeout = v.durationIn("--http-idle-timeout", httpIdleTimeout, Duration.ofMillis(10),
            Duration.ofDays(1));
        final AckMode ackMode = v.convert("--ack", ack, AckMode::parse);
        final Duration ackWait = v.durationIn("--ack-timeout", ackTimeout, Duration.ofMillis(10), Duration.ofHours(1));
        final Duration resend = v.durationIn("--resend-window", resendWindow, Duration.ZERO, Duration.ofDays(1));
        final int resendRequests = v.intIn("--resend-window-requests", resendWindowRequests, 1, 100_000_000);
        final int resendRows = v.intIn("--resend-window-rows", resendWindowRows, 1, 2_000_000_000);
        final int threads = v.intIn("--ingest-threads", ingestThreads, 1, 256);
        final double hwm = v.fraction("--high-water-mark", highWaterMark);
        final Duration room = v.durationIn("--room-wait", roomWait, Duration.ZERO, Duration.ofSeconds(30));
        final int series = v.intIn("--max-series", maxSeries, 1, Integer.MAX_VALUE);
        final int line = v.sizeIn("--max-line-length", maxLineLength, 64, 1 << 30);
        final Duration tcpIdle = v.durationIn("--tcp-idle-timeout", tcpIdleTimeout, Duration.ZERO, Duration.ofDays(7));
        final int tcpConnections = v.intIn("--tcp-max-connections", tcpMaxConnections, 1, 1_000_000);
        final int udpBuffer = v.sizeIn("--udp-receive-buffer", udpReceiveBuffer, 4096, 1 << 30);
        return new IngestSettings(httpAddr, tcpAddr, udpAddr, token, hosts, proxies, body, inflated, maxConnections,
            maxBuffered, headerTimeout, readTimeout, idleTimeout, ackMode, ackWait, resend, resendRequests, resendRows,
            threads, hwm, room, series, line, tcpIdle, tcpConnections, udpBuffer);
    }

    private static final Pattern HOST_NAME = Pattern.compile("\\.?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?"
        + "(\\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*");

    private List<String> allowedHosts(OptionValues v) {
        final List<String> out = new ArrayList<>();
        for (String part : OptionValues.blank(allowedHosts) ? new String[0] : allowedHosts.split(",")) {
            final String name = part.trim().toLowerCase(Locale.ROOT);
            if (name.isEmpty()) {
                continue;
            }
            final String bare = name.endsWith(".") && name.length() > 1 ? name.substring(0, name.length() - 1) : name;
            if (!bare.equals("*") && !HOST_NAME.matcher(bare).matches()) {
                throw v.invalid("--allowed-hosts", "must be host names separated by commas (a.example, .example.org "
                    + "for a domain and its subdomains, * for any), was '" + part.trim() + "'");
            }
            out.add(bare);
        }
        return List.copyOf(out);
    }

    private List<AddressRange> trustedProxies(OptionValues v) {
        final List<AddressRange> out = new ArrayList<>();
        for (String part : OptionValues.blank(trustedProxies) ? new String[0] : trustedProxies.split(",")) {
            if (part.isBlank()) {
                continue;
            }
            try {
                out.add(AddressRange.parse(part));
            } catch (IllegalArgumentException e) {
                throw v.invalid("--trusted-proxies", "must be IP addresses or CIDR ranges separated by commas: "
                    + e.getMessage());
            }
        }
        return List.copyOf(out);
    }
}
