package dev.spillway.collector.notify;

import java.io.IOException;
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

    WebhookClient(Duration timeout) {
        this.timeout = timeout;
        this.client = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(timeout)
            .followRedirects(HttpClient.Redirect.NEVER)
            .build();
    }

    /** Sends and classifies; never throws for what the network or the receiver does. */
    Answer post(String url, String json, long notificationId, Instant now) throws InterruptedException {
        final HttpRequest request;
        try {
            request = HttpRequest.newBuilder(URI.create(url))
                .timeout(timeout)
                .header("Content-Type", "application/json; charset=utf-8")
                .header("User-Agent", "spillway-collector")
                .header("X-Spillway-Notification-Id", Long.toString(notificationId))
                .POST(HttpRequest.BodyPublishers.ofString(json, StandardCharsets.UTF_8))
                .build();
        } catch (IllegalArgumentException e) {
            return new Answer(400, "invalid url: " + e.getMessage(), null, null);
        }
        try {
            final HttpResponse<String> r = client.send(request, HttpResponse.BodyHandlers.ofString());
            final String body = r.body() == null ? "" : r.body();
            final Duration retryAfter = r.statusCode() == 429
                ? retryAfter(r.headers().firstValue("Retry-After").orElse(null), now) : null;
            return new Answer(r.statusCode(), body.length() > BODY_KEEP ? body.substring(0, BODY_KEEP) : body,
                retryAfter, null);
        } catch (HttpTimeoutException e) {
            return Answer.noAnswer("no answer within " + timeout.toMillis() + " ms");
        } catch (IOException e) {
            return Answer.noAnswer("connection failed: " + e);
        }
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
