package dev.spillway.alerting;

import com.fasterxml.jackson.databind.JsonNode;
import dev.spillway.runtime.api.ApiException;
import dev.spillway.runtime.api.ApiJson;
import dev.spillway.runtime.api.ApiRequest;
import dev.spillway.runtime.api.ApiResponse;
import dev.spillway.runtime.api.ApiRouter;
import dev.spillway.runtime.config.Units;

import java.time.Clock;
import java.time.DateTimeException;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code /api/v1/maintenance}: list, read, put and delete maintenance windows, and
 * {@code /api/v1/maintenance-held}: the notifications windows held. A snooze is a one-off window given as
 * {@code {"scope":"monitor","target":"web","for":"2h"}} (from now).
 */
public final class MaintenanceApi {

    private static final Set<String> FIELDS = Set.of("scope", "target", "starts_at", "ends_at", "for", "cron",
        "duration", "zone", "reason");
    private static final Set<String> READ_ONLY = Set.of("id", "open", "open_until");

    private final Maintenance store;
    private final Clock clock;

    public MaintenanceApi(Maintenance store, Clock clock) {
        this.store = store;
        this.clock = clock;
    }

    /** Adds the routes. */
    public void register(ApiRouter router) {
        router.route("GET", "/api/v1/maintenance", req -> {
            final Instant now = clock.instant();
            final List<Map<String, Object>> out = new ArrayList<>();
            for (MaintenanceWindow w : store.list()) {
                out.add(view(w, now));
            }
            return ApiResponse.ok(out);
        });
        router.route("GET", "/api/v1/maintenance/{id}", req -> ApiResponse.ok(view(store.get(req.param("id"))
            .orElseThrow(() -> ApiException.notFound("no maintenance window '" + req.param("id") + "'")),
            clock.instant())));
        router.route("PUT", "/api/v1/maintenance/{id}", this::put);
        router.route("DELETE", "/api/v1/maintenance/{id}", req -> {
            if (!store.delete(req.param("id"))) {
                throw ApiException.notFound("no maintenance window '" + req.param("id") + "'");
            }
            return ApiResponse.noContent();
        });
        router.route("GET", "/api/v1/maintenance-held", req -> {
            final List<Map<String, Object>> out = new ArrayList<>();
            for (Maintenance.Held h : store.held(100)) {
                final Map<String, Object> m = new LinkedHashMap<>();
                m.put("id", h.id());
                final boolean byParent = h.windowId().startsWith("parent:");
                m.put("window", byParent ? null : h.windowId());
                m.put("parent", byParent ? h.windowId().substring("parent:".length()) : null);
                m.put("type", h.notification().type());
                m.put("subject", Map.of("kind", h.notification().subjectKind(), "id", h.notification().subject()));
                m.put("new_state", h.notification().newState());
                m.put("time", h.notification().occurredAt().toString());
                m.put("text", Messages.sentence(h.notification()));
                m.put("held_at", h.heldAt().toString());
                out.add(m);
            }
            return ApiResponse.ok(out);
        });
    }

    private ApiResponse put(ApiRequest req) throws Exception {
        final Instant now = clock.instant();
        final MaintenanceWindow w = parse(req.param("id"), req.json(), now);
        store.put(w);
        return ApiResponse.ok(view(w, now));
    }

    /**
     * A window from its JSON shape, with the API's rules and messages (also for windows declared in the
     * {@code --monitors} file).
     *
     * @param id the window's id (from the path, or the file entry's {@code id})
     * @param now when a snooze ({@code for}) without {@code starts_at} begins
     * @throws ApiException 400 naming the field
     */
    static MaintenanceWindow parse(String id, JsonNode body, Instant now) throws ApiException {
        if (body == null || !body.isObject()) {
            throw ApiException.badRequest("body must be a JSON object such as {\"scope\":\"monitor\",\"target\":"
                + "\"web\",\"for\":\"2h\"}");
        }
        ApiJson.requireKnownFields(body, FIELDS, READ_ONLY);
        Instant startsAt = instant(body, "starts_at");
        Instant endsAt = instant(body, "ends_at");
        final Duration forDuration = duration(body, "for");
        if (forDuration != null) {
            if (endsAt != null || text(body, "cron") != null) {
                throw ApiException.invalid("for", "a snooze ('for') takes no ends_at and no cron");
            }
            if (forDuration.isZero() || forDuration.isNegative()) {
                throw ApiException.invalid("for", "must be positive, e.g. 2h");
            }
            startsAt = startsAt == null ? now : startsAt;
            endsAt = startsAt.plus(forDuration);
        }
        final String zoneText = text(body, "zone");
        final ZoneId zone;
        try {
            zone = zoneText == null ? null : ZoneId.of(zoneText);
        } catch (DateTimeException e) {
            throw ApiException.invalid("zone", "is not a time zone such as Europe/Berlin or UTC: '" + zoneText + "'");
        }
        try {
            return new MaintenanceWindow(id, text(body, "scope"), text(body, "target"), startsAt, endsAt,
                text(body, "cron"), duration(body, "duration"), zone, text(body, "reason"));
        } catch (IllegalArgumentException e) {
            final String m = e.getMessage();
            throw ApiException.invalid(m.substring(0, Math.max(0, m.indexOf(' '))), m);
        }
    }

    private static String text(JsonNode body, String field) throws ApiException {
        final JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isTextual()) {
            throw ApiException.invalid(field, "must be a string");
        }
        return v.asText();
    }

    private static Instant instant(JsonNode body, String field) throws ApiException {
        final String t = text(body, field);
        try {
            return t == null ? null : Instant.parse(t);
        } catch (DateTimeException e) {
            throw ApiException.invalid(field, "must be an RFC 3339 UTC time such as 2026-01-01T02:00:00Z, was '"
                + t + "'");
        }
    }

    private static Duration duration(JsonNode body, String field) throws ApiException {
        final String t = text(body, field);
        try {
            return t == null ? null : Units.parseDuration(t);
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid(field, "must be a duration such as 30m or 2h, was '" + t + "'");
        }
    }

    private static Map<String, Object> view(MaintenanceWindow w, Instant now) {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", w.id());
        m.put("scope", w.scope());
        m.put("target", w.target());
        m.put("starts_at", w.startsAt() == null ? null : w.startsAt().toString());
        m.put("ends_at", w.endsAt() == null ? null : w.endsAt().toString());
        m.put("cron", w.cron());
        m.put("duration", w.duration() == null ? null : Units.formatDuration(w.duration()));
        m.put("zone", w.zone() == null ? null : w.zone().getId());
        m.put("reason", w.reason());
        final Instant until = w.endOfOpening(now);
        m.put("open", until != null);
        m.put("open_until", until == null ? null : until.toString());
        return m;
    }
}
