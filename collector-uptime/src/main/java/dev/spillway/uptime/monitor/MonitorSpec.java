package dev.spillway.uptime.monitor;

import java.net.URI;
import java.time.Duration;
import java.util.Map;

/**
 * A validated monitor definition. Built only by {@link MonitorValidator}, from an API body, a {@code --monitors}
 * file entry or a {@code monitors} row, with the same rules for all three.
 *
 * @param name unique, {@code [A-Za-z0-9_.-]{1,64}}
 * @param url {@code http(s)://...}, {@code tcp://host:port}, {@code dns://resolver[:port]}, {@code tls://host:port}
 *     or {@code icmp://host}
 * @param method upper-case HTTP method
 * @param headers request headers (sorted by name)
 * @param body request body, or null
 * @param interval time between checks, at least 1 s
 * @param timeout whole-check budget (DNS to last body byte, redirects included), below {@code interval}
 * @param expectedStatus status codes that count as up
 * @param keyword text the body must contain (or, when {@code keywordInvert}, must not), or null
 * @param keywordInvert see {@code keyword}
 * @param followRedirects follow up to {@link #MAX_REDIRECTS} redirects
 * @param tlsVerify verify the certificate chain and host name
 * @param failureThreshold consecutive failed checks before DOWN
 * @param successThreshold consecutive good checks before UP again after DOWN
 * @param enabled false = paused
 * @param tags extra tags on the result series (sorted by key)
 * @param locations where it is checked from: empty = by any one collector; else by a collector at each listed
 *     location ({@code --location}), sorted
 * @param quorum with locations: how many of them must see it DOWN for the monitor to be DOWN (default a majority);
 *     0 without locations
 * @param check what is checked (from the URL's scheme) and the type's own options
 * @param parent the monitor (by name) or heartbeat service (by id) this one depends on, or null: while the parent
 *     is down, this monitor's announcements are held ({@code docs/alerting.md}, dependencies)
 */
public record MonitorSpec(String name, URI url, String method, Map<String, String> headers, String body,
                          Duration interval, Duration timeout, StatusRanges expectedStatus, String keyword,
                          boolean keywordInvert, boolean followRedirects, boolean tlsVerify, int failureThreshold,
                          int successThreshold, boolean enabled, Map<String, String> tags,
                          java.util.List<String> locations, int quorum, CheckOptions check, String parent) {

    /** A monitor without a parent. */
    public MonitorSpec(String name, URI url, String method, Map<String, String> headers, String body,
                       Duration interval, Duration timeout, StatusRanges expectedStatus, String keyword,
                       boolean keywordInvert, boolean followRedirects, boolean tlsVerify, int failureThreshold,
                       int successThreshold, boolean enabled, Map<String, String> tags,
                       java.util.List<String> locations, int quorum, CheckOptions check) {
        this(name, url, method, headers, body, interval, timeout, expectedStatus, keyword, keywordInvert,
            followRedirects, tlsVerify, failureThreshold, successThreshold, enabled, tags, locations, quorum, check,
            null);
    }

    /** An HTTP monitor without assertions, checked by any one collector. */
    public MonitorSpec(String name, URI url, String method, Map<String, String> headers, String body,
                       Duration interval, Duration timeout, StatusRanges expectedStatus, String keyword,
                       boolean keywordInvert, boolean followRedirects, boolean tlsVerify, int failureThreshold,
                       int successThreshold, boolean enabled, Map<String, String> tags) {
        this(name, url, method, headers, body, interval, timeout, expectedStatus, keyword, keywordInvert,
            followRedirects, tlsVerify, failureThreshold, successThreshold, enabled, tags, java.util.List.of(), 0,
            CheckOptions.HTTP);
    }

    /** Most redirects followed per check. */
    public static final int MAX_REDIRECTS = 10;

    /** The same spec, enabled or paused. */
    public MonitorSpec withEnabled(boolean on) {
        return new MonitorSpec(name, url, method, headers, body, interval, timeout, expectedStatus, keyword,
            keywordInvert, followRedirects, tlsVerify, failureThreshold, successThreshold, on, tags, locations, quorum,
            check, parent);
    }

    /** Whether it is checked from each of a list of locations (with a quorum), not by any one collector. */
    public boolean located() {
        return !locations.isEmpty();
    }

    /** What is checked. */
    public CheckType type() {
        return check.type();
    }

    /** Whether checks of this spec go over TLS. */
    public boolean https() {
        return "https".equalsIgnoreCase(url.getScheme());
    }
}
