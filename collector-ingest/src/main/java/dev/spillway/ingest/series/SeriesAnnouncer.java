package dev.spillway.ingest.series;

import java.util.List;

/**
 * Where a NATS-only edge publishes its series (see {@link SeriesRegistry#edge}): a writer reads a definition from
 * there the first time a batch carries its local id. An announcement must be durable when the call returns
 * (JetStream acknowledged it), since events carrying the id may follow at once.
 */
public interface SeriesAnnouncer {

    /**
     * Publishes the definitions and waits until every one is stored. Idempotent: the same definition may be
     * announced again (after a restart) and changes nothing.
     *
     * @throws Exception when they could not be stored (the edge's upstream unreachable): retryable
     */
    void announce(List<SeriesDefinition> definitions) throws Exception;
}
