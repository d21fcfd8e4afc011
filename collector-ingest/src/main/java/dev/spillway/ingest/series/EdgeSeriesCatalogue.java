package dev.spillway.ingest.series;

import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.Sink;
import dev.spillway.telemetry.timescale.SqlStates;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * The writer's side of NATS-only edges: files each series an edge numbered itself (its origin, the edge's
 * instance, and its local id) as a catalogue row, exactly once, and maps the edge's batches onto the catalogue on
 * their way to the database.
 *
 * <p>A batch whose run id names an edge ({@link EdgeOrigin}) carries local ids. For each one this writer has not
 * seen, it reads {@code telemetry_series_edge}; a series no writer filed yet is filed from the edge's published
 * {@link SeriesDefinition} ({@link Definitions}) in one transaction: the catalogue row found or created (unique on
 * measurement, tags, field, so every edge and every collector gives a series the same {@code source_id}), locked,
 * and the mapping row inserted with a sequence range of its own: {@code seq_offset} = the highest offset of that
 * row's edges + 2^40 (the first edge of a series gets 2^40), which keeps every number unique per catalogue row while
 * database-backed collectors number from {@code next_seq} below 2^40. Two writers filing the same series at once
 * queue on the row lock, and the second finds the first's mapping. A mapping never changes, so a batch redelivered
 * to another writer is mapped the same way and found in the ledger under the same key.
 *
 * <p>A definition not found (the edge's stream unreachable) fails the write retryably: the batch is NAKed and comes
 * back. Thread-safe.
 */
public final class EdgeSeriesCatalogue {

    private static final Logger LOG = LoggerFactory.getLogger(EdgeSeriesCatalogue.class);
    /** Each (edge, series) numbers within its own range of 2^40 (a trillion events). */
    static final long RANGE = 1L << 40;

    /** Where an edge's series definitions are read. */
    @FunctionalInterface
    public interface Definitions {
        /**
         * @return the encoded {@link SeriesDefinition} the edge {@code origin} published for {@code localId}, or
         *     null when there is none
         * @throws Exception when it cannot be read now (retryable)
         */
        byte[] find(String origin, int localId) throws Exception;
    }

    private final DataSource dataSource;
    private final Definitions definitions;
    private final Map<String, Map<Integer, SeriesRegistry.Mapping>> byOrigin = new ConcurrentHashMap<>();
    private final LongAdder filed = new LongAdder();

    public EdgeSeriesCatalogue(DataSource dataSource, Definitions definitions) {
        this.dataSource = dataSource;
        this.definitions = definitions;
    }

    /** Series this writer filed (mapping rows it inserted). */
    public long filed() {
        return filed.sum();
    }

    /**
     * Wraps the writer's sink: batches of NATS-only edges reach it with catalogue ids and numbers; every other batch
     * passes untouched.
     */
    public Sink sink(Sink delegate) {
        return new EdgeSink(delegate);
    }

    /**
     * The catalogue id of an edge's series (filing it if no writer did yet), or null when the edge never
     * published it.
     *
     * @throws Exception when the database or the definitions cannot be read now
     */
    public Integer catalogueId(String origin, int localId) throws Exception {
        try {
            return mapping(origin, localId).id();
        } catch (EdgeSeriesUnknownException e) {
            return null;
        }
    }

    /** The catalogue row of an edge's series, filing it if no writer did yet. */
    SeriesRegistry.Mapping mapping(String origin, int localId) throws Exception {
        final Map<Integer, SeriesRegistry.Mapping> known = byOrigin.computeIfAbsent(origin,
            o -> new ConcurrentHashMap<>());
        final SeriesRegistry.Mapping m = known.get(localId);
        if (m != null) {
            return m;
        }
        resolve(origin, List.of(localId));
        return known.get(localId);
    }

    /**
     * Caches the catalogue rows of the given local ids of an edge: one query for those another writer (or an earlier
     * run) filed, then each of the others filed here.
     *
     * @throws EdgeSeriesUnknownException when one was never published (the ids before it are cached)
     */
    private void resolve(String origin, List<Integer> localIds) throws Exception {
        final Map<Integer, SeriesRegistry.Mapping> known = byOrigin.computeIfAbsent(origin,
            o -> new ConcurrentHashMap<>());
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            try (PreparedStatement ps = c.prepareStatement("SELECT local_id, source_id, seq_offset FROM "
                + SeriesSchema.EDGE_SERIES + " WHERE origin = ? AND local_id = ANY (?)")) {
                ps.setString(1, origin);
                ps.setArray(2, c.createArrayOf("int4", localIds.toArray()));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        known.putIfAbsent(rs.getInt(1), new SeriesRegistry.Mapping(rs.getInt(2), rs.getLong(3)));
                    }
                }
            }
            for (int localId : localIds) {
                if (!known.containsKey(localId)) {
                    known.put(localId, fileFromDefinition(c, origin, localId));
                }
            }
        }
    }

    private SeriesRegistry.Mapping fileFromDefinition(Connection c, String origin, int localId) throws Exception {
        final byte[] bytes;
        try {
            bytes = definitions.find(origin, localId);
        } catch (Exception e) {
            // The series stream unreachable (NATS restarting, a timeout): the batch comes back later.
            throw new DefinitionUnavailableException(origin, localId, e);
        }
        if (bytes == null) {
            throw new EdgeSeriesUnknownException(origin, localId);
        }
        final SeriesDefinition d;
        try {
            d = SeriesDefinition.decode(bytes);
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException("edge " + origin + " published a definition of series " + localId
                + " that does not decode: " + e.getMessage(), e);
        }
        if (d.localId() != localId) {
            throw new IllegalStateException("edge " + origin + " published series " + d.localId()
                + " under the id " + localId);
        }
        return file(c, origin, d);
    }

    private SeriesRegistry.Mapping file(Connection c, String origin, SeriesDefinition d) throws SQLException {
        c.setAutoCommit(false);
        try {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO telemetry_sources (measurement, tags, field) "
                + "VALUES (?, ?::jsonb, ?) ON CONFLICT (measurement, tags, field) DO NOTHING")) {
                ps.setString(1, d.measurement());
                ps.setString(2, d.tagsJson());
                ps.setString(3, d.field());
                ps.executeUpdate();
            }
            final int sourceId;
            try (PreparedStatement ps = c.prepareStatement("SELECT id FROM telemetry_sources WHERE measurement = ? "
                + "AND tags = ?::jsonb AND field = ? FOR UPDATE")) {
                ps.setString(1, d.measurement());
                ps.setString(2, d.tagsJson());
                ps.setString(3, d.field());
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        throw new SQLException("series vanished after insert: " + d.key());
                    }
                    sourceId = rs.getInt(1);
                }
            }
            // Under the row lock: another writer that filed it meanwhile has committed its mapping.
            try (PreparedStatement ps = c.prepareStatement("SELECT source_id, seq_offset FROM "
                + SeriesSchema.EDGE_SERIES + " WHERE origin = ? AND local_id = ?")) {
                ps.setString(1, origin);
                ps.setInt(2, d.localId());
                try (ResultSet rs = ps.executeQuery()) {
                    if (rs.next()) {
                        final SeriesRegistry.Mapping m = new SeriesRegistry.Mapping(rs.getInt(1), rs.getLong(2));
                        c.commit();
                        return m;
                    }
                }
            }
            final long offset;
            try (PreparedStatement ps = c.prepareStatement("SELECT coalesce(max(seq_offset), 0) + ? FROM "
                + SeriesSchema.EDGE_SERIES + " WHERE source_id = ?")) {
                ps.setLong(1, RANGE);
                ps.setInt(2, sourceId);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    offset = rs.getLong(1);
                }
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + SeriesSchema.EDGE_SERIES
                + " (origin, local_id, source_id, seq_offset) VALUES (?, ?, ?, ?)")) {
                ps.setString(1, origin);
                ps.setInt(2, d.localId());
                ps.setInt(3, sourceId);
                ps.setLong(4, offset);
                ps.executeUpdate();
            }
            c.commit();
            filed.increment();
            LOG.debug("edge {} series {} ({}) filed as source {} (numbers + {})", origin, d.localId(), d.key(),
                sourceId, offset);
            return new SeriesRegistry.Mapping(sourceId, offset);
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

    /** An edge's local id whose definition cannot be found (yet). Retryable. */
    static final class EdgeSeriesUnknownException extends Exception {
        private static final long serialVersionUID = 1L;

        EdgeSeriesUnknownException(String origin, int localId) {
            super("edge " + origin + " has not published series " + localId + " (or its definition is not "
                + "readable now); the batch is retried", null, false, false);
        }
    }

    /** An edge's definition could not be read now. Retryable. */
    static final class DefinitionUnavailableException extends Exception {
        private static final long serialVersionUID = 1L;

        DefinitionUnavailableException(String origin, int localId, Throwable cause) {
            super("the definition of series " + localId + " of edge " + origin + " cannot be read now: " + cause,
                cause);
        }
    }

    private final class EdgeSink implements Sink {
        private final Sink delegate;

        EdgeSink(Sink delegate) {
            this.delegate = delegate;
        }

        @Override
        public int write(EventBatch batch) throws Exception {
            final String origin = EdgeOrigin.of(batch.runId());
            if (origin == null) {
                return delegate.write(batch);
            }
            final Map<Integer, SeriesRegistry.Mapping> known = byOrigin.computeIfAbsent(origin,
                o -> new ConcurrentHashMap<>());
            final Map<Integer, SeriesRegistry.Mapping> used = new HashMap<>();
            final java.util.Set<Integer> missing = new java.util.LinkedHashSet<>();
            final int n = batch.size();
            for (int i = 0; i < n; i++) {
                final int id = batch.sourceId(i);
                if (id < 0 && !used.containsKey(id)) {
                    final SeriesRegistry.Mapping m = known.get(id);
                    used.put(id, m);
                    if (m == null) {
                        missing.add(id);
                    }
                }
            }
            if (!missing.isEmpty()) {
                resolve(origin, new java.util.ArrayList<>(missing));
                for (int id : missing) {
                    used.put(id, known.get(id));
                }
            }
            return new ProvisionalIdSink(delegate, used::get).write(batch);
        }

        @Override
        public boolean isRetryable(Throwable failure) {
            return failure instanceof EdgeSeriesUnknownException || failure instanceof DefinitionUnavailableException
                || failure instanceof SQLException e && SqlStates.isTransient(e)
                || !(failure instanceof IllegalStateException) && delegate.isRetryable(failure);
        }

        @Override
        public void attach(String pipelineName) {
            delegate.attach(pipelineName);
        }

        @Override
        public void abortWrites() {
            delegate.abortWrites();
        }

        @Override
        public String runId() {
            return delegate.runId();
        }

        @Override
        public void close() throws Exception {
            delegate.close();
        }

        @Override
        public String toString() {
            return "EdgeSeriesSink{" + delegate + '}';
        }
    }
}
