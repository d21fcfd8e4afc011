package dev.spillway.uptime.monitor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.spillway.runtime.api.ApiException;
import dev.spillway.runtime.api.ApiJson;
import dev.spillway.runtime.api.ApiText;
import dev.spillway.runtime.config.Units;

import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.Collections;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * The rules of a monitor, applied alike to API bodies, {@code --monitors} file entries and {@code monitors} rows
 * (which are turned into the same JSON shape first). Every error names the field and the rule.
 *
 * <p>JSON shape (snake_case, as in the table): {@code name, url, method, headers, body, interval, timeout,
 * expected_status, keyword, keyword_invert, follow_redirects, tls_verify, failure_threshold, success_threshold,
 * enabled, tags, locations, quorum, parent}. Durations are strings such as {@code "30s"}, {@code "1500ms"}, {@code "2m"} or numbers of
 * seconds; {@code expected_status} is a string such as {@code "200-299,301"} or an array of codes. Unknown fields
 * are refused (a typo must not silently become a default); {@code status}, {@code created_at} and
 * {@code updated_at} are ignored so a GET body can be sent back with PUT.
 */
public final class MonitorValidator {

    /** Names of monitors and tag keys. */
    public static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.-]{1,64}");
    /** Shortest interval. */
    public static final Duration MIN_INTERVAL = Duration.ofSeconds(1);
    /** Longest interval. */
    public static final Duration MAX_INTERVAL = Duration.ofDays(1);
    /** Shortest timeout. */
    public static final Duration MIN_TIMEOUT = Duration.ofMillis(100);
    /** Default timeout, capped at 80 % of the interval for intervals up to 12.5 s. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);
    /** Default interval. */
    public static final Duration DEFAULT_INTERVAL = Duration.ofSeconds(60);

    private static final Set<String> METHODS = Set.of("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS");
    private static final Set<String> IGNORED = Set.of("status", "created_at", "updated_at");
    private static final Set<String> FIELDS = Set.of("name", "url", "method", "headers", "body", "interval",
        "timeout", "expected_status", "keyword", "keyword_invert", "follow_redirects", "tls_verify",
        "failure_threshold", "success_threshold", "enabled", "tags", "locations", "quorum", "parent", "type", "tcp", "dns", "tls", "icmp", "assertions");
    /** Location names ({@code --location} and a monitor's {@code locations}). */
    public static final Pattern LOCATION = Pattern.compile("[A-Za-z0-9_.-]{1,32}");
    /** Most locations per monitor. */
    public static final int MAX_LOCATIONS = 16;
    private static final Pattern HEADER_NAME = Pattern.compile("[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}");
    private static final int MAX_HEADERS = 32;
    private static final int MAX_TAGS = 16;
    private static final int MAX_BODY = 64 * 1024;
    private static final int MAX_URL = 2048;
    private static final int MAX_KEYWORD = 1024;

    private MonitorValidator() {
    }

    /**
     * Validates a JSON object.
     *
     * @param node the monitor
     * @param pathName the name from the URL ({@code PUT /api/v1/monitors/{name}}), or null; when given, a name in
     *     the body must equal it
     * @throws ApiException 400 naming the field and the rule
     */
    public static MonitorSpec parse(JsonNode node, String pathName) throws ApiException {
        if (node == null || !node.isObject()) {
            throw ApiException.badRequest("a monitor must be a JSON object");
        }
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            final String f = it.next();
            if (!FIELDS.contains(f) && !IGNORED.contains(f)) {
                throw ApiException.invalid(f, "unknown field; known fields: " + new java.util.TreeSet<>(FIELDS));
            }
        }
        String name = optText(node, "name");
        if (pathName != null) {
            if (name != null && !name.equals(pathName)) {
                throw ApiException.invalid("name", "'" + name + "' differs from the name in the path '" + pathName
                    + "' (renaming is not supported: create the new name and delete the old)");
            }
            name = pathName;
        }
        if (name == null) {
            throw ApiException.invalid("name", "is required");
        }
        if (!NAME.matcher(name).matches()) {
            throw ApiException.invalid("name", "must match [A-Za-z0-9_.-]{1,64}, was '" + abbreviate(name) + "'");
        }
        final URI url = url(optText(node, "url"));
        final CheckType type = CheckType.ofScheme(url.getScheme());
        if (type != CheckType.HTTP) {
            httpOnly(node);
        }
        final CheckOptions check = CheckOptionsParser.parse(node, type);
        final String methodText = optText(node, "method");
        final String method = methodText == null ? "GET" : methodText.toUpperCase(Locale.ROOT);
        if (!METHODS.contains(method)) {
            throw ApiException.invalid("method", "must be one of " + new java.util.TreeSet<>(METHODS) + ", was '"
                + abbreviate(methodText) + "'");
        }
        final Map<String, String> headers = headers(node.get("headers"));
        final String body = optText(node, "body");
        // A body may span lines; NUL and other control characters cannot be stored.
        ApiText.requireNoControlExceptLineBreaks("body", body);
        if (body != null) {
            if (method.equals("GET") || method.equals("HEAD")) {
                throw ApiException.invalid("body", "is not allowed with method " + method);
            }
            if (body.length() > MAX_BODY) {
                throw ApiException.invalid("body", "must be at most " + MAX_BODY + " characters");
            }
        }
        final Duration interval = duration(node, "interval", DEFAULT_INTERVAL);
        if (interval.compareTo(MIN_INTERVAL) < 0 || interval.compareTo(MAX_INTERVAL) > 0) {
            throw ApiException.invalid("interval", "must be between 1s and 24h, was " + format(interval));
        }
        final Duration defaultTimeout = min(DEFAULT_TIMEOUT, interval.multipliedBy(4).dividedBy(5));
        final Duration timeout = duration(node, "timeout", defaultTimeout);
        if (timeout.compareTo(MIN_TIMEOUT) < 0) {
            throw ApiException.invalid("timeout", "must be at least 100ms, was " + format(timeout));
        }
        if (timeout.compareTo(interval) >= 0) {
            throw ApiException.invalid("timeout", "must be below the interval (" + format(interval) + "), was "
                + format(timeout));
        }
        final StatusRanges expected = expected(node.get("expected_status"));
        final String keyword = optText(node, "keyword");
        ApiText.requireNoControl("keyword", keyword);
        if (keyword != null && (keyword.isEmpty() || keyword.length() > MAX_KEYWORD)) {
            throw ApiException.invalid("keyword", "must be 1.." + MAX_KEYWORD + " characters");
        }
        final boolean invert = bool(node, "keyword_invert", false);
        if (invert && keyword == null) {
            throw ApiException.invalid("keyword_invert", "needs a keyword");
        }
        final java.util.List<String> locations = locations(node.get("locations"));
        final int quorum = quorum(node.get("quorum"), locations);
        final Map<String, String> tags = tags(node.get("tags"));
        if (!locations.isEmpty() && tags.containsKey("location")) {
            throw ApiException.invalid("tags", "key 'location' is reserved for a monitor with locations (its results "
                + "carry the location they were checked from)");
        }
        final String parent = optText(node, "parent");
        if (parent != null && !NAME.matcher(parent).matches()) {
            throw ApiException.invalid("parent", "must be a monitor's name or a service's id ([A-Za-z0-9_.-]{1,64}), "
                + "was '" + abbreviate(parent) + "'");
        }
        if (name.equals(parent)) {
            throw ApiException.invalid("parent", "'" + parent + "' is the monitor itself: a monitor cannot depend on "
                + "itself");
        }
        return new MonitorSpec(name, url, method, headers, body, interval, timeout, expected, keyword, invert,
            bool(node, "follow_redirects", true), bool(node, "tls_verify", true),
            integer(node, "failure_threshold", 3), integer(node, "success_threshold", 1),
            bool(node, "enabled", true), tags, locations, quorum, check, parent);
    }

    /**
     * Refuses the HTTP fields on other types, unless they hold their defaults (a {@code monitors} row carries
     * every column).
     */
    private static void httpOnly(JsonNode node) throws ApiException {
        final String[][] defaults = {{"method", "GET"}, {"expected_status", StatusRanges.DEFAULT.toString()},
            {"keyword_invert", "false"}, {"follow_redirects", "true"}};
        for (String[] d : defaults) {
            final JsonNode n = node.get(d[0]);
            if (n != null && !n.isNull() && !n.asText().equalsIgnoreCase(d[1])) {
                throw ApiException.invalid(d[0], "only applies to http(s) monitors");
            }
        }
        for (String f : new String[] {"body", "keyword"}) {
            final JsonNode n = node.get(f);
            if (n != null && !n.isNull()) {
                throw ApiException.invalid(f, "only applies to http(s) monitors");
            }
        }
        final JsonNode h = node.get("headers");
        if (h != null && !h.isNull() && !(h.isObject() && h.size() == 0)) {
            throw ApiException.invalid("headers", "only apply to http(s) monitors");
        }
    }

    /**
     * Refuses a monitor whose URL host is an IP literal, in any spelling ({@code 2852039166}, {@code 0x7f000001},
     * {@code [::ffff:169.254.169.254]}, ...), that the address policy denies. Applied when a monitor is created or
     * replaced through the API and to {@code --monitors} files; host names are checked when they resolve, at every
     * connect of every check (so are rows written with SQL: their checks fail with the reason).
     *
     * @throws ApiException 400 naming {@code url} and the rule
     */
    public static void checkAddress(MonitorSpec spec, AddressPolicy policy) throws ApiException {
        final AddressPolicy.Denial d = spec.type() == CheckType.HTTP ? policy.checkLiteral(spec.url())
            : policy.checkLiteral(spec.url().getHost());
        if (d != null) {
            throw ApiException.invalid("url", d.reason());
        }
    }

    /** The JSON shape of a spec (the inverse of {@link #parse}). */
    public static ObjectNode toJson(MonitorSpec s) {
        final ObjectNode o = ApiJson.object();
        o.put("name", s.name());
        o.put("url", s.url().toString());
        CheckOptionsParser.write(o, s.check());
        final boolean http = s.type() == CheckType.HTTP;
        if (http) {
            o.put("method", s.method());
            final ObjectNode h = o.putObject("headers");
            s.headers().forEach(h::put);
            if (s.body() != null) {
                o.put("body", s.body());
            }
        }
        o.put("interval", format(s.interval()));
        o.put("timeout", format(s.timeout()));
        if (http) {
            o.put("expected_status", s.expectedStatus().toString());
            if (s.keyword() != null) {
                o.put("keyword", s.keyword());
                o.put("keyword_invert", s.keywordInvert());
            }
            o.put("follow_redirects", s.followRedirects());
        }
        if (http || s.type() == CheckType.TLS) {
            o.put("tls_verify", s.tlsVerify());
        }
        o.put("failure_threshold", s.failureThreshold());
        o.put("success_threshold", s.successThreshold());
        o.put("enabled", s.enabled());
        final ObjectNode t = o.putObject("tags");
        s.tags().forEach(t::put);
        if (s.located()) {
            final com.fasterxml.jackson.databind.node.ArrayNode l = o.putArray("locations");
            s.locations().forEach(l::add);
            o.put("quorum", s.quorum());
        }
        if (s.parent() != null) {
            o.put("parent", s.parent());
        }
        return o;
    }

    /** A monitor's default quorum over {@code n} locations: a majority. */
    public static int majority(int n) {
        return n / 2 + 1;
    }

    /**
     * Validates a location name ({@code --location}, an entry of {@code locations}).
     *
     * @return the error, or null when valid
     */
    public static String locationError(String location) {
        if (location == null || !LOCATION.matcher(location).matches()) {
            return "must match [A-Za-z0-9_.-]{1,32}, was '" + abbreviate(String.valueOf(location)) + "'";
        }
        return null;
    }

    private static java.util.List<String> locations(JsonNode n) throws ApiException {
        if (n == null || n.isNull()) {
            return java.util.List.of();
        }
        if (!n.isArray()) {
            throw ApiException.invalid("locations", "must be an array of location names, e.g. [\"a\", \"b\", \"c\"]");
        }
        if (n.size() > MAX_LOCATIONS) {
            throw ApiException.invalid("locations", "at most " + MAX_LOCATIONS + " locations, was " + n.size());
        }
        final java.util.TreeSet<String> out = new java.util.TreeSet<>();
        for (JsonNode e : n) {
            if (!e.isTextual()) {
                throw ApiException.invalid("locations", "items must be strings (location names)");
            }
            final String error = locationError(e.asText());
            if (error != null) {
                throw ApiException.invalid("locations", "each location " + error);
            }
            if (!out.add(e.asText())) {
                throw ApiException.invalid("locations", "'" + e.asText() + "' is listed twice");
            }
        }
        return java.util.List.copyOf(out);
    }

    private static int quorum(JsonNode n, java.util.List<String> locations) throws ApiException {
        if (n == null || n.isNull()) {
            return locations.isEmpty() ? 0 : majority(locations.size());
        }
        if (locations.isEmpty()) {
            throw ApiException.invalid("quorum", "needs locations (a monitor without locations is checked by any "
                + "one collector)");
        }
        if (!n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() < 1 || n.asInt() > locations.size()) {
            throw ApiException.invalid("quorum", "must be an integer in 1.." + locations.size()
                + " (how many of the monitor's locations must see it down), was " + abbreviate(n.toString()));
        }
        return n.asInt();
    }

    /** {@code 60s}, {@code 1500ms}: what the API prints and accepts. */
    public static String format(Duration d) {
        final long ms = d.toMillis();
        return ms % 1000 == 0 ? ms / 1000 + "s" : ms + "ms";
    }

    private static URI url(String text) throws ApiException {
        if (text == null) {
            throw ApiException.invalid("url", "is required");
        }
        if (text.length() > MAX_URL) {
            throw ApiException.invalid("url", "must be at most " + MAX_URL + " characters");
        }
        ApiText.requireNoControl("url", text);
        final URI u;
        try {
            u = new URI(text);
        } catch (URISyntaxException e) {
            throw ApiException.invalid("url", "is not a valid URL: " + e.getMessage());
        }
        final CheckType type = CheckType.ofScheme(u.getScheme());
        if (type == null) {
            throw ApiException.invalid("url", "must be http://, https://, tcp://, dns://, tls:// or icmp://, was '"
                + abbreviate(text) + "'");
        }
        if (u.getHost() == null || u.getHost().isEmpty()) {
            throw ApiException.invalid("url", "needs a host name, was '" + abbreviate(text) + "'");
        }
        if (type != CheckType.HTTP) {
            if (u.getRawUserInfo() != null || u.getRawQuery() != null || u.getRawFragment() != null
                || (u.getRawPath() != null && !u.getRawPath().isEmpty() && !u.getRawPath().equals("/"))) {
                throw ApiException.invalid("url", "a " + type.apiName() + " monitor's url is " + type.apiName()
                    + "://host" + (type == CheckType.ICMP ? "" : type == CheckType.DNS ? "[:port]" : ":port")
                    + " (no path, query or user), was '" + abbreviate(text) + "'");
            }
            if ((type == CheckType.TCP || type == CheckType.TLS) && u.getPort() < 1) {
                throw ApiException.invalid("url", "needs a port (" + type.apiName() + "://host:port), was '"
                    + abbreviate(text) + "'");
            }
            if (type == CheckType.ICMP && u.getPort() != -1) {
                throw ApiException.invalid("url", "icmp has no port (icmp://host), was '" + abbreviate(text) + "'");
            }
        }
        return u;
    }

    private static Map<String, String> headers(JsonNode n) throws ApiException {
        if (n == null || n.isNull()) {
            return Map.of();
        }
        if (!n.isObject()) {
            throw ApiException.invalid("headers", "must be an object of header name to value");
        }
        if (n.size() > MAX_HEADERS) {
            throw ApiException.invalid("headers", "at most " + MAX_HEADERS + " headers");
        }
        final Map<String, String> out = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
            final Map.Entry<String, JsonNode> e = it.next();
            if (!HEADER_NAME.matcher(e.getKey()).matches()) {
                throw ApiException.invalid("headers", "'" + abbreviate(e.getKey()) + "' is not a valid header name");
            }
            if (!e.getValue().isTextual()) {
                throw ApiException.invalid("headers", "value of '" + e.getKey() + "' must be a string");
            }
            final String v = e.getValue().asText();
            final int control = ApiText.firstControl(v);
            if (control >= 0 && v.charAt(control) != '\t' && v.charAt(control) != '\r' && v.charAt(control) != '\n') {
                throw ApiException.invalid("headers", "value of '" + e.getKey() + "' must not contain control "
                    + "characters (found " + ApiText.describe(v.charAt(control)) + ")");
            }
            if (v.length() > 8192 || v.chars().anyMatch(c -> c == '\r' || c == '\n' || c == 0)) {
                throw ApiException.invalid("headers", "value of '" + e.getKey()
                    + "' must be at most 8192 characters without line breaks");
            }
            out.put(e.getKey(), v);
        }
        return Collections.unmodifiableMap(out);
    }

    private static Map<String, String> tags(JsonNode n) throws ApiException {
        if (n == null || n.isNull()) {
            return Map.of();
        }
        if (!n.isObject()) {
            throw ApiException.invalid("tags", "must be an object of tag key to value");
        }
        if (n.size() > MAX_TAGS) {
            throw ApiException.invalid("tags", "at most " + MAX_TAGS + " tags");
        }
        final Map<String, String> out = new TreeMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
            final Map.Entry<String, JsonNode> e = it.next();
            if (!NAME.matcher(e.getKey()).matches()) {
                throw ApiException.invalid("tags", "key '" + abbreviate(e.getKey())
                    + "' must match [A-Za-z0-9_.-]{1,64}");
            }
            if (e.getKey().equals("monitor")) {
                throw ApiException.invalid("tags", "key 'monitor' is reserved (it carries the monitor's name)");
            }
            if (!e.getValue().isTextual() || e.getValue().asText().isEmpty() || e.getValue().asText().length() > 256) {
                throw ApiException.invalid("tags", "value of '" + e.getKey() + "' must be a string of 1..256 characters");
            }
            if (ApiText.firstControl(e.getValue().asText()) >= 0) {
                throw ApiException.invalid("tags", "value of '" + e.getKey() + "' must not contain control characters"
                    + " (found " + ApiText.describe(e.getValue().asText().charAt(ApiText.firstControl(
                    e.getValue().asText()))) + ")");
            }
            out.put(e.getKey(), e.getValue().asText());
        }
        return Collections.unmodifiableMap(out);
    }

    private static StatusRanges expected(JsonNode n) throws ApiException {
        if (n == null || n.isNull()) {
            return StatusRanges.DEFAULT;
        }
        final String text;
        if (n.isArray()) {
            final StringBuilder sb = new StringBuilder();
            for (JsonNode e : n) {
                if (!e.isTextual() && !e.isInt()) {
                    throw ApiException.invalid("expected_status", "array items must be codes or ranges");
                }
                sb.append(sb.length() == 0 ? "" : ",").append(e.asText());
            }
            text = sb.toString();
        } else if (n.isTextual() || n.isInt()) {
            text = n.asText();
        } else {
            throw ApiException.invalid("expected_status", "must be a string such as \"200-299,301\" or an array");
        }
        try {
            return StatusRanges.parse(text);
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid("expected_status", e.getMessage());
        }
    }

    private static Duration duration(JsonNode node, String field, Duration dflt) throws ApiException {
        final JsonNode n = node.get(field);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (n.isNumber()) {
            final double seconds = n.asDouble();
            if (!(seconds >= 0 && seconds <= 86_400 * 365)) {
                throw ApiException.invalid(field, "must be a duration such as \"30s\" or a number of seconds");
            }
            return Duration.ofMillis(Math.round(seconds * 1000));
        }
        if (!n.isTextual()) {
            throw ApiException.invalid(field, "must be a duration such as \"30s\" or a number of seconds");
        }
        try {
            return Units.parseDuration(n.asText());
        } catch (IllegalArgumentException | ArithmeticException e) {
            throw ApiException.invalid(field, e.getMessage());
        }
    }

    private static boolean bool(JsonNode node, String field, boolean dflt) throws ApiException {
        final JsonNode n = node.get(field);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (!n.isBoolean()) {
            throw ApiException.invalid(field, "must be true or false");
        }
        return n.asBoolean();
    }

    private static int integer(JsonNode node, String field, int dflt) throws ApiException {
        final JsonNode n = node.get(field);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (!n.canConvertToInt() || !n.isIntegralNumber() || n.asInt() < 1 || n.asInt() > 100) {
            throw ApiException.invalid(field, "must be an integer in 1..100");
        }
        return n.asInt();
    }

    private static String optText(JsonNode node, String field) throws ApiException {
        final JsonNode n = node.get(field);
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isTextual()) {
            throw ApiException.invalid(field, "must be a string");
        }
        return n.asText();
    }

    private static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }

    private static String abbreviate(String s) {
        return s == null ? "null" : s.length() <= 80 ? s : s.substring(0, 77) + "...";
    }
}
