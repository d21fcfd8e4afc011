package dev.spillway.collector;

import dev.spillway.collector.db.CollectorDatabase;
import dev.spillway.collector.nats.JetStreamRole;
import dev.spillway.ingest.CollectorMetrics;
import dev.spillway.ingest.PointWriter;
import dev.spillway.ingest.listen.IngestListeners;
import dev.spillway.runtime.api.ApiRouter;
import dev.spillway.uptime.Uptime;

/**
 * What one assembly started: the parts a running {@link Collector} exposes. Every long-running part is already on
 * the collector's service stack; these are references, not owners.
 *
 * @param db       the database and its pool; null for an edge without one
 * @param jetStream the NATS connection and role; null without NATS
 * @param uptime   monitors and heartbeats; null for an edge without a database
 */
record Assembled(CollectorDatabase db, JetStreamRole jetStream, DrainedPipeline pipeline, CollectorMetrics metrics,
                 PointWriter pointWriter, ApiRouter router, Uptime uptime, IngestListeners listeners) {
}
