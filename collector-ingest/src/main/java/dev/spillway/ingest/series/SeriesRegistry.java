package dev.spillway.ingest.series;

import dev.spillway.runtime.lifecycle.ServiceThreads;
import dev.spillway.runtime.lifecycle.Service;
import dev.spillway.runtime.lifecycle.Deadline;
import dev.spillway.telemetry.timescale.SqlStates;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Maps series keys to {@code telemetry_sources} ids. Known series are served from memory without blocking;
 * new ones are inserted on a small dedicated executor, so a burst of new series delays only the requests that
 * carry them, never the ingestion of known series.
 *
 * <p>Concurrent resolutions of the same new key share one database round trip. The id of a key never changes,
 * and two keys that the database says are the same series share one {@link Series} (and one sequence counter).
 *
 * <h2>Outages</h2>
 * With a {@link LocalSeriesStore} (the collector keeps one beside its spool) the catalogue does not need the
 * database while it is down. Sequence numbers are reserved in the store ({@link SequenceReserver}). A series first
 * seen while the database is unreachable is created <em>provisionally</em>: it gets a negative id made up here
 * (recorded, with its key, in the store before any event carries it) and its events go through the pipeline and the
 * spool with that id. When the database is back, the first reservation round gives each provisional series its
 * catalogue row, in one transaction with a row of {@code telemetry_series_provisional (instance, provisional,
 * source_id, seq_offset)}: a new row whose {@code next_seq} covers the numbers used, or, if another collector
 * created the same series meanwhile, that row with its {@code next_seq} raised past them and an offset that moves
 * this collector's numbers above the other's. The sink wrapper of {@link #resolvingSink} maps provisional ids and
 * numbers on every write, including replays of the spool after a crash and restart (the mapping table says how,
 * per instance id of the store). So an outage of any length, new series included, needs no answer from the
 * database, and every number stays unique per catalogue row.
 */
public final class SeriesRegistry implements AutoCloseable, Service {

    private static final Logger LOG = LoggerFactory.getLogger(SeriesRegistry.class);

    private final DataSource dataSource;
    private final int maxSeries;
    private final SeriesIndex byKey = new SeriesIndex();
    private final Map<Integer, Series> byId = new ConcurrentHashMap<>();
    private final Map<SeriesKey, CompletableFuture<Series>> inFlight = new ConcurrentHashMap<>();
    // Created plus being created: checked before an insert so concurrent creators cannot overshoot the limit.
    private final AtomicInteger reserved = new AtomicInteger();
    private final AtomicLong created = new AtomicLong();
    private final ExecutorService executor;
    private final SequenceReserver sequences;
    private final LocalSeriesStore store;
    /** Provisional series of this run without a catalogue row yet, in creation order. */
    private final List<Provisional> unreconciled = new java.util.concurrent.CopyOnWriteArrayList<>();
    /** Every provisional id of this store's instance that has its row: how the sink maps it. */
    private final Map<Integer, Mapping> mappings = new ConcurrentHashMap<>();
    private final Object provisionalLock = new Object();
    private int nextProvisional = -1; // guarded by provisionalLock
    /** A NATS-only edge's: where its series are published; null for a collector with a database. */
    private final SeriesAnnouncer announcer;
    /** Edge: series with a local id whose announcement has not been acknowledged yet (not usable yet). */
    private final Map<SeriesKey, Unannounced> unannounced = new ConcurrentHashMap<>(); // guarded by provisionalLock
    private static final int PRELOAD_CHUNK = 10_000;

    /** A provisional series' catalogue row: events with the provisional id go to {@code id}, numbers + offset. */
    record Mapping(int id, long offset) {
    }

    private record Provisional(Series series, String measurement, List<String> tags, String tagsJson, String field) {
    }

    private record Unannounced(Series series, SeriesDefinition definition) {
    }

    /**
     * Loads every existing series and the sequence each continues from, and starts reserving sequences. Without a
     * local store, a database outage longer than the sequence headroom refuses writes, and new series need the
     * database.
     *
     * @param threads database threads for new series
     * @param reserveInterval how often sequence reservations are topped up (see {@link SequenceReserver})
     */
    public SeriesRegistry(DataSource dataSource, int maxSeries, int threads, Duration reserveInterval)
        throws SQLException {
        this(dataSource, maxSeries, threads, reserveInterval, null);
    }

    /**
     * Same, riding out database outages with {@code store} (see the class comment). First brings into the database
     * whatever an earlier run left in the store (numbers reserved and series created during an outage it did not
     * see the end of); the store stays owned by the caller.
     *
     * @param store local state for outages, or null
     */
    public SeriesRegistry(DataSource dataSource, int maxSeries, int threads, Duration reserveInterval,
                          LocalSeriesStore store) throws SQLException {
        this(dataSource, maxSeries, threads, reserveInterval, store, null);
    }

    private SeriesRegistry(DataSource dataSource, int maxSeries, int threads, Duration reserveInterval,
                           LocalSeriesStore store, SeriesAnnouncer announcer) throws SQLException {
        this.dataSource = dataSource;
        this.maxSeries = maxSeries;
        this.store = store;
        this.announcer = announcer;
        // With a store, a taker waits at most for the one round that finds the database gone (a connection timeout).
        this.sequences = new SequenceReserver(dataSource, byId.values(), store, reserveInterval,
            Duration.ofSeconds(store == null ? 5 : 15));
        this.executor = new ThreadPoolExecutor(threads, threads, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
            ServiceThreads.pool("series"));
        if (announcer != null) {
            recoverEdge();
            sequences.start();
            return;
        }
        if (store != null) {
            recoverStore();
            sequences.recovery(new SequenceReserver.Recovery() {
                @Override
                public boolean pending() {
                    return !unreconciled.isEmpty();
                }

                @Override
                public void reconcile(Connection c) throws SQLException {
                    reconcileProvisional(c);
                }
            });
        }
        load();
        sequences.start();
    }

    /**
     * The catalogue of a NATS-only edge: no database at all. Every series gets a local (negative) id, recorded with
     * its key in {@code store} and then announced (published where the writers read it) before any event carries
     * it; sequence numbers are reserved in the store. A writer files each (edge instance, local id) as a catalogue
     * row once ({@link EdgeSeriesCatalogue}) and maps the numbers into a range of its own. The store is never
     * emptied: it is this edge's series catalogue. At start every series it holds is announced again (idempotent),
     * which covers a crash between recording a series and announcing it.
     *
     * @param store the edge's series store (its instance id names the edge's series to the writers)
     * @param announcer where series are published
     * @throws SQLException never (the signature is the database-backed constructor's)
     * @throws IllegalStateException when the series could not be announced at start (upstream unreachable)
     */
    public static SeriesRegistry edge(LocalSeriesStore store, int maxSeries, int threads, Duration reserveInterval,
                                      SeriesAnnouncer announcer) throws SQLException {
        return new SeriesRegistry(null, maxSeries, threads, reserveInterval, java.util.Objects.requireNonNull(store),
            java.util.Objects.requireNonNull(announcer));
    }

    /** Edge start: every series of the store, numbers continuing above the limits it recorded; announced again. */
    private void recoverEdge() {
        final LocalSeriesStore.Contents left = store.contents();
        int lowest = 0;
        final List<SeriesDefinition> all = new ArrayList<>(left.created().size());
        for (LocalSeriesStore.Created cr : left.created()) {
            final long limit = left.limits().getOrDefault(cr.id(), cr.limit());
            final Series s = new Series(cr.id(), limit, limit, sequences);
            byId.put(cr.id(), s);
            byKey.putIfAbsent(SeriesKey.of(cr.measurement(), cr.tags(), cr.field()), s);
            lowest = Math.min(lowest, cr.id());
            all.add(new SeriesDefinition(cr.id(), cr.measurement(), cr.tags(), cr.field()));
        }
        nextProvisional = lowest - 1;
        reserved.set(byId.size());
        for (int from = 0; from < all.size(); from += PRELOAD_CHUNK) {
            try {
                announcer.announce(all.subList(from, Math.min(all.size(), from + PRELOAD_CHUNK)));
            } catch (Exception e) {
                throw new IllegalStateException("could not announce the " + all.size() + " series of "
                    + store.directory() + " to the writers: " + e.getMessage(), e);
            }
        }
        LOG.info("edge series catalogue: {} series from {} (instance {}), announced again (limit {})", byId.size(),
            store.directory(), store.instance(), maxSeries);
    }

    /**
     * A NATS-only edge's new series: a local id recorded with its key in the store (forced to disk), then announced;
     * usable only once the announcement is acknowledged. A failed announcement fails this resolution (retryable)
     * and is tried again by the next resolution of the same key, with the same id.
     */
    private Created createAtEdge(SeriesKey key, String measurement, List<String> tags, String field)
        throws Exception {
        final Unannounced u;
        synchronized (provisionalLock) {
            final Series known = byKey.get(key);
            if (known != null) {
                return new Created(known, false);
            }
            final Unannounced pending = unannounced.get(key);
            if (pending != null) {
                u = pending;
            } else {
                final int id = nextProvisional;
                final long limit = SequenceReserver.MIN_BLOCK;
                store.appendCreate(id, limit, measurement, tags, field);
                nextProvisional--;
                u = new Unannounced(new Series(id, 0, limit, sequences),
                    new SeriesDefinition(id, measurement, tags, field));
                unannounced.put(key, u);
                byId.put(id, u.series());
            }
        }
        announcer.announce(List.of(u.definition()));
        synchronized (provisionalLock) {
            final boolean fresh = unannounced.remove(key) != null;
            byKey.putIfAbsent(key, u.series());
            if (fresh) {
                created.incrementAndGet();
            }
            return new Created(u.series(), fresh);
        }
    }

    /** Whether this is a NATS-only edge's catalogue (no database). */
    public boolean edge() {
        return announcer != null;
    }

    /** The edge's instance (its series' origin at the writers), or null for a collector with a database. */
    public String edgeInstance() {
        return announcer == null ? null : store.instance();
    }

    /**
     * At start, before loading: the mappings of this instance's provisional ids (spooled events of earlier runs may
     * carry them), then rows for the series an earlier run created provisionally and numbers it reserved locally.
     */
    private void recoverStore() throws SQLException {
        final LocalSeriesStore.Contents left = store.contents();
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            try (PreparedStatement ps = c.prepareStatement("SELECT provisional, source_id, seq_offset FROM "
                + SeriesSchema.PROVISIONAL + " WHERE instance = ?")) {
                ps.setString(1, store.instance());
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        mappings.put(rs.getInt(1), new Mapping(rs.getInt(2), rs.getLong(3)));
                    }
                }
            }
            int lowest = 0;
            for (int pid : mappings.keySet()) {
                lowest = Math.min(lowest, pid);
            }
            for (LocalSeriesStore.Created cr : left.created()) {
                lowest = Math.min(lowest, cr.id());
            }
            nextProvisional = lowest - 1;
            if (left.limits().isEmpty() && left.created().isEmpty()) {
                return;
            }
            int rows = 0;
            for (LocalSeriesStore.Created cr : left.created()) {
                if (!mappings.containsKey(cr.id())) {
                    final long limit = left.limits().getOrDefault(cr.id(), cr.limit());
                    mappings.put(cr.id(), reconcileOne(c, cr.id(), cr.measurement(), SeriesKey.tagsJson(cr.tags()),
                        cr.field(), limit));
                    rows++;
                }
            }
            final List<Integer> ids = new ArrayList<>();
            final List<Long> limits = new ArrayList<>();
            left.limits().forEach((id, limit) -> {
                final Mapping m = id < 0 ? mappings.get(id) : new Mapping(id, 0);
                if (m != null) {
                    ids.add(m.id());
                    limits.add(limit + m.offset());
                }
            });
            try (PreparedStatement ps = c.prepareStatement("UPDATE telemetry_sources s SET next_seq = "
                + "GREATEST(s.next_seq, v.lim) FROM unnest(?::int[], ?::bigint[]) AS v(id, lim) WHERE s.id = v.id")) {
                ps.setArray(1, c.createArrayOf("int4", ids.toArray()));
                ps.setArray(2, c.createArrayOf("int8", limits.toArray()));
                ps.executeUpdate();
            }
            LOG.info("brought an earlier run's outage into the database: {} series created provisionally, sequence "
                + "limits of {} series", rows, ids.size());
        }
        try {
            store.clear();
        } catch (java.io.IOException e) {
            LOG.warn("could not empty {} (it is read again at the next start, harmlessly): {}", store.directory(),
                e.toString());
        }
    }

    /**
     * The catalogue row of a provisional series, in one transaction with its mapping row: the mapping if an earlier
     * attempt made it; else a new row whose {@code next_seq} covers every number used; else (the series exists:
     * another collector created it meanwhile, or our own insert committed though its answer was lost) that row with
     * {@code next_seq} raised by as many numbers, which become this series' numbers shifted by the returned offset.
     *
     * @param limit every number of the provisional series is below it
     */
    private Mapping reconcileOne(Connection c, int provisional, String measurement, String tagsJson, String field,
                                 long limit) throws SQLException {
        c.setAutoCommit(false);
        try {
            Mapping m = null;
            try (PreparedStatement ps = c.prepareStatement("SELECT source_id, seq_offset FROM "
                + SeriesSchema.PROVISIONAL + " WHERE instance = ? AND provisional = ?")) {
                ps.setString(1, store.instance());
                ps.setInt(2, provisional);
                try (ResultSet rs = ps.executeQuery()) {
                    if (rs.next()) {
                        m = new Mapping(rs.getInt(1), rs.getLong(2));
                    }
                }
            }
            if (m == null) {
                try (PreparedStatement ps = c.prepareStatement("INSERT INTO telemetry_sources (measurement, tags, "
                    + "field, next_seq) VALUES (?, ?::jsonb, ?, ?) ON CONFLICT (measurement, tags, field) DO NOTHING "
                    + "RETURNING id")) {
                    ps.setString(1, measurement);
                    ps.setString(2, tagsJson);
                    ps.setString(3, field);
                    ps.setLong(4, limit);
                    try (ResultSet rs = ps.executeQuery()) {
                        if (rs.next()) {
                            m = new Mapping(rs.getInt(1), 0);
                        }
                    }
                }
            }
            if (m == null) {
                try (PreparedStatement ps = c.prepareStatement("UPDATE telemetry_sources SET next_seq = next_seq + ? "
                    + "WHERE measurement = ? AND tags = ?::jsonb AND field = ? RETURNING id, next_seq")) {
                    ps.setLong(1, limit);
                    ps.setString(2, measurement);
                    ps.setString(3, tagsJson);
                    ps.setString(4, field);
                    try (ResultSet rs = ps.executeQuery()) {
                        if (!rs.next()) {
                            throw new SQLException("series vanished after insert conflict: " + measurement);
                        }
                        m = new Mapping(rs.getInt(1), rs.getLong(2) - limit);
                    }
                }
                LOG.info("series {} (provisional id {}) already existed as id {}; its numbers continue above the "
                    + "existing ones (offset {})", measurement + tagsJson + " " + field, provisional, m.id(), m.offset());
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + SeriesSchema.PROVISIONAL
                + " (instance, provisional, source_id, seq_offset) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING")) {
                ps.setString(1, store.instance());
                ps.setInt(2, provisional);
                ps.setInt(3, m.id());
                ps.setLong(4, m.offset());
                ps.executeUpdate();
            }
            c.commit();
            return m;
        } catch (SQLException | RuntimeException e) {
            try {
                c.rollback();
            } catch (SQLException again) {
                e.addSuppressed(again);
            }
            throw e;
        } finally {
            c.setAutoCommit(true);
        }
    }

    /** Run by the reservation round that finds the database back: every provisional series of this run gets its row. */
    private void reconcileProvisional(Connection c) throws SQLException {
        for (Provisional p : unreconciled) {
            final long limit = p.series().limit(); // numbers reserved later are pushed by the same round
            final Mapping m = reconcileOne(c, p.series().id(), p.measurement(), p.tagsJson(), p.field(), limit);
            p.series().reconciled(m.id(), m.offset(), limit);
            mappings.put(p.series().id(), m);
            unreconciled.remove(p);
        }
        LOG.info("series first seen during the outage have their catalogue rows; {} provisional ids mapped in all",
            mappings.size());
    }

    /**
     * A series first seen while the database is unreachable: a provisional id, recorded with its key in the store
     * (forced to disk) before any event can carry it.
     */
    private Created createProvisional(SeriesKey key, String measurement, List<String> tags, String tagsJson,
                                      String field) throws java.io.IOException {
        synchronized (provisionalLock) {
            final Series known = byKey.get(key);
            if (known != null) {
                return new Created(known, false);
            }
            final int id = nextProvisional;
            final long limit = SequenceReserver.MIN_BLOCK;
            store.appendCreate(id, limit, measurement, tags, field);
            nextProvisional--;
            final Series s = new Series(id, 0, limit, sequences);
            unreconciled.add(new Provisional(s, measurement, tags, tagsJson, field));
            byId.put(id, s);
            byKey.putIfAbsent(key, s);
            created.incrementAndGet();
            return new Created(s, true);
        }
    }

    /** Where a provisional id's events go (null when its row is not made yet, or for an unknown id). */
    Mapping mapping(int provisionalId) {
        return mappings.get(provisionalId);
    }

    /**
     * Wraps the pipeline's sink so that events of provisional series reach the database with their catalogue id and
     * numbers (see the class comment). A batch holding a provisional id whose row is not made yet fails retryably
     * (the database was just back; the next reservation round makes the row). Batches without provisional ids pass
     * through untouched, after one scan of their source ids.
     */
    public dev.spillway.telemetry.sink.Sink resolvingSink(dev.spillway.telemetry.sink.Sink delegate) {
        return new ProvisionalIdSink(delegate, this::mapping);
    }

    /** Whether the database is known unreachable (series are then created provisionally, numbers reserved locally). */
    public boolean databaseDown() {
        return sequences.outage();
    }

    private void load() throws SQLException {
        final long start = System.nanoTime();
        // next_seq is the reserved limit (after a crash) or the exact next number (after a clean shutdown): either
        // way no number at or above it was ever used. Nothing is reserved yet: the first take asks the reserver.
        final String sql = "SELECT s.id, s.measurement, s.field, s.next_seq, "
            + "t.key, t.value FROM telemetry_sources s "
            + "LEFT JOIN LATERAL jsonb_each_text(s.tags) t ON true ORDER BY s.id, t.key COLLATE \"C\"";
        try (Connection c = dataSource.getConnection(); Statement st = c.createStatement()) {
            c.setAutoCommit(false); // lets the driver stream with a fetch size instead of buffering all rows
            st.setFetchSize(10_000);
            try (ResultSet rs = st.executeQuery(sql)) {
                int id = -1;
                String measurement = null;
                String field = null;
                long next = 0;
                final List<String> tags = new ArrayList<>();
                while (rs.next()) {
                    final int rowId = rs.getInt(1);
                    if (rowId != id) {
                        if (id >= 0) {
                            register(id, measurement, tags, field, next);
                        }
                        id = rowId;
                        measurement = rs.getString(2);
                        field = rs.getString(3);
                        next = rs.getLong(4);
                        tags.clear();
                    }
                    final String key = rs.getString(5);
                    if (key != null) {
                        tags.add(key);
                        tags.add(rs.getString(6));
                    }
                }
                if (id >= 0) {
                    register(id, measurement, tags, field, next);
                }
            }
            c.commit();
        }
        reserved.set(byId.size());
        LOG.info("loaded {} series in {} ms (limit {})", byId.size(),
            TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start), maxSeries);
    }

    private void register(int id, String measurement, List<String> tags, String field, long next) {
        final Series s = byId.computeIfAbsent(id, i -> new Series(i, next, next, sequences));
        byKey.putIfAbsent(SeriesKey.of(measurement, tags, field), s);
    }

    /**
     * The series for the key in the builder if known, without blocking or allocating; null when it must be
     * {@link #resolve resolved}.
     */
    public Series cached(SeriesKeyBuilder key) {
        return byKey.get(key);
    }

    /** The series for a key if known, without blocking; null when it must be {@link #resolve resolved}. */
    public Series cached(SeriesKey key) {
        return byKey.get(key);
    }

    /**
     * Finds or creates a series. Completes exceptionally with {@link SeriesLimitException} when the limit is
     * reached, with {@link SeriesRejectedException} when the series can never be stored (checked by
     * {@link SeriesValidator}, or a permanent database error), or with the database error when it is unavailable.
     *
     * @param key the {@link SeriesKey} of the other arguments
     * @param tags alternating key, value, sorted by key
     */
    public CompletableFuture<Series> resolve(SeriesKey key, String measurement, List<String> tags, String field) {
        final Series known = byKey.get(key);
        if (known != null) {
            return CompletableFuture.completedFuture(known);
        }
        final String problem = SeriesValidator.problem(measurement, tags, field);
        if (problem != null) {
            return CompletableFuture.failedFuture(new SeriesRejectedException(problem));
        }
        final CompletableFuture<Series> mine = new CompletableFuture<>();
        final CompletableFuture<Series> existing = inFlight.putIfAbsent(key, mine);
        if (existing != null) {
            return existing;
        }
        // A creation may have finished between the lookup above and claiming the in-flight slot.
        final Series raced = byKey.get(key);
        if (raced != null) {
            inFlight.remove(key, mine);
            mine.complete(raced);
            return mine;
        }
        // The slot is taken here, on the caller's thread, in the order of the lines: which series of a body exceed
        // the limit must not depend on which series thread runs first. create() gives it back if it fails.
        if (reserved.incrementAndGet() > maxSeries) {
            reserved.decrementAndGet();
            inFlight.remove(key, mine);
            mine.completeExceptionally(new SeriesLimitException(maxSeries));
            return mine;
        }
        final String tagsJson = SeriesKey.tagsJson(tags);
        try {
            executor.execute(() -> {
                boolean keep = false; // the slot taken above stays taken only by a series new to this collector
                try {
                    Created c;
                    if (announcer != null) {
                        c = createAtEdge(key, measurement, tags, field);
                    } else if (store != null && sequences.outage()) {
                        c = createProvisional(key, measurement, tags, tagsJson, field);
                    } else {
                        try {
                            c = create(key, measurement, tagsJson, field);
                        } catch (SQLException e) {
                            if (store == null || !SqlStates.isTransient(e)) {
                                throw e;
                            }
                            sequences.outageDetected(e);
                            c = createProvisional(key, measurement, tags, tagsJson, field);
                        }
                    }
                    keep = c.fresh();
                    mine.complete(c.series());
                } catch (SQLException e) {
                    mine.completeExceptionally(classify(e));
                } catch (Throwable t) {
                    mine.completeExceptionally(t);
                } finally {
                    if (!keep) {
                        reserved.decrementAndGet();
                    }
                    inFlight.remove(key, mine);
                }
            });
        } catch (RejectedExecutionException e) {
            reserved.decrementAndGet();
            inFlight.remove(key, mine);
            mine.completeExceptionally(e);
        }
        return mine;
    }

    private record Created(Series series, boolean fresh) {
    }

    private Created create(SeriesKey key, String measurement, String tagsJson, String field)
        throws SQLException {
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            Integer id = null;
            long next = 0;
            long limit = SequenceReserver.MIN_BLOCK; // a new series starts with its first block reserved
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO telemetry_sources (measurement, tags, field, "
                + "next_seq) VALUES (?, ?::jsonb, ?, ?) ON CONFLICT (measurement, tags, field) DO NOTHING RETURNING id")) {
                ps.setString(1, measurement);
                ps.setString(2, tagsJson);
                ps.setString(3, field);
                ps.setLong(4, limit);
                try (ResultSet rs = ps.executeQuery()) {
                    if (rs.next()) {
                        id = rs.getInt(1);
                    }
                }
            }
            if (id == null) {
                // Another collector (or an earlier run we did not load) created it: reserve the block above its.
                try (PreparedStatement ps = c.prepareStatement("UPDATE telemetry_sources SET next_seq = next_seq + ? "
                    + "WHERE measurement = ? AND tags = ?::jsonb AND field = ? RETURNING id, next_seq")) {
                    ps.setLong(1, SequenceReserver.MIN_BLOCK);
                    ps.setString(2, measurement);
                    ps.setString(3, tagsJson);
                    ps.setString(4, field);
                    try (ResultSet rs = ps.executeQuery()) {
                        if (!rs.next()) {
                            throw new SQLException("series vanished after insert conflict: " + measurement);
                        }
                        id = rs.getInt(1);
                        limit = rs.getLong(2);
                        next = limit - SequenceReserver.MIN_BLOCK;
                    }
                }
            } else {
                created.incrementAndGet();
            }
            final long first = next;
            final long reserved = limit;
            final boolean[] fresh = {false};
            final Series s = byId.computeIfAbsent(id, i -> {
                fresh[0] = true;
                return new Series(i, first, reserved, sequences);
            });
            byKey.putIfAbsent(key, s);
            return new Created(s, fresh[0]); // an id already known under another key keeps its one reservation
        }
    }

    /**
     * A database that is unavailable (connection, shutdown, overload: {@link SqlStates#isTransient}) is worth a
     * retry; anything else it says about this series (data exception, integrity, program limit such as an index
     * row too large) will be said again, so the line is rejected for good.
     */
    private static Exception classify(SQLException e) {
        if (SqlStates.isTransient(e)) {
            return e;
        }
        return new SeriesRejectedException("database refused the series (SQLSTATE " + e.getSQLState() + "): "
            + firstLine(e.getMessage()));
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        final int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    /**
     * A series to {@link #preload}.
     *
     * @param key its {@link SeriesKey}
     * @param tags alternating key, value, sorted by key
     */
    public record Ref(SeriesKey key, String measurement, List<String> tags, String field) {
    }

    /**
     * Creates (or finds) many series in a few database round trips, on the caller's thread, for inputs that know
     * their series in advance (a monitor's result fields). Creating them one by one on first use costs one
     * committed insert each, which for 50,000 monitors x 6 fields is most of an hour on a small machine. Series
     * beyond {@code --max-series} are not created here (their first use is rejected as usual).
     *
     * @return series created in the database by this call
     */
    public int preload(List<Ref> refs) throws SQLException {
        if (announcer != null) {
            return 0; // an edge creates series on first use (monitors do not run on a NATS-only edge)
        }
        final List<Ref> missing = new ArrayList<>();
        final java.util.Set<SeriesKey> seen = new java.util.HashSet<>();
        for (Ref r : refs) {
            if (byKey.get(r.key()) == null && seen.add(r.key())) {
                missing.add(r);
            }
        }
        int created = 0;
        for (int from = 0; from < missing.size(); from += PRELOAD_CHUNK) {
            final List<Ref> chunk = missing.subList(from, Math.min(missing.size(), from + PRELOAD_CHUNK));
            final int room = maxSeries - reserved.get();
            if (room <= 0) {
                LOG.warn("series limit {} reached; {} series of a preload left for first use", maxSeries,
                    missing.size() - from);
                break;
            }
            created += preloadChunk(room >= chunk.size() ? chunk : chunk.subList(0, room));
        }
        return created;
    }

    private int preloadChunk(List<Ref> chunk) throws SQLException {
        final String[] m = new String[chunk.size()];
        final String[] t = new String[chunk.size()];
        final String[] f = new String[chunk.size()];
        for (int i = 0; i < m.length; i++) {
            m[i] = chunk.get(i).measurement();
            t[i] = SeriesKey.tagsJson(chunk.get(i).tags());
            f[i] = chunk.get(i).field();
        }
        final int inserted;
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO telemetry_sources (measurement, tags, field) "
                + "SELECT u.m, u.t::jsonb, u.f FROM unnest(?::text[], ?::text[], ?::text[]) AS u(m, t, f) "
                + "ON CONFLICT (measurement, tags, field) DO NOTHING")) {
                ps.setArray(1, c.createArrayOf("text", m));
                ps.setArray(2, c.createArrayOf("text", t));
                ps.setArray(3, c.createArrayOf("text", f));
                inserted = ps.executeUpdate();
            }
            // next_seq: nothing is reserved for a preloaded series yet; its first take asks the reserver.
            try (PreparedStatement ps = c.prepareStatement("SELECT u.i, s.id, s.next_seq "
                + "FROM unnest(?::text[], ?::text[], ?::text[]) WITH ORDINALITY "
                + "AS u(m, t, f, i) JOIN telemetry_sources s ON s.measurement = u.m AND s.tags = u.t::jsonb "
                + "AND s.field = u.f")) {
                ps.setArray(1, c.createArrayOf("text", m));
                ps.setArray(2, c.createArrayOf("text", t));
                ps.setArray(3, c.createArrayOf("text", f));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        final Ref r = chunk.get((int) rs.getLong(1) - 1);
                        final int id = rs.getInt(2);
                        final long next = rs.getLong(3);
                        final Series s = byId.computeIfAbsent(id, i -> {
                            reserved.incrementAndGet();
                            return new Series(i, next, next, sequences);
                        });
                        byKey.putIfAbsent(r.key(), s);
                    }
                }
            }
        }
        this.created.addAndGet(inserted);
        return inserted;
    }

    /** Series known to this collector. */
    public int size() {
        return byId.size();
    }

    /** Series this collector inserted since start. */
    public long created() {
        return created.get();
    }

    /** The configured limit. */
    public int maxSeries() {
        return maxSeries;
    }

    /**
     * After a clean drain: stops handing out sequences and saves each series' exact next number, so the next run
     * continues without a gap. Without this (a crash), the next run continues from the reserved limits.
     */
    @Override
    public String name() {
        return "series";
    }

    /**
     * Saves each series' exact next sequence number, then closes: stopped after the pipeline drained, when
     * nothing takes sequence numbers any more, so a restart continues without a gap.
     */
    @Override
    public boolean stop(Deadline deadline) throws SQLException {
        try {
            saveSequences();
        } finally {
            close();
        }
        return true;
    }

    public void saveSequences() throws SQLException {
        sequences.persistExact();
    }

    /** Stops the database threads; resolutions still queued fail. */
    @Override
    public void close() {
        sequences.close();
        executor.shutdown();
        try {
            if (!executor.awaitTermination(5, TimeUnit.SECONDS)) {
                executor.shutdownNow();
            }
        } catch (InterruptedException e) {
            executor.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}
