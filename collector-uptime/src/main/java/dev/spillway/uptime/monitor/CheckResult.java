package dev.spillway.uptime.monitor;

import java.time.Instant;

/**
 * The outcome of one check. Phase durations are NaN when the phase did not happen (no TLS on http, no new
 * connection with keep-alive, no response after a connect failure).
 *
 * @param startedAt wall-clock start of the check (the time of its point)
 * @param up whether every rule passed
 * @param statusCode the final response's status, or -1 without a response
 * @param durationMs whole check, redirects and capped body read included
 * @param dnsMs name resolution (0 for IP literals), summed over redirects
 * @param connectMs TCP connect, summed over redirects
 * @param tlsMs TLS handshake, summed over redirects
 * @param ttfbMs from the start of the check to the final response's first header byte
 * @param certExpiryDays days until the leaf certificate of the final response expires (negative when expired)
 * @param error why it is down ({@code category: detail}, e.g. {@code connect: Connection refused}), or null
 * @param bodyCapped whether a response body went on past {@link HttpProbe#MAX_BODY} bytes and was cut
 *     there; not a failure by itself
 * @param extra the fields of the other check types ({@code reply_ms}, {@code answers}, {@code rtt_ms},
 *     {@code loss_percent}, {@code chain_valid}, ...), in the order written
 */
public record CheckResult(Instant startedAt, boolean up, int statusCode, double durationMs, double dnsMs,
                          double connectMs, double tlsMs, double ttfbMs, double certExpiryDays, String error,
                          boolean bodyCapped, java.util.Map<String, Double> extra) {

    /** An HTTP result. */
    public CheckResult(Instant startedAt, boolean up, int statusCode, double durationMs, double dnsMs,
                       double connectMs, double tlsMs, double ttfbMs, double certExpiryDays, String error,
                       boolean bodyCapped) {
        this(startedAt, up, statusCode, durationMs, dnsMs, connectMs, tlsMs, ttfbMs, certExpiryDays, error, bodyCapped,
            java.util.Map.of());
    }

    /** A result whose bodies were not cut. */
    public CheckResult(Instant startedAt, boolean up, int statusCode, double durationMs, double dnsMs,
                       double connectMs, double tlsMs, double ttfbMs, double certExpiryDays, String error) {
        this(startedAt, up, statusCode, durationMs, dnsMs, connectMs, tlsMs, ttfbMs, certExpiryDays, error, false);
    }
}
