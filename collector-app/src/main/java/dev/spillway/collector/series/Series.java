package dev.spillway.collector.series;

import java.util.concurrent.atomic.AtomicLong;

/**
 * One series, {@code (measurement, tag set, field)}, with its database id ({@code source_id}) and the next
 * sequence number its events carry. Sequences continue from the stored maximum after a restart, so a gap query
 * over {@code seq} spans restarts.
 */
public final class Series {

    private final int id;
    private final AtomicLong nextSequence;

    /** A series with its database id, whose next event carries {@code nextSequence}. */
    public Series(int id, long nextSequence) {
        this.id = id;
        this.nextSequence = new AtomicLong(nextSequence);
    }

    /** The {@code source_id}. */
    public int id() {
        return id;
    }

    /** Takes the next sequence number; every call consumes one, accepted or not, so refusals show as gaps. */
    public long takeSequence() {
        return nextSequence.getAndIncrement();
    }

    /** The sequence the next event will carry. */
    public long peekSequence() {
        return nextSequence.get();
    }
}
