package dev.spillway.telemetry.sink;

/**
 * Receives the events the pipeline gave up on (retries exhausted, a permanent failure, or the close deadline),
 * for example to spool them to disk. Every event counted {@code failed} is handed over exactly once. If the sink
 * reported part of the batch durable ({@link PartialWriteException}), only the rest is handed over: a view with the
 * same {@link EventBatch#batchId()} and fewer events.
 *
 * <p>Only events known not to be stored are handed over. A batch whose write is still running at the close
 * deadline (it ignored the interrupt and {@link Sink#abortWrites()}) may still be stored by that write, so it is not
 * handed over then: it is spooled (with a spool) or counted {@code abandoned}. If that write later fails, its events
 * are counted failed and handed over at that point (possibly after {@code close} returned); if it succeeds, they are
 * counted {@code writtenLate} and never handed over.
 *
 * <p>Called on a worker thread, or (for what is left at the close deadline) on the pump or the closing thread,
 * possibly concurrently; the batch is valid only during the call. Anything thrown here ({@code Error}s included)
 * is counted and logged, and otherwise ignored: the events are already counted as failed. {@code close} waits for
 * the handler calls it causes at the deadline, so a slow handler lengthens close by its own time.
 */
@FunctionalInterface
public interface FailedBatchHandler {

    /**
     * @param batch the events that were not written
     * @param cause why they were not written (the last failure, or a timeout at close)
     * @param attempts how many write attempts were made
     */
    void onFailedBatch(EventBatch batch, Throwable cause, int attempts);
}
