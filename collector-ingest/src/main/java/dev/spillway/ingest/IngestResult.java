package dev.spillway.ingest;

/**
 * Outcome of one body (HTTP request, TCP line or UDP datagram).
 *
 * @param accepted lines whose every numeric field the pipeline accepted
 * @param rejected lines not ingested, for any reason
 * @param events events handed to the pipeline and accepted
 * @param firstBadLine 1-based number of the first rejected line, 0 when none
 * @param firstBadMessage why that line was rejected
 * @param firstBadReason the reason category of that line
 * @param refused whether the pipeline refused an event; the client should retry later (503)
 * @param seriesError whether creating a series failed in the database; also worth a retry (503)
 * @param uncommitted with {@link AckMode#COMMIT}: not every event was confirmed committed or durably spooled
 *     (some were lost, or the confirmation timed out); the client should retry (503)
 * @param refusal when the body was not parsed at all (a resend that must wait, a reused key), else null
 */
public record IngestResult(int accepted, int rejected, long events, int firstBadLine, String firstBadMessage,
                           RejectReason firstBadReason, boolean refused, boolean seriesError, boolean uncommitted,
                           Refusal refusal) {

    /**
     * A body not parsed at all: a resend whose earlier copy's fate is not known yet (503 with {@code Retry-After}),
     * or an {@code Idempotency-Key} reused for another body (422).
     *
     * @param status the HTTP status to answer
     * @param message why
     */
    public record Refusal(int status, String message) {
    }

    /** A result of lines counted, without a {@link Refusal}. */
    public IngestResult(int accepted, int rejected, long events, int firstBadLine, String firstBadMessage,
                        RejectReason firstBadReason, boolean refused, boolean seriesError, boolean uncommitted) {
        this(accepted, rejected, events, firstBadLine, firstBadMessage, firstBadReason, refused, seriesError,
            uncommitted, null);
    }

    /** A body refused before it was parsed. */
    public static IngestResult refused(int status, String message) {
        return new IngestResult(0, 0, 0, 0, null, null, false, false, false, new Refusal(status, message));
    }

    /** Whether every line was accepted (and, with {@link AckMode#COMMIT}, committed). */
    public boolean allAccepted() {
        return rejected == 0 && !refused && !seriesError && !uncommitted && refusal == null;
    }

    /** This result, marked as not confirmed committed. */
    public IngestResult asUncommitted() {
        return new IngestResult(accepted, rejected, events, firstBadLine, firstBadMessage, firstBadReason, refused,
            seriesError, true, refusal);
    }
}
