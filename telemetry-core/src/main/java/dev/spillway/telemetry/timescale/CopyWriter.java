package dev.spillway.telemetry.timescale;

import dev.spillway.telemetry.sink.EventBatch;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * The write path: one transaction per part of a batch: the ledger row, the binary COPY of the rows, the commit;
 * or nothing at all when the ledger row exists. Each thread encodes into its own reusable buffer.
 */
final class CopyWriter {

    private static final Logger LOG = LoggerFactory.getLogger(TimescaleSink.class); // users watch the sink's logger

    private final String table;
    private final StorageLayout layout;
    private final String copySql;
    private final String blocksCopySql;
    private final BatchLedger ledger;
    private final ThreadLocal<BinaryCopyEncoder> encoders = ThreadLocal.withInitial(BinaryCopyEncoder::new);
    private final ThreadLocal<BlockEncoder> blockEncoders = ThreadLocal.withInitial(BlockEncoder::new);

    CopyWriter(String table, StorageLayout layout, BatchLedger ledger) {
        this.table = table;
        this.layout = layout;
        this.ledger = ledger;
        final String rowsTable = layout == StorageLayout.BLOCKS ? SchemaManager.rowsTable(table) : table;
        this.copySql = "COPY " + SchemaManager.quote(rowsTable) + " (time, source_id, kind, value, seq) FROM STDIN "
            + "(FORMAT binary)";
        this.blocksCopySql = "COPY " + SchemaManager.quote(SchemaManager.blocksTable(table))
            + " (source_id, kind, time_min, time_max, first_seq, last_seq, n, times, vals, seqs) FROM STDIN "
            + "(FORMAT binary)";
    }

    /**
     * Writes rows {@code [from, to)} in one transaction under {@code ledgerKey}; rolls back on any failure.
     *
     * @return {@code to - from}: written now, or by an earlier attempt
     */
    int writeRange(Connection conn, EventBatch batch, int from, int to, String ledgerKey) throws SQLException {
        try {
            long min = batch.minTimestampNanos();
            long max = batch.maxTimestampNanos();
            if (to - from != batch.size()) { // a part of a split batch: its own range
                min = Long.MAX_VALUE;
                max = Long.MIN_VALUE;
                for (int i = from; i < to; i++) {
                    min = Math.min(min, batch.timestampNanos(i));
                    max = Math.max(max, batch.timestampNanos(i));
                }
            }
            if (!ledger.claim(conn, ledgerKey, batch.batchId(), min, max)) {
                conn.rollback();
                if (to - from == batch.size()) {
                    ledger.recordHit(to - from);
                }
                LOG.debug("batch {} part {} was committed by an earlier attempt; not copying it again",
                    batch.batchId(), ledgerKey);
                return to - from;
            }
            if (layout == StorageLayout.BLOCKS) {
                copyBlocks(conn, batch, from, to);
            } else {
                copy(conn, batch, from, to);
            }
            conn.commit();
            return to - from;
        } catch (SQLException | RuntimeException e) {
            try {
                conn.rollback();
            } catch (SQLException rollbackFailure) {
                e.addSuppressed(rollbackFailure);
            }
            throw e;
        }
    }

    private void copy(Connection conn, EventBatch batch, int from, int to) throws SQLException {
        final CopyIn copyIn = conn.unwrap(PGConnection.class).getCopyAPI().copyIn(copySql);
        try {
            encoders.get().encode(batch, from, to, copyIn::writeToCopy);
            expect(copyIn.endCopy(), to - from, table);
        } finally {
            endIfActive(copyIn);
        }
    }

    /** The events as blocks (sources with enough events) and rows (the rest), in the same transaction. */
    private void copyBlocks(Connection conn, EventBatch batch, int from, int to) throws SQLException {
        final BlockEncoder encoder = blockEncoders.get();
        encoder.group(batch, from, to);
        if (encoder.blocks() > 0) {
            final CopyIn copyIn = conn.unwrap(PGConnection.class).getCopyAPI().copyIn(blocksCopySql);
            try {
                encoder.encodeBlocks(batch, copyIn::writeToCopy);
                expect(copyIn.endCopy(), encoder.blocks(), SchemaManager.blocksTable(table));
            } finally {
                endIfActive(copyIn);
            }
        }
        if (encoder.rows() > 0) {
            final CopyIn copyIn = conn.unwrap(PGConnection.class).getCopyAPI().copyIn(copySql);
            try {
                encoder.encodeRows(batch, copyIn::writeToCopy);
                expect(copyIn.endCopy(), encoder.rows(), SchemaManager.rowsTable(table));
            } finally {
                endIfActive(copyIn);
            }
        }
    }

    private static void expect(long reported, long sent, String into) {
        if (reported != sent) {
            throw new IllegalStateException("COPY into " + into + " reported " + reported + " rows for " + sent + " sent");
        }
    }

    /**
     * With CopyIn the caller must end a COPY that failed on the client side, or the connection stays in COPY mode;
     * after a server-side error PgJDBC has already ended it.
     */
    private static void endIfActive(CopyIn copyIn) {
        if (copyIn.isActive()) {
            try {
                copyIn.cancelCopy();
            } catch (SQLException e) {
                LOG.debug("cancelCopy failed", e);
            }
        }
    }
}
