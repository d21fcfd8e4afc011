package dev.spillway.ingest.series;

/**
 * A series that can never be stored as given: over a {@link SeriesValidator} limit, holding characters
 * PostgreSQL refuses, or refused by the database for a reason other than unavailability. Retrying the same line
 * cannot succeed, so it is answered 400, not 503.
 */
public final class SeriesRejectedException extends Exception {

    private static final long serialVersionUID = 1L;

    SeriesRejectedException(String message) {
        super(message);
    }

    @Override
    public synchronized Throwable fillInStackTrace() {
        // Thrown per bad line; the message says everything.
        return this;
    }
}
