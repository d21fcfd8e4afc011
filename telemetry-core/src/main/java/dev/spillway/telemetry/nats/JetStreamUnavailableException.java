package dev.spillway.telemetry.nats;

import java.io.IOException;

/**
 * JetStream cannot take a batch now: the server is unreachable, the publish was not acknowledged in time, the
 * publish window is full, or the stream is full (discard-new). Retryable: the same batch, published again under
 * the same {@code Nats-Msg-Id}, is stored at most once within the duplicate window, and the writers' ledger
 * catches what is older.
 */
public final class JetStreamUnavailableException extends IOException {

    private static final long serialVersionUID = 1L;

    /** @param message what was unavailable, with the stream and batch */
    public JetStreamUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
