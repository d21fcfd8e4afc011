package dev.spillway.collector.nats;

import dev.spillway.ingest.series.EdgeSeriesCatalogue;
import dev.spillway.ingest.series.SeriesAnnouncer;
import dev.spillway.ingest.series.SeriesDefinition;
import dev.spillway.telemetry.nats.JetStreamUnavailableException;
import io.nats.client.Connection;
import io.nats.client.JetStream;
import io.nats.client.JetStreamApiException;
import io.nats.client.JetStreamManagement;
import io.nats.client.JetStreamOptions;
import io.nats.client.PublishOptions;
import io.nats.client.api.DiscardPolicy;
import io.nats.client.api.MessageInfo;
import io.nats.client.api.PublishAck;
import io.nats.client.api.RetentionPolicy;
import io.nats.client.api.StorageType;
import io.nats.client.api.StreamConfiguration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Where NATS-only edges publish their series and writers read them: a second stream, {@code <stream>-series}, on
 * subjects {@code <subject>.series.<edge instance>.s<n>} (one subject per series: local id {@code -n}), keeping the
 * last message of each subject with no age limit (limits retention, one message per subject). An edge publishes a
 * series' definition and waits for JetStream's acknowledgement before any of its events can be published; a writer
 * reads it by subject (a stream "get last message", no consumer) the first time a batch carries the id. Definitions
 * are small (tens of bytes) and one per (edge, series); the stream's {@code max_bytes} (256 MiB) bounds them.
 */
public final class EdgeSeriesStream {

    private static final Logger LOG = LoggerFactory.getLogger(EdgeSeriesStream.class);
    private static final int NO_MESSAGE = 10037;
    private static final int STREAM_NOT_FOUND = 10059;
    private static final long MAX_BYTES = 256L << 20;
    private static final Duration TIMEOUT = Duration.ofSeconds(5);

    private final String stream;
    private final String subjectPrefix;
    private final JetStream jetStream;
    private final JetStreamManagement management;

    private EdgeSeriesStream(String stream, String subjectPrefix, Connection connection) throws IOException {
        this.stream = stream;
        this.subjectPrefix = subjectPrefix;
        this.jetStream = connection.jetStream();
        this.management = connection.jetStreamManagement(JetStreamOptions.builder().requestTimeout(TIMEOUT).build());
    }

    /** Creates the stream if it does not exist (any process may; the first does). */
    static EdgeSeriesStream ensure(Connection connection, NatsSettings settings) throws IOException,
        JetStreamApiException {
        final EdgeSeriesStream s = new EdgeSeriesStream(settings.stream() + "-series", settings.subject() + ".series",
            connection);
        try {
            s.management.getStreamInfo(s.stream);
        } catch (JetStreamApiException e) {
            if (e.getApiErrorCode() != STREAM_NOT_FOUND) {
                throw e;
            }
            try {
                s.management.addStream(StreamConfiguration.builder().name(s.stream).subjects(s.subjectPrefix + ".>")
                    .storageType(StorageType.File).retentionPolicy(RetentionPolicy.Limits)
                    .discardPolicy(DiscardPolicy.New).maxMessagesPerSubject(1).maxBytes(MAX_BYTES)
                    .replicas(1).build());
                LOG.info("created JetStream stream {} (subjects {}.>, edge series definitions)", s.stream,
                    s.subjectPrefix);
            } catch (JetStreamApiException raced) {
                s.management.getStreamInfo(s.stream); // created by another process in between
            }
        }
        return s;
    }

    private String subject(String origin, int localId) {
        return subjectPrefix + "." + origin + ".s" + (-(long) localId);
    }

    /** The edge's announcer: every definition published, all acknowledged within 5 s or a retryable failure. */
    SeriesAnnouncer announcer(String origin) {
        return definitions -> {
            final List<CompletableFuture<PublishAck>> acks = new ArrayList<>(definitions.size());
            for (SeriesDefinition d : definitions) {
                final String subject = subject(origin, d.localId());
                acks.add(jetStream.publishAsync(subject, d.encode(), PublishOptions.builder()
                    .expectedStream(stream).messageId(origin + ":" + d.localId()).build()));
            }
            final long deadline = System.nanoTime() + TIMEOUT.toNanos();
            for (CompletableFuture<PublishAck> ack : acks) {
                try {
                    ack.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                } catch (TimeoutException e) {
                    throw new JetStreamUnavailableException("JetStream did not acknowledge a series definition within "
                        + TIMEOUT.toSeconds() + " s (stream " + stream + ")", e);
                } catch (ExecutionException e) {
                    throw new JetStreamUnavailableException("JetStream could not store a series definition in stream "
                        + stream + ": " + e.getCause(), e.getCause());
                }
            }
        };
    }

    /** The writer's reader of definitions. */
    EdgeSeriesCatalogue.Definitions reader() {
        return (origin, localId) -> {
            try {
                final MessageInfo m = management.getLastMessage(stream, subject(origin, localId));
                return m == null ? null : m.getData();
            } catch (JetStreamApiException e) {
                if (e.getApiErrorCode() == NO_MESSAGE) {
                    return null;
                }
                throw e;
            }
        };
    }
}
