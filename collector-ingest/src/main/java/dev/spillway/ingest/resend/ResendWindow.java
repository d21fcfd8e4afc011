package dev.spillway.ingest.resend;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.io.IOException;
import java.nio.file.Path;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;

/**
 * Exactly once through client retries: remembers, for a bounded window, every HTTP write request (by its
 * {@link RequestIdentity}) and which of its events were taken, so that a resend of a body (after a 503, a timeout
 * or a crash) takes only what no earlier copy took and stores each line once.
 *
 * <h2>What a resend skips</h2>
 * Events are numbered in body order (each numeric field of each valid line). For each event an earlier copy took,
 * the window knows one of:
 * <ul>
 *   <li><b>durable</b>: the pipeline confirmed its batch committed or fsynced in the spool (the same watermark
 *       {@code ack=commit} answers on): skipped;</li>
 *   <li><b>in flight</b>: not resolved yet. Under {@code ack=accept} it is skipped (it is in the pipeline, which
 *       is all a 204 of {@code accept} ever says); under {@code ack=commit} the resend is answered 503 with
 *       {@code Retry-After} until it is resolved;</li>
 *   <li><b>unknown</b>: an earlier run took it (then crashed or stopped), or a loss was reported in one of its
 *       batches (losses are known per batch, not per event). Once the spool is empty (so nothing of an earlier copy
 *       can still arrive) it is looked up in the events table by content ({@link EventLookup}): found, skipped;
 *       not found, taken again. While the spool holds anything, or the database is down, the resend is answered 503
 *       with {@code Retry-After}.</li>
 * </ul>
 * Everything else (lines refused part way, lines an earlier copy never reached) is taken as usual. Copies of one
 * request are handled one at a time: one arriving while another is being parsed is answered 503.
 *
 * <p>A keyed request's lines without a timestamp get the time of its first copy, so a resend is the same data. A
 * request without a key is recognised by the digest of its body, which is only safe for timestamped lines: two
 * identical bodies of untimestamped lines sent on purpose are two sets of points, so those lines are taken every
 * time (as InfluxDB stores them again at a new time). Clients that resend untimestamped lines should send an
 * {@code Idempotency-Key}.
 *
 * <h2>Bounds</h2>
 * A request is remembered for {@code window} after its first copy (default 10 minutes) and at most
 * {@code maxRequests} requests are (default 100,000; the oldest go first): a resend later than that is a new
 * request. In memory: about 200 bytes per request plus a bit or two per event. On disk (with a directory, beside
 * the spool): one 56-byte {@link ResendJournal} record per request, written before the request's first event
 * enters the pipeline, so a restarted collector knows every request of the last window its predecessor took.
 *
 * <p>Thread-safe.
 */
public final class ResendWindow implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ResendWindow.class);

    /** Default time a request is remembered. */
    public static final Duration DEFAULT_WINDOW = Duration.ofMinutes(10);
    /** Default number of requests remembered. */
    public static final int DEFAULT_MAX_REQUESTS = 100_000;
    /** Default number of rows (events) remembered over all requests. */
    public static final long DEFAULT_MAX_ROWS = 50_000_000L;

    /** The pipeline's acknowledgement watermark ({@code Pipeline.whenResolved}). */
    @FunctionalInterface
    public interface Resolver {
        /** Completes true when every ring sequence in the range is committed or durably spooled, false when any was lost. */
        CompletableFuture<Boolean> whenResolved(long from, long to);
    }

    private record Id(long hi, long lo) {
    }

    /** What the window knows of one request. Guarded by the window. */
    private static final class Record {
        final Id id;
        final RequestIdentity identity;
        final long nowNanos;
        final long seenMillis;
        boolean busy;
        boolean unknownAll;
        final BitSet durable = new BitSet();
        final BitSet unknown = new BitSet();
        final List<BitSet> pending = new ArrayList<>(1);
        boolean evicted;
        long rows; // events numbered so far (the highest taken + 1): what its bit sets cover

        Record(RequestIdentity identity, long nowNanos, long seenMillis) {
            this.id = new Id(identity.hi(), identity.lo());
            this.identity = identity;
            this.nowNanos = nowNanos;
            this.seenMillis = seenMillis;
        }
    }

    private final Map<Id, Record> records = new HashMap<>();
    private final ArrayDeque<Record> order = new ArrayDeque<>();
    private final ResendJournal journal;
    private final Resolver resolver;
    private final BooleanSupplier spoolEmpty;
    private final BooleanSupplier databaseDown;
    private final Lookup lookup;
    private final long windowMillis;
    private final int maxRequests;
    private final long maxRows;
    private long rows; // guarded by this
    private final java.util.function.LongSupplier clock;
    private final Counter fresh;
    private final Counter resent;
    private final Counter refused;
    private final Counter skipped;
    private final Counter lookups;
    private long journalFailures; // guarded by this

    private ResendWindow(ResendJournal journal, Resolver resolver, BooleanSupplier spoolEmpty,
                         BooleanSupplier databaseDown, Lookup lookup, Duration window, int maxRequests,
                         long maxRows, MeterRegistry meters, java.util.function.LongSupplier clock) {
        this.clock = clock;
        this.maxRows = maxRows;
        this.journal = journal;
        this.resolver = resolver;
        this.spoolEmpty = spoolEmpty;
        this.databaseDown = databaseDown;
        this.lookup = lookup;
        this.windowMillis = window.toMillis();
        this.maxRequests = maxRequests;
        this.fresh = Counter.builder("spillway.collector.resend.requests").tag("outcome", "new")
            .description("HTTP write requests by whether the window had seen them").register(meters);
        this.resent = Counter.builder("spillway.collector.resend.requests").tag("outcome", "resent")
            .description("HTTP write requests by whether the window had seen them").register(meters);
        this.refused = Counter.builder("spillway.collector.resend.requests").tag("outcome", "retry_later")
            .description("HTTP write requests by whether the window had seen them").register(meters);
        this.skipped = Counter.builder("spillway.collector.resend.events.skipped")
            .description("events of resent requests not taken again: an earlier copy took them").register(meters);
        this.lookups = Counter.builder("spillway.collector.resend.lookups")
            .description("resent requests whose earlier copy was looked up in the events table").register(meters);
        Gauge.builder("spillway.collector.resend.window.requests", this, ResendWindow::size)
            .description("requests remembered by the resend window").register(meters);
        Gauge.builder("spillway.collector.resend.window.rows", this, ResendWindow::rows)
            .description("rows (events) the requests remembered by the resend window cover").register(meters);
    }

    /**
     * Opens the window.
     *
     * @param dir where the journal goes (beside the spool), or null to remember requests in memory only (then a
     *     resend after a restart is a new request)
     * @param window how long a request is remembered
     * @param maxRequests how many requests are remembered at most
     * @param maxRows how many rows (events) they may hold at most, over all of them
     * @param resolver the pipeline's acknowledgement watermark
     * @param spoolEmpty whether the pipeline's spool holds nothing now
     * @param databaseDown whether the database is known unreachable now
     * @param dataSource where the events table is, for lookups
     * @param eventsTable the events table
     */
    public static ResendWindow open(Path dir, Duration window, int maxRequests, long maxRows, Resolver resolver,
                                    BooleanSupplier spoolEmpty, BooleanSupplier databaseDown, DataSource dataSource,
                                    String eventsTable, MeterRegistry meters) throws IOException {
        return open(dir, window, maxRequests, maxRows, resolver, spoolEmpty, databaseDown, dataSource, eventsTable,
            meters, System::currentTimeMillis);
    }

    /**
     * Which of the given events (catalogue or, at a NATS-only edge, local series ids) an events table already
     * holds, by content.
     */
    @FunctionalInterface
    public interface Lookup {
        /**
         * @return the {@link LookupEvent#index() indexes} of the events found stored (identical events of one body
         *     share the matching rows: the first {@code min(rows, copies)} count as stored)
         * @throws Exception when it cannot be answered now (the resend is answered 503)
         */
        BitSet find(List<LookupEvent> events) throws Exception;
    }

    /**
     * The lookup of a collector with the database: the events table, by content (the same query as a standalone
     * collector's, without its check for a crashed predecessor's open transactions: for a writer answering an
     * edge, whose batches leave the stream only once committed).
     */
    public static Lookup databaseLookup(DataSource dataSource, String eventsTable) {
        return databaseLookup(new EventLookup(dataSource, eventsTable, null));
    }

    private static Lookup databaseLookup(EventLookup lookup) {
        return events -> {
            final List<EventLookup.Event> ev = new ArrayList<>(events.size());
            for (LookupEvent e : events) {
                ev.add(new EventLookup.Event(e.index(), e.sourceId(), e.timestampNanos(), e.kind(), e.value()));
            }
            return lookup.find(ev);
        };
    }

    /**
     * Opens the window of a collector whose events are stored elsewhere (a NATS-only edge): earlier copies are
     * looked up through {@code lookup} once {@code settled} says nothing of them can still be on its way (the
     * edge's spool is empty and the stream holds none of its earlier run's batches).
     *
     * @param settled whether every earlier copy's events are either stored or lost by now
     * @param lookup where stored events are found
     */
    public static ResendWindow open(Path dir, Duration window, int maxRequests, long maxRows, Resolver resolver,
                                    BooleanSupplier settled, Lookup lookup, MeterRegistry meters) throws IOException {
        return open(dir, window, maxRequests, maxRows, resolver, settled, () -> false, lookup, meters,
            System::currentTimeMillis);
    }

    /** Same, with the wall clock of the window's bound (tests move it by hand). */
    static ResendWindow open(Path dir, Duration window, int maxRequests, long maxRows, Resolver resolver,
                             BooleanSupplier spoolEmpty, BooleanSupplier databaseDown, DataSource dataSource,
                             String eventsTable, MeterRegistry meters, java.util.function.LongSupplier clock)
        throws IOException {
        java.sql.Timestamp started;
        try {
            started = EventLookup.serverNow(dataSource);
        } catch (SQLException e) {
            started = null;
            LOG.warn("could not read the database's clock ({}); lookups of resends will not wait for write "
                + "transactions a crashed predecessor may have left open", e.toString());
        }
        return open(dir, window, maxRequests, maxRows, resolver, spoolEmpty, databaseDown,
            databaseLookup(new EventLookup(dataSource, eventsTable, started)), meters, clock);
    }

    private static ResendWindow open(Path dir, Duration window, int maxRequests, long maxRows, Resolver resolver,
                                     BooleanSupplier spoolEmpty, BooleanSupplier databaseDown, Lookup lookup,
                                     MeterRegistry meters, java.util.function.LongSupplier clock)
        throws IOException {
        if (window.isNegative() || window.isZero()) {
            throw new IllegalArgumentException("window must be positive: " + window);
        }
        if (maxRequests < 1 || maxRows < 1) {
            throw new IllegalArgumentException("maxRequests and maxRows must be at least 1: " + maxRequests + ", "
                + maxRows);
        }
        final List<ResendJournal.Entry> earlier = new ArrayList<>();
        final long now = clock.getAsLong();
        final ResendJournal journal = dir == null ? null
            : ResendJournal.open(dir, window.toMillis(), maxRequests, now, earlier);
        final ResendWindow w = new ResendWindow(journal, resolver, spoolEmpty, databaseDown, lookup, window,
            maxRequests, maxRows, meters, clock);
        synchronized (w) {
            earlier.sort((a, b) -> Long.compare(a.wallMillis(), b.wallMillis()));
            for (ResendJournal.Entry e : earlier) {
                final Record r = new Record(e.identity(), e.nowNanos(), e.wallMillis());
                r.unknownAll = true;
                if (w.records.putIfAbsent(r.id, r) == null) {
                    w.order.add(r);
                }
            }
            w.evict(now);
        }
        if (!earlier.isEmpty()) {
            LOG.info("resend window: {} requests of an earlier run remembered (a resend of one of them is checked "
                + "against the events table once the spool is replayed)", w.size());
        }
        return w;
    }

    /** Requests remembered now. */
    public synchronized int size() {
        return records.size();
    }

    /** Why a request cannot be taken now, and the HTTP status that says so (503 with Retry-After, or 422). */
    public record Refusal(int status, String message) {
    }

    /**
     * The start of one copy of a request: either it may go ahead ({@link #attempt()}) or it is refused for now.
     *
     * @param attempt what the ingest of this copy reports to, or null when refused
     * @param refusal why not, or null
     */
    public record Begin(Attempt attempt, Refusal refusal) {
    }

    /**
     * Starts one copy of a request. Every {@link Begin#attempt()} must be {@link Attempt#finish finished} (or
     * {@link Attempt#abandon abandoned}), or the next copy is refused as "being taken".
     *
     * @param commit whether this copy is answered after commit ({@code ack=commit})
     */
    public Begin begin(RequestIdentity identity, boolean commit) {
        final long nowMillis = clock.getAsLong();
        final Record r;
        final boolean isNew;
        final Attempt a;
        synchronized (this) {
            evict(nowMillis);
            final Record known = records.get(new Id(identity.hi(), identity.lo()));
            if (known == null) {
                r = new Record(identity, nowNanos(), nowMillis);
                r.busy = true;
                records.put(r.id, r);
                order.add(r);
                evict(nowMillis); // the bound holds after the insert: the oldest goes
                isNew = true;
                a = new Attempt(r, true, null, null, null, false);
            } else {
                r = known;
                isNew = false;
                final Refusal no = refusal(r, identity, commit);
                if (no != null) {
                    refused.increment();
                    return new Begin(null, no);
                }
                r.busy = true;
                final BitSet inFlight = new BitSet();
                for (BitSet p : r.pending) {
                    inFlight.or(p);
                }
                a = new Attempt(r, false, (BitSet) r.durable.clone(), inFlight, (BitSet) r.unknown.clone(),
                    r.unknownAll);
            }
        }
        if (isNew) {
            fresh.increment();
            if (journal != null) {
                try {
                    journal.append(nowMillis, r.nowNanos, identity);
                } catch (IOException e) {
                    journalFailed(e);
                }
            }
        } else {
            resent.increment();
        }
        return new Begin(a, null);
    }

    private static long nowNanos() {
        final java.time.Instant now = java.time.Instant.now();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    private static Refusal refusal(Record r, RequestIdentity identity, boolean commit) {
        if (identity.keyed() && !r.identity.sameBody(identity)) {
            return new Refusal(422, "this Idempotency-Key was used for a request with a different body; use a new "
                + "key for new data");
        }
        if (r.busy) {
            return new Refusal(503, "an earlier copy of this request is being taken right now; retry");
        }
        final boolean needsLookup = r.unknownAll || !r.unknown.isEmpty();
        if (!r.pending.isEmpty() && (commit || needsLookup)) {
            return new Refusal(503, "an earlier copy of this request is not committed yet; retry, it is not taken "
                + "twice");
        }
        return null;
    }

    private void journalFailed(IOException e) {
        synchronized (this) {
            if (journalFailures++ % 1_000 != 0) {
                return;
            }
        }
        LOG.error("could not record a request in the resend journal (failure {}): a resend of it after a restart "
            + "would be taken as new: {}", journalFailures, e.toString());
    }

    /** Drops requests older than the window, and the oldest beyond the request and row bounds. Guarded by this. */
    private void evict(long nowMillis) {
        while (!order.isEmpty()) {
            final Record oldest = order.peekFirst();
            final boolean expired = oldest.seenMillis < nowMillis - windowMillis;
            if (!expired && order.size() <= maxRequests && rows <= maxRows) {
                break;
            }
            order.pollFirst();
            if (records.get(oldest.id) == oldest) {
                records.remove(oldest.id);
            }
            oldest.evicted = true;
            rows -= oldest.rows;
        }
    }

    /** Rows (events) the remembered requests cover now. */
    public synchronized long rows() {
        return rows;
    }

    /**
     * One copy of a request being ingested: says which events to skip, collects which were taken, and hands them
     * to the window when the copy's parse is done.
     */
    public final class Attempt {
        private final Record record;
        private final boolean first;
        private final BitSet durable;
        private final BitSet inFlight;
        private final BitSet unknown;
        private final boolean unknownAll;
        private final BitSet found = new BitSet();
        private final BitSet taken = new BitSet();
        private boolean lookedUp;
        private long skippedEvents;
        private boolean done;

        private Attempt(Record record, boolean first, BitSet durable, BitSet inFlight, BitSet unknown,
                        boolean unknownAll) {
            this.record = record;
            this.first = first;
            this.durable = durable;
            this.inFlight = inFlight;
            this.unknown = unknown;
            this.unknownAll = unknownAll;
        }

        /** Whether an earlier copy of this request was seen (in this run or, through the journal, an earlier one). */
        public boolean resend() {
            return !first;
        }

        /** The time for lines without one: the first copy's for a keyed request, else {@code now}. */
        public long defaultTimeNanos(long now) {
            return record.identity.keyed() ? record.nowNanos : now;
        }

        /** Whether some events' fate must be looked up in the events table before this copy is ingested. */
        public boolean needsLookup() {
            return !first && (unknownAll || !unknown.isEmpty());
        }

        /** Whether event {@code index}'s fate is unknown (look it up). */
        public boolean unknown(int index) {
            return unknownAll || unknown.get(index);
        }

        /** Whether this copy may skip a line's events when it has no timestamp (only a keyed request's may). */
        public boolean matchesUntimestamped() {
            return record.identity.keyed();
        }

        /**
         * Looks up which of the unknown events are stored: only once nothing of an earlier copy can still be in
         * flight (the spool is empty) and while the database answers.
         *
         * @param events the unknown events whose series the database knows (the others cannot be stored)
         * @return null when done, else why this copy must be retried later (503)
         */
        public Refusal lookUp(List<LookupEvent> events) {
            if (!spoolEmpty.getAsBoolean()) {
                return new Refusal(503, "an earlier copy of this request may still be in the spool, which is being "
                    + "replayed; retry, it is not taken twice");
            }
            if (databaseDown.getAsBoolean()) {
                return new Refusal(503, "the database is unreachable, and an earlier copy of this request may be "
                    + "stored there; retry once it is back");
            }
            try {
                found.or(lookup.find(events));
            } catch (EventLookup.PredecessorStillWriting e) {
                return new Refusal(503, "an earlier copy of this request may still be committed by a write that "
                    + "was open when this collector started (" + e.getMessage() + "); retry once it ends");
            } catch (Exception e) {
                return new Refusal(503, "could not look up which lines of an earlier copy of this request are stored "
                    + "(" + e.getMessage() + "); retry");
            }
            lookups.increment();
            lookedUp = true;
            return null;
        }

        /**
         * Whether to skip event {@code index}: an earlier copy took it and it is stored, durably spooled, or (under
         * {@code ack=accept}) still in flight.
         *
         * @param timestamped whether its line carries a timestamp
         */
        public boolean skip(int index, boolean timestamped) {
            if (first || (!timestamped && !record.identity.keyed())) {
                return false;
            }
            final boolean skip = durable.get(index) || inFlight.get(index) || found.get(index);
            if (skip) {
                skippedEvents++;
            }
            return skip;
        }

        /** Event {@code index} entered the pipeline with this copy. */
        public void taken(int index) {
            taken.set(index);
        }

        /**
         * This copy's parse is over: the events it took (whose ring sequences span {@code [firstRing, lastRing]})
         * are in flight until the pipeline resolves them. Idempotent.
         */
        public void finish(long firstRing, long lastRing) {
            final BitSet events;
            synchronized (ResendWindow.this) {
                if (done) {
                    return;
                }
                done = true;
                record.busy = false;
                if (lookedUp) {
                    // Authoritative: nothing of an earlier copy was in flight, so what was not found was not stored.
                    record.unknown.clear();
                    record.unknownAll = false;
                    record.durable.or(found);
                }
                events = taken.isEmpty() || firstRing < 0 ? null : (BitSet) taken.clone();
                if (events != null) {
                    record.pending.add(events);
                }
                final long covered = Math.max(taken.length(), found.length());
                if (covered > record.rows && !record.evicted) {
                    rows += covered - record.rows;
                    record.rows = covered;
                    evict(clock.getAsLong());
                }
            }
            if (skippedEvents > 0) {
                skipped.increment(skippedEvents);
            }
            if (events != null) {
                resolver.whenResolved(firstRing, lastRing).whenComplete((ok, err) -> resolved(events,
                    err == null && Boolean.TRUE.equals(ok)));
            }
        }

        /** This copy ended before its parse (refused after {@link #begin}); nothing was taken. */
        public void abandon() {
            finish(-1, -1);
        }

        private void resolved(BitSet events, boolean durableNow) {
            synchronized (ResendWindow.this) {
                for (int i = 0; i < record.pending.size(); i++) {
                    if (record.pending.get(i) == events) {
                        record.pending.remove(i);
                        break;
                    }
                }
                if (durableNow) {
                    record.durable.or(events);
                } else {
                    record.unknown.or(events);
                }
            }
        }
    }

    /**
     * An event of a resent body whose fate is unknown, as the database would hold it.
     *
     * @param index its number in the body
     * @param sourceId its series' catalogue id
     * @param timestampNanos its time
     * @param kind its kind
     * @param value its value
     */
    public record LookupEvent(int index, int sourceId, long timestampNanos, short kind, double value) {
    }

    @Override
    public void close() {
        if (journal != null) {
            journal.close();
        }
    }
}
