package dev.spillway.telemetry.timescale;

import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.PartialWriteException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Instant;

/**
 * Bad-row isolation: a batch whose COPY failed on its data (SQLSTATE class 22 or 23) is split in halves written in
 * separate transactions, recursively, down to single rows; each part has its own ledger key, so a retry in the
 * middle cannot duplicate anything. Committed rows and refused rows are recorded in the batch's
 * {@link BatchLedger.Progress}, so that a failure part-way reports exactly what is durable
 * ({@link PartialWriteException}) and the pipeline counts only the rest as failed.
 */
final class SplitWriter {

    private static final Logger LOG = LoggerFactory.getLogger(TimescaleSink.class); // users watch the sink's logger
    private static final int REJECTED_ROWS_LOGGED = 5;

    private final String table;
    private final BatchLedger ledger;
    private final CopyWriter copyWriter;

    SplitWriter(String table, BatchLedger ledger, CopyWriter copyWriter) {
        this.table = table;
        this.ledger = ledger;
        this.copyWriter = copyWriter;
    }

    /**
     * Writes the batch part by part.
     *
     * @return events written (all of the batch's events but those refused as invalid)
     * @throws PartialWriteException when a part failed for another reason after others were committed or refused
     * @throws SQLException when a part failed before anything was committed or refused
     */
    int write(Connection conn, EventBatch batch, BatchLedger.Progress progress)
            throws SQLException, PartialWriteException {
        final Rejections rejections = new Rejections(batch);
        try {
            writeSplit(conn, batch, 0, batch.size(), 1L, progress, rejections);
        } catch (SQLException | RuntimeException e) {
            rejections.log();
            if (progress.isEmpty()) {
                throw e;
            }
            throw new PartialWriteException(e, progress.written, progress.invalid);
        }
        rejections.log();
        ledger.finishSplit(batch);
        return batch.size() - progress.invalid.cardinality();
    }

    private void writeSplit(Connection conn, EventBatch batch, int from, int to, long node,
                            BatchLedger.Progress progress, Rejections rejections) throws SQLException {
        if (node != 1L) {
            try {
                copyWriter.writeRange(conn, batch, from, to, ledger.partKey(batch, node));
                progress.written.set(from, to);
                return;
            } catch (SQLException e) {
                if (!SqlStates.isDataError(e)) {
                    throw e;
                }
                if (to - from == 1) {
                    refuse(from, e, progress, rejections);
                    return;
                }
            }
        } else if (to - from == 1) {
            refuse(from, null, progress, rejections); // the whole batch was one row and it already failed on its data
            return;
        }
        final int mid = (from + to) >>> 1;
        writeSplit(conn, batch, from, mid, 2 * node, progress, rejections);
        writeSplit(conn, batch, mid, to, 2 * node + 1, progress, rejections);
    }

    private static void refuse(int index, SQLException e, BatchLedger.Progress progress, Rejections rejections) {
        if (!progress.invalid.get(index)) {
            rejections.add(index, e); // logged once per batch, not again on a retry
        }
        progress.invalid.set(index);
    }

    /** The rows of one batch refused as invalid by this attempt, collected so that they are logged once. */
    private final class Rejections {
        private final EventBatch batch;
        private final StringBuilder sample = new StringBuilder();
        private int count;
        private SQLException firstError;

        Rejections(EventBatch batch) {
            this.batch = batch;
        }

        void add(int index, SQLException error) {
            if (firstError == null && error != null) {
                firstError = error;
            }
            if (count < REJECTED_ROWS_LOGGED) {
                sample.append(count == 0 ? "" : ", ").append("{source=").append(batch.sourceId(index))
                    .append(" seq=").append(batch.sequence(index))
                    .append(" time=").append(instant(batch.timestampNanos(index)))
                    .append(" kind=").append(batch.kind(index))
                    .append(" value=").append(batch.value(index)).append('}');
            }
            count++;
        }

        void log() {
            if (count > 0) {
                LOG.warn("table {}: batch {}: rejected {} of {} rows as invalid data (not written); first rows: {}; "
                        + "error: {}", table, batch.batchId(), count, batch.size(), sample,
                    firstError == null ? "see the batch-level error" : "SQLSTATE " + firstError.getSQLState() + " "
                        + firstError.getMessage());
            }
        }

        private Instant instant(long epochNanos) {
            return Instant.ofEpochSecond(Math.floorDiv(epochNanos, 1_000_000_000L),
                Math.floorMod(epochNanos, 1_000_000_000L));
        }
    }
}
