package dev.spillway.ingest;

import dev.spillway.ingest.lineprotocol.FieldType;
import dev.spillway.ingest.lineprotocol.LineHandler;
import dev.spillway.ingest.lineprotocol.LineProtocolParser;
import dev.spillway.ingest.lineprotocol.ParsedPoint;
import dev.spillway.ingest.lineprotocol.Precision;
import dev.spillway.ingest.resend.RequestIdentity;
import dev.spillway.ingest.resend.ResendWindow;
import dev.spillway.ingest.series.Series;
import dev.spillway.ingest.series.SeriesKey;
import dev.spillway.ingest.series.SeriesKeyBuilder;
import dev.spillway.ingest.series.SeriesLimitException;
import dev.spillway.ingest.series.SeriesRejectedException;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;

/**
 * Turns line protocol into pipeline events: one event per numeric or boolean field, with the field's series as
 * {@code sourceId}, the field type as {@code kind} and the series' next sequence number.
 *
 * <p>Partial writes keep the good lines: every line is accepted or rejected on its own (a line is all-or-nothing:
 * either every numeric field of it reaches the pipeline or none does, except when the pipeline itself refuses
 * mid-line). Lines whose series are all known are ingested during parsing; lines that need a new series are
 * copied and ingested once their series exist, so a slow series insert never holds up known series.
 *
 * <p>Events enter the pipeline through the {@link PointWriter} (producer {@code line-protocol}), like every
 * other input.
 *
 * <p>Acknowledgement after commit ({@link AckMode#COMMIT}): the body remembers the smallest and largest ring
 * sequence its events claimed (two longs, nothing attached to the events) and, once parsed, waits for the
 * pipeline's resolved-through watermark to pass its range ({@link PointWriter#whenResolved}).
 *
 * <p>Resends ({@link ResendWindow}): an HTTP body comes with its {@link RequestScope}; events are numbered in body
 * order (each numeric field of each valid line), and a copy of a request the window has seen skips the events an
 * earlier copy took (after looking up in the events table those whose fate is unknown, in a first parse that only
 * collects them), so that a resent body stores each line once.
 *
 * <p>Thread-safe; each thread uses its own parser.
 */
public final class LineIngestor {

    private final PointWriter writer;
    private final PointWriter.Producer producer;
    private final CollectorMetrics metrics;
    private final BadLineLog badLines;
    private final HeartbeatLines heartbeats;
    private final AckMode defaultAck;
    private final long ackTimeoutNanos;
    private final ResendWindow resends;
    private final ThreadLocal<PerThread> perThread = ThreadLocal.withInitial(PerThread::new);

    private static final byte[] HEARTBEAT = HeartbeatLines.MEASUREMENT.getBytes(StandardCharsets.UTF_8);

    /**
     * Whether the point's measurement is {@link HeartbeatLines#MEASUREMENT}, compared on the parser's unescaped UTF-8
     * bytes: {@link ParsedPoint#measurement()} would look a String up for every line of every body.
     */
    static boolean heartbeatMeasurement(ParsedPoint p) {
        final int start = p.measurementStart();
        return p.measurementEnd() - start == HEARTBEAT.length
            && Arrays.equals(p.nameBytes(), start, start + HEARTBEAT.length, HEARTBEAT, 0, HEARTBEAT.length);
    }

    /** What each ingest thread reuses across bodies, so a line of known series allocates nothing. */
    private static final class PerThread {
        final LineProtocolParser parser = new LineProtocolParser();
        final SeriesKeyBuilder key = new SeriesKeyBuilder();
    }

    /** Wires the ingestor to the point writer, meters and rate-limited bad-line log; acknowledges on accept. */
    public LineIngestor(PointWriter writer, CollectorMetrics metrics, BadLineLog badLines) {
        this(writer, metrics, badLines, HeartbeatLines.NONE, AckMode.ACCEPT, Duration.ofSeconds(30));
    }

    /**
     * Same, and accepted {@code heartbeat,service=<id> status=<n>i} points are also reported to {@code heartbeats}.
     *
     * @param defaultAck the acknowledgement mode of HTTP requests that do not choose one
     * @param ackTimeout the longest a {@link AckMode#COMMIT} request waits for its events to be confirmed
     */
    public LineIngestor(PointWriter writer, CollectorMetrics metrics, BadLineLog badLines, HeartbeatLines heartbeats,
                        AckMode defaultAck, Duration ackTimeout) {
        this(writer, metrics, badLines, heartbeats, defaultAck, ackTimeout, null);
    }

    /**
     * Same, and HTTP bodies that come with a {@link RequestScope} are recognised when resent.
     *
     * @param resends the window of requests seen, or null to take every body as new
     */
    public LineIngestor(PointWriter writer, CollectorMetrics metrics, BadLineLog badLines, HeartbeatLines heartbeats,
                        AckMode defaultAck, Duration ackTimeout, ResendWindow resends) {
        this.resends = resends;
        this.heartbeats = heartbeats;
        this.defaultAck = defaultAck;
        this.ackTimeoutNanos = ackTimeout.toNanos();
        this.writer = writer;
        this.producer = writer.producer("line-protocol");
        this.metrics = metrics;
        this.badLines = badLines;
    }

    /**
     * Parses and ingests a body.
     *
     * @param source for log lines, e.g. {@code http 10.0.0.7:41234}
     * @param firstLine the number the body's first line carries (TCP counts lines per connection)
     * @return completes when every line is resolved; at once unless a line needs a new series. When it completes
     *     off the caller's thread, it does so on a series thread.
     */
    public CompletableFuture<IngestResult> ingest(byte[] buf, int off, int len, Precision precision, String source,
                                                  int firstLine) {
        return ingest(buf, off, len, precision, source, firstLine, AckMode.ACCEPT);
    }

    /**
     * Parses and ingests a body, completing per {@code ack}: with {@link AckMode#COMMIT} only once every event is
     * committed or durably spooled (the result is then {@link IngestResult#uncommitted()} if any was lost or the
     * confirmation timed out).
     *
     * @param ack the request's choice, or null for the configured default
     */
    public CompletableFuture<IngestResult> ingest(byte[] buf, int off, int len, Precision precision, String source,
                                                  int firstLine, AckMode ack) {
        return ingest(buf, off, len, precision, source, firstLine, ack, null);
    }

    /**
     * Same, for an HTTP body that may be a resend: with a {@link RequestScope} (and a {@link ResendWindow}), the
     * events an earlier copy of the request took are not taken again. A copy whose earlier copy's fate cannot be
     * known yet completes at once with an {@link IngestResult#refusal()} (503, retry).
     *
     * @param request who sent the body, or null when it cannot be resent (TCP, UDP)
     */
    public CompletableFuture<IngestResult> ingest(byte[] buf, int off, int len, Precision precision, String source,
                                                  int firstLine, AckMode ack, RequestScope request) {
        final AckMode mode = ack == null ? defaultAck : ack;
        final Instant now = Instant.now();
        long nowNanos = now.getEpochSecond() * 1_000_000_000L + now.getNano();
        final PerThread thread = perThread.get();
        ResendWindow.Attempt attempt = null;
        if (resends != null && request != null) {
            final ResendWindow.Begin begin = resends.begin(RequestIdentity.of(request.idempotencyKey(),
                request.credentials(), request.uri(), buf, off, len), mode == AckMode.COMMIT);
            if (begin.refusal() != null) {
                return CompletableFuture.completedFuture(IngestResult.refused(begin.refusal().status(),
                    begin.refusal().message()));
            }
            attempt = begin.attempt();
            nowNanos = attempt.defaultTimeNanos(nowNanos);
            if (attempt.needsLookup()) {
                final ResendWindow.Refusal no;
                try {
                    final Unknowns unknowns = new Unknowns(attempt, thread.key);
                    thread.parser.parse(buf, off, len, precision, nowNanos, unknowns);
                    no = attempt.lookUp(unknowns.events);
                } catch (RuntimeException | Error e) {
                    attempt.abandon();
                    throw e;
                }
                if (no != null) {
                    attempt.abandon();
                    return CompletableFuture.completedFuture(IngestResult.refused(no.status(), no.message()));
                }
            }
        }
        final Body body = new Body(source, firstLine - 1, thread.key, attempt);
        final boolean commit = mode == AckMode.COMMIT;
        // A commit-acknowledged body opens its scope before its first event is ingested and closes it once its
        // answer is decided: batches spooled meanwhile that may hold its events are never dropped by a full spool.
        final long scope = commit ? writer.openAckScope() : 0;
        CompletableFuture<IngestResult> parsed;
        try {
            thread.parser.parse(buf, off, len, precision, nowNanos, body);
            parsed = body.pending.isEmpty() ? CompletableFuture.completedFuture(body.finish()) : body.resolvePending();
        } catch (RuntimeException | Error e) {
            body.countEvents();
            if (attempt != null) {
                attempt.finish(body.firstRing, body.lastRing);
            }
            if (commit) {
                writer.closeAckScope(scope);
            }
            throw e;
        }
        if (attempt != null) {
            final ResendWindow.Attempt a = attempt;
            parsed = parsed.whenComplete((r, e) -> a.finish(body.firstRing, body.lastRing));
        }
        if (!commit) {
            return parsed;
        }
        final CompletableFuture<IngestResult> answered = parsed.thenCompose(result -> {
            if (body.firstRing < 0) {
                return CompletableFuture.completedFuture(result); // no events: nothing to wait for
            }
            return writer.whenResolved(body.firstRing, body.lastRing)
                .completeOnTimeout(Boolean.FALSE, ackTimeoutNanos, TimeUnit.NANOSECONDS)
                .thenApply(durable -> durable ? result : result.asUncommitted());
        });
        answered.whenComplete((result, err) -> writer.closeAckScope(scope));
        return answered;
    }

    /** The copy of a line kept while its new series are created; {@code firstEvent} is its first event's number. */
    private record PendingLine(int line, String measurement, List<String> tags, long timestamp, String[] fields,
                               SeriesKey[] keys, short[] kinds, double[] values, int firstEvent,
                               boolean timestamped) {
    }

    /** How many events (numeric fields) a point makes. */
    private static int numericFields(ParsedPoint p) {
        int numeric = 0;
        for (int i = 0; i < p.fieldCount(); i++) {
            if (p.fieldType(i) != FieldType.STRING) {
                numeric++;
            }
        }
        return numeric;
    }

    /**
     * The first parse of a resend whose earlier copy's fate is partly unknown: collects those events, as the
     * database would hold them, for the lookup. Events of series the catalogue does not know cannot be stored.
     */
    private final class Unknowns implements LineHandler {
        private final ResendWindow.Attempt attempt;
        private final SeriesKeyBuilder key;
        private final List<ResendWindow.LookupEvent> events = new ArrayList<>();
        private final boolean localIds = writer.localSeriesIds();
        private int nextEvent;

        Unknowns(ResendWindow.Attempt attempt, SeriesKeyBuilder key) {
            this.attempt = attempt;
            this.key = key;
        }

        @Override
        public void onError(int lineNumber, String message) {
            // Invalid lines have no events, in this parse as in every other.
        }

        @Override
        public void onPoint(ParsedPoint p) {
            final int first = nextEvent;
            nextEvent += numericFields(p);
            if (!p.hasTimestamp() && !attempt.matchesUntimestamped()) {
                return; // taken again in any case
            }
            boolean prefixed = false;
            int j = 0;
            for (int i = 0; i < p.fieldCount(); i++) {
                if (p.fieldType(i) == FieldType.STRING) {
                    continue;
                }
                final int event = first + j++;
                if (!attempt.unknown(event)) {
                    continue;
                }
                if (!prefixed) {
                    key.prefix(p);
                    prefixed = true;
                }
                key.field(p, i);
                final Series s = writer.cached(key);
                // A NATS-only edge looks its local ids up (its writers map them); elsewhere, catalogue ids only.
                if (s != null && (s.databaseId() >= 0 || localIds)) {
                    final int id = s.databaseId() >= 0 ? s.databaseId() : s.id();
                    events.add(new ResendWindow.LookupEvent(event, id, p.timestampNanos(),
                        FieldKinds.of(p.fieldType(i)), p.fieldValue(i)));
                }
            }
        }
    }

    /** Per-body state: the parse callback and the tallies. Confined to one thread at a time. */
    private final class Body implements LineHandler {
        private final String source;
        private final int lineOffset;
        private final List<PendingLine> pending = new ArrayList<>();
        private final Map<RejectReason, Integer> rejectedBy = new EnumMap<>(RejectReason.class);
        private final SeriesKeyBuilder key;
        private final ResendWindow.Attempt attempt;
        private int nextEvent;
        private Series[] series = new Series[8];
        private int accepted;
        private int rejected;
        private long events;
        private long refusedEvents;
        private long eventsCounted;
        private long refusedCounted;
        private long strings;
        private int firstBadLine;
        private String firstBadMessage;
        private RejectReason firstBadReason;
        private boolean refused;
        private boolean seriesError;
        /** Ring sequences claimed by this body's events: the range an acknowledgement waits on. */
        private long firstRing = -1;
        private long lastRing = -1;

        Body(String source, int lineOffset, SeriesKeyBuilder key, ResendWindow.Attempt attempt) {
            this.source = source;
            this.lineOffset = lineOffset;
            this.key = key;
            this.attempt = attempt;
        }

        @Override
        public void onError(int lineNumber, String message) {
            reject(lineOffset + lineNumber, RejectReason.INVALID, message);
        }

        @Override
        public void onPoint(ParsedPoint p) {
            final int line = lineOffset + p.lineNumber();
            final int firstEvent = nextEvent;
            if (attempt != null) {
                nextEvent += numericFields(p);
            }
            if (refused) {
                // The pipeline is closing or full: the rest of the body would be refused too.
                reject(line, RejectReason.REFUSED, "collector is not accepting data right now");
                return;
            }
            final int n = p.fieldCount();
            if (series.length < n) {
                series = new Series[Math.max(n, series.length * 2)];
            }
            boolean prefixed = false;
            int numeric = 0;
            boolean allKnown = true;
            for (int i = 0; i < n; i++) {
                series[i] = null;
                if (p.fieldType(i) == FieldType.STRING) {
                    strings++;
                    continue;
                }
                numeric++;
                if (!prefixed) {
                    key.prefix(p);
                    prefixed = true;
                }
                key.field(p, i);
                final Series s = writer.cached(key);
                series[i] = s;
                allKnown &= s != null;
            }
            if (numeric == 0) {
                accepted++; // only string fields: nothing to store, but nothing wrong with the line either
                return;
            }
            if (allKnown) {
                int j = 0;
                for (int i = 0; i < n; i++) {
                    final Series s = series[i];
                    if (s == null) {
                        continue;
                    }
                    final int event = firstEvent + j++;
                    if (attempt != null && attempt.skip(event, p.hasTimestamp())) {
                        continue; // an earlier copy of this request took it
                    }
                    if (!offer(p.timestampNanos(), s, FieldKinds.of(p.fieldType(i)), p.fieldValue(i))) {
                        rejectNotOffered(line);
                        return;
                    }
                    if (attempt != null) {
                        attempt.taken(event);
                    }
                }
                accepted++;
                if (heartbeats != HeartbeatLines.NONE && heartbeatMeasurement(p)) {
                    heartbeatOf(p);
                }
                return;
            }
            pending.add(copy(p, line, numeric, firstEvent));
        }

        private boolean offer(long timestamp, Series s, short kind, double value) {
            final long ring = producer.claimUncounted(timestamp, s, kind, value);
            if (ring >= 0) {
                events++;
                if (firstRing < 0) {
                    firstRing = ring;
                }
                lastRing = Math.max(lastRing, ring);
                return true;
            }
            refusedEvents++;
            refused = true;
            return false;
        }

        /** Adds the events offered since the last call to the producer's counters (once per body, not per event). */
        void countEvents() {
            producer.count(events - eventsCounted, refusedEvents - refusedCounted);
            eventsCounted = events;
            refusedCounted = refusedEvents;
        }

        private List<String> tagsOf(ParsedPoint p) {
            final List<String> tags = new ArrayList<>(2 * p.tagCount());
            for (int t = 0; t < p.tagCount(); t++) {
                tags.add(p.tagKey(t));
                tags.add(p.tagValue(t));
            }
            return List.copyOf(tags);
        }

        private void heartbeatOf(ParsedPoint p) {
            String service = null;
            for (int t = 0; t < p.tagCount(); t++) {
                if ("service".equals(p.tagKey(t))) {
                    service = p.tagValue(t);
                }
            }
            for (int i = 0; service != null && i < p.fieldCount(); i++) {
                if ("status".equals(p.fieldKey(i)) && (p.fieldType(i) == FieldType.INTEGER
                    || p.fieldType(i) == FieldType.UNSIGNED)) {
                    heartbeats.heartbeat(service, p.fieldLong(i));
                }
            }
        }

        private void heartbeatOf(PendingLine pl) {
            String service = null;
            for (int t = 0; t + 1 < pl.tags.size(); t += 2) {
                if ("service".equals(pl.tags.get(t))) {
                    service = pl.tags.get(t + 1);
                }
            }
            for (int j = 0; service != null && j < pl.fields.length; j++) {
                if ("status".equals(pl.fields[j]) && (pl.kinds[j] == FieldKinds.INTEGER
                    || pl.kinds[j] == FieldKinds.UNSIGNED)) {
                    heartbeats.heartbeat(service, (long) pl.values[j]);
                }
            }
        }

        /** The slow path: a line with a new series is copied (Strings and all) while the series is created. */
        private PendingLine copy(ParsedPoint p, int line, int numeric, int firstEvent) {
            final String[] fields = new String[numeric];
            final SeriesKey[] keys = new SeriesKey[numeric];
            final short[] kinds = new short[numeric];
            final double[] values = new double[numeric];
            int j = 0;
            for (int i = 0; i < p.fieldCount(); i++) {
                if (p.fieldType(i) != FieldType.STRING) {
                    fields[j] = p.fieldKey(i);
                    key.field(p, i); // the prefix is this line's already
                    keys[j] = key.toKey();
                    kinds[j] = FieldKinds.of(p.fieldType(i));
                    values[j] = p.fieldValue(i);
                    j++;
                }
            }
            return new PendingLine(line, p.measurement(), tagsOf(p), p.timestampNanos(), fields, keys,
                kinds, values, firstEvent, p.hasTimestamp());
        }

        CompletableFuture<IngestResult> resolvePending() {
            final List<CompletableFuture<Series>> all = new ArrayList<>();
            for (PendingLine pl : pending) {
                for (int j = 0; j < pl.fields.length; j++) {
                    all.add(writer.resolve(pl.keys[j], pl.measurement, pl.tags, pl.fields[j]));
                }
            }
            // Not *Async: the continuation runs on the series thread that finished last, which is never the
            // event loop and needs no second executor that could refuse the task.
            return CompletableFuture.allOf(all.toArray(new CompletableFuture<?>[0])).handle((ignored, err) -> {
                int k = 0;
                try {
                    for (PendingLine pl : pending) {
                        final int from = k;
                        k += pl.fields.length;
                        ingestPending(pl, all.subList(from, k));
                    }
                } catch (RuntimeException | Error e) {
                    countEvents();
                    throw e;
                }
                return finish();
            });
        }

        private void ingestPending(PendingLine pl, List<CompletableFuture<Series>> resolved) {
            if (refused) {
                reject(pl.line, RejectReason.REFUSED, "collector is not accepting data right now");
                return;
            }
            final Series[] s = new Series[resolved.size()];
            for (int j = 0; j < s.length; j++) {
                try {
                    s[j] = resolved.get(j).join();
                } catch (CompletionException e) {
                    if (e.getCause() instanceof SeriesLimitException limit) {
                        reject(pl.line, RejectReason.SERIES_LIMIT, limit.getMessage() + " (measurement '"
                            + pl.measurement + "', field '" + pl.fields[j] + "')");
                    } else if (e.getCause() instanceof SeriesRejectedException bad) {
                        reject(pl.line, RejectReason.SERIES_INVALID, bad.getMessage());
                    } else {
                        seriesError = true;
                        reject(pl.line, RejectReason.SERIES_ERROR, "could not create series: " + e.getCause());
                    }
                    return;
                }
            }
            for (int j = 0; j < s.length; j++) {
                final int event = pl.firstEvent + j;
                if (attempt != null && attempt.skip(event, pl.timestamped)) {
                    continue; // an earlier copy of this request took it
                }
                if (!offer(pl.timestamp, s[j], pl.kinds[j], pl.values[j])) {
                    rejectNotOffered(pl.line);
                    return;
                }
                if (attempt != null) {
                    attempt.taken(event);
                }
            }
            accepted++;
            if (heartbeats != HeartbeatLines.NONE && HeartbeatLines.MEASUREMENT.equals(pl.measurement)) {
                heartbeatOf(pl);
            }
        }

        private void rejectNotOffered(int line) {
            reject(line, RejectReason.REFUSED, "collector is not accepting data right now");
        }

        private void reject(int line, RejectReason reason, String message) {
            rejected++;
            rejectedBy.merge(reason, 1, Integer::sum);
            if (firstBadLine == 0 || line < firstBadLine) {
                firstBadLine = line;
                firstBadMessage = message;
                firstBadReason = reason;
            }
            badLines.report(source, line, reason, message);
        }

        IngestResult finish() {
            countEvents();
            metrics.accepted(accepted);
            metrics.stringsSkipped(strings);
            rejectedBy.forEach((reason, count) -> metrics.rejected(reason, count));
            return new IngestResult(accepted, rejected, events, firstBadLine, firstBadMessage, firstBadReason,
                refused, seriesError, false);
        }
    }
}
