package dev.spillway.ingest.internal.http;

import java.time.Duration;

/**
 * What one client may hold of the HTTP server, and for how long.
 *
 * @param maxBodySize largest body as sent; larger gets 413 (by Content-Length before it is read)
 * @param maxConnections open connections at once; further ones are closed on accept
 * @param maxBufferedBytes request bytes buffered at once over all connections (received, not yet answered);
 *     a request that does not fit gets 503 + Retry-After
 * @param maxPipelined requests read ahead on one connection while an earlier one is processed; beyond it the
 *     connection is not read until answers catch up
 * @param headerTimeout from a request's first byte until its head is complete
 * @param readTimeout from a request's first byte until its body is complete
 * @param idleTimeout a connection with no request in progress and no traffic is closed after this
 */
public record HttpLimits(int maxBodySize, int maxConnections, long maxBufferedBytes, int maxPipelined,
                         Duration headerTimeout, Duration readTimeout, Duration idleTimeout) {
}
