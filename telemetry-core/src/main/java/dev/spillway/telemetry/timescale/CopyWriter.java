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
    private final String copySql;
    private final BatchLedger ledger;
    private final ThreadLocal<BinaryCopyEncoder> encoders = ThreadLocal.withInitial(BinaryCopyEncoder::new);

    CopyWriter(String table, BatchLedger ledger) {
        this.table = table;
        this.ledger = ledger;
        this.copySql = "COPY " + SchemaManager.quote(table) + " (time, source_id, kind, value, seq) FROM STDIN "
            + "(FORMAT binary)";
    }

    /**
     * Writes rows {@code [from, to)} in one transaction under {@code ledgerKey}; rolls back on any failure.
     *
     * @return {@code to - from}: written now, or by an earlier attempt
     */
    int writeRange(Connection conn, EventBatch batch, int from, int to, String ledgerKey) throws SQLException {
        try {
            if (!ledger.claim(conn, ledgerKey, batch.batchId())) {
                conn.rollback();
                if (to - from == batch.size()) {
                    ledger.recordHit(to - from);
                }
                LOG.debug("batch {} part {} was committed by an earlier attempt; not copying it again",
                    batch.batchId(), ledgerKey);
                return to - from;
            }
            copy(conn, batch, from, to);
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
            final long rows = copyIn.endCopy();
            if (rows != to - from) {
                throw new IllegalStateException("COPY into " + table + " reported " + rows + " rows for "
                    + (to - from) + " sent");
            }
        } finally {
            // With CopyIn the caller must end a COPY that failed on the client side, or the connection stays in
            // COPY mode; after a server-side error PgJDBC has already ended it.
            if (copyIn.isActive()) {
                try {
                    copyIn.cancelCopy();
                } catch (SQLException e) {
                    LOG.debug("cancelCopy failed", e);
                }
            }
        }
    }
}
