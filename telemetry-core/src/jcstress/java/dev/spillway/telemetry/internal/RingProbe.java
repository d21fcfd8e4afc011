package dev.spillway.telemetry.internal;


/**
 * Shared fixture for the jcstress tests: a ring of ONE slot, so every claim lands on the same slot and every
 * interleaving of writers and the reader is a lapping one. A writer stamps all payload fields with one marker
 * and the {@code sequence} field with its claimed sequence, so the reader can tell torn and stale copies apart.
 */
final class RingProbe implements EventRing.EventSink {

    static final int NOT_READY = 0;
    static final int LOST = 1;
    static final int INTACT = 2;
    static final int TORN_OR_STALE = 3;

    final PipelineCounters counters = new PipelineCounters();
    final EventRing ring = new EventRing(1, RingMode.OVERWRITE_OLDEST, counters);

    private long timestamp;
    private int source;
    private short kind;
    private double value;
    private long sequence;

    /** Claims and writes an event whose every field is {@code marker} (and whose sequence is the claim). */
    long publish(int marker) {
        final long seq = ring.claim();
        if (seq >= 0) {
            ring.write(seq, marker, marker, (short) marker, marker, seq);
        }
        return seq;
    }

    /** Reads {@code seq} once and classifies what came out. */
    int read(long seq) {
        final int outcome = ring.read(seq, this);
        if (outcome == EventRing.NOT_READY) {
            return NOT_READY;
        }
        if (outcome == EventRing.LOST) {
            return LOST;
        }
        final boolean intact = timestamp == source && source == kind && kind == (long) value && sequence == seq;
        return intact ? INTACT : TORN_OR_STALE;
    }

    @Override
    public void append(long timestampNanos, int sourceId, short kind, double value, long sequence) {
        this.timestamp = timestampNanos;
        this.source = sourceId;
        this.kind = kind;
        this.value = value;
        this.sequence = sequence;
    }
}
