package dev.spillway.telemetry.internal;

/**
 * What the ring does when it is full; the interior's own copy of the public {@code OverflowPolicy}, so that the
 * interior never depends on the API package (which depends on it).
 */
public enum RingMode {
    /** Producers lap the pump; lapped events are counted as overwritten. */
    OVERWRITE_OLDEST,
    /** A producer that finds the ring full is refused and counted. */
    DROP_NEWEST,
    /** A producer that finds the ring full parks until the pump frees a slot, the pipeline closes or it is interrupted. */
    BLOCK
}
