package dev.spillway.telemetry.sink;

import java.util.BitSet;

/**
 * Thrown by {@link Sink#write(EventBatch)} when an attempt failed after part of the batch became durable (or
 * was refused as invalid data), for example a sink that writes a batch in several transactions. It says exactly
 * which events of the batch are already written, counting earlier attempts of the same batch too.
 *
 * <p>The pipeline classifies the {@linkplain #getCause() cause} for retrying, and retries the <em>whole</em>
 * batch: the sink must not write the already written events again. If the pipeline gives the batch up, the
 * events reported here as written are counted as written, those reported invalid as rejected-invalid, and only
 * the rest are counted failed and handed to the {@link FailedBatchHandler}.
 */
public final class PartialWriteException extends Exception {

    private static final long serialVersionUID = 1L;

    private final BitSet written;
    private final BitSet invalid;

    /**
     * @param cause why the attempt failed; required
     * @param written indices of events that are durably written (by this or an earlier attempt)
     * @param invalid indices of events the sink refused as invalid data; disjoint from {@code written}
     * @throws IllegalArgumentException when the two sets overlap
     */
    public PartialWriteException(Throwable cause, BitSet written, BitSet invalid) {
        super(cause.toString(), cause);
        this.written = (BitSet) written.clone();
        this.invalid = (BitSet) invalid.clone();
        if (this.written.intersects(this.invalid)) {
            throw new IllegalArgumentException("an event cannot be both written and invalid");
        }
    }

    /** Whether event {@code index} of the batch is durably written. */
    public boolean isWritten(int index) {
        return written.get(index);
    }

    /** Whether event {@code index} of the batch was refused as invalid data. */
    public boolean isInvalid(int index) {
        return invalid.get(index);
    }

    /** How many events of the batch are durably written. */
    public int writtenCount() {
        return written.cardinality();
    }

    /** How many events of the batch were refused as invalid data. */
    public int invalidCount() {
        return invalid.cardinality();
    }
}
