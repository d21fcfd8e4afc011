package dev.spillway.telemetry.timescale;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * The low-rate half of the {@link StorageLayout#BLOCKS} layout: events written as rows (their source had fewer than
 * {@link StorageLayout#MIN_BLOCK_EVENTS} events in its batch) are moved into blocks, per (source, kind, hour), once
 * the hour they fall in ended at least {@code after} ago, by one statement ({@code DELETE ... RETURNING} feeding an {@code INSERT}), so a
 * reader sees every event exactly once, as a row or in a block, at every instant. Whole hours only: moving every
 * row older than {@code after} at each pass (every minute) made blocks of one minute of a series, a single point at
 * low rates, larger than the rows they replaced; a row now waits up to an hour longer, and a series gets one block
 * per hour (another only for rows that arrive after their hour was moved). Sequences move with the events
 * (kept in {@code seqs} unless consecutive), so gap detection stays exact; the batch ledger is not involved.
 *
 * <p>Runs on its own daemon thread, never on a pipeline worker; each pass is bounded by a statement timeout, and a
 * failed pass is logged (once per streak of failures) and tried again at the next period.
 */
final class RowCompactor implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(TimescaleSink.class); // users watch the sink's logger
    private static final Duration STATEMENT_TIMEOUT = Duration.ofMinutes(5);

    private final DataSource dataSource;
    private final String table;
    private final String sql;
    private final Duration after;
    private final LongAdder moved = new LongAdder();
    private final LongAdder failures = new LongAdder();
    private ScheduledExecutorService timer;
    private boolean failing;

    RowCompactor(DataSource dataSource, String table, Duration after) {
        this.dataSource = dataSource;
        this.table = table;
        this.after = after;
        this.sql = "WITH moved AS (DELETE FROM " + SchemaManager.quote(SchemaManager.rowsTable(table))
            + " WHERE time < date_bin(INTERVAL '1 hour', now() - " + SchemaManager.interval(after)
            + ", TIMESTAMPTZ '2000-01-01 00:00:00+00')"
            + " RETURNING time, source_id, kind, value, seq) "
            + "INSERT INTO " + SchemaManager.quote(SchemaManager.blocksTable(table))
            + " (source_id, kind, time_min, time_max, first_seq, last_seq, n, times, vals, seqs) "
            + "SELECT source_id, kind, min(time), max(time), min(seq), max(seq), count(*)::integer, "
            + "array_agg(time ORDER BY seq), array_agg(value ORDER BY seq), "
            + "CASE WHEN max(seq) - min(seq) + 1 = count(*) THEN NULL ELSE array_agg(seq ORDER BY seq) END "
            + "FROM moved GROUP BY source_id, kind, "
            + "date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '2000-01-01 00:00:00+00')";
    }

    /** Starts the periodic passes: every quarter of {@code after}, at most every minute. */
    synchronized void start() {
        final long period = Math.max(1_000, Math.min(after.toMillis() / 4, Duration.ofMinutes(1).toMillis()));
        timer = Executors.newSingleThreadScheduledExecutor(r -> {
            final Thread t = new Thread(r, "spillway-compact-" + table);
            t.setDaemon(true);
            return t;
        });
        timer.scheduleWithFixedDelay(this::passQuietly, period, period, TimeUnit.MILLISECONDS);
    }

    /**
     * One pass now, in its own transaction.
     *
     * @return the blocks written (one per source, kind and hour that had rows old enough)
     */
    int pass() throws SQLException {
        try (Connection conn = dataSource.getConnection()) {
            final boolean autoCommit = conn.getAutoCommit();
            conn.setAutoCommit(false);
            try (Statement st = conn.createStatement()) {
                st.execute("SET LOCAL statement_timeout = " + STATEMENT_TIMEOUT.toMillis());
                final int blocks = st.executeUpdate(sql);
                conn.commit();
                moved.add(blocks);
                return blocks;
            } catch (SQLException | RuntimeException e) {
                try {
                    conn.rollback();
                } catch (SQLException rollbackFailure) {
                    e.addSuppressed(rollbackFailure);
                }
                throw e;
            } finally {
                conn.setAutoCommit(autoCommit);
            }
        }
    }

    private void passQuietly() {
        try {
            final int blocks = pass();
            if (failing) {
                LOG.info("table {}: compacting rows into blocks works again ({} blocks written)", table, blocks);
                failing = false;
            }
        } catch (SQLException | RuntimeException e) {
            failures.increment();
            if (!failing) {
                LOG.warn("table {}: compacting rows older than {} into blocks failed (rows stay readable as rows; "
                    + "tried again every period, logged again when it works): {}", table, after, e.toString());
                failing = true;
            }
        }
    }

    /** Blocks written by compaction passes so far. */
    long blocksWritten() {
        return moved.sum();
    }

    /** Failed passes so far. */
    long failures() {
        return failures.sum();
    }

    @Override
    public synchronized void close() {
        if (timer != null) {
            timer.shutdownNow();
            try {
                timer.awaitTermination(1, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
