package dev.spillway.collector.page;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What the status page answers: status, content type, extra headers and body. Pages and data are never cached
 * by browsers or proxies ({@code no-store}); versioned assets are cached for a year.
 *
 * @param status HTTP status code
 * @param contentType the Content-Type, or null without a body
 * @param headers further headers (Cache-Control, ETag, Set-Cookie, Location, security headers)
 * @param body the body (empty for none)
 */
public record PageResponse(int status, String contentType, Map<String, String> headers, byte[] body) {

    static final String HTML = "text/html; charset=utf-8";
    static final String JSON = "application/json; charset=utf-8";

    /**
     * The page's Content-Security-Policy: scripts, styles and data only from this origin (the uPlot copy is in
     * the jar), no framing. uPlot sets element styles through the CSSOM, which a CSP does not restrict.
     */
    static final String CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        + "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

    /** An HTML page with the security headers. */
    static PageResponse html(int status, String html) {
        final Map<String, String> h = noStore();
        h.put("Content-Security-Policy", CSP);
        h.put("X-Frame-Options", "DENY");
        return new PageResponse(status, HTML, h, html.getBytes(StandardCharsets.UTF_8));
    }

    /** A JSON document that is never cached. */
    static PageResponse json(int status, String json) {
        return new PageResponse(status, JSON, noStore(), json.getBytes(StandardCharsets.UTF_8));
    }

    /** The error shape the collector's APIs use: {@code {"code","message"}}. */
    static PageResponse error(int status, String code, String message) {
        return json(status, new JsonWriter().beginObject().field("code", code).field("message", message).endObject()
            .toString());
    }

    /** A 303 to a local path (after a form post, or to the login form). */
    static PageResponse redirect(String location) {
        final Map<String, String> h = noStore();
        h.put("Location", location);
        return new PageResponse(303, null, h, new byte[0]);
    }

    /** This response with one more header. */
    PageResponse with(String name, String value) {
        final Map<String, String> h = new LinkedHashMap<>(headers);
        h.put(name, value);
        return new PageResponse(status, contentType, h, body);
    }

    private static Map<String, String> noStore() {
        final Map<String, String> h = new LinkedHashMap<>();
        h.put("Cache-Control", "no-store");
        h.put("X-Content-Type-Options", "nosniff");
        h.put("Referrer-Policy", "no-referrer");
        return h;
    }
}
