package dev.spillway.ingest.internal.http;

import dev.spillway.runtime.config.AddressRange;
import dev.spillway.runtime.config.HostPort;
import dev.spillway.runtime.log.LogText;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.List;
import java.util.Locale;

/**
 * Keeps web pages on other sites from driving the collector through a browser. Every request but {@code /ping} and
 * {@code /health} passes three checks before anything else (the token included):
 * <ol>
 *   <li>{@code Host} must name this collector: an IP address (a DNS-rebinding attack needs a name it controls, so an
 *   address literal cannot be one), {@code localhost} or {@code *.localhost} when the listener takes loopback
 *   connections, the listen address's own name, or a name given in {@code --allowed-hosts}. This stops DNS
 *   rebinding, where a page's own name is pointed at the collector.</li>
 *   <li>{@code Origin}, when sent, must be this collector's own origin (same host and port as {@code Host}): browsers
 *   send it with every cross-origin request and every POST, so a form, a {@code fetch} or an image on another site is
 *   refused. {@code Origin: null} (sandboxed frames, {@code file:} pages) is refused too.</li>
 *   <li>{@code Sec-Fetch-Site: cross-site} or {@code same-site} (another port or subdomain) is refused, except for a
 *   top-level navigation ({@code Sec-Fetch-Mode: navigate}, GET or HEAD) to a page outside {@code /api/} and
 *   {@code /write}, so a link to the status page still opens it, and for GET or HEAD of the page's static files
 *   under {@code /assets/} (public, the same for everyone).</li>
 * </ol>
 * Clients that are not browsers (Telegraf, curl, the InfluxDB client libraries) send no {@code Origin} and no
 * {@code Sec-Fetch-*} headers and reach the collector by an address or a configured name: they pass.
 *
 * <p>It also says who the client is: behind a proxy in {@code --trusted-proxies}, the address that proxy reports in
 * {@code X-Forwarded-For} and whether it was reached over HTTPS ({@code X-Forwarded-Proto: https}); from anyone
 * else, those headers are ignored.
 */
public final class WebGuard {

    /** Why a request is refused: 403 naming the header. */
    record Refusal(String header, String message) {
    }

    private final boolean anyHost;
    private final boolean loopbackServed;
    private final String listenName;
    private final List<String> allowedHosts;
    private final List<AddressRange> trustedProxies;

    /**
     * @param listen the HTTP listen address ({@code --http})
     * @param allowedHosts names from {@code --allowed-hosts}, lower case: exact names, {@code .example.org} for a
     *     domain and its subdomains, {@code *} for any
     * @param trustedProxies addresses of proxies whose forwarding headers are believed
     */
    public WebGuard(HostPort listen, List<String> allowedHosts, List<AddressRange> trustedProxies) {
        this.anyHost = allowedHosts.contains("*");
        this.allowedHosts = List.copyOf(allowedHosts);
        this.trustedProxies = List.copyOf(trustedProxies);
        final String host = listen.host().toLowerCase(Locale.ROOT);
        final InetAddress literal = AddressRange.literal(host);
        this.loopbackServed = host.equals("localhost") || (literal != null
            && (literal.isLoopbackAddress() || literal.isAnyLocalAddress()));
        this.listenName = literal == null ? stripDot(host) : null;
    }

    /** The checks above; null when the request may go on. */
    Refusal check(HttpMethod method, String path, HttpHeaders headers) {
        if (path.equals("/ping") || path.equals("/health")) {
            return null; // probes from load balancers and client libraries; they change and reveal nothing
        }
        final String host = headers.get(HttpHeaderNames.HOST);
        if (host != null && !hostAllowed(host)) {
            return new Refusal("Host", "Host '" + LogText.escape(host) + "' is not a name this collector answers to "
                + "(a page on another site may be trying DNS rebinding); if it is one of yours, add it to --allowed-hosts");
        }
        final String origin = headers.get(HttpHeaderNames.ORIGIN);
        if (origin != null && !sameOrigin(origin, host)) {
            return new Refusal("Origin", "Origin '" + LogText.escape(origin) + "' is not this collector's origin: "
                + "requests from pages on other sites are refused");
        }
        final String site = headers.get("Sec-Fetch-Site");
        if (site != null && (site.equalsIgnoreCase("cross-site") || site.equalsIgnoreCase("same-site"))
            && !pageNavigation(method, path, headers)) {
            return new Refusal("Sec-Fetch-Site", "Sec-Fetch-Site '" + LogText.escape(site) + "': requests from pages "
                + "on other sites are refused (only links to the status page may come from elsewhere)");
        }
        return null;
    }

    /** A link to a page from elsewhere, or a page's static file (script, style, licence) used elsewhere. */
    private static boolean pageNavigation(HttpMethod method, String path, HttpHeaders headers) {
        if (!method.equals(HttpMethod.GET) && !method.equals(HttpMethod.HEAD)) {
            return false;
        }
        return path.startsWith("/assets/") || ("navigate".equalsIgnoreCase(headers.get("Sec-Fetch-Mode"))
            && !path.startsWith("/api/") && !path.equals("/write"));
    }

    /** Whether a {@code Host} value names this collector. */
    boolean hostAllowed(String hostHeader) {
        if (anyHost) {
            return true;
        }
        final String name = hostName(hostHeader);
        if (name == null) {
            return false;
        }
        if (AddressRange.literal(name) != null) {
            return true;
        }
        if (loopbackServed && (name.equals("localhost") || name.endsWith(".localhost"))) {
            return true;
        }
        if (name.equals(listenName)) {
            return true;
        }
        for (String allowed : allowedHosts) {
            if (allowed.startsWith(".") ? name.endsWith(allowed) || name.equals(allowed.substring(1))
                : name.equals(allowed)) {
                return true;
            }
        }
        return false;
    }

    /** The host part of a {@code Host} value, lower case, without a trailing dot; null when malformed. */
    static String hostName(String hostHeader) {
        final String h = hostHeader.trim().toLowerCase(Locale.ROOT);
        if (h.startsWith("[")) {
            final int end = h.indexOf(']');
            if (end < 0 || (end + 1 < h.length() && !validPort(h.substring(end + 1)))) {
                return null;
            }
            return h.substring(0, end + 1);
        }
        final int colon = h.indexOf(':');
        if (colon >= 0 && (h.indexOf(':', colon + 1) >= 0 || !validPort(h.substring(colon)))) {
            return null;
        }
        final String name = stripDot(colon < 0 ? h : h.substring(0, colon));
        return name.isEmpty() || !name.chars().allMatch(c -> Character.isLetterOrDigit(c) || c == '-' || c == '.'
            || c == '_') ? null : name;
    }

    private static boolean validPort(String colonAndPort) {
        if (colonAndPort.length() < 2 || colonAndPort.length() > 6 || colonAndPort.charAt(0) != ':') {
            return false;
        }
        for (int i = 1; i < colonAndPort.length(); i++) {
            if (!Character.isDigit(colonAndPort.charAt(i))) {
                return false;
            }
        }
        return Integer.parseInt(colonAndPort.substring(1)) <= 65_535;
    }

    private static String stripDot(String name) {
        return name.endsWith(".") ? name.substring(0, name.length() - 1) : name;
    }

    /**
     * Whether {@code origin} is the origin the request was sent to: same host and port as {@code Host} (ports
     * compared after the origin scheme's default is filled in, so {@code https://a} matches {@code Host: a}).
     */
    static boolean sameOrigin(String origin, String hostHeader) {
        if (hostHeader == null || origin.equals("null")) {
            return false;
        }
        final URI o;
        try {
            o = new URI(origin.trim());
        } catch (URISyntaxException e) {
            return false;
        }
        if (o.getScheme() == null || o.getHost() == null || (o.getRawPath() != null && !o.getRawPath().isEmpty())
            || o.getRawUserInfo() != null) {
            return false;
        }
        final String scheme = o.getScheme().toLowerCase(Locale.ROOT);
        final int dflt = scheme.equals("https") ? 443 : scheme.equals("http") ? 80 : -1;
        final int originPort = o.getPort() < 0 ? dflt : o.getPort();
        final String h = hostHeader.trim().toLowerCase(Locale.ROOT);
        final String hostName = hostName(h);
        if (hostName == null) {
            return false;
        }
        final int end = h.startsWith("[") ? h.indexOf(']') + 1 : h.indexOf(':') < 0 ? h.length() : h.indexOf(':');
        final int hostPort = end < h.length() ? Integer.parseInt(h.substring(end + 1)) : dflt;
        return stripDot(o.getHost().toLowerCase(Locale.ROOT)).equals(hostName) && originPort == hostPort;
    }

    /**
     * The client's address: the peer's, or, when the peer is a trusted proxy, the right-most address in
     * {@code X-Forwarded-For} that is not itself a trusted proxy.
     */
    String client(InetSocketAddress peer, HttpHeaders headers) {
        final InetAddress p = peer == null ? null : peer.getAddress();
        final String direct = p == null ? "unknown" : p.getHostAddress();
        if (!trusted(p)) {
            return direct;
        }
        final List<String> forwarded = headers.getAll("X-Forwarded-For");
        String client = direct;
        for (int i = forwarded.size() - 1; i >= 0; i--) {
            final String[] hops = forwarded.get(i).split(",");
            for (int j = hops.length - 1; j >= 0; j--) {
                final InetAddress a = AddressRange.literal(hops[j].trim());
                if (a == null) {
                    return client; // unparseable: stop at what is known
                }
                client = a.getHostAddress();
                if (!trusted(a)) {
                    return client;
                }
            }
        }
        return client;
    }

    /** Whether the client reached the collector over HTTPS: a trusted proxy says {@code X-Forwarded-Proto: https}. */
    boolean secure(InetSocketAddress peer, HttpHeaders headers) {
        if (peer == null || !trusted(peer.getAddress())) {
            return false;
        }
        final String proto = headers.get("X-Forwarded-Proto");
        if (proto == null) {
            return false;
        }
        final int comma = proto.indexOf(',');
        return (comma < 0 ? proto : proto.substring(0, comma)).trim().equalsIgnoreCase("https");
    }

    private boolean trusted(InetAddress a) {
        for (AddressRange r : trustedProxies) {
            if (r.contains(a)) {
                return true;
            }
        }
        return false;
    }
}
