package dev.spillway.uptime.heartbeat;

import java.time.Instant;

/**
 * A service with its current state, as stored.
 *
 * @param spec the registration
 * @param state {@code new} (never pinged: silently unavailable), {@code up} (available) or {@code down}
 * @param status the last reported status index
 * @param lastPing the newest ping the database knows (pings are persisted in batches, about once a second), or null
 * @param alertAfter {@code lastPing + timeout + grace}, or null before the first ping
 */
public record ServiceState(ServiceSpec spec, String state, int status, Instant lastPing, Instant alertAfter) {

    /** Registered, never pinged. */
    public static final String NEW = "new";
    /** Available. */
    public static final String UP = "up";
    /** Unavailable after a missed deadline. */
    public static final String DOWN = "down";

    /** {@code available} or {@code unavailable}, as announced. */
    public String availability() {
        return UP.equals(state) ? "available" : "unavailable";
    }
}
