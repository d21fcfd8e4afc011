package dev.spillway.runtime.api;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One request to a routed endpoint, already authenticated (unless the route is public), within the body limit, and
 * past the HTTP layer's checks of {@code Host} and {@code Origin}. Path and query parameters hold no control
 * characters (the router answers 400 naming the parameter first).
 *
 * @param method upper-case HTTP method
 * @param path the decoded path, without query
 * @param pathParams values of the route's {@code {name}} segments
 * @param query query parameters
 * @param headers request headers, names in lower case (first value of each)
 * @param body the raw body, empty when none
 * @param access what the request's credential allows: the collector's token (or no token configured) is admin,
 *     a read-only token reads, a ping key pings its service
 * @param client the client's IP address as text: the peer's, or the one a trusted proxy reported
 *     ({@code X-Forwarded-For}); for per-client limits such as the sign-in throttle
 * @param secure whether the client reached the collector over HTTPS (a trusted proxy said so with
 *     {@code X-Forwarded-Proto: https}); cookies are then marked {@code Secure}
 */
public record ApiRequest(String method, String path, Map<String, String> pathParams, Map<String, List<String>> query,
                         Map<String, String> headers, byte[] body, ApiAccess access, String client,
                         boolean secure) {

    /** The media type JSON endpoints take. */
    public static final String JSON_TYPE = "application/json";

    /** A request from an unknown client over plain HTTP (tests, tools). */
    public ApiRequest(String method, String path, Map<String, String> pathParams, Map<String, List<String>> query,
                      Map<String, String> headers, byte[] body, boolean authorized) {
        this(method, path, pathParams, query, headers, body, authorized ? ApiAccess.ADMIN : ApiAccess.NONE, "unknown",
            false);
    }

    /** Whether the request may read (the collector's token, a read-only token, or no token configured). */
    public boolean authorized() {
        return access.canRead();
    }

    /** A path parameter. */
    public String param(String name) {
        return pathParams.get(name);
    }

    /** The first value of a query parameter, or null. */
    public String queryParam(String name) {
        final List<String> v = query.get(name);
        return v == null || v.isEmpty() ? null : v.get(0);
    }

    /**
     * The body as a JSON tree: 415 unless the request says {@code Content-Type: application/json} (or a
     * {@code +json} type), so a browser form or a {@code text/plain} fetch from another site can never be read as
     * an API call; 400 when it is empty, not JSON, or names a key twice.
     */
    public JsonNode json() throws ApiException {
        requireJsonType(headers.get("content-type"));
        return ApiJson.parse(body);
    }

    /** 415 naming the expected type unless {@code contentType} is JSON. */
    static void requireJsonType(String contentType) throws ApiException {
        if (!isJsonType(contentType)) {
            throw new ApiException(415, "unsupported media type", "Content-Type must be " + JSON_TYPE + ", was "
                + (contentType == null ? "none" : "'" + dev.spillway.runtime.log.LogText.escape(contentType) + "'"),
                Map.of("header", "Content-Type", "expected", JSON_TYPE));
        }
    }

    /** Whether a Content-Type value is {@code application/json} or {@code application/*+json}, any parameters. */
    public static boolean isJsonType(String contentType) {
        if (contentType == null) {
            return false;
        }
        final int semi = contentType.indexOf(';');
        final String type = (semi < 0 ? contentType : contentType.substring(0, semi)).trim().toLowerCase(Locale.ROOT);
        return type.equals(JSON_TYPE) || (type.startsWith("application/") && type.endsWith("+json"));
    }
}
