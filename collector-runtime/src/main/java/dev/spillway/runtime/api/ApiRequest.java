package dev.spillway.runtime.api;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.List;
import java.util.Map;

/**
 * One request to a routed endpoint, already authenticated (unless the route is public) and within the body
 * limit.
 *
 * @param method upper-case HTTP method
 * @param path the decoded path, without query
 * @param pathParams values of the route's {@code {name}} segments
 * @param query query parameters
 * @param headers request headers, names in lower case (first value of each)
 * @param body the raw body, empty when none
 * @param authorized whether the request carried the collector's token (or no token is configured)
 */
public record ApiRequest(String method, String path, Map<String, String> pathParams, Map<String, List<String>> query,
                         Map<String, String> headers, byte[] body, boolean authorized) {

    /** A path parameter. */
    public String param(String name) {
        return pathParams.get(name);
    }

    /** The first value of a query parameter, or null. */
    public String queryParam(String name) {
        final List<String> v = query.get(name);
        return v == null || v.isEmpty() ? null : v.get(0);
    }

    /** The body as a JSON tree; 400 when it is empty or not JSON. */
    public JsonNode json() throws ApiException {
        return ApiJson.parse(body);
    }
}
