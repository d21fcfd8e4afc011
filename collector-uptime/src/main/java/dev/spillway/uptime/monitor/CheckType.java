package dev.spillway.uptime.monitor;

import java.util.List;
import java.util.Locale;

/**
 * What a monitor checks, named by its URL's scheme: {@code http}/{@code https} (a request), {@code tcp} (a connect,
 * optionally a send and an expected reply), {@code dns} (a query to the resolver the URL names), {@code tls} (a
 * handshake with any TLS server: certificate days, chain, host name) and {@code icmp} (echo requests).
 */
public enum CheckType {
    /** An HTTP or HTTPS request. */
    HTTP(List.of("up", "duration_ms", "status_code", "dns_ms", "connect_ms", "ttfb_ms", "tls_ms",
        "cert_expiry_days")),
    /** A TCP connect; with {@code tcp.send}/{@code tcp.expect} a request and its reply. */
    TCP(List.of("up", "duration_ms", "dns_ms", "connect_ms", "reply_ms")),
    /** A DNS query over UDP (TCP when the answer is truncated) to the resolver in the URL. */
    DNS(List.of("up", "duration_ms", "answers", "rcode")),
    /** A TLS handshake with any host:port. */
    TLS(List.of("up", "duration_ms", "dns_ms", "connect_ms", "tls_ms", "cert_expiry_days", "chain_valid",
        "host_name_match")),
    /** ICMP echo (see {@link IcmpProbe} for what it needs from the OS). */
    ICMP(List.of("up", "duration_ms", "dns_ms", "rtt_ms", "loss_percent"));

    private final List<String> fields;

    CheckType(List<String> fields) {
        this.fields = fields;
    }

    /** The fields a result of this type may carry (for creating its series ahead of the first result). */
    public List<String> fields() {
        return fields;
    }

    /** The name in the API ({@code tcp}, ...). */
    public String apiName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The type a URL scheme names, or null for an unknown scheme. */
    public static CheckType ofScheme(String scheme) {
        if (scheme == null) {
            return null;
        }
        return switch (scheme.toLowerCase(Locale.ROOT)) {
            case "http", "https" -> HTTP;
            case "tcp" -> TCP;
            case "dns" -> DNS;
            case "tls" -> TLS;
            case "icmp" -> ICMP;
            default -> null;
        };
    }
}
