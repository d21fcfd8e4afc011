package dev.spillway.alerting;

import dev.spillway.uptime.transitions.Notification;
import com.fasterxml.jackson.databind.JsonNode;
import dev.spillway.runtime.api.ApiException;
import dev.spillway.runtime.api.ApiJson;
import dev.spillway.runtime.api.ApiText;
import dev.spillway.runtime.api.ApiRequest;
import dev.spillway.runtime.api.ApiResponse;
import dev.spillway.runtime.api.ApiRouter;

import javax.sql.DataSource;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code /api/v1/channels} (list, read, put, delete notification channels; putting re-enables a disabled one)
 * and {@code /api/v1/notifications?state=pending|sent|failed&limit=N} (the outbox, newest first). Webhook URLs
 * are shown masked: they are credentials.
 */
public final class NotifyApi {

    private static final Set<String> STATES = Set.of(OutboxEntry.PENDING, OutboxEntry.SENT, OutboxEntry.FAILED,
        OutboxEntry.GROUPED);

    /** What a PUT body may set. */
    private static final Set<String> FIELDS = fields();

    private static Set<String> fields() {
        final java.util.Set<String> f = new java.util.HashSet<>(Set.of("kind", "url", "group_window",
            "repeat_interval", "routes"));
        f.addAll(ChannelOptions.ALL);
        return Set.copyOf(f);
    }
    /** What a GET answer holds besides: accepted and ignored, so a GET body can be sent back. */
    private static final Set<String> READ_ONLY = Set.of("id", "enabled", "disabled_reason", "disabled_at");
    // group_window is settable: not read-only

    private final DataSource dataSource;
    private final ChannelStore channels;
    private final Runnable channelsChanged;

    private final java.time.Clock clock;

    /** @param channelsChanged called after a channel was put (wakes the relay for queued rows) */
    public NotifyApi(DataSource dataSource, Runnable channelsChanged) {
        this(dataSource, channelsChanged, java.time.Clock.systemUTC());
    }

    /**
     * @param channelsChanged called after a channel was put (wakes the relay for queued rows)
     * @param clock the time an acknowledgement is recorded with
     */
    public NotifyApi(DataSource dataSource, Runnable channelsChanged, java.time.Clock clock) {
        this.dataSource = dataSource;
        this.channels = new ChannelStore(dataSource);
        this.channelsChanged = channelsChanged;
        this.clock = clock;
    }

    /** Adds the routes. */
    public void register(ApiRouter router) {
        router.route("GET", "/api/v1/channels", req -> {
            final List<Map<String, Object>> out = new ArrayList<>();
            for (Channel c : channels.list()) {
                out.add(view(c, channels.routes(c.id())));
            }
            return ApiResponse.ok(out);
        });
        router.route("GET", "/api/v1/channels/{id}", req -> ApiResponse.ok(view(channels.get(req.param("id"))
            .orElseThrow(() -> ApiException.notFound("no channel '" + req.param("id") + "'")),
            channels.routes(req.param("id")))));
        router.route("PUT", "/api/v1/channels/{id}", this::put);
        router.route("DELETE", "/api/v1/channels/{id}", req -> {
            try {
                if (!channels.delete(req.param("id"))) {
                    throw ApiException.notFound("no channel '" + req.param("id") + "'");
                }
            } catch (IllegalArgumentException e) {
                throw ApiException.badRequest(e.getMessage());
            }
            return ApiResponse.noContent();
        });
        router.route("GET", "/api/v1/notifications", this::notifications);
        router.route("POST", "/api/v1/monitors/{name}/ack", req -> ack("monitor", req.param("name")));
        router.route("POST", "/api/v1/services/{id}/ack", req -> ack("service", req.param("id")));
    }

    /** Stops reminders for the subject's current incident; the next incident reminds again. */
    private ApiResponse ack(String kind, String subject) throws Exception {
        final java.time.Instant now = clock.instant();
        return switch (Reminders.acknowledge(dataSource, kind, subject, now)) {
            case UNKNOWN -> throw ApiException.notFound("no " + kind + " '" + subject + "'");
            case NOT_DOWN -> throw ApiException.conflict(kind + " '" + subject + "' is not "
                + ("monitor".equals(kind) ? "down" : "unavailable") + ": nothing to acknowledge");
            case ACKNOWLEDGED -> ApiResponse.ok(Map.of(kind, subject, "acknowledged", true));
        };
    }

    private ApiResponse put(ApiRequest req) throws Exception {
        final ChannelDefinition d = parse(req.param("id"), req.json(), channels);
        final Channel stored = apply(channels, d);
        channelsChanged.run();
        return ApiResponse.ok(view(stored, d.routes()));
    }

    /**
     * A channel from its {@code PUT /api/v1/channels/{id}} body, with the API's rules and messages.
     *
     * @param existing where a secret given as {@value Channel#MASK} is kept from, or null (then the mask is refused)
     * @throws ApiException 400 naming the field
     */
    static ChannelDefinition parse(String id, JsonNode body, ChannelStore existing) throws Exception {
        if (!body.isObject()) {
            throw ApiException.badRequest("body must be a JSON object such as {\"kind\":\"slack\",\"url\":\"https://...\"}");
        }
        ApiJson.requireKnownFields(body, FIELDS, READ_ONLY);
        final JsonNode idNode = body.get("id");
        if (idNode != null && !idNode.isNull() && !(idNode.isTextual() && idNode.asText().equals(id))) {
            throw ApiException.invalid("id", "differs from the id in the path '" + id + "'");
        }
        final JsonNode kindNode = body.get("kind");
        if (kindNode != null && !kindNode.isNull() && !kindNode.isTextual()) {
            throw ApiException.invalid("kind", "must be a string: slack, webhook, discord, teams, telegram, pagerduty, "
                + "ntfy or email");
        }
        final ChannelKind kind;
        try {
            kind = ChannelKind.parse(kindNode == null ? null : kindNode.asText());
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid("kind", e.getMessage());
        }
        final JsonNode url = body.get("url");
        if (url != null && !url.isNull()) {
            if (!url.isTextual()) {
                throw ApiException.invalid("url", "must be a string, the webhook's http(s) URL");
            }
            ApiText.requireNoControl("url", url.asText());
        }
        // Every kind groups by default (PagerDuty too: a digest's failures are one incident, see PagerDutyGroups).
        java.time.Duration window = Channel.DEFAULT_GROUP_WINDOW;
        final Map<String, String> options = options(id, kind, body, existing);
        final JsonNode gw = body.get("group_window");
        if (gw != null && !gw.isNull()) {
            try {
                window = dev.spillway.runtime.config.Units.parseDuration(gw.asText());
            } catch (IllegalArgumentException e) {
                throw ApiException.invalid("group_window", "must be a duration such as 30s or 0s, was '"
                    + gw.asText() + "'");
            }
            if (!gw.isTextual() || window.isNegative() || window.compareTo(Channel.MAX_GROUP_WINDOW) > 0) {
                throw ApiException.invalid("group_window", "must be a duration string 0s..1h, was " + gw);
            }
        }
        java.time.Duration repeat = java.time.Duration.ZERO;
        final JsonNode ri = body.get("repeat_interval");
        if (ri != null && !ri.isNull()) {
            if (!ri.isTextual()) {
                throw ApiException.invalid("repeat_interval", "must be a duration string such as 4h, or 0s (off), was "
                    + ri);
            }
            try {
                repeat = dev.spillway.runtime.config.Units.parseDuration(ri.asText());
                ChannelStore.validateRepeatInterval(repeat);
            } catch (IllegalArgumentException e) {
                throw ApiException.invalid("repeat_interval", "must be 0s (off) or a duration 1m..7d such as 4h, was '"
                    + ri.asText() + "'");
            }
        }
        final List<ChannelStore.Route> routes = new ArrayList<>();
        final JsonNode rn = body.get("routes");
        if (rn != null && !rn.isNull()) {
            if (!rn.isArray() || rn.size() > 1000) {
                throw ApiException.invalid("routes", "must be a list of {\"scope\":\"monitor|service|tag\","
                    + "\"target\":\"...\"} (at most 1000)");
            }
            for (JsonNode r : rn) {
                if (!r.isObject() || !r.path("scope").isTextual() || !r.path("target").isTextual() || r.size() != 2) {
                    throw ApiException.invalid("routes", "each route is {\"scope\":\"monitor|service|tag\","
                        + "\"target\":\"...\"}, was " + r);
                }
                try {
                    routes.add(new ChannelStore.Route(r.get("scope").asText(), r.get("target").asText()));
                } catch (IllegalArgumentException e) {
                    throw ApiException.invalid("routes", e.getMessage());
                }
            }
        }
        final ChannelDefinition d = new ChannelDefinition(id, kind, url == null || url.isNull() ? null : url.asText(),
            window, repeat, options, routes);
        try {
            ChannelStore.validate(id, kind, d.url(), options);
        } catch (IllegalArgumentException e) {
            throw invalid(e);
        }
        return d;
    }

    /** Stores the channel (creating, replacing or re-enabling it) and its routes. */
    static Channel apply(ChannelStore channels, ChannelDefinition d) throws Exception {
        final Channel stored;
        try {
            stored = channels.put(d.id(), d.kind(), d.url(), d.groupWindow(), d.repeatInterval(), d.options());
        } catch (IllegalArgumentException e) {
            throw invalid(e);
        }
        try {
            channels.setRoutes(stored.id(), d.routes());
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid("routes", e.getMessage());
        }
        return stored;
    }

    /** A validation message of the store as a 400 naming its field. */
    private static ApiException invalid(IllegalArgumentException e) {
        final String m = e.getMessage();
        final String first = m.split("[ :]", 2)[0];
        final String field = m.startsWith("id") ? "id" : m.startsWith("kind") ? "kind"
            : m.startsWith("group_window") ? "group_window" : FIELDS.contains(first) ? first : "url";
        return ApiException.invalid(field, m);
    }

    /**
     * Validates the channels a {@code --monitors} file declares, with the API's rules and messages. A string value
     * written as {@code ${NAME}} is taken from the environment variable {@code NAME}, so secrets (webhook URLs,
     * routing keys, passwords) need not be in the file; {@value Channel#MASK} is refused (there is nothing stored to
     * keep at a first start).
     *
     * @param env the environment, {@code System.getenv()} outside tests
     * @throws dev.spillway.runtime.config.ConfigException
     *     {@code "<file>: channels entry 1 ('ops'): url: ..."}, naming an unset variable without its value
     */
    public static List<ChannelDefinition> declared(List<dev.spillway.uptime.monitor.MonitorFile.DeclaredChannel> channels,
                                                   Map<String, String> env) {
        final List<ChannelDefinition> out = new ArrayList<>();
        for (dev.spillway.uptime.monitor.MonitorFile.DeclaredChannel d : channels) {
            try {
                final com.fasterxml.jackson.databind.node.ObjectNode body =
                    ((com.fasterxml.jackson.databind.node.ObjectNode) d.body()).deepCopy();
                for (java.util.Iterator<Map.Entry<String, JsonNode>> it = body.fields(); it.hasNext(); ) {
                    final Map.Entry<String, JsonNode> f = it.next();
                    final String v = f.getValue().isTextual() ? f.getValue().asText() : null;
                    if (v != null && v.startsWith("${") && v.endsWith("}") && v.length() > 3) {
                        final String name = v.substring(2, v.length() - 1);
                        final String value = env.get(name);
                        if (value == null || value.isEmpty()) {
                            throw ApiException.invalid(f.getKey(), "environment variable " + name + " is not set");
                        }
                        f.setValue(com.fasterxml.jackson.databind.node.TextNode.valueOf(value));
                    }
                }
                out.add(parse(d.id(), body, null));
            } catch (ApiException e) {
                throw new dev.spillway.runtime.config.ConfigException(d.where() + ": " + e.getMessage());
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
        return out;
    }

    /**
     * The kind's options from a PUT body: strings (a {@code port} may be a number, {@code to} a list of addresses
     * or one comma-separated string); a secret given as {@value Channel#MASK} (as a GET shows it) keeps the stored
     * one.
     */
    private static Map<String, String> options(String id, ChannelKind kind, JsonNode body, ChannelStore channels)
        throws Exception {
        final Map<String, String> out = new java.util.TreeMap<>();
        Channel existing = null;
        for (String key : ChannelOptions.ALL) {
            final JsonNode v = body.get(key);
            if (v == null || v.isNull()) {
                continue;
            }
            final String text;
            if ("to".equals(key) && v.isArray()) {
                final List<String> to = new ArrayList<>();
                for (JsonNode a : v) {
                    if (!a.isTextual() || a.asText().contains(",")) {
                        throw ApiException.invalid("to", "must be a list of addresses such as [\"ops@example.org\"]");
                    }
                    to.add(a.asText().trim());
                }
                text = String.join(",", to);
            } else if ("port".equals(key) && v.isIntegralNumber()) {
                text = v.asText();
            } else if (v.isTextual()) {
                text = v.asText();
            } else {
                throw ApiException.invalid(key, "must be a string" + ("to".equals(key) ? " or a list of addresses"
                    : "port".equals(key) ? " or a number" : ""));
            }
            if (!"ca_cert".equals(key)) {
                ApiText.requireNoControl(key, text);
            }
            if (Channel.SECRET_OPTIONS.contains(key) && Channel.MASK.equals(text)) {
                existing = existing != null ? existing : channels == null ? null : channels.get(id).orElse(null);
                if (existing == null || existing.kind() != kind || existing.option(key) == null) {
                    throw ApiException.invalid(key, "'" + Channel.MASK + "' keeps the stored secret, but this " + kind.id()
                        + " channel has none stored; give the value");
                }
                out.put(key, existing.option(key));
            } else {
                out.put(key, text);
            }
        }
        return out;
    }

    private ApiResponse notifications(ApiRequest req) throws Exception {
        final String state = req.queryParam("state");
        if (state != null && !STATES.contains(state)) {
            throw ApiException.invalid("state", "must be pending, sent, failed or grouped, was '" + state + "'");
        }
        final String rawLimit = req.queryParam("limit");
        int limit = 100;
        if (rawLimit != null) {
            try {
                limit = Integer.parseInt(rawLimit);
            } catch (NumberFormatException e) {
                limit = -1;
            }
            if (limit < 1 || limit > 1000) {
                throw ApiException.invalid("limit", "must be 1..1000, was '" + rawLimit + "'");
            }
        }
        final List<Map<String, Object>> out = new ArrayList<>();
        try (Connection c = dataSource.getConnection()) {
            for (OutboxEntry e : Outbox.list(c, state, limit)) {
                out.add(view(e));
            }
        }
        return ApiResponse.ok(out);
    }

    private static Map<String, Object> view(Channel c, List<ChannelStore.Route> routes) {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", c.id());
        m.put("kind", c.kind().id());
        m.put("url", c.maskedUrl());
        m.put("enabled", c.enabled());
        m.put("disabled_reason", c.disabledReason());
        m.put("disabled_at", c.disabledAt() == null ? null : c.disabledAt().toString());
        m.put("group_window", dev.spillway.runtime.config.Units.formatDuration(c.groupWindow()));
        m.put("repeat_interval", dev.spillway.runtime.config.Units.formatDuration(c.repeatInterval()));
        // The kind's options, secrets as "***" (a PUT with "***" keeps them).
        for (Map.Entry<String, String> o : c.maskedOptions().entrySet()) {
            if ("to".equals(o.getKey())) {
                m.put("to", ChannelOptions.recipients(o.getValue()));
            } else if ("port".equals(o.getKey())) {
                m.put("port", ChannelOptions.port(o.getValue()));
            } else {
                m.put(o.getKey(), o.getValue());
            }
        }
        final List<Map<String, String>> rs = new ArrayList<>();
        for (ChannelStore.Route r : routes) {
            rs.add(Map.of("scope", r.scope(), "target", r.target()));
        }
        m.put("routes", rs);
        return m;
    }

    private static Map<String, Object> view(OutboxEntry e) {
        final Notification n = e.notification();
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", e.id());
        m.put("channel", e.channelId());
        m.put("state", e.state());
        m.put("type", n.type());
        m.put("subject", Map.of("kind", n.subjectKind(), "id", n.subject()));
        m.put("old_state", n.oldState());
        m.put("new_state", n.newState());
        m.put("time", n.occurredAt().toString());
        m.put("text", Messages.sentence(n));
        m.put("details", n.details());
        m.put("created_at", e.createdAt().toString());
        m.put("attempts", e.attempts());
        m.put("next_attempt_at", OutboxEntry.PENDING.equals(e.state()) ? e.nextAttemptAt().toString() : null);
        m.put("sent_at", e.sentAt() == null ? null : e.sentAt().toString());
        m.put("last_status", e.lastStatus());
        m.put("last_error", e.lastError());
        m.put("digest_id", e.digestId());
        return m;
    }
}
