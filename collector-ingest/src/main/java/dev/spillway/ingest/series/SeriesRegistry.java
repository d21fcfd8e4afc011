package dev.spillway.ingest.series;

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
    private static final int PRELOAD_CHUNK = 10_000;

    /**
     * Loads every existing series and the sequence each continues from, and starts reserving sequences.
     *
     * @param threads database threads for new series
     * @param reserveInterval how often sequence reservations are topped up (see {@link SequenceReserver})
     */
    public SeriesRegistry(DataSource dataSource, int maxSeries, int threads, Duration reserveInterval)
        throws SQLException {
        this.dataSource = dataSource;
        this.maxSeries = maxSeries;
        this.sequences = new SequenceReserver(dataSource, byId.values(), reserveInterval, Duration.ofSeconds(5));
        final AtomicInteger n = new AtomicInteger();
        this.executor = new ThreadPoolExecutor(threads, threads, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
            r -> {
                final Thread t = new Thread(r, "series-" + n.incrementAndGet());
                t.setDaemon(true);
                return t;
            });
        load();
        sequences.start();
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
                try {
                    mine.complete(create(key, measurement, tagsJson, field));
                } catch (SQLException e) {
                    mine.completeExceptionally(classify(e));
                } catch (Throwable t) {
                    mine.completeExceptionally(t);
                } finally {
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

    private Series create(SeriesKey key, String measurement, String tagsJson, String field)
        throws SQLException {
        boolean ok = false; // the slot taken by resolve() is kept only by a series created here
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
            ok = fresh[0]; // an id already known under another key keeps its one reservation
            byKey.putIfAbsent(key, s);
            return s;
        } finally {
            if (!ok) {
                reserved.decrementAndGet();
            }
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
