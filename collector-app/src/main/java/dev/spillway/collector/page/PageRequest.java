package dev.spillway.collector.page;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A request as the status page sees it, independent of the HTTP server's types (so the page is testable on its
 * own).
 *
 * @param method upper-case HTTP method
 * @param path decoded path without the query
 * @param query decoded query parameters
 * @param headers request headers by lower-case name (the first value of each)
 * @param body the request body, empty when none
 */
public record PageRequest(String method, String path, Map<String, List<String>> query, Map<String, String> headers,
                          byte[] body) {

    /** The first value of a query parameter, or null. */
    public String param(String name) {
        final List<String> v = query.get(name);
        return v == null || v.isEmpty() ? null : v.get(0);
    }

    /** A header value by (case-insensitive) name, or null. */
    public String header(String name) {
        return headers.get(name.toLowerCase(Locale.ROOT));
    }

    /** Whether the method only reads. */
    public boolean isRead() {
        return method.equals("GET") || method.equals("HEAD");
    }

    /** The body as UTF-8 text. */
    public String bodyText() {
        return new String(body, StandardCharsets.UTF_8);
    }
}
