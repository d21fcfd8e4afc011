package dev.spillway.telemetry.nats;

import io.nats.client.JetStreamApiException;

import java.io.IOException;
import java.util.concurrent.CancellationException;
import java.util.concurrent.TimeoutException;

/**
 * Sorts publish failures into retryable (JetStream unreachable, slow or full: try again later, or spool) and
 * permanent (the message itself is wrong, e.g. larger than the stream's max message size: retrying cannot help).
 */
final class JetStreamFailures {

    private JetStreamFailures() {
    }

    /** Whether retrying the same publish later can succeed. */
    static boolean isRetryable(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof JetStreamApiException) {
                // The API answers with HTTP-like codes: 5xx (e.g. 503 "maximum bytes exceeded" from a full
                // discard-new stream, insufficient resources, no leader) is the server's state; 4xx is the request.
                return ((JetStreamApiException) t).getErrorCode() >= 500;
            }
            if (t instanceof IllegalArgumentException || t instanceof Error) {
                return false;
            }
            if (t instanceof IOException || t instanceof TimeoutException || t instanceof CancellationException
                || t instanceof IllegalStateException) {
                // IllegalStateException: jnats refuses to publish on a closed or draining connection.
                return true;
            }
        }
        return false;
    }
}
