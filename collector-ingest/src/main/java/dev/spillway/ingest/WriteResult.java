package dev.spillway.ingest;

/**
 * What became of one {@link Point}.
 *
 * @param outcome the category
 * @param events events the pipeline accepted for this point (all fields when {@link Outcome#WRITTEN})
 * @param message why not, or null when written
 */
public record WriteResult(Outcome outcome, int events, String message) {

    /** Outcome categories; each is counted in {@code spillway_collector_points_total{producer,outcome}}. */
    public enum Outcome {
        /** Every field reached the pipeline. */
        WRITTEN,
        /** The pipeline refused an event (closing, or full under drop-newest); fields before it went in. */
        REFUSED,
        /** A new series would exceed {@code --max-series}; nothing of the point went in. */
        SERIES_LIMIT,
        /** Creating a series failed in the database; nothing of the point went in. Worth a retry. */
        SERIES_ERROR;

        /** The meter tag value. */
        public String tag() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** Whether every field was accepted. */
    public boolean written() {
        return outcome == Outcome.WRITTEN;
    }
}
