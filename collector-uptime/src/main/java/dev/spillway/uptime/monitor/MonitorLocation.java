package dev.spillway.uptime.monitor;

import java.time.Instant;

/**
 * The state of a monitor as seen from one of its locations (a row of {@code monitor_location_state}), for the API.
 *
 * @param location the location's name
 * @param state that location's own state machine (thresholds as the monitor's), or null before its first check
 * @param lastCheckAt the start of its latest check, or null before the first
 * @param lastError its latest check's failure reason, or null
 * @param collector the collector that recorded its latest check, or null
 * @param counts whether it counts for the quorum now: it has a confirmed state and its latest check is not
 *     stale ({@link Quorum#staleAfter})
 */
public record MonitorLocation(String location, MonitorState state, Instant lastCheckAt, String lastError,
                              String collector, boolean counts) {
}
