package dev.spillway.uptime.transitions;

import java.time.Instant;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * One state change worth telling people about: what changed ({@code type}), about what ({@code subjectKind} and
 * {@code subject}), from which state to which, and when it happened (which may be earlier than when it was
 * detected: a heartbeat deadline that passed while the collector was down is dated at the deadline).
 *
 * @param type event type, e.g. {@code service.unavailable} or {@code monitor.down}
 * @param subjectKind {@code service} or {@code monitor}
 * @param subject the service id or monitor name
 * @param oldState the state before, e.g. {@code available}
 * @param newState the state after, e.g. {@code unavailable}
 * @param occurredAt when the change happened
 * @param details extra facts for the message (sorted by key), e.g. {@code status}, {@code last_ping}
 */
public record Notification(String type, String subjectKind, String subject, String oldState, String newState,
                           Instant occurredAt, Map<String, String> details) {

    /** Copies {@code details} into an immutable sorted map. */
    public Notification {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(subjectKind, "subjectKind");
        Objects.requireNonNull(subject, "subject");
        Objects.requireNonNull(newState, "newState");
        Objects.requireNonNull(occurredAt, "occurredAt");
        details = details == null ? Map.of() : java.util.Collections.unmodifiableMap(new TreeMap<>(details));
    }

    /**
     * Whether this is a first state that is recorded but not announced: nothing was known before
     * ({@code oldState} null), the new state is not a failure and its status (if any, detail
     * {@code status_index}) is the normal one. Creating 1,000 monitors must not queue 1,000
     * "is up" messages ahead of a real outage; a first state of DOWN or unavailable is still announced.
     */
    public boolean isQuietFirstState() {
        return oldState == null && !"down".equalsIgnoreCase(newState) && !"unavailable".equalsIgnoreCase(newState)
            && "0".equals(details.getOrDefault("status_index", "0"));
    }
}
