package dev.spillway.ingest.series;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Keeps every series' sequence numbers reserved ahead of use in {@code telemetry_sources.next_seq}, so that no
 * index on the events table is needed to continue sequences after a restart.
 *
 * <p><b>The rule.</b> {@code next_seq} is always at least one more than any sequence a collector has handed out:
 * a series takes numbers only below its reserved limit, and a limit is used only after the database has committed
 * it. After a clean shutdown, {@link #persistExact} writes each series' true next number (no gap across the
 * restart). After a crash, the next run starts at the reserved limit, so it never reuses a number; the numbers
 * between the last one used and the limit (at most one reservation block per series) are never used and show in a
 * gap query like the events the crash lost.
 *
 * <p><b>Sizing.</b> Every {@code interval} a background thread extends, in one statement, every series with less
 * than half its headroom left; the headroom is {@value #ROUNDS_OF_HEADROOM} rounds of the series' recent rate
 * (about a minute at the collector's 250 ms round; at least {@value #MIN_BLOCK}, at most {@value #MAX_BLOCK}), so
 * a steady series never waits, and keeps taking numbers through a database outage of about that long while its
 * events go to the spool. The price of the long headroom: after a crash (not a clean shutdown) up to that
 * minute's worth of numbers per series stays unused. A burst beyond that makes
 * its takers wait for an immediate extra round (one round trip), and a database that stays down makes them give
 * up after {@code maxWait} (the line is then refused with 503 and the client retries).
 *
 * <p><b>Several collectors on one database.</b> Extensions are compare-and-set on {@code next_seq}; when another
 * collector moved a series, this one continues from a fresh range above the other's.
 */
final class SequenceReserver implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(SequenceReserver.class);

    static final long MIN_BLOCK = 1024;
    static final long MAX_BLOCK = 1L << 24;
    // Sized for outages, not for round trips: the spool keeps acknowledging writes while the database is down
    // only as long as series still have numbers in hand.
    static final int ROUNDS_OF_HEADROOM = 240;

    private final DataSource dataSource;
    private final Collection<Series> series;
    private final long intervalNanos;
    private final long maxWaitNanos;
    private final Object lock = new Object();
    private final Thread thread;
    private boolean requested; // guarded by lock
    private volatile boolean closed;
    private long failures; // reserver thread only

    SequenceReserver(DataSource dataSource, Collection<Series> series, Duration interval, Duration maxWait) {
        this.dataSource = dataSource;
        this.series = series;
        this.intervalNanos = interval.toNanos();
        this.maxWaitNanos = maxWait.toNanos();
        this.thread = new Thread(this::run, "series-sequences");
        this.thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    long maxWaitNanos() {
        return maxWaitNanos;
    }

    /**
     * Asks for a round now and waits on the series' monitor (which the caller holds) until woken or timed out.
     *
     * @return false when no reservation can come any more (closed or interrupted)
     */
    boolean requestAndWait(Series s, long nanos) {
        if (closed) {
            return false;
        }
        synchronized (lock) {
            requested = true;
            lock.notifyAll();
        }
        try {
            s.await(nanos);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
        return !closed;
    }

    private void run() {
        while (!closed) {
            try {
                synchronized (lock) {
                    if (!requested) {
                        java.util.concurrent.TimeUnit.NANOSECONDS.timedWait(lock, intervalNanos);
                    }
                    requested = false;
                }
                if (!closed) {
                    reserveRound();
                }
            } catch (InterruptedException e) {
                return;
            } catch (SQLException | RuntimeException e) {
                // Retried next round; takers beyond their range wait (bounded) meanwhile.
                if (failures++ % 100 == 0) {
                    LOG.warn("could not reserve sequence numbers (failure {}; retrying every {} ms): {}", failures,
                        intervalNanos / 1_000_000, e.toString());
                }
            }
        }
    }

    /** One round: extends every series that is waiting or has less than half its headroom left. */
    void reserveRound() throws SQLException {
        final List<Series> low = new ArrayList<>();
        final List<Long> newLimits = new ArrayList<>();
        for (Series s : series) {
            final long moved = s.advanceSinceLastRound();
            final long headroom = Math.min(MAX_BLOCK, Math.max(MIN_BLOCK, moved * ROUNDS_OF_HEADROOM));
            final long next = s.peekSequence();
            final long limit = s.limit();
            if (limit == Long.MIN_VALUE) {
                continue; // sealed
            }
            if (s.waiting() || limit - next < headroom / 2) {
                low.add(s);
                newLimits.add(Math.max(limit, next) + headroom);
            }
        }
        if (low.isEmpty()) {
            return;
        }
        final Integer[] ids = new Integer[low.size()];
        final Long[] olds = new Long[low.size()];
        final Long[] news = new Long[low.size()];
        final Map<Integer, Integer> index = new HashMap<>();
        for (int i = 0; i < ids.length; i++) {
            ids[i] = low.get(i).id();
            olds[i] = low.get(i).limit();
            news[i] = newLimits.get(i);
            index.put(ids[i], i);
        }
        final boolean[] extended = new boolean[ids.length];
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            try (PreparedStatement ps = c.prepareStatement("UPDATE telemetry_sources s SET next_seq = v.lim "
                + "FROM unnest(?::int[], ?::bigint[], ?::bigint[]) AS v(id, old, lim) "
                + "WHERE s.id = v.id AND s.next_seq = v.old RETURNING s.id")) {
                final Array a1 = c.createArrayOf("int4", ids);
                final Array a2 = c.createArrayOf("int8", olds);
                final Array a3 = c.createArrayOf("int8", news);
                ps.setArray(1, a1);
                ps.setArray(2, a2);
                ps.setArray(3, a3);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        final int i = index.get(rs.getInt(1));
                        extended[i] = true;
                    }
                }
            }
            for (int i = 0; i < ids.length; i++) {
                if (extended[i]) {
                    low.get(i).extend(news[i]);
                } else {
                    takeFreshRange(c, low.get(i), news[i] - Math.max(olds[i], low.get(i).peekSequence()));
                }
            }
        }
        failures = 0;
    }

    /** Another writer moved the series: reserve a block above whatever it holds now and jump there. */
    private static void takeFreshRange(Connection c, Series s, long block) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
            "UPDATE telemetry_sources SET next_seq = next_seq + ? WHERE id = ? RETURNING next_seq")) {
            ps.setLong(1, block);
            ps.setInt(2, s.id());
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    throw new SQLException("series " + s.id() + " vanished from telemetry_sources");
                }
                final long limit = rs.getLong(1);
                LOG.info("series {} was advanced by another writer; continuing at sequence {}", s.id(), limit - block);
                s.jump(limit - block, limit);
            }
        }
    }

    /**
     * Stops reserving, seals every series (later takers get {@link Series#UNAVAILABLE}) and writes each series'
     * true next number where the database still holds this collector's limit, so a clean restart leaves no gap.
     * Call after the pipeline has drained and the inputs are closed.
     */
    void persistExact() throws SQLException {
        close();
        final List<Integer> ids = new ArrayList<>();
        final List<Long> nexts = new ArrayList<>();
        final List<Long> limits = new ArrayList<>();
        for (Series s : series) {
            final long limit = s.limit();
            s.seal();
            final long next = Math.min(s.peekSequence(), limit);
            if (limit != Long.MIN_VALUE && next < limit) {
                ids.add(s.id());
                nexts.add(next);
                limits.add(limit);
            }
        }
        if (ids.isEmpty()) {
            return;
        }
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("UPDATE telemetry_sources s SET next_seq = v.next "
                 + "FROM unnest(?::int[], ?::bigint[], ?::bigint[]) AS v(id, next, lim) "
                 + "WHERE s.id = v.id AND s.next_seq = v.lim")) {
            c.setAutoCommit(true);
            ps.setArray(1, c.createArrayOf("int4", ids.toArray()));
            ps.setArray(2, c.createArrayOf("int8", nexts.toArray()));
            ps.setArray(3, c.createArrayOf("int8", limits.toArray()));
            final int n = ps.executeUpdate();
            LOG.info("saved the next sequence of {} series", n);
        }
    }

    /** Stops reserving; takers beyond their range get {@link Series#UNAVAILABLE} at once. Limits stay as reserved. */
    @Override
    public void close() {
        closed = true;
        for (Series s : series) {
            if (s.waiting()) {
                s.wake();
            }
        }
        thread.interrupt();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
