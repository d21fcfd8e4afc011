package dev.spillway.ingest;

/**
 * Receives heartbeats that arrive as line protocol: an accepted point of measurement {@code heartbeat} with tag
 * {@code service} and integer field {@code status}. The point is stored like any other; this only tells the
 * heartbeat side that the service checked in. Must not block (it runs on network and ingest threads).
 */
@FunctionalInterface
public interface HeartbeatLines {

    /** Nobody listens. */
    HeartbeatLines NONE = (service, status) -> { };

    /** The measurement that carries heartbeats. */
    String MEASUREMENT = "heartbeat";

    /**
     * @param service the {@code service} tag
     * @param status the {@code status} field
     */
    void heartbeat(String service, long status);
}
