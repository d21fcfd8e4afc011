package dev.spillway.statuspage;

import dev.spillway.runtime.api.ApiException;
import dev.spillway.runtime.api.ApiJson;
import dev.spillway.runtime.api.ApiResponse;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The page's responses. Pages and their data are never cached ({@code no-store}: they change every few seconds
 * and may be behind a sign-in); versioned assets are (see {@link StaticAssets}).
 */
final class PageResponses {

    static final String HTML = "text/html; charset=utf-8";

    /**
     * Scripts, styles and data only from this origin (uPlot is in the jar), no framing, forms only to here. uPlot
     * sets element styles through the CSSOM, which a CSP does not restrict.
     */
    static final String CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        + "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

    private PageResponses() {
    }

    /** An HTML page with the security headers. */
    static ApiResponse html(int status, String html) {
        final Map<String, String> h = noStore();
        h.put("Content-Security-Policy", CSP);
        h.put("X-Frame-Options", "DENY");
        return new ApiResponse(status, HTML, html.getBytes(StandardCharsets.UTF_8), Map.copyOf(h));
    }

    /** A JSON document with the shared codec, never cached. */
    static ApiResponse json(Object value) {
        return new ApiResponse(200, ApiResponse.JSON, ApiJson.write(value), Map.copyOf(noStore()));
    }

    /** The collector's error shape. */
    static ApiResponse error(int status, String code, String message) {
        return ApiResponse.error(new ApiException(status, code, message, null));
    }

    /** A 303 to a local path (after a form post, or to the sign-in form). */
    static ApiResponse redirect(String location) {
        final Map<String, String> h = noStore();
        h.put("Location", location);
        return new ApiResponse(303, null, new byte[0], Map.copyOf(h));
    }

    /** JSON text that can sit inside {@code <script type="application/json">}: no {@code <} can end the element. */
    static String embeddable(Object value) {
        return new String(ApiJson.write(value), StandardCharsets.UTF_8).replace("<", "\\u003c");
    }

    private static Map<String, String> noStore() {
        final Map<String, String> h = new LinkedHashMap<>();
        h.put("Cache-Control", "no-store");
        h.put("X-Content-Type-Options", "nosniff");
        h.put("Referrer-Policy", "no-referrer");
        return h;
    }
}
