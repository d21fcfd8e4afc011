package dev.spillway.collector.nats;

import dev.spillway.ingest.resend.ResendWindow;
import dev.spillway.ingest.series.EdgeSeriesCatalogue;
import io.nats.client.Connection;
import io.nats.client.Dispatcher;
import io.nats.client.JetStreamManagement;
import io.nats.client.JetStreamOptions;
import io.nats.client.Message;
import io.nats.client.api.StreamState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * Resent HTTP bodies at a NATS-only edge: the edge keeps the resend window as a standalone collector does (its
 * journal beside the spool), but the events an earlier run took are stored by the writers. So:
 * <ul>
 *   <li>{@link #settled}: an earlier copy's events are stored or lost for good only once the edge's spool is empty
 *       and the batch stream holds nothing published before that moment (work-queue retention: a batch leaves the
 *       stream when a writer acknowledged it, after its commit). The mark is the stream's last sequence when the
 *       spool was first seen empty; every batch of the killed run was published before it.</li>
 *   <li>{@link #client}: the lookup by content is a NATS request ({@code <subject>.lookup}, 10 s) answered by any
 *       writer ({@link #serve}: a queue group), which maps the edge's local ids to catalogue ids and runs the
 *       standalone collector's query.</li>
 * </ul>
 * While either cannot answer, the resend gets 503 with {@code Retry-After}, as a standalone collector's does.
 */
public final class EdgeResends {

    private static final Logger LOG = LoggerFactory.getLogger(EdgeResends.class);
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final byte OK = 0;
    private static final byte FAILED = 1;
    private static final int CHUNK = 20_000;

    private EdgeResends() {
    }

    private static String subject(NatsSettings settings) {
        return settings.subject() + ".lookup";
    }

    /** The edge's lookup: asks a writer. */
    static ResendWindow.Lookup client(Connection connection, NatsSettings settings, String origin) {
        final String subject = subject(settings);
        return events -> {
            // NATS caps a message (1 MiB by default): a large body is asked about in parts of 26 bytes an event.
            final BitSet found = new BitSet();
            for (int from = 0; from < events.size(); from += CHUNK) {
                found.or(ask(connection, subject, origin, events.subList(from, Math.min(events.size(),
                    from + CHUNK))));
            }
            return found;
        };
    }

    private static BitSet ask(Connection connection, String subject, String origin,
                              List<ResendWindow.LookupEvent> events) throws Exception {
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream(32 + events.size() * 26);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeUTF(origin);
            out.writeInt(events.size());
            for (ResendWindow.LookupEvent e : events) {
                out.writeInt(e.index());
                out.writeInt(e.sourceId());
                out.writeLong(e.timestampNanos());
                out.writeShort(e.kind());
                out.writeDouble(e.value());
            }
        }
        final Message reply = connection.request(subject, bytes.toByteArray(), TIMEOUT);
        if (reply == null || reply.getData() == null || reply.getData().length == 0) {
            throw new IOException("no writer answered the lookup on " + subject + " within "
                + TIMEOUT.toSeconds() + " s");
        }
        final byte[] data = reply.getData();
        if (data[0] != OK) {
            throw new IOException("the writer could not look it up: "
                + new String(data, 1, data.length - 1, java.nio.charset.StandardCharsets.UTF_8));
        }
        return BitSet.valueOf(java.util.Arrays.copyOfRange(data, 1, data.length));
    }

    /**
     * Whether nothing of an earlier run's copies can still be on its way to the database (see the class comment).
     *
     * @param spooled events in the edge's spool now
     */
    static java.util.function.BooleanSupplier settled(Connection connection, NatsSettings settings,
                                                       LongSupplier spooled) throws IOException {
        final JetStreamManagement jsm = connection.jetStreamManagement(JetStreamOptions.builder()
            .requestTimeout(Duration.ofSeconds(2)).build());
        return new java.util.function.BooleanSupplier() {
            private long mark = -1;
            private boolean drained;

            @Override
            public synchronized boolean getAsBoolean() {
                if (spooled.getAsLong() != 0) {
                    mark = -1;
                    drained = false;
                    return false;
                }
                if (drained) {
                    return true;
                }
                try {
                    final StreamState state = jsm.getStreamInfo(settings.stream()).getStreamState();
                    if (mark < 0) {
                        mark = state.getLastSequence();
                    }
                    drained = state.getMsgCount() == 0 || state.getFirstSequence() > mark;
                    return drained;
                } catch (Exception e) {
                    LOG.debug("stream state unavailable for a resend: {}", e.toString());
                    return false;
                }
            }
        };
    }

    /** A writer's answering side; closed with the connection. */
    static Dispatcher serve(Connection connection, NatsSettings settings, EdgeSeriesCatalogue catalogue,
                            ResendWindow.Lookup database) {
        final Dispatcher d = connection.createDispatcher(m -> {
            byte[] answer;
            try {
                answer = answer(m.getData(), catalogue, database);
            } catch (Exception | Error e) {
                LOG.warn("lookup of an edge's resent events failed: {}", e.toString());
                final byte[] why = String.valueOf(e.getMessage()).getBytes(java.nio.charset.StandardCharsets.UTF_8);
                answer = new byte[why.length + 1];
                answer[0] = FAILED;
                System.arraycopy(why, 0, answer, 1, why.length);
            }
            if (m.getReplyTo() != null) {
                connection.publish(m.getReplyTo(), answer);
            }
        });
        d.subscribe(subject(settings), settings.consumer() + "-lookups");
        return d;
    }

    private static byte[] answer(byte[] request, EdgeSeriesCatalogue catalogue, ResendWindow.Lookup database)
        throws Exception {
        final List<ResendWindow.LookupEvent> events = new ArrayList<>();
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(request))) {
            final String origin = in.readUTF();
            final int n = in.readInt();
            if (n < 0 || n > request.length / 26 + 1) {
                throw new IOException("bad lookup request: " + n + " events");
            }
            final java.util.Map<Integer, Integer> ids = new java.util.HashMap<>();
            for (int i = 0; i < n; i++) {
                final int index = in.readInt();
                final int local = in.readInt();
                final long nanos = in.readLong();
                final short kind = in.readShort();
                final double value = in.readDouble();
                Integer id = ids.get(local);
                if (id == null && !ids.containsKey(local)) {
                    id = local < 0 ? catalogue.catalogueId(origin, local) : Integer.valueOf(local);
                    ids.put(local, id);
                }
                if (id != null) { // a series no writer knows cannot have stored events
                    events.add(new ResendWindow.LookupEvent(index, id, nanos, kind, value));
                }
            }
        }
        final byte[] found = database.find(events).toByteArray();
        final byte[] answer = new byte[found.length + 1];
        answer[0] = OK;
        System.arraycopy(found, 0, answer, 1, found.length);
        return answer;
    }
}
