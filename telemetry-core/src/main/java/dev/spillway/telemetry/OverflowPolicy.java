package dev.spillway.telemetry;

/** What {@link Pipeline#ingest} does when the ring is full. */
public enum OverflowPolicy {

    /**
     * The default: the new event is accepted and the oldest unread event is overwritten, so the ring always
     * holds the freshest data. Never blocks. Every overwritten event is counted as {@code overwritten}.
     */
    OVERWRITE_OLDEST,

    /** The new event is refused ({@code ingest} returns false) and counted as rejected. Never blocks. */
    DROP_NEWEST,

    /** The producer waits until the pump frees a slot: back-pressure for callers who prefer it to loss. */
    BLOCK
}
