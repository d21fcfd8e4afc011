package dev.spillway.telemetry.sink;

/**
 * The destination of a pipeline: writes one {@link EventBatch} at a time.
 *
 * <p>A pipeline calls {@code write} from its worker threads, concurrently for different batches, so an
 * implementation must be thread-safe. A batch whose {@code write} throws is retried according to the
 * pipeline's {@link RetryPolicy} with the <em>same</em> batch (same {@link EventBatch#batchId()}), so a sink that
 * can fail after committing (an ambiguous commit) must make a retried write idempotent itself.
 */
public interface Sink extends AutoCloseable {

    /**
     * Durably writes the batch, or throws.
     *
     * @param batch the events; valid only until this method returns
     * @return how many events of the batch were written; the remaining {@code batch.size() - written} are
     *     counted by the pipeline as rejected for invalid data (a sink that isolates poisoned rows reports
     *     them this way). Must be between 0 and {@code batch.size()}.
     * @throws Exception when nothing of the batch was written; the pipeline decides whether to retry
     */
    int write(EventBatch batch) throws Exception;

    /**
     * Whether a failure is worth retrying. Used when the {@link RetryPolicy} has no classifier of its own.
     * The default retries everything but {@link Error}s and {@link IllegalArgumentException}s.
     */
    default boolean isRetryable(Throwable failure) {
        return !(failure instanceof Error) && !(failure instanceof IllegalArgumentException);
    }

    /**
     * Called once by {@link dev.spillway.telemetry.Pipeline.Builder#build()} before any write. A sink whose
     * retries rely on batch ids (unique only within one pipeline) must refuse a second pipeline here, because
     * two pipelines' batch ids collide.
     *
     * @param pipelineName the name of the pipeline the sink now serves
     * @throws IllegalStateException when the sink cannot serve another pipeline
     */
    default void attach(String pipelineName) {
    }

    /**
     * The run id this sink keys batches under when their {@link EventBatch#runId()} is null, or null when the sink
     * keeps no ledger. A pipeline stores it with every batch it spools, so that the replayed batch carries the same
     * key (run id, batch id) and a batch whose first commit was ambiguous is not written twice.
     */
    default String runId() {
        return null;
    }

    /** Releases the sink's resources. Called once, after the pipeline has stopped calling {@code write}. */
    @Override
    default void close() throws Exception {
    }
}
