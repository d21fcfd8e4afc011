package dev.spillway.telemetry.timescale;

import dev.spillway.telemetry.sink.EventBatch;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.BitSet;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * The batch ledger: what makes a retried write exactly-once. In the database, the table {@code <table>_batches}
 * holds one row per committed part, keyed {@code (run id + part, batch id)} with the part's smallest and largest
 * event time, inserted in the same transaction as the part's rows; pruned after {@code ledgerRetention}. In memory, the progress of batches that had to be
 * split because of bad rows: which rows are committed and which were refused, so that a retry goes straight to
 * the split path and a give-up can say exactly what is durable.
 *
 * <p>A batch with an {@link EventBatch#runId() origin run id} (consumed from JetStream, replayed from a
 * spool) is keyed by that run id instead of this sink's, so a second delivery of it is recognised.
 */
final class BatchLedger {

    private static final Logger LOG = LoggerFactory.getLogger(TimescaleSink.class); // users watch the sink's logger

    /** Progress of one split batch; guarded by the batch's single writer (one worker at a time per batch). */
    static final class Progress {
        final BitSet written = new BitSet();
        final BitSet invalid = new BitSet();
        final long createdNanos = System.nanoTime();

        boolean isEmpty() {
            return written.isEmpty() && invalid.isEmpty();
        }
    }

    private final String table;
    private final String runId = UUID.randomUUID().toString();
    private final String insertSql;
    private final String pruneSql;
    private final long retentionNanos;
    private final long pruneIntervalNanos;
    private final AtomicLong nextPruneAt;
    private final Duration retention;
    /** By {@link #splitKey}: a replayed batch's id may equal one of this run's. */
    private final Map<Object, Progress> splitBatches = new ConcurrentHashMap<>();
    private final LongAdder hits = new LongAdder();
    private final LongAdder hitEvents = new LongAdder();

    BatchLedger(String table, Duration retention) {
        this.table = table;
        final String ledger = SchemaManager.quote(SchemaManager.ledgerTable(table));
        this.insertSql = "INSERT INTO " + ledger + " (run_id, batch_id, time_min, time_max) VALUES (?, ?, ?, ?) "
            + "ON CONFLICT DO NOTHING";
        this.pruneSql = "DELETE FROM " + ledger + " WHERE committed_at < now() - " + SchemaManager.interval(retention);
        this.retentionNanos = retention.toNanos();
        this.retention = retention;
        // A few prunes per retention period keep the ledger small without a DELETE per batch.
        this.pruneIntervalNanos = Math.min(retention.toNanos() / 4, Duration.ofMinutes(5).toNanos());
        this.nextPruneAt = new AtomicLong(System.nanoTime());
    }

    /** This sink's run id: the first part of every ledger key it writes. */
    String runId() {
        return runId;
    }

    /** How long ledger rows are kept. */
    Duration retention() {
        return retention;
    }

    /**
     * The run id a batch is keyed under: its own when it carries one (a batch replayed from a spool keeps the key
     * it was first tried under, possibly by another process), else this sink's.
     */
    String runIdOf(EventBatch batch) {
        final String own = batch.runId();
        return own != null ? own : runId;
    }

    /** The ledger key of the whole batch (split-tree node 1). */
    String wholeBatchKey(EventBatch batch) {
        return runIdOf(batch);
    }

    /** The ledger key of split-tree node {@code node} (heap numbering; the whole batch is 1). */
    String partKey(EventBatch batch, long node) {
        return runIdOf(batch) + '#' + node;
    }

    /** A whole batch was found committed by an earlier attempt or delivery. */
    void recordHit(int events) {
        hitEvents.add(events);
        hits.increment();
    }

    long hits() {
        return hits.sum();
    }

    long hitEvents() {
        return hitEvents.sum();
    }

    private static Object splitKey(EventBatch batch) {
        return batch.runId() == null ? (Object) batch.batchId() : batch.runId() + '/' + batch.batchId();
    }

    /**
     * Inserts the ledger row of a part in the connection's open transaction.
     *
     * @return false when the row exists: an earlier attempt committed this part
     */
    boolean claim(Connection conn, String key, long batchId, long minNanos, long maxNanos) throws SQLException {
        try (PreparedStatement ps = conn.prepareStatement(insertSql)) {
            ps.setString(1, key);
            ps.setLong(2, batchId);
            ps.setTimestamp(3, timestamp(minNanos));
            ps.setTimestamp(4, timestamp(maxNanos));
            return ps.executeUpdate() != 0;
        }
    }

    private static java.sql.Timestamp timestamp(long nanos) {
        final java.sql.Timestamp t = new java.sql.Timestamp(Math.floorDiv(nanos, 1_000_000L));
        t.setNanos((int) Math.floorMod(nanos, 1_000_000_000L));
        return t;
    }

    /** The progress of a batch known to hold bad rows, or null when it was never split. */
    Progress splitProgress(EventBatch batch) {
        return splitBatches.get(splitKey(batch));
    }

    /**
     * Remembers that a batch holds bad rows, so that a retry after a later transient failure goes straight to the
     * split path: the whole batch would fail again, or (if the bad data became acceptable) duplicate the parts
     * already committed under their own keys.
     */
    Progress startSplit(EventBatch batch) {
        return splitBatches.computeIfAbsent(splitKey(batch), id -> new Progress());
    }

    /** The batch is resolved; forget its progress. */
    void finishSplit(EventBatch batch) {
        splitBatches.remove(splitKey(batch));
    }

    /**
     * Now and then deletes ledger rows older than the retention, and forgets the progress of split batches that
     * were given up (the pipeline does not tell the sink) once they are as old.
     */
    void maybePrune(Connection conn) {
        final long due = nextPruneAt.get();
        final long now = System.nanoTime();
        if (now - due < 0 || !nextPruneAt.compareAndSet(due, now + pruneIntervalNanos)) {
            return;
        }
        splitBatches.values().removeIf(p -> now - p.createdNanos > retentionNanos);
        try (PreparedStatement ps = conn.prepareStatement(pruneSql)) {
            final int deleted = ps.executeUpdate();
            conn.commit();
            LOG.debug("pruned {} ledger rows of {}", deleted, table);
        } catch (SQLException e) {
            // The batch is already committed; a missed prune only leaves the ledger a little longer.
            LOG.warn("pruning the ledger of {} failed: {}", table, e.toString());
            try {
                conn.rollback();
            } catch (SQLException rollbackFailure) {
                LOG.debug("rollback after a failed prune failed too; the pool will notice the connection",
                    rollbackFailure);
            }
        }
    }
}
