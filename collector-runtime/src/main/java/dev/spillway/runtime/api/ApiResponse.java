package dev.spillway.runtime.api;

import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * A response of a routed endpoint.
 *
 * @param status HTTP status
 * @param contentType the media type, or null when there is no body
 * @param body the body bytes (empty for none)
 * @param headers additional headers (e.g. {@code Location}, {@code Cache-Control})
 */
public record ApiResponse(int status, String contentType, byte[] body, Map<String, String> headers) {

    /** JSON media type. */
    public static final String JSON = "application/json; charset=utf-8";

    /** {@code value} encoded with the shared codec. */
    public static ApiResponse json(int status, Object value) {
        return new ApiResponse(status, JSON, ApiJson.write(value), Map.of());
    }

    /** 200 with {@code value} as JSON. */
    public static ApiResponse ok(Object value) {
        return json(200, value);
    }

    /** 204 without body. */
    public static ApiResponse noContent() {
        return new ApiResponse(204, null, new byte[0], Map.of());
    }

    /** Any text, e.g. {@code text/html; charset=utf-8} for a page. */
    public static ApiResponse text(int status, String contentType, String text) {
        return new ApiResponse(status, contentType, text.getBytes(StandardCharsets.UTF_8), Map.of());
    }

    /** The error shape shared by every endpoint: {@code {"code","message",...extra}}. */
    public static ApiResponse error(ApiException e) {
        final Map<String, String> headers = e.status() == 503 ? Map.of("Retry-After", "1") : Map.of();
        return new ApiResponse(e.status(), JSON, ApiJson.error(e.code(), e.getMessage(), e.extra()), headers);
    }

    /** This response with one more header. */
    public ApiResponse withHeader(String name, String value) {
        final java.util.LinkedHashMap<String, String> h = new java.util.LinkedHashMap<>(headers);
        h.put(name, value);
        return new ApiResponse(status, contentType, body, Map.copyOf(h));
    }
}
