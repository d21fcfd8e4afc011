package dev.spillway.ingest.series;

import dev.spillway.runtime.lifecycle.ServiceThreads;
import dev.spillway.telemetry.timescale.SqlStates;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.io.IOException;
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
 * <p><b>Outages of any length.</b> With a {@link LocalSeriesStore} (the collector keeps one beside its spool), a
 * round that cannot reach the database marks an outage: from then on ranges are extended in the local store (each
 * extension forced to disk before its numbers are used) by the round itself and, for a taker that runs past its
 * limit, on the taker's own thread, so no taker ever waits for the database while it is down. The first round
 * that reaches the database again ends the outage: it lets the registry give provisional series their catalogue
 * rows ({@link Recovery}), raises {@code next_seq} to every limit reserved locally
 * ({@code GREATEST(next_seq, limit)}: never lowered), and empties the store once all of it is in the database.
 * A restart reads the store first, so a number reserved locally is never reused either.
 *
 * <p><b>Several collectors on one database.</b> Extensions are compare-and-set on {@code next_seq}; when another
 * collector moved a series, this one continues from a fresh range above the other's. Numbers reserved locally
 * during an outage are not coordinated: two collectors that both write one series while partitioned from the
 * database can hand out the same numbers (each series is normally written by one collector).
 */
final class SequenceReserver implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(SequenceReserver.class);

    static final long MIN_BLOCK = 1024;
    static final long MAX_BLOCK = 1L << 24;
    /**
     * Headroom in rounds of a series' recent rate (about a minute at the collector's 250 ms round). With a local
     * store an outage no longer depends on it; without one it is how long a series keeps taking numbers while the
     * database is down. The system property {@code spillway.sequenceHeadroomRounds} scales it down for tests that
     * must outlast it in seconds (read when a reserver is made).
     */
    static final int ROUNDS_OF_HEADROOM = 240;
    static final String HEADROOM_PROPERTY = "spillway.sequenceHeadroomRounds";

    /** The registry's part of coming back from an outage, run by the first round that reaches the database. */
    interface Recovery {
        /** Whether there is anything to reconcile (provisional series without a catalogue row). */
        boolean pending();

        /** Gives every provisional series its catalogue row; may throw, then the outage goes on. */
        void reconcile(Connection c) throws SQLException;
    }

    private final DataSource dataSource;
    private final Collection<Series> series;
    private final LocalSeriesStore store;
    private final long intervalNanos;
    private final long maxWaitNanos;
    private final int roundsOfHeadroom = Math.max(1, Integer.getInteger(HEADROOM_PROPERTY, ROUNDS_OF_HEADROOM));
    private final Object lock = new Object();
    private final Thread thread;
    private boolean requested; // guarded by lock
    private volatile boolean closed;
    private volatile boolean outage;
    private volatile Recovery recovery;
    private long failures; // reserver thread only
    private long lastRoundNanos = System.nanoTime(); // reserver thread only
    private long localFailures; // guarded by store

    SequenceReserver(DataSource dataSource, Collection<Series> series, Duration interval, Duration maxWait) {
        this(dataSource, series, null, interval, maxWait);
    }

    /** @param store where ranges are extended while the database is down, or null to wait for it (bounded) */
    SequenceReserver(DataSource dataSource, Collection<Series> series, LocalSeriesStore store, Duration interval,
                     Duration maxWait) {
        this.dataSource = dataSource;
        this.series = series;
        this.store = store;
        this.intervalNanos = interval.toNanos();
        this.maxWaitNanos = maxWait.toNanos();
        // No database at all (a NATS-only edge): every range is reserved in the local store, for good.
        this.outage = dataSource == null;
        if (dataSource == null && store == null) {
            throw new IllegalArgumentException("a reserver without a database needs a local store");
        }
        this.thread = ServiceThreads.single("series-sequences").newThread(this::run);
    }

    void recovery(Recovery r) {
        this.recovery = r;
    }

    /** Whether the database is known unreachable (and numbers are reserved in the local store meanwhile). */
    boolean outage() {
        return outage;
    }

    /**
     * The registry failed to reach the database: from now on ranges are extended locally (when there is a store),
     * until a round reaches it again.
     */
    void outageDetected(Throwable cause) {
        if (store != null && !outage) {
            outage = true;
            LOG.warn("database unreachable ({}): sequence numbers are reserved in {} and series first seen now get "
                + "provisional ids until it is back", cause.toString(), store.directory());
        }
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
        final long now = System.nanoTime();
        final long elapsed = Math.max(intervalNanos, now - lastRoundNanos);
        lastRoundNanos = now;
        final List<Series> low = new ArrayList<>();
        final List<Long> newLimits = new ArrayList<>();
        boolean localOnly = false;
        for (Series s : series) {
            // The rate per round of the configured interval, even when a round came late (a slow database).
            final long moved = (long) (s.advanceSinceLastRound() * ((double) intervalNanos / elapsed));
            final long headroom = Math.min(MAX_BLOCK, Math.max(MIN_BLOCK, moved * roundsOfHeadroom));
            s.headroom(headroom);
            final long next = s.peekSequence();
            final long limit = s.limit();
            if (limit == Long.MIN_VALUE) {
                continue; // sealed
            }
            localOnly |= s.databaseId() < 0 || limit > s.databaseLimit();
            if (s.waiting() || limit - next < headroom / 2) {
                low.add(s);
                newLimits.add(Math.max(limit, next) + headroom);
            }
        }
        if (outage) {
            // At once, before trying the database (which may take a connection timeout to say no).
            extendLocally(low, newLimits);
            low.clear();
            newLimits.clear();
            if (dataSource == null) {
                failures = 0;
                return;
            }
        }
        final boolean recover = store != null && (outage || localOnly || !store.isEmpty()
            || (recovery != null && recovery.pending()));
        if (low.isEmpty() && !recover) {
            failures = 0;
            return;
        }
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            if (recover) {
                recover(c);
            }
            extendInDatabase(c, low, newLimits);
        } catch (SQLException e) {
            if (store != null && SqlStates.isTransient(e)) {
                outageDetected(e);
                extendLocally(low, newLimits); // whatever the failed round did not extend
            }
            throw e;
        }
        failures = 0;
    }

    private void extendInDatabase(Connection c, List<Series> low, List<Long> newLimits) throws SQLException {
        final List<Series> inDb = new ArrayList<>();
        final List<Long> inDbLimits = new ArrayList<>();
        for (int i = 0; i < low.size(); i++) {
            if (low.get(i).databaseId() >= 0) {
                inDb.add(low.get(i));
                inDbLimits.add(newLimits.get(i));
            } else {
                // A provisional series whose catalogue row could not be made yet: it lives on local numbers.
                extendLocally(List.of(low.get(i)), List.of(newLimits.get(i)));
            }
        }
        if (inDb.isEmpty()) {
            return;
        }
        final Integer[] ids = new Integer[inDb.size()];
        final Long[] olds = new Long[inDb.size()];
        final Long[] news = new Long[inDb.size()];
        final Map<Integer, Integer> index = new HashMap<>();
        for (int i = 0; i < ids.length; i++) {
            final Series s = inDb.get(i);
            ids[i] = s.databaseId();
            olds[i] = s.databaseLimit() + s.sequenceOffset();
            news[i] = inDbLimits.get(i) + s.sequenceOffset();
            index.put(ids[i], i);
        }
        final boolean[] extended = new boolean[ids.length];
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
            final Series s = inDb.get(i);
            if (extended[i]) {
                s.databaseLimit(inDbLimits.get(i));
                s.extend(inDbLimits.get(i));
            } else {
                takeFreshRange(c, s, inDbLimits.get(i) - Math.max(s.databaseLimit(), s.peekSequence()));
            }
        }
    }

    /** Another writer moved the series: reserve a block above whatever it holds now and jump there. */
    private static void takeFreshRange(Connection c, Series s, long block) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
            "UPDATE telemetry_sources SET next_seq = next_seq + ? WHERE id = ? RETURNING next_seq")) {
            ps.setLong(1, block);
            ps.setInt(2, s.databaseId());
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    throw new SQLException("series " + s.databaseId() + " vanished from telemetry_sources");
                }
                final long limit = rs.getLong(1) - s.sequenceOffset();
                LOG.info("series {} was advanced by another writer; continuing at sequence {}", s.databaseId(),
                    limit - block + s.sequenceOffset());
                s.databaseLimit(limit);
                s.jump(limit - block, limit);
            }
        }
    }

    /**
     * The database answers: provisional series get their rows, limits reserved locally go into {@code next_seq},
     * the outage is over, and the store is emptied once the database holds all it held.
     */
    private void recover(Connection c) throws SQLException {
        final Recovery r = recovery;
        if (r != null && r.pending()) {
            r.reconcile(c);
        }
        if (outage) {
            outage = false;
            LOG.info("database reachable again: sequence numbers reserved locally go back into telemetry_sources");
        }
        pushLocalLimits(c);
        synchronized (store) {
            boolean clean = r == null || !r.pending();
            for (Series s : series) {
                final long limit = s.limit();
                clean &= limit == Long.MIN_VALUE || (s.databaseId() >= 0 && limit <= s.databaseLimit());
            }
            if (clean && !store.isEmpty()) {
                try {
                    store.clear();
                } catch (IOException e) {
                    LOG.warn("could not empty {} (it is read again at the next start, harmlessly): {}",
                        store.directory(), e.toString());
                }
            }
        }
    }

    /** {@code next_seq = GREATEST(next_seq, limit)} for every series whose limit the database does not hold yet. */
    private void pushLocalLimits(Connection c) throws SQLException {
        final List<Series> ahead = new ArrayList<>();
        final List<Long> limits = new ArrayList<>();
        for (Series s : series) {
            final long limit = s.limit();
            if (limit != Long.MIN_VALUE && s.databaseId() >= 0 && limit > s.databaseLimit()) {
                ahead.add(s);
                limits.add(limit);
            }
        }
        if (ahead.isEmpty()) {
            return;
        }
        final Integer[] ids = new Integer[ahead.size()];
        final Long[] lims = new Long[ahead.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = ahead.get(i).databaseId();
            lims[i] = limits.get(i) + ahead.get(i).sequenceOffset();
        }
        try (PreparedStatement ps = c.prepareStatement("UPDATE telemetry_sources s SET next_seq = "
            + "GREATEST(s.next_seq, v.lim) FROM unnest(?::int[], ?::bigint[]) AS v(id, lim) WHERE s.id = v.id")) {
            ps.setArray(1, c.createArrayOf("int4", ids));
            ps.setArray(2, c.createArrayOf("int8", lims));
            ps.executeUpdate();
        }
        // If another writer holds more, the next compare-and-set fails and this collector jumps above it.
        for (int i = 0; i < ids.length; i++) {
            ahead.get(i).databaseLimit(limits.get(i));
        }
        LOG.info("raised next_seq of {} series to the numbers reserved locally during the outage", ids.length);
    }

    /** The round's local extension: one forced append for all, then the takers are woken. */
    private void extendLocally(List<Series> low, List<Long> newLimits) {
        if (store == null || low.isEmpty()) {
            return;
        }
        final int[] ids = new int[low.size()];
        final long[] limits = new long[low.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = low.get(i).id();
            limits[i] = newLimits.get(i);
        }
        synchronized (store) {
            try {
                store.appendLimits(ids, limits, ids.length);
            } catch (IOException e) {
                localFailed(e);
                return;
            }
            for (int i = 0; i < ids.length; i++) {
                low.get(i).extendQuietly(limits[i]);
            }
        }
        for (Series s : low) {
            s.wake(); // outside the store's lock: a taker holds its series' monitor while it takes that lock
        }
    }

    /**
     * A taker past its limit during an outage extends its own range in the local store instead of waiting for the
     * database. Called with the series' monitor held.
     *
     * @return whether the range now covers {@code taken} (or was extended past it); false outside an outage, when
     *     closed or sealed, or when the store cannot be written
     */
    boolean extendLocally(Series s, long taken) {
        if (!outage || store == null || closed) {
            return false;
        }
        synchronized (store) {
            final long limit = s.limit();
            if (limit == Long.MIN_VALUE) {
                return false;
            }
            if (taken < limit) {
                return true;
            }
            final long newLimit = Math.max(limit, taken + 1) + s.headroom();
            try {
                store.appendLimits(new int[] {s.id()}, new long[] {newLimit}, 1);
            } catch (IOException e) {
                localFailed(e);
                return false;
            }
            s.extendQuietly(newLimit);
            return true;
        }
    }

    private void localFailed(IOException e) {
        if (localFailures++ % 100 == 0) {
            LOG.error("could not reserve sequence numbers in {} while the database is down (failure {}); takers "
                + "past their range wait and are then refused: {}", store.directory(), localFailures, e.toString());
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
            // Where the database holds this collector's limit (numbers reserved locally and not pushed yet stay in
            // the local store, read at the next start): the exact next number, in the catalogue row's numbering.
            if (limit != Long.MIN_VALUE && s.databaseId() >= 0 && next < limit && next >= 0) {
                ids.add(s.databaseId());
                nexts.add(next + s.sequenceOffset());
                limits.add(s.databaseLimit() + s.sequenceOffset());
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
