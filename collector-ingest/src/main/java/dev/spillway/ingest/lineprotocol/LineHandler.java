package dev.spillway.ingest.lineprotocol;

/** Receives the outcome of every non-blank, non-comment line given to {@link LineProtocolParser#parse}. */
public interface LineHandler {

    /**
     * One accepted line. The point is a flyweight, valid only during this call: copy what you keep.
     *
     * @param point the decoded point
     */
    void onPoint(ParsedPoint point);

    /**
     * One rejected line; parsing continues with the next line.
     *
     * @param lineNumber 1-based line number within the parsed buffer
     * @param message    human-readable reason, naming the offending token and column
     */
    void onError(int lineNumber, String message);
}
