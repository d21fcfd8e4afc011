package dev.spillway.telemetry.nats;

import io.nats.client.Connection;
import io.nats.client.JetStreamApiException;
import io.nats.client.JetStreamManagement;
import io.nats.client.api.AckPolicy;
import io.nats.client.api.ConsumerConfiguration;
import io.nats.client.api.DeliverPolicy;
import io.nats.client.api.DiscardPolicy;
import io.nats.client.api.RetentionPolicy;
import io.nats.client.api.StorageType;
import io.nats.client.api.StreamConfiguration;
import io.nats.client.api.StreamInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * The JetStream stream that carries batches from edges to writers, and the durable pull consumer the writers
 * share, with every limit explicit. Uses only stream and consumer features of nats-server 2.9.
 *
 * <ul>
 *   <li><b>File storage</b>, one replica by default (a clustered server can take 3).</li>
 *   <li><b>Work-queue retention</b>: a message is removed once a writer acknowledges it, so {@code max_bytes}
 *       bounds what is <em>not yet written</em>, not what was written recently.</li>
 *   <li><b>Discard new</b>: a full stream refuses new messages (the edge sees a retryable "unavailable" error and
 *       retries, spools or answers 503) instead of silently deleting the oldest unwritten batches.</li>
 *   <li><b>max_age</b> (default 24 h): a batch no writer acknowledged within it is deleted. This is the
 *       redelivery horizon, so a writer's ledger retention must exceed it (checked by
 *       {@link NatsBatchConsumer} at start).</li>
 *   <li><b>Duplicate window</b> (default 2 min, at most max_age): JetStream drops a second publish with the same
 *       {@code Nats-Msg-Id} within it; the writer's ledger catches what is older.</li>
 *   <li>Consumer: explicit acks, AckWait (default 30 s, extended by {@code inProgress} during long commits),
 *       bounded MaxAckPending (default 256), MaxDeliver unbounded by default (see {@link Builder#maxDeliver}).</li>
 * </ul>
 *
 * {@link #ensureStream} and {@link #ensureConsumer} are idempotent: they create what is missing, update limits
 * that differ, and refuse (with a message naming the setting) what JetStream cannot change in place.
 */
public final class JetStreamTopology {

    private static final Logger LOG = LoggerFactory.getLogger(JetStreamTopology.class);
    private static final int STREAM_NOT_FOUND = 10059;
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_-]{1,64}");
    private static final Pattern SUBJECT = Pattern.compile("[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*");

    private final String stream;
    private final String subject;
    private final long maxBytes;
    private final Duration maxAge;
    private final Duration duplicateWindow;
    private final int replicas;
    private final String consumer;
    private final Duration ackWait;
    private final long maxAckPending;
    private final long maxDeliver;

    private JetStreamTopology(Builder b) {
        this.stream = b.stream;
        this.subject = b.subject;
        this.maxBytes = b.maxBytes;
        this.maxAge = b.maxAge;
        this.duplicateWindow = b.duplicateWindow;
        this.replicas = b.replicas;
        this.consumer = b.consumer;
        this.ackWait = b.ackWait;
        this.maxAckPending = b.maxAckPending;
        this.maxDeliver = b.maxDeliver;
    }

    /** A builder with the defaults described in the class comment. */
    public static Builder builder() {
        return new Builder();
    }

    /** The stream's name. */
    public String stream() {
        return stream;
    }

    /** The subject edges publish to (the stream's only subject). */
    public String subject() {
        return subject;
    }

    /** The durable consumer the writers share. */
    public String consumer() {
        return consumer;
    }

    /** How long an unacknowledged batch may live in the stream: the redelivery horizon. */
    public Duration maxAge() {
        return maxAge;
    }

    /** JetStream's own {@code Nats-Msg-Id} deduplication window. */
    public Duration duplicateWindow() {
        return duplicateWindow;
    }

    /** How long a delivered batch may stay unacknowledged before JetStream redelivers it. */
    public Duration ackWait() {
        return ackWait;
    }

    /** Most deliveries per message; -1 for unbounded. */
    public long maxDeliver() {
        return maxDeliver;
    }

    /** The stream configuration this topology asks for. */
    public StreamConfiguration streamConfiguration() {
        return StreamConfiguration.builder()
            .name(stream)
            .subjects(subject)
            .storageType(StorageType.File)
            .retentionPolicy(RetentionPolicy.WorkQueue)
            .discardPolicy(DiscardPolicy.New)
            .maxBytes(maxBytes)
            .maxAge(maxAge)
            .duplicateWindow(duplicateWindow)
            .replicas(replicas)
            .build();
    }

    /** The consumer configuration this topology asks for. */
    public ConsumerConfiguration consumerConfiguration() {
        return ConsumerConfiguration.builder()
            .durable(consumer)
            .filterSubject(subject)
            .deliverPolicy(DeliverPolicy.All)
            .ackPolicy(AckPolicy.Explicit)
            .ackWait(ackWait)
            .maxAckPending(maxAckPending)
            .maxDeliver(maxDeliver)
            .build();
    }

    /**
     * Creates the stream, or brings an existing one's limits to this configuration.
     *
     * @throws IllegalStateException when the existing stream differs in what cannot be changed in place
     *     (subjects, storage, retention)
     */
    public StreamInfo ensureStream(Connection connection) throws IOException, JetStreamApiException {
        final JetStreamManagement jsm = connection.jetStreamManagement();
        final StreamConfiguration wanted = streamConfiguration();
        StreamInfo existing;
        try {
            existing = jsm.getStreamInfo(stream);
        } catch (JetStreamApiException e) {
            if (e.getApiErrorCode() != STREAM_NOT_FOUND) {
                throw e;
            }
            existing = null;
        }
        if (existing == null) {
            try {
                final StreamInfo created = jsm.addStream(wanted);
                LOG.info("created JetStream stream {} ({})", stream, describe());
                return created;
            } catch (JetStreamApiException e) {
                // Another edge or writer created it in between: fall through to the comparison.
                existing = jsm.getStreamInfo(stream);
            }
        }
        final StreamConfiguration have = existing.getConfiguration();
        requireSame("subjects", List.of(subject), have.getSubjects());
        requireSame("storage", StorageType.File, have.getStorageType());
        requireSame("retention", RetentionPolicy.WorkQueue, have.getRetentionPolicy());
        if (have.getDiscardPolicy() != DiscardPolicy.New || have.getMaxBytes() != maxBytes
            || !have.getMaxAge().equals(maxAge) || !have.getDuplicateWindow().equals(duplicateWindow)
            || have.getReplicas() != replicas) {
            final StreamInfo updated = jsm.updateStream(wanted);
            LOG.info("updated the limits of JetStream stream {} to {}", stream, describe());
            return updated;
        }
        return existing;
    }

    /** Creates the durable consumer, or updates its limits (nats-server 2.9 accepts this for a durable). */
    public void ensureConsumer(Connection connection) throws IOException, JetStreamApiException {
        connection.jetStreamManagement().addOrUpdateConsumer(stream, consumerConfiguration());
    }

    private void requireSame(String setting, Object wanted, Object have) {
        if (!Objects.equals(wanted, have)) {
            throw new IllegalStateException("JetStream stream " + stream + " exists with " + setting + " " + have
                + ", but Spillway needs " + wanted + "; JetStream cannot change this in place: use another stream"
                + " name, or delete the stream once it is drained");
        }
    }

    /** The limits, for logs. */
    public String describe() {
        return "subject " + subject + ", file storage, work-queue retention, discard new, max_bytes " + maxBytes
            + ", max_age " + maxAge + ", duplicate window " + duplicateWindow + ", replicas " + replicas
            + "; consumer " + consumer + ": ack wait " + ackWait + ", max ack pending " + maxAckPending
            + ", max deliver " + maxDeliver;
    }

    @Override
    public String toString() {
        return "JetStreamTopology{stream=" + stream + ", " + describe() + '}';
    }

    /** Builds a {@link JetStreamTopology}; {@link #build()} validates every setting. */
    public static final class Builder {
        private String stream = "spillway";
        private String subject = "spillway.batches";
        private long maxBytes = 1L << 30;
        private Duration maxAge = Duration.ofHours(24);
        private Duration duplicateWindow = Duration.ofMinutes(2);
        private int replicas = 1;
        private String consumer = "spillway-writers";
        private Duration ackWait = Duration.ofSeconds(30);
        private long maxAckPending = 256;
        private long maxDeliver = -1;

        private Builder() {
        }

        /** Stream name, 1-64 of {@code [A-Za-z0-9_-]}; default {@code spillway}. */
        public Builder stream(String stream) {
            this.stream = stream;
            return this;
        }

        /** Subject, dot-separated tokens of {@code [A-Za-z0-9_-]} (no wildcards); default {@code spillway.batches}. */
        public Builder subject(String subject) {
            this.subject = subject;
            return this;
        }

        /** Most bytes of unwritten batches the stream holds, 1 MiB to 1 PiB; default 1 GiB. */
        public Builder maxBytes(long maxBytes) {
            this.maxBytes = maxBytes;
            return this;
        }

        /** Longest an unwritten batch is kept, 1 minute to 30 days; default 24 h. */
        public Builder maxAge(Duration maxAge) {
            this.maxAge = maxAge;
            return this;
        }

        /** JetStream's {@code Nats-Msg-Id} dedup window, 100 ms to max_age; default 2 min. */
        public Builder duplicateWindow(Duration duplicateWindow) {
            this.duplicateWindow = duplicateWindow;
            return this;
        }

        /** Stream replicas, 1 to 5 (more than 1 needs a JetStream cluster); default 1. */
        public Builder replicas(int replicas) {
            this.replicas = replicas;
            return this;
        }

        /** Durable consumer name shared by the writers, 1-64 of {@code [A-Za-z0-9_-]}; default spillway-writers. */
        public Builder consumer(String consumer) {
            this.consumer = consumer;
            return this;
        }

        /** Redelivery timeout of an unacknowledged batch, 1 s to 1 h; default 30 s. */
        public Builder ackWait(Duration ackWait) {
            this.ackWait = ackWait;
            return this;
        }

        /** Most batches delivered and not yet acknowledged across all writers, 1 to 100,000; default 256. */
        public Builder maxAckPending(long maxAckPending) {
            this.maxAckPending = maxAckPending;
            return this;
        }

        /**
         * Most deliveries of one batch, 2 to 1,000,000, or -1 (the default) for unbounded. Unbounded is deliberate:
         * the writer NAKs only retryable failures (database unreachable) and terminates permanent ones, so a bound
         * would turn a long database outage into data loss. With a bound, the writer terminates and counts a batch
         * whose last delivery failed.
         */
        public Builder maxDeliver(long maxDeliver) {
            this.maxDeliver = maxDeliver;
            return this;
        }

        /**
         * Validates and builds.
         *
         * @throws IllegalArgumentException naming the first invalid setting and its valid range
         */
        public JetStreamTopology build() {
            check(stream != null && NAME.matcher(stream).matches(), "stream must be 1-64 of [A-Za-z0-9_-], was "
                + stream);
            check(subject != null && subject.length() <= 255 && SUBJECT.matcher(subject).matches(),
                "subject must be dot-separated tokens of [A-Za-z0-9_-] without wildcards, was " + subject);
            check(consumer != null && NAME.matcher(consumer).matches(),
                "consumer must be 1-64 of [A-Za-z0-9_-], was " + consumer);
            check(maxBytes >= (1L << 20) && maxBytes <= (1L << 50), "maxBytes must be 1 MiB..1 PiB, was " + maxBytes);
            check(maxAge != null && maxAge.compareTo(Duration.ofMinutes(1)) >= 0
                && maxAge.compareTo(Duration.ofDays(30)) <= 0, "maxAge must be 1m..30d, was " + maxAge);
            check(duplicateWindow != null && duplicateWindow.compareTo(Duration.ofMillis(100)) >= 0
                    && duplicateWindow.compareTo(maxAge) <= 0,
                "duplicateWindow must be 100ms..maxAge (" + maxAge + "), was " + duplicateWindow);
            check(replicas >= 1 && replicas <= 5, "replicas must be 1..5, was " + replicas);
            check(ackWait != null && ackWait.compareTo(Duration.ofSeconds(1)) >= 0
                && ackWait.compareTo(Duration.ofHours(1)) <= 0, "ackWait must be 1s..1h, was " + ackWait);
            check(maxAckPending >= 1 && maxAckPending <= 100_000,
                "maxAckPending must be 1..100000, was " + maxAckPending);
            check(maxDeliver == -1 || (maxDeliver >= 2 && maxDeliver <= 1_000_000),
                "maxDeliver must be -1 (unbounded) or 2..1000000, was " + maxDeliver);
            return new JetStreamTopology(this);
        }

        private static void check(boolean ok, String message) {
            if (!ok) {
                throw new IllegalArgumentException("JetStreamTopology." + message);
            }
        }
    }
}
