package dev.spillway.alerting;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * POSTs JSON to webhooks with the JDK client: one shared client, a bounded time per request, redirects not
 * followed (a webhook that redirects is misconfigured, and following could leak the body elsewhere).
 */
final class WebhookClient {

    private static final int BODY_KEEP = 512;
    /** A Retry-After beyond this is clamped: the maximum message age bounds the wait anyway. */
    private static final Duration RETRY_AFTER_MAX = Duration.ofHours(1);

    private final HttpClient client;
    private final Duration timeout;
    private final java.time.Clock clock;

    /** @param clock read when the answer arrives: a Retry-After date is counted from then */
    WebhookClient(Duration timeout, java.time.Clock clock) {
        this.timeout = timeout;
        this.clock = clock;
        this.client = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(timeout)
            .followRedirects(HttpClient.Redirect.NEVER)
            .build();
    }

    /** Sends and classifies; never throws for what the network or the receiver does. */
    Answer post(String url, String json, long notificationId) throws InterruptedException {
        return post(url, "application/json; charset=utf-8", json, java.util.Map.of(), notificationId);
    }

    /**
     * Sends a body of any type with extra headers (e.g. ntfy's {@code Title}, {@code Authorization}) and
     * classifies the answer; never throws for what the network or the receiver does. The URL may hold a secret
     * (Telegram's bot token): no answer or error repeats it.
     */
    Answer post(String url, String contentType, String body, java.util.Map<String, String> headers,
                long notificationId) throws InterruptedException {
        final HttpRequest request;
        try {
            final HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url))
                .timeout(timeout)
                .header("Content-Type", contentType)
                .header("User-Agent", "spillway-collector")
                .header("X-Spillway-Notification-Id", Long.toString(notificationId))
                // The same key on every retry of one message (and after a crash): receivers that dedupe use it.
                .header("Idempotency-Key", "spillway-" + notificationId);
            headers.forEach(b::header);
            request = b.POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8)).build();
        } catch (IllegalArgumentException e) {
            return new Answer(400, "invalid request to " + Channel.mask(url), null, null);
        }
        // The whole exchange (connect, headers, body) is bounded: JDK's request timeout alone stops at the headers.
        final CompletableFuture<HttpResponse<String>> exchange =
            client.sendAsync(request, info -> new HeadOfBody(BODY_KEEP));
        try {
            final HttpResponse<String> r = exchange.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            final Duration retryAfter = r.statusCode() == 429
                ? retryAfter(r.headers().firstValue("Retry-After").orElse(null), r.body(), clock.instant()) : null;
            return new Answer(r.statusCode(), r.body(), retryAfter, null);
        } catch (TimeoutException e) {
            exchange.cancel(true);
            return Answer.noAnswer("no answer within " + timeout.toMillis() + " ms");
        } catch (InterruptedException e) {
            exchange.cancel(true);
            throw e;
        } catch (ExecutionException e) {
            final Throwable cause = e.getCause() == null ? e : e.getCause();
            if (cause instanceof HttpTimeoutException) {
                return Answer.noAnswer("no answer within " + timeout.toMillis() + " ms");
            }
            return Answer.noAnswer("connection failed: " + cause);
        }
    }

    /**
     * A 429's wait: the {@code Retry-After} header (seconds or an HTTP date); without the header, the body's
     * {@code retry_after} in seconds (Discord: {@code {"retry_after": 1.5}} at the top, fractions allowed; Telegram's
     * Bot API: {@code {"parameters":{"retry_after":35}}}); neither, or unreadable, means "one second". At most an
     * hour.
     */
    static Duration retryAfter(String header, String body, Instant now) {
        if (header == null) {
            final Duration fromBody = retryAfterInBody(body);
            if (fromBody != null) {
                return fromBody.compareTo(RETRY_AFTER_MAX) > 0 ? RETRY_AFTER_MAX : fromBody;
            }
        }
        return retryAfter(header, now);
    }

    /** The {@code retry_after} seconds of a JSON body (top level or under {@code parameters}), or null. */
    static Duration retryAfterInBody(String body) {
        if (body == null || body.isBlank() || body.strip().charAt(0) != '{') {
            return null;
        }
        final com.fasterxml.jackson.databind.JsonNode json;
        try {
            json = Json.MAPPER.readTree(body);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            return null; // not JSON, or cut off at the kept head of the body
        }
        com.fasterxml.jackson.databind.JsonNode v = json.get("retry_after");
        if (v == null || !v.isNumber()) {
            v = json.path("parameters").get("retry_after");
        }
        if (v == null || !v.isNumber() || !Double.isFinite(v.asDouble()) || v.asDouble() < 0) {
            return null;
        }
        final double seconds = Math.min(v.asDouble(), RETRY_AFTER_MAX.toSeconds());
        return Duration.ofMillis((long) Math.ceil(seconds * 1000.0));
    }

    /** Seconds or an HTTP date; absent or unreadable means "one second". */
    static Duration retryAfter(String header, Instant now) {
        Duration d = Duration.ofSeconds(1);
        if (header != null) {
            final String h = header.trim();
            try {
                d = Duration.ofSeconds(Long.parseLong(h));
            } catch (NumberFormatException notSeconds) {
                try {
                    d = Duration.between(now, ZonedDateTime.parse(h, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant());
                } catch (DateTimeParseException notDate) {
                    d = Duration.ofSeconds(1);
                }
            }
        }
        if (d.isNegative()) {
            return Duration.ZERO;
        }
        return d.compareTo(RETRY_AFTER_MAX) > 0 ? RETRY_AFTER_MAX : d;
    }
}
