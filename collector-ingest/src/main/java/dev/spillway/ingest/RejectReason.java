package dev.spillway.ingest;

import java.util.Locale;

/** Why a line was not ingested; the {@code reason} tag of {@code spillway_collector_lines_rejected_total}. */
public enum RejectReason {
    /** Line-protocol syntax error. */
    INVALID,
    /** The line needed a new series beyond {@code --max-series}. */
    SERIES_LIMIT,
    /** The line's series can never be stored (too many tags, too long, NUL, or refused by the database). */
    SERIES_INVALID,
    /** The database was unavailable while creating the line's series. */
    SERIES_ERROR,
    /** A TCP line longer than {@code --max-line-length}. */
    TOO_LONG,
    /** The pipeline refused an event of the line (closing, or ring full under drop-newest). */
    REFUSED;

    /** Metric tag value. */
    public String tag() {
        return name().toLowerCase(Locale.ROOT);
    }
}
