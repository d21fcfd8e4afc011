package dev.spillway.ingest;

import java.util.Locale;

/**
 * When an HTTP write is answered 204. Default {@link #ACCEPT}; {@code --ack} changes the default, and a request
 * chooses for itself with the query parameter {@code ack=accept|commit} or the header
 * {@code X-Spillway-Ack: accept|commit}.
 */
public enum AckMode {
    /** 204 once every line is parsed and its events are in the pipeline's ring (fast; lost on a crash). */
    ACCEPT,
    /**
     * 204 only once every event of the body is committed to the database or fsynced in the spool; 503 when any of
     * them was lost (overwritten, failed) or not confirmed within the acknowledgement timeout.
     */
    COMMIT;

    /** Parses {@code accept} or {@code commit} (case-insensitive). */
    public static AckMode parse(String s) {
        return switch (s.trim().toLowerCase(Locale.ROOT)) {
            case "accept" -> ACCEPT;
            case "commit" -> COMMIT;
            default -> throw new IllegalArgumentException("ack must be accept or commit, was '" + s + "'");
        };
    }
}
