package dev.spillway.benchmarks.ingest;

/** Opens an {@link IngestChannel} by the name used in the benchmarks' {@code impl} parameter. */
public final class Channels {

    /** Spillway {@code Pipeline.ingest}, OVERWRITE_OLDEST, no-op sink. */
    public static final String SPILLWAY = "spillway";
    /** A {@code synchronized} overwrite-oldest ring of preallocated primitive slots. */
    public static final String MUTEX_RING = "mutexRing";
    /** {@code ArrayBlockingQueue.offer} of one event object per call, drained with {@code drainTo}. */
    public static final String ABQ = "arrayBlockingQueue";
    /** The Disruptor's multi-producer {@code RingBuffer}, drop-newest publication, a BatchEventProcessor. */
    public static final String DISRUPTOR = "disruptor";

    /** Most events the baselines' consumers take per drain: the same as Spillway's default batch size. */
    public static final int CONSUMER_BATCH = 4096;

    private Channels() {
    }

    /**
     * @param impl one of the names above
     * @param capacity ring or queue capacity (a power of two)
     * @param stalled when true, the consumer blocks before its first event until {@link IngestChannel#release()}
     */
    public static IngestChannel open(String impl, int capacity, boolean stalled) {
        switch (impl) {
            case SPILLWAY:
                return new SpillwayChannel(capacity, stalled);
            case MUTEX_RING:
                return new MutexRingChannel(capacity, stalled);
            case ABQ:
                return new BlockingQueueChannel(capacity, stalled);
            case DISRUPTOR:
                return new DisruptorChannel(capacity, stalled);
            default:
                throw new IllegalArgumentException("unknown impl '" + impl + "'; expected one of "
                    + SPILLWAY + ", " + MUTEX_RING + ", " + ABQ + ", " + DISRUPTOR);
        }
    }
}
