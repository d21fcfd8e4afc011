package dev.spillway.telemetry.sink;

/**
 * Receives batches the pipeline gave up on (retries exhausted, a permanent failure, or the close deadline),
 * for example to spool them to disk. Called on a worker thread; the batch is valid only during the call.
 * An exception thrown here is logged and otherwise ignored: the batch is already counted as failed.
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
