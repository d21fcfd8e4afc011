package dev.spillway.ingest.series;

/** A new series was refused because {@code --max-series} series exist already. */
public final class SeriesLimitException extends Exception {

    private static final long serialVersionUID = 1L;

    SeriesLimitException(int limit) {
        super("series limit reached (--max-series=" + limit + "): line needs a new series");
    }

    @Override
    public synchronized Throwable fillInStackTrace() {
        // Thrown per rejected line under a flood of new series: the stack says nothing useful.
        return this;
    }
}
