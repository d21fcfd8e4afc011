package dev.spillway.ingest.internal.http;

import dev.spillway.ingest.ReadinessProbe;
import dev.spillway.runtime.api.ApiRouter;
import dev.spillway.ingest.CollectorMetrics;
import dev.spillway.ingest.LineIngestor;
import dev.spillway.ingest.Saturation;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.util.concurrent.ExecutorService;

/**
 * What the HTTP handlers share: the ingestor, the executor that runs request bodies off the event loop, the
 * limits, and the endpoints' collaborators.
 *
 * @param ingestor parses and ingests bodies
 * @param ingestExecutor decompresses, parses and ingests off the event loop; bounded, so overload gets 503
 * @param saturation when to answer 503 before reading a body
 * @param readiness backs {@code /ready}
 * @param registry backs {@code /metrics}
 * @param metrics request counters
 * @param token the required token, or null
 * @param maxDecompressedSize cap on a gunzipped body
 * @param roomWait how long a write that finds the ring above its high-water mark waits for room before its 503
 * @param router JSON APIs and pages ({@code /api/v1/...}), or null for none
 * @param guard the {@code Host}, {@code Origin} and {@code Sec-Fetch-Site} checks, and who the client is
 * @param tokens read-only tokens and ping keys, or null for none
 * @param throttle failed authentications per client address (429 once a client used up its tries)
 */
public record HttpApi(LineIngestor ingestor, ExecutorService ingestExecutor, Saturation saturation,
                      ReadinessProbe readiness, PrometheusMeterRegistry registry, CollectorMetrics metrics,
                      String token, int maxDecompressedSize, java.time.Duration roomWait, ApiRouter router, WebGuard guard,
                      dev.spillway.ingest.auth.ApiTokens tokens, dev.spillway.runtime.api.AuthThrottle throttle) {
}
