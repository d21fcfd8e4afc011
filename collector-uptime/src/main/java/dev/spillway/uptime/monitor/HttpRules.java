package dev.spillway.uptime.monitor;

import okhttp3.HttpUrl;

import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * What the two HTTP probes ({@link HttpProbe} on OkHttp with keep-alive, {@link HttpAsyncProbe} non-blocking) share,
 * so they cannot drift apart: the headers a request carries, the redirect rules (origins, Fetch's method and body
 * rules, the limit) and the verdict on a response (expected status, keyword, assertions), in the same words.
 */
final class HttpRules {

    /** Headers that describe a request body: not sent once a redirect dropped the body (as Fetch does). */
    static final Set<String> BODY_HEADERS = Set.of("content-type", "content-encoding", "content-language",
        "content-location", "content-length", "transfer-encoding");

    private static final double MS_PER_DAY = 86_400_000.0;

    private HttpRules() {
    }

    /**
     * The headers of a request beside those of the body and the transport: the monitor's (only while the chain
     * stays on the first origin; without the body's once a redirect dropped it), {@code Connection: close} without
     * keep-alive, and our {@code User-Agent} unless the monitor's own is sent. In order; a later one replaces an
     * earlier one of the same name.
     */
    static List<Map.Entry<String, String>> headers(MonitorSpec spec, boolean sameOrigin, boolean bodyDropped,
                                                   boolean keepAlive) {
        final List<Map.Entry<String, String>> h = new ArrayList<>();
        if (sameOrigin) {
            spec.headers().forEach((name, value) -> {
                if (!bodyDropped || !BODY_HEADERS.contains(name.toLowerCase(Locale.ROOT))) {
                    h.add(Map.entry(name, value));
                }
            });
        }
        if (!keepAlive) {
            h.add(Map.entry("Connection", "close"));
        }
        if (!sameOrigin || spec.headers().keySet().stream().noneMatch("User-Agent"::equalsIgnoreCase)) {
            h.add(Map.entry("User-Agent", "spillway-monitor"));
        }
        return h;
    }

    /** Whether a request with this method carries a body even when the monitor has none (an empty one). */
    static boolean requiresBody(String method) {
        return method.equals("POST") || method.equals("PUT") || method.equals("PATCH");
    }

    /** The statuses whose {@code Location} is followed (as OkHttp's {@code isRedirect}). */
    static boolean isRedirect(int status) {
        return status == 300 || status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
    }

    /**
     * The next request of a redirect chain, or why the chain stops ({@link #error} set).
     *
     * @param url where it goes
     * @param method its method (Fetch: 303 becomes GET, 301/302 after POST too)
     * @param body its body, null when none or dropped
     * @param bodyDropped whether a redirect dropped the body (then its {@code Content-*} headers are not sent)
     * @param sameOrigin whether the chain is still on the first URL's origin
     * @param error why the chain stops here, or null
     */
    record Hop(HttpUrl url, String method, String body, boolean bodyDropped, boolean sameOrigin, String error) {
    }

    /**
     * Applies the rules to a redirect response: at most {@link MonitorSpec#MAX_REDIRECTS}, a usable
     * {@code Location}, Fetch's method and body rules, and a body sent to the first origin only.
     *
     * @param hop redirects followed so far
     * @param from the URL that answered with the redirect
     */
    static Hop redirect(int hop, int status, String location, HttpUrl from, HttpUrl first, String method, String body,
                        boolean bodyDropped, boolean sameOrigin) {
        if (hop >= MonitorSpec.MAX_REDIRECTS) {
            return stop("redirects: more than " + MonitorSpec.MAX_REDIRECTS);
        }
        final HttpUrl next = location == null ? null : from.resolve(location);
        if (next == null) {
            return stop("redirects: " + status + " without a usable Location");
        }
        if ((status == 303 && !method.equals("HEAD")) || ((status == 301 || status == 302) && method.equals("POST"))) {
            // As browsers (Fetch) do: the next request is a GET without the body and its headers.
            method = "GET";
            body = null;
            bodyDropped = true;
        }
        sameOrigin &= sameOrigin(first, next);
        if (body != null && !sameOrigin) {
            // 307/308 (and 301/302 after PUT, PATCH, DELETE) keep the method and its body; the body may be a secret
            // meant for the monitor's own origin: not sent anywhere else.
            return stop("redirects: " + status + " to another origin (" + origin(next) + ") would re-send the "
                + method + " body there; not followed (a body is sent to the monitor's own origin only)");
        }
        return new Hop(next, method, body, bodyDropped, sameOrigin, null);
    }

    private static Hop stop(String error) {
        return new Hop(null, null, null, false, false, error);
    }

    /** {@code scheme://host:port} of a URL, for a failure reason (nothing of its path or query). */
    static String origin(HttpUrl u) {
        return u.scheme() + "://" + (u.host().contains(":") ? "[" + u.host() + "]" : u.host()) + ":" + u.port();
    }

    static boolean sameOrigin(HttpUrl a, HttpUrl b) {
        return a.scheme().equals(b.scheme()) && a.host().equals(b.host()) && a.port() == b.port();
    }

    /**
     * The verdict on a final response: null when every rule passed, else the first failure's reason.
     *
     * @param text the body as read (up to {@link HttpProbe#MAX_BODY} bytes), as UTF-8
     * @param read body bytes read
     * @param capped whether the body went on past what was read
     * @param headers a response header's (last) value by name, case-insensitive, or null
     */
    static String judge(MonitorSpec spec, int status, String text, long read, boolean capped,
                        Function<String, String> headers) {
        if (!spec.expectedStatus().matches(status)) {
            return "status: " + status + " not in " + spec.expectedStatus();
        }
        if (spec.keyword() != null) {
            final boolean found = text.contains(spec.keyword());
            if (found == spec.keywordInvert()) {
                return spec.keywordInvert() ? "keyword: '" + spec.keyword() + "' found (must be absent)"
                    : "keyword: '" + spec.keyword() + "' not found" + (capped ? " in the first " + read
                    + " bytes (reading stops at " + HttpProbe.MAX_BODY + " body bytes per check)" : "");
            }
        }
        if (!spec.check().assertions().isEmpty()) {
            final String failed = AssertionCheck.failure(spec.check().assertions(), status, headers, text);
            if (failed != null) {
                return failed + (capped ? " (the body was cut at " + HttpProbe.MAX_BODY + " bytes)" : "");
            }
        }
        return null;
    }

    /** Days until the certificate expires (negative when expired), NaN without one. */
    static double certificateDays(X509Certificate leaf) {
        return leaf == null ? Double.NaN : (leaf.getNotAfter().getTime() - System.currentTimeMillis()) / MS_PER_DAY;
    }
}
