package dev.spillway.uptime.transitions;

import java.time.Instant;

/**
 * A confirmed state change of something watched: a probe monitor going DOWN or coming back UP, or its first
 * result; a heartbeat service going missing or coming back. PENDING and PAUSED are not confirmed states and never
 * appear here.
 *
 * @param id the {@code monitor_transitions.id}; 0 until {@link StateTransitions#record recorded}
 * @param kind what is watched: {@link #KIND_HTTP} for probe monitors, {@link #KIND_HEARTBEAT} for heartbeats
 * @param subject the monitor's (or service's) name
 * @param fromState the previous confirmed state, or null for the first result
 * @param toState the new confirmed state, e.g. {@code UP} or {@code DOWN}
 * @param startedAt when the new state began: for DOWN the first failing check (not the confirming one), for UP
 *     the check that confirmed it
 * @param reason why, for people (e.g. {@code "connect: Connection refused"}); may be null
 */
public record Transition(long id, String kind, String subject, String fromState, String toState, Instant startedAt,
                         String reason) {

    /** Kind of HTTP probe monitors. */
    public static final String KIND_HTTP = "http";
    /** Kind of heartbeat (push) monitors. */
    public static final String KIND_HEARTBEAT = "heartbeat";

    /** A transition not yet recorded. */
    public static Transition of(String kind, String subject, String fromState, String toState, Instant startedAt,
                                String reason) {
        return new Transition(0, kind, subject, fromState, toState, startedAt, reason);
    }

    /** The same transition with its database id. */
    public Transition withId(long newId) {
        return new Transition(newId, kind, subject, fromState, toState, startedAt, reason);
    }
}
