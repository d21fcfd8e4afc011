package dev.spillway.telemetry.sink;

/**
 * The destination of a pipeline: writes one {@link EventBatch} at a time.
 *
 * <p>A pipeline calls {@code write} from its worker threads, concurrently for different batches, so an
 * implementation must be thread-safe. A batch whose {@code write} throws is retried according to the
 * pipeline's {@link RetryPolicy} with the <em>same</em> batch (same {@link EventBatch#batchId()}), so a sink that
 * can fail after committing (an ambiguous commit) must make a retried write idempotent itself.
 *
 * <h2>Partial success</h2>
 * Every event of a batch ends in exactly one of three states, and the sink says which:
 * <ul>
 *   <li>{@code write} returns {@code n}: {@code n} events are durably written (including any written by earlier
 *       attempts of the same batch), the other {@code size - n} were refused as invalid data and are counted as
 *       rejected-invalid. Nothing is retried.</li>
 *   <li>{@code write} throws {@link PartialWriteException}: the events it names as written are durable, those it
 *       names invalid are refused, and the rest were not written. The batch may be retried; the sink must not
 *       write the durable ones twice.</li>
 *   <li>{@code write} throws anything else: <em>no</em> event of this batch became durable in this attempt (a sink
 *       that cannot promise that, for example after an unacknowledged commit, must make retries idempotent and
 *       report the outcome on the retry). If the pipeline gives up, every event not reported durable by an earlier
 *       {@link PartialWriteException} is counted failed and handed to the {@link FailedBatchHandler}.</li>
 * </ul>
 * A sink may throw anything, including {@link Error}s: the worker survives, counts and logs it, and treats it as a
 * failed attempt (an {@code Error} is never retried by the default classifier).
 *
 * <h2>Lifecycle</h2>
 * {@link #attach} once before any write; {@code write} concurrently; at the close deadline, if writes are still
 * running, {@link #abortWrites()} once from the closing thread; {@link #close()} once, only after no worker is
 * inside {@code write} any more (if a write never returns, the sink is never closed, and the close log says so).
 */
public interface Sink extends AutoCloseable {

    /**
     * Durably writes the batch, or throws.
     *
     * @param batch the events; valid only until this method returns
     * @return how many events of the batch were written; the remaining {@code batch.size() - written} are
     *     counted by the pipeline as rejected for invalid data (a sink that isolates poisoned rows reports
     *     them this way). Must be between 0 and {@code batch.size()}.
     * @throws PartialWriteException when part of the batch is durable and the rest failed (see the class comment)
     * @throws Exception when no event of the batch became durable in this attempt; the pipeline decides whether
     *     to retry
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
     * Makes the writes still running at the close deadline fail fast, such that nothing an aborted write started
     * becomes durable afterwards (for a database: close the connections, so their open transactions roll back).
     * Called at most once, from the closing thread, concurrently with those writes; the pipeline also interrupts
     * its workers. Batches whose write does not return soon after are spooled (with a spool), or else counted
     * abandoned (in doubt, not handed to the {@link FailedBatchHandler}) until the write returns. A batch whose
     * aborted write fails is spooled (with a spool), or counted failed and handed over. A commit already on the wire
     * when the abort comes is the one
     * ambiguous case (it may land); a sink with a ledger can tell afterwards. The default does nothing.
     */
    default void abortWrites() {
    }

    /**
     * The run id this sink keys batches under when their {@link EventBatch#runId()} is null, or null when the sink
     * keeps no ledger. A pipeline stores it with every batch it spools, so that the replayed batch carries the same
     * key (run id, batch id) and a batch whose first commit was ambiguous is not written twice. Read once, when the
     * pipeline is built.
     */
    default String runId() {
        return null;
    }

    /**
     * Releases the sink's resources. Called once, after no worker is inside {@code write} any more; if a write
     * never returns, never called.
     */
    @Override
    default void close() throws Exception {
    }
}
