package dev.spillway.uptime.monitor;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.time.Instant;

/**
 * A monitor as the API shows it: its definition plus a {@code status} object.
 *
 * @param spec the definition
 * @param state the state
 * @param lastCheckAt start of the last check, or null
 * @param lastError the last check's failure reason, or null
 * @param last the last result seen by this collector, or null
 * @param locations with locations: each listed location's own state (the state above is their quorum's)
 */
public record MonitorView(MonitorSpec spec, MonitorState state, Instant lastCheckAt, String lastError,
                          CheckResult last, java.util.List<MonitorLocation> locations) {

    /** A monitor without locations. */
    public MonitorView(MonitorSpec spec, MonitorState state, Instant lastCheckAt, String lastError, CheckResult last) {
        this(spec, state, lastCheckAt, lastError, last, java.util.List.of());
    }

    /** What a masked secret reads as in an answer; sent back unchanged in a PUT, it keeps the stored value. */
    public static final String MASK = dev.spillway.runtime.api.UrlSecrets.MASK;

    private static final java.util.Set<String> SECRET_HEADERS = java.util.Set.of("authorization",
        "proxy-authorization", "cookie");
    private static final String[] SECRET_WORDS = {"token", "secret", "password", "passwd", "key", "auth", "session",
        "signature", "credential"};

    /**
     * The JSON shape: the spec's fields and {@code status}. Secrets are masked: the values of headers that carry
     * credentials ({@code Authorization}, {@code Cookie}, and any name with token, secret, password, key, auth,
     * session, signature or credential in it), the password of a URL's {@code user:password@} and the values of its
     * query parameters with secret names ({@code ?token=***}, see {@link #maskUrl}).
     */
    public ObjectNode toJson() {
        final ObjectNode o = MonitorValidator.toJson(spec);
        o.put("url", maskUrl(spec.url()));
        final ObjectNode headers = (ObjectNode) o.get("headers");
        spec.headers().keySet().forEach(h -> {
            if (secretHeader(h)) {
                headers.put(h, MASK);
            }
        });
        final ObjectNode s = o.putObject("status");
        s.put("state", state.state().name());
        s.put("confirmed_state", state.confirmed() == null ? null : state.confirmed().name());
        s.put("since", state.since().toString());
        s.put("consecutive_failures", state.failures());
        s.put("consecutive_successes", state.successes());
        s.put("first_failure_at", state.firstFailureAt() == null ? null : state.firstFailureAt().toString());
        s.put("last_check_at", lastCheckAt == null ? null : lastCheckAt.toString());
        s.put("last_error", lastError);
        if (last != null) {
            s.put("last_status_code", last.statusCode() < 0 ? null : last.statusCode());
            s.put("last_duration_ms", Math.round(last.durationMs() * 1000) / 1000.0);
        }
        if (spec.located()) {
            s.put("quorum", spec.quorum());
            final com.fasterxml.jackson.databind.node.ArrayNode at = s.putArray("locations");
            for (MonitorLocation l : locations) {
                final ObjectNode e = at.addObject();
                e.put("location", l.location());
                e.put("state", l.state() == null ? null : l.state().state().name());
                e.put("confirmed_state", l.state() == null || l.state().confirmed() == null ? null
                    : l.state().confirmed().name());
                e.put("since", l.state() == null ? null : l.state().since().toString());
                e.put("consecutive_failures", l.state() == null ? 0 : l.state().failures());
                e.put("last_check_at", l.lastCheckAt() == null ? null : l.lastCheckAt().toString());
                e.put("last_error", l.lastError());
                e.put("collector", l.collector());
                e.put("counts", l.counts());
            }
        }
        return o;
    }

    /** Whether a header's value is a credential, masked in answers. */
    public static boolean secretHeader(String name) {
        final String n = name.toLowerCase(java.util.Locale.ROOT);
        if (SECRET_HEADERS.contains(n)) {
            return true;
        }
        for (String w : SECRET_WORDS) {
            if (n.contains(w)) {
                return true;
            }
        }
        return false;
    }

    /**
     * The URL as text with its secrets masked ({@link dev.spillway.runtime.api.UrlSecrets}): the password of its user
     * information ({@code http://u:***@host/}) and the values of query parameters with secret names
     * ({@code ?token=***}).
     */
    public static String maskUrl(java.net.URI url) {
        return dev.spillway.runtime.api.UrlSecrets.mask(url);
    }
}
