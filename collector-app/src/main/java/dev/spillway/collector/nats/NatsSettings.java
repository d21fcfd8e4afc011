package dev.spillway.collector.nats;

import java.nio.file.Path;
import java.time.Duration;

/**
 * The collector's role and, for the edge and writer roles, how to reach NATS JetStream.
 *
 * @param role standalone (the default: inputs and database in one process), edge (publishes batches to
 *     JetStream) or writer (also consumes batches from JetStream into the database)
 * @param servers NATS server URLs, comma-separated ({@code nats://host:4222}); null for standalone
 * @param credentials a NATS credentials file (JWT + NKey seed), or null
 * @param user NATS user, or null
 * @param password NATS password, or null
 * @param stream the JetStream stream
 * @param subject the subject edges publish to
 * @param consumer the durable consumer writers share
 * @param maxBytes the stream's max_bytes (unwritten batches)
 * @param maxAge the stream's max_age (the redelivery horizon; writers keep ledger rows longer)
 * @param duplicateWindow the stream's Nats-Msg-Id duplicate window
 * @param ackWait how long a batch delivered to a writer may stay unacknowledged before it is redelivered
 * @param writerThreads writer threads pulling and committing batches (writer role)
 */
public record NatsSettings(
    Role role,
    String servers,
    Path credentials,
    String user,
    String password,
    String stream,
    String subject,
    String consumer,
    long maxBytes,
    Duration maxAge,
    Duration duplicateWindow,
    Duration ackWait,
    int writerThreads) {

    /** What this collector process does. */
    public enum Role {
        /** Inputs, pipeline and database writes in one process (the default). */
        STANDALONE,
        /** Inputs and pipeline; each batch is published to JetStream instead of written to the database. */
        EDGE,
        /** A standalone collector that also consumes the edges' batches from JetStream into the database. */
        WRITER
    }

    /** Whether the process talks to NATS at all. */
    public boolean usesNats() {
        return role != Role.STANDALONE;
    }

    /** Secrets left out, for logs. */
    @Override
    public String toString() {
        return role == Role.STANDALONE ? "role=standalone" : "role=" + role.name().toLowerCase(java.util.Locale.ROOT)
            + " nats=" + servers + (credentials != null ? " creds=" + credentials : "")
            + (user != null ? " user=" + user : "") + " stream=" + stream + " subject=" + subject
            + (role == Role.WRITER ? " consumer=" + consumer + " writerThreads=" + writerThreads : "");
    }
}
