package dev.spillway.telemetry.sink;

/**
 * A read-only, struct-of-arrays view of consecutive events handed to a {@link Sink}.
 *
 * <p>Batches are pooled and recycled by the pipeline: a sink must not keep a reference to a batch (or to
 * anything read through it lazily) after {@link Sink#write(EventBatch)} returns or throws. Index {@code i} runs
 * from {@code 0} to {@link #size()} {@code - 1}; events appear in the order the pump read them from the ring,
 * which is claim order across producers and therefore per-source sequence order for any one producer.
 */
public interface EventBatch {

    /** Identifier of this batch, unique within one pipeline run and stable across retries of the same batch. */
    long batchId();

    /** Number of events in the batch, at least 1. */
    int size();

    /** Event time in nanoseconds since the Unix epoch. */
    long timestampNanos(int index);

    /** The source (series) the event belongs to. */
    int sourceId(int index);

    /** An application-defined event kind (for the collector: the field type). */
    short kind(int index);

    /** The measured value. */
    double value(int index);

    /** The per-source sequence number the producer assigned; gaps reveal lost events downstream. */
    long sequence(int index);

    /** Smallest timestamp in the batch (nanoseconds since the Unix epoch). */
    long minTimestampNanos();

    /** Largest timestamp in the batch (nanoseconds since the Unix epoch). */
    long maxTimestampNanos();

    /**
     * The run id of the ledger key this batch was first tried under, when that was not the sink's current run (a
     * batch replayed from a spool, possibly written by an earlier process, or consumed from NATS JetStream, cut by
     * an edge collector); null for a batch of the current run, which the sink keys under its own
     * {@link Sink#runId()}.
     */
    default String runId() {
        return null;
    }
}
