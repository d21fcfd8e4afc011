package dev.spillway.uptime.heartbeat;

import dev.spillway.runtime.lifecycle.ServiceThreads;
import dev.spillway.runtime.lifecycle.Service;
import dev.spillway.runtime.lifecycle.Deadline;
import dev.spillway.ingest.FieldKinds;
import dev.spillway.ingest.Point;
import dev.spillway.ingest.PointWriter;
import dev.spillway.uptime.transitions.Notification;
import dev.spillway.uptime.transitions.NotificationQueue;
import dev.spillway.uptime.transitions.StateTransitions;
import dev.spillway.uptime.schema.UptimeSchema;
import dev.spillway.uptime.transitions.Transition;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Heartbeat state, Healthchecks-style, with the database as the truth:
 * <ul>
 *   <li><b>Pings</b> that change nothing but the time (service available, same status) take an in-memory fast
 *       path: no lock, no database; the newest ping time per service is written in one batch per tick.</li>
 *   <li><b>Pings that change state</b> (first ping, back after silence, new status) lock the service's row
 *       ({@code SELECT ... FOR UPDATE}), update it, and write the transition and its outbox row in the same
 *       transaction.</li>
 *   <li><b>The flip loop</b> (every tick, after the batch) finds services with {@code alert_after < now} that are
 *       available and flips each with a conditional {@code UPDATE ... WHERE state = 'up' AND alert_after < now}:
 *       only the collector whose update changed the row announces, so two collectors never both do, and a
 *       deadline that passed while the collector was down is announced once at start, dated at the deadline.</li>
 * </ul>
 * Every ping received over HTTP also becomes a point ({@code heartbeat,service=<id> status=<n>}) through the
 * {@link PointWriter}; line-protocol heartbeats are stored by the line-protocol path and only observed here.
 *
 * <p>Thread-safe. One scheduler thread ({@code heartbeat}) runs the ticks and the state changes of
 * line-protocol pings.
 */
public final class Heartbeats implements AutoCloseable, Service {

    private static final Logger LOG = LoggerFactory.getLogger(Heartbeats.class);
    private static final String TABLE = ServiceStore.TABLE;
    private static final int FLIP_BATCH = 500;
    /**
     * The deadline of the service's oldest open run ({@code /start} without its end yet) under {@code max_run}, or
     * null; every write of {@code alert_after} takes the earlier of it and the ping deadline.
     */
    static final String OPEN_RUN_DEADLINE = "(SELECT min(e.at) FROM " + dev.spillway.uptime.schema.UptimeSchema
        .HEARTBEAT_EVENTS + " e WHERE e.service = " + TABLE + ".id AND e.open) + " + TABLE + ".max_run_ms "
        + "* interval '1 millisecond'";

    /** What became of a ping. */
    public enum Outcome {
        /** Recorded. */
        OK,
        /** No service with that id is registered. */
        UNKNOWN_SERVICE,
        /** The status index is not one of the service's statuses. */
        BAD_STATUS
    }

    /**
     * Per-service state in memory: what the fast path needs. State and status live in one volatile int, so the
     * fast path never sees a state from one change and a status from another.
     */
    private static final class Entry {
        /** Matches no ping: forces the locking path while a state change is being written. */
        static final int CHANGING = -1;
        final String id;
        volatile ServiceSpec spec;
        /** {@code status << 1 | (up ? 1 : 0)}, or {@link #CHANGING}. */
        volatile int packed;
        /** The last known status index (for the batch's conditional update). */
        volatile int status;
        final AtomicLong lastPingMillis = new AtomicLong(Long.MIN_VALUE);
        final AtomicBoolean dirty = new AtomicBoolean();

        Entry(ServiceState s) {
            this.id = s.spec().id();
            refresh(s);
        }

        static int upWith(int status) {
            return status << 1 | 1;
        }

        void refresh(ServiceState s) {
            spec = s.spec();
            status = s.status();
            packed = s.status() << 1 | (ServiceState.UP.equals(s.state()) ? 1 : 0);
            if (s.lastPing() != null) {
                lastPingMillis.accumulateAndGet(s.lastPing().toEpochMilli(), Math::max);
            }
        }
    }

    private final DataSource dataSource;
    private final ServiceStore store;
    private final StateTransitions transitions;
    private final PointWriter.Producer points;
    private final Clock clock;
    private final Duration tick;
    private final Runnable outboxWritten;
    private final Map<String, Entry> entries = new ConcurrentHashMap<>();
    private final ConcurrentLinkedQueue<Entry> dirty = new ConcurrentLinkedQueue<>();
    private final NotificationQueue notifications;
    private final MeterRegistry registry;
    private final Counter pingsOk;
    private final Counter pingsUnknown;
    private final Counter pingsBadStatus;
    private final Counter pingsDropped;
    private final Counter flips;
    private ScheduledExecutorService scheduler;
    private ThreadPoolExecutor slowPings;
    private long lastErrorLogMillis;
    private volatile boolean checkDeadlines = true;
    /** The row of this run in heartbeat_watch (uptime reports count time outside every row as unknown). */
    private final String watchId = java.util.UUID.randomUUID().toString();
    /** When this run last wrote its watch row; guarded by this. */
    private long watchWrittenMillis = Long.MIN_VALUE;
    private final AtomicBoolean closed = new AtomicBoolean();

    /**
     * @param points producer for ping points, or null to store none (tests of the state machine alone)
     * @param tick how often pings are persisted and deadlines checked (also the longest a ping may sit in memory)
     * @param notifications where announcements go, in the state change's transaction (the alerting outbox)
     * @param outboxWritten called after a transaction with outbox rows committed (wakes the relay)
     */
    public Heartbeats(DataSource dataSource, StateTransitions transitions, NotificationQueue notifications,
                      PointWriter.Producer points, Clock clock, Duration tick, Runnable outboxWritten,
                      MeterRegistry registry) {
        this.dataSource = dataSource;
        this.store = new ServiceStore(dataSource);
        this.transitions = transitions;
        this.notifications = java.util.Objects.requireNonNull(notifications, "notifications");
        this.points = points;
        this.clock = clock;
        this.tick = tick;
        this.outboxWritten = outboxWritten;
        this.registry = registry;
        pingsOk = pings(registry, "ok");
        pingsUnknown = pings(registry, "unknown_service");
        pingsBadStatus = pings(registry, "bad_status");
        pingsDropped = pings(registry, "dropped");
        flips = Counter.builder("spillway.heartbeat.unavailable")
            .description("services this collector announced unavailable").register(registry);
        Gauge.builder("spillway.heartbeat.services", entries, Map::size)
            .description("heartbeat services known to this collector").register(registry);
    }

    private static Counter pings(MeterRegistry registry, String outcome) {
        return Counter.builder("spillway.heartbeat.pings").tag("outcome", outcome)
            .description("heartbeat pings by outcome (dropped: line-protocol pings when the state queue was full)")
            .register(registry);
    }

    /** The registrations. */
    public ServiceStore store() {
        return store;
    }

    /** Loads every service and starts the tick; the first tick runs at once (deadlines missed while down). */
    public void start() throws SQLException {
        start(true);
    }

    /**
     * Loads every service and starts the tick.
     *
     * @param deadlines whether this collector also looks for missed deadlines and announces them (the heartbeats
     *     duty); without it the tick only writes the ping times received here, and another collector on the
     *     database announces. Pings are taken either way.
     */
    public void start(boolean deadlines) throws SQLException {
        this.checkDeadlines = deadlines;
        for (ServiceState s : store.list()) {
            entries.put(s.spec().id(), new Entry(s));
            export(s.spec().id());
        }
        scheduler = new ScheduledThreadPoolExecutor(1, ServiceThreads.single("heartbeat"));
        // Line-protocol pings that need a state change wait here (bounded; overflow is counted and dropped: the
        // service's next ping will make the change).
        slowPings = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new ArrayBlockingQueue<>(1024),
            ServiceThreads.single("heartbeat-state"));
        scheduler.scheduleWithFixedDelay(this::tickQuietly, 0, tick.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * A ping (HTTP). May touch the database: on a cache miss, or when it changes the state.
     *
     * @param status the status index
     */
    public Outcome ping(String id, int status) throws SQLException {
        final Instant now = clock.instant();
        final Outcome o = observe(id, status, now);
        if (o == Outcome.OK && points != null) {
            // Fire and forget: the outcome is counted per producer (spillway_collector_points_total).
            points.write(Point.builder("heartbeat").tag("service", id)
                .time(now.getEpochSecond() * 1_000_000_000L + now.getNano())
                .field("status", FieldKinds.INTEGER, status).build());
        }
        return o;
    }

    /**
     * A heartbeat that arrived as line protocol ({@code heartbeat,service=<id> status=<n>i}); the point itself is
     * stored by the line-protocol path. Never blocks: a state change is handed to the {@code heartbeat-state}
     * thread.
     */
    public void pingFromLine(String id, long status) {
        final Instant now = clock.instant();
        final Entry e = entries.get(id);
        if (e != null && status >= 0 && status < e.spec.statuses().size() && fastPath(e, (int) status, now)) {
            pingsOk.increment();
            return;
        }
        try {
            slowPings.execute(() -> {
                try {
                    observe(id, status > Integer.MAX_VALUE ? -1 : (int) status, now);
                } catch (SQLException | RuntimeException ex) {
                    logError("heartbeat ping of '" + id + "' over line protocol failed", ex);
                }
            });
        } catch (RejectedExecutionException ex) {
            pingsDropped.increment();
        }
    }

    private Outcome observe(String id, int status, Instant now) throws SQLException {
        Entry e = entries.get(id);
        if (e == null) {
            final Optional<ServiceState> s = store.get(id);
            if (s.isEmpty()) {
                pingsUnknown.increment();
                return Outcome.UNKNOWN_SERVICE;
            }
            e = entries.computeIfAbsent(id, k -> new Entry(s.get()));
            export(id);
        }
        if (status < 0 || status >= e.spec.statuses().size()) {
            pingsBadStatus.increment();
            return Outcome.BAD_STATUS;
        }
        if (!fastPath(e, status, now)) {
            final Outcome o = changeState(e, status, now, false);
            if (o != Outcome.OK) {
                return o;
            }
        }
        pingsOk.increment();
        return Outcome.OK;
    }

    /** Available with the same status: only the time moves. No lock, no database. */
    private boolean fastPath(Entry e, int status, Instant now) {
        if (e.packed != Entry.upWith(status)) {
            return false;
        }
        e.lastPingMillis.accumulateAndGet(now.toEpochMilli(), Math::max);
        if (e.dirty.compareAndSet(false, true)) {
            dirty.add(e);
        }
        return true;
    }

    /** A ping that changes the state, in one transaction with its transition and outbox rows. */
    private Outcome changeState(Entry e, int status, Instant at, boolean force) throws SQLException {
        synchronized (e) {
            if (!force && fastPath(e, status, at)) {
                return Outcome.OK; // another thread made the change meanwhile
            }
            // Until the new state is in memory, concurrent pings of this service wait here instead of taking
            // the fast path on the old state (which could hide a status change). Failure leaves it so: the
            // database is the truth, and the next ping reads it.
            e.packed = Entry.CHANGING;
            boolean announced = false;
            try (Connection c = dataSource.getConnection()) {
                c.setAutoCommit(false);
                try {
                    final Optional<ServiceState> locked = ServiceStore.get(c, e.id, true);
                    if (locked.isEmpty()) {
                        c.rollback();
                        entries.remove(e.id, e);
                        unexport(e.id);
                        pingsUnknown.increment();
                        return Outcome.UNKNOWN_SERVICE;
                    }
                    final ServiceState old = locked.get();
                    final ServiceSpec spec = old.spec();
                    if (status >= spec.statuses().size()) {
                        c.rollback();
                        e.refresh(old);
                        pingsBadStatus.increment();
                        return Outcome.BAD_STATUS;
                    }
                    final Instant lastPing = old.lastPing() != null && old.lastPing().isAfter(at) ? old.lastPing() : at;
                    try (PreparedStatement ps = c.prepareStatement("UPDATE " + TABLE + " SET state = 'up', status = ?, "
                        + "last_ping = ?, alert_after = LEAST(?, " + OPEN_RUN_DEADLINE + "), updated_at = now() WHERE id = ?")) {
                        ps.setInt(1, status);
                        ps.setTimestamp(2, Timestamp.from(lastPing));
                        ps.setTimestamp(3, Timestamp.from(spec.alertAfter(lastPing)));
                        ps.setString(4, e.id);
                        ps.executeUpdate();
                    }
                    announced = announcePing(c, old, status, at);
                    c.commit();
                    e.refresh(new ServiceState(spec, ServiceState.UP, status, lastPing, spec.alertAfter(lastPing)));
                } catch (SQLException | RuntimeException ex) {
                    c.rollback();
                    throw ex;
                }
            }
            if (announced) {
                outboxWritten.run();
            }
            return Outcome.OK;
        }
    }

    private boolean announcePing(Connection c, ServiceState old, int status, Instant at) throws SQLException {
        final ServiceSpec spec = old.spec();
        final String id = spec.id();
        final Map<String, String> details = new HashMap<>();
        details.put("status", spec.statusName(status));
        details.put("status_index", Integer.toString(status));
        if (!ServiceState.UP.equals(old.state())) {
            final boolean first = ServiceState.NEW.equals(old.state());
            final String reason = first ? "first ping" : "ping after " + (old.lastPing() == null ? "no ping"
                : "silence since " + old.lastPing());
            transitions.record(c, Transition.of(Transition.KIND_HEARTBEAT, id, first ? null : "DOWN", "UP", at, reason));
            if (!first) {
                details.put("unavailable_since", String.valueOf(old.alertAfter()));
            }
            notifications.enqueue(c, new Notification("service.available", "service", id, first ? null : "unavailable",
                "available", at, details), at);
            return true;
        }
        if (old.status() != status) {
            notifications.enqueue(c, new Notification("service.status", "service", id, spec.statusName(old.status()),
                spec.statusName(status), at, details), at);
            return true;
        }
        return false;
    }

    /** One tick: persist pending ping times, then flip the services whose deadline passed. */
    public synchronized void tick() throws SQLException {
        flush();
        if (checkDeadlines) {
            final Instant now = clock.instant();
            flip(now);
            watch(now, false);
        }
    }

    /**
     * Records that this collector is watching the services up to {@code now}: the first tick inserts the row of
     * this run, later ones move {@code seen_at} on at most every {@link UptimeSchema#HEARTBEAT_WATCH_PERIOD_MS};
     * {@code stopped} marks a clean end at {@code now}.
     */
    private void watch(Instant now, boolean stopped) throws SQLException {
        final long ms = now.toEpochMilli();
        if (!stopped && watchWrittenMillis != Long.MIN_VALUE
            && ms - watchWrittenMillis < UptimeSchema.HEARTBEAT_WATCH_PERIOD_MS) {
            return;
        }
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("INSERT INTO " + UptimeSchema.HEARTBEAT_WATCH
                 + " (collector, started_at, seen_at, stopped) VALUES (?, ?, ?, ?) ON CONFLICT (collector) DO UPDATE "
                 + "SET seen_at = greatest(" + UptimeSchema.HEARTBEAT_WATCH + ".seen_at, EXCLUDED.seen_at), "
                 + "stopped = EXCLUDED.stopped")) {
            ps.setString(1, watchId);
            ps.setTimestamp(2, Timestamp.from(now));
            ps.setTimestamp(3, Timestamp.from(now));
            ps.setBoolean(4, stopped);
            ps.executeUpdate();
        }
        watchWrittenMillis = ms;
    }

    private void tickQuietly() {
        try {
            tick();
        } catch (SQLException | RuntimeException e) {
            logError("heartbeat tick failed (retried every " + tick.toMillis() + " ms)", e);
        }
    }

    private void logError(String what, Exception e) {
        final long now = System.currentTimeMillis();
        synchronized (this) {
            if (now - lastErrorLogMillis < 60_000) {
                return;
            }
            lastErrorLogMillis = now;
        }
        LOG.warn("{} (logged at most once a minute): {}", what, e.toString());
    }

    /** Writes the newest ping time of every service pinged since the last flush, in one batch. */
    private void flush() throws SQLException {
        final List<Entry> batch = new ArrayList<>();
        for (Entry e; (e = dirty.poll()) != null; ) {
            e.dirty.set(false); // before reading the time: a ping after this marks it again
            batch.add(e);
        }
        if (batch.isEmpty()) {
            return;
        }
        // The batch is one implicit transaction: lock its rows in id order, as every other collector's flush does,
        // so two flushes of the same services wait for each other instead of deadlocking.
        batch.sort(java.util.Comparator.comparing(e -> e.id));
        final List<Entry> stale = new ArrayList<>();
        final long[] times = new long[batch.size()];
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            // The deadline is computed here from the spec in memory (a schedule needs Java); the row is updated only
            // if its spec is still that one, else the ping is replayed below with the row's own spec.
            try (PreparedStatement ps = c.prepareStatement("UPDATE " + TABLE + " SET last_ping = ?, alert_after = "
                + "LEAST(?, " + OPEN_RUN_DEADLINE + "), updated_at = now() WHERE id = ? AND state = 'up' AND status = ? AND (last_ping IS NULL OR last_ping < ?) "
                + "AND timeout_ms = ? AND grace_ms = ? AND schedule IS NOT DISTINCT FROM ? AND tz IS NOT DISTINCT FROM ?")) {
                for (int i = 0; i < batch.size(); i++) {
                    final Entry e = batch.get(i);
                    final ServiceSpec spec = e.spec;
                    times[i] = e.lastPingMillis.get();
                    final Timestamp t = new Timestamp(times[i]);
                    ps.setTimestamp(1, t);
                    ps.setTimestamp(2, Timestamp.from(spec.alertAfter(t.toInstant())));
                    ps.setString(3, e.id);
                    ps.setInt(4, e.status);
                    ps.setTimestamp(5, t);
                    ps.setLong(6, spec.timeout().toMillis());
                    ps.setLong(7, spec.grace().toMillis());
                    ps.setString(8, spec.schedule());
                    ps.setString(9, spec.timeZone());
                    ps.addBatch();
                }
                final int[] counts = ps.executeBatch();
                for (int i = 0; i < counts.length; i++) {
                    if (counts[i] == 0) {
                        stale.add(batch.get(i));
                    }
                }
            }
        } catch (SQLException e) {
            // Keep the times: mark the entries dirty again so the next tick retries them.
            for (Entry b : batch) {
                if (b.dirty.compareAndSet(false, true)) {
                    dirty.add(b);
                }
            }
            throw e;
        }
        // Not updated: the row changed under us (flipped by another collector, deleted, new status, or a newer
        // ping stored elsewhere). Replay the ping through the locking path, which sorts out which.
        for (Entry e : stale) {
            final long t = e.lastPingMillis.get();
            changeState(e, e.status, Instant.ofEpochMilli(t), true);
        }
    }

    /** Flips available services whose deadline passed; each with its own transaction. */
    private void flip(Instant now) throws SQLException {
        final List<String> due = new ArrayList<>();
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT id FROM " + TABLE + " WHERE state = 'up' AND "
                 + "alert_after < ? ORDER BY alert_after LIMIT " + FLIP_BATCH)) {
            ps.setTimestamp(1, Timestamp.from(now));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    due.add(rs.getString(1));
                }
            }
        }
        boolean announced = false;
        for (String id : due) {
            announced |= flipOne(id, now);
        }
        if (announced) {
            outboxWritten.run();
        }
    }

    private boolean flipOne(String id, Instant now) throws SQLException {
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try {
                final ServiceState flipped;
                // Conditional: if a ping moved the deadline or another collector flipped first, no row changes.
                try (PreparedStatement ps = c.prepareStatement("UPDATE " + TABLE + " SET state = 'down', "
                    + "updated_at = now() WHERE id = ? AND state = 'up' AND alert_after < ? RETURNING id, timeout_ms, "
                    + "grace_ms, statuses::text, state, status, last_ping, alert_after, schedule, tz, max_run_ms, parent")) {
                    ps.setString(1, id);
                    ps.setTimestamp(2, Timestamp.from(now));
                    try (ResultSet rs = ps.executeQuery()) {
                        if (!rs.next()) {
                            c.rollback();
                            return false;
                        }
                        flipped = ServiceStore.read(rs);
                    }
                }
                final ServiceSpec spec = flipped.spec();
                final String overran = closeOverrunRuns(c, id, spec, now);
                final String reason = overran != null ? overran : "no ping since " + flipped.lastPing() + " (" + (spec.schedule() != null
                    ? "schedule '" + spec.schedule() + "' " + (spec.timeZone() == null ? "UTC" : spec.timeZone())
                    : "timeout " + dev.spillway.runtime.config.Units.formatDuration(spec.timeout())) + " + grace "
                    + dev.spillway.runtime.config.Units.formatDuration(spec.grace()) + ")";
                transitions.record(c, Transition.of(Transition.KIND_HEARTBEAT, id, "UP", "DOWN", flipped.alertAfter(),
                    reason));
                final Map<String, String> details = new HashMap<>();
                details.put("last_ping", String.valueOf(flipped.lastPing()));
                details.put("timeout", dev.spillway.runtime.config.Units.formatDuration(spec.timeout()));
                details.put("grace", dev.spillway.runtime.config.Units.formatDuration(spec.grace()));
                details.put("status", spec.statusName(flipped.status()));
                details.put("status_index", Integer.toString(flipped.status()));
                details.put("reason", overran != null ? "a run took longer than max_run"
                    : spec.schedule() != null ? "no ping by the schedule's time + grace"
                    : "no ping within timeout + grace");
                if (spec.schedule() != null) {
                    details.put("schedule", spec.schedule());
                }
                notifications.enqueue(c, new Notification("service.unavailable", "service", id, "available", "unavailable",
                    flipped.alertAfter(), details), now);
                c.commit();
                flips.increment();
                final Entry e = entries.get(id);
                if (e != null) {
                    synchronized (e) {
                        e.refresh(flipped);
                    }
                }
                LOG.info("heartbeat service '{}' is unavailable: {}", id, reason);
                return true;
            } catch (SQLException | RuntimeException ex) {
                c.rollback();
                throw ex;
            }
        }
    }

    /**
     * Ends the runs of a service that went on past {@code max_run} (they no longer hold its deadline: its next ping
     * counts afresh) and says which, or null when none did.
     */
    private static String closeOverrunRuns(Connection c, String id, ServiceSpec spec, Instant now) throws SQLException {
        if (spec.maxRun() == null) {
            return null;
        }
        final List<String> runs = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("UPDATE " + dev.spillway.uptime.schema.UptimeSchema
            .HEARTBEAT_EVENTS + " SET open = false WHERE service = ? AND open AND at + ? * interval '1 millisecond' < ? "
            + "RETURNING run_id, at")) {
            ps.setString(1, id);
            ps.setLong(2, spec.maxRun().toMillis());
            ps.setTimestamp(3, Timestamp.from(now));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    runs.add((rs.getString(1) == null ? "run" : "run " + rs.getString(1)) + " started at "
                        + rs.getTimestamp(2).toInstant());
                }
            }
        }
        return runs.isEmpty() ? null : String.join(", ", runs) + " took longer than max_run "
            + dev.spillway.runtime.config.Units.formatDuration(spec.maxRun());
    }

    /** The collector database. */
    DataSource dataSource() {
        return dataSource;
    }

    /** The engine's clock (signals are timed by it, like pings). */
    Instant now() {
        return clock.instant();
    }

    /** Writes a finished run's duration as telemetry: {@code heartbeat{service} run_duration_ms, run_failed}. */
    void runDuration(String id, Instant at, double ms, boolean failed) {
        if (points != null) {
            points.write(Point.builder("heartbeat").tag("service", id)
                .time(at.getEpochSecond() * 1_000_000_000L + at.getNano())
                .field("run_duration_ms", FieldKinds.FLOAT, ms)
                .field("run_failed", FieldKinds.BOOLEAN, failed ? 1 : 0).build());
        }
    }

    /**
     * A failure signal ({@code /fail}, a non-zero exit status): announces the service unavailable at once, unless it
     * is already. Its next successful ping announces it available again.
     */
    Outcome fail(String id, Instant at, String reason) throws SQLException {
        final Entry e = entries.get(id);
        final Object lock = e != null ? e : this;
        boolean announced = false;
        synchronized (lock) {
            if (e != null) {
                e.packed = Entry.CHANGING; // no fast-path ping on the old state meanwhile (see changeState)
            }
            try (Connection c = dataSource.getConnection()) {
                c.setAutoCommit(false);
                try {
                    final Optional<ServiceState> row = ServiceStore.get(c, id, true);
                    if (row.isEmpty()) {
                        c.rollback();
                        return Outcome.UNKNOWN_SERVICE;
                    }
                    final ServiceState old = row.get();
                    if (!ServiceState.DOWN.equals(old.state())) {
                        try (PreparedStatement ps = c.prepareStatement("UPDATE " + TABLE + " SET state = 'down', "
                            + "updated_at = now() WHERE id = ?")) {
                            ps.setString(1, id);
                            ps.executeUpdate();
                        }
                        final boolean wasUp = ServiceState.UP.equals(old.state());
                        transitions.record(c, Transition.of(Transition.KIND_HEARTBEAT, id, wasUp ? "UP" : null, "DOWN",
                            at, reason));
                        final Map<String, String> details = new HashMap<>();
                        details.put("last_ping", String.valueOf(old.lastPing()));
                        details.put("status", old.spec().statusName(old.status()));
                        details.put("status_index", Integer.toString(old.status()));
                        details.put("reason", reason);
                        notifications.enqueue(c, new Notification("service.unavailable", "service", id,
                            wasUp ? "available" : null, "unavailable", at, details), at);
                        announced = true;
                    }
                    c.commit();
                    if (e != null) {
                        e.refresh(new ServiceState(old.spec(), ServiceState.DOWN, old.status(), old.lastPing(),
                            old.alertAfter()));
                    }
                } catch (SQLException | RuntimeException ex) {
                    c.rollback();
                    throw ex;
                }
            }
        }
        if (announced) {
            flips.increment();
            outboxWritten.run();
            LOG.info("heartbeat service '{}' is unavailable: {}", id, dev.spillway.runtime.log.LogText.escape(reason));
        }
        return Outcome.OK;
    }

    /** Called after a registration changed (API): the next ping sees the new spec. */
    public void registered(ServiceState s) {
        final Entry e = entries.get(s.spec().id());
        if (e == null) {
            entries.put(s.spec().id(), new Entry(s));
            export(s.spec().id());
        } else {
            synchronized (e) {
                e.refresh(s);
            }
        }
    }

    /** Called after a service was deleted (API). */
    public void removed(String id) {
        entries.remove(id);
        unexport(id);
    }

    /** Most services exported per service on /metrics. */
    static final int EXPORT_CAP = 1000;
    private final Map<String, Gauge> exported = new ConcurrentHashMap<>();

    /**
     * {@code spillway_heartbeat_service_up{service}}: 1 available, 0 unavailable or new, NaN while a change is being
     * written; for at most {@link #EXPORT_CAP} services (the rest are not exported).
     */
    private void export(String id) {
        if (exported.containsKey(id) || exported.size() >= EXPORT_CAP) {
            return;
        }
        exported.computeIfAbsent(id, k -> Gauge.builder("spillway.heartbeat.service.up", entries, m -> {
            final Entry e = m.get(k);
            return e == null || e.packed == Entry.CHANGING ? Double.NaN : e.packed & 1;
        }).tag("service", k).description("whether the heartbeat service is available (1) or not (0: unavailable or "
            + "never pinged)").register(registry));
    }

    private void unexport(String id) {
        final Gauge g = exported.remove(id);
        if (g != null) {
            registry.remove(g);
        }
    }

    /** Stops the tick and persists the ping times still in memory, so a restart loses none of them. */
    @Override
    public void close() {
        stop(Deadline.in(java.time.Duration.ofSeconds(10)));
    }

    @Override
    public String name() {
        return "heartbeats";
    }

    @Override
    public boolean stop(Deadline deadline) {
        if (scheduler == null || !closed.compareAndSet(false, true)) {
            return true;
        }
        slowPings.shutdown();
        scheduler.shutdown();
        try {
            final boolean ended = deadline.await(slowPings) && deadline.await(scheduler);
            if (!ended) {
                LOG.warn("heartbeat threads did not stop in time");
            }
            synchronized (this) { // a tick still running when the deadline passed flushes under the same lock
                flush();
                if (checkDeadlines && watchWrittenMillis != Long.MIN_VALUE) {
                    watch(clock.instant(), true); // a clean end: watched exactly until now
                }
            }
            return ended;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } catch (SQLException e) {
            LOG.warn("could not persist the last heartbeat ping times at shutdown: {}", e.toString());
            return false;
        }
    }
}
