package dev.spillway.alerting;

import dev.spillway.runtime.lifecycle.ServiceThreads;
import dev.spillway.runtime.log.LogText;
import dev.spillway.runtime.lifecycle.Service;
import dev.spillway.runtime.lifecycle.Deadline;
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
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.DoubleSupplier;

/**
 * Drains the outbox: every enabled channel has its own {@link DeliveryLane} (a thread, {@code notify-lane-<id>}),
 * so a slow or dead receiver delays only its own channel. A lane leases its channel's oldest pending row in a
 * short transaction, sends it with no transaction open, and records the answer (see {@link DeliveryLane}); a
 * channel with a group window sends the transitions that arrive within the window after a message as one digest.
 * A dispatcher thread ({@code notify-relay}) starts and stops lanes as channels come and go, releases holds that
 * ended ({@link Holds}), writes the reminders that are due ({@link Reminders}), expires rows older than the maximum age and updates the gauges.
 *
 * <p>Per webhook: a token bucket (about 1/s with short bursts), {@code 429} waits {@code Retry-After} (counted
 * from the answer), 5xx/408/timeouts back off exponentially with jitter until the message is {@code maxAge} old
 * and is then given up, and a permanent refusal (404, 410, 401/403, Slack's {@code invalid_token}) disables the
 * channel with one log line and a reason the API shows; its pending rows wait for the channel to be re-enabled or
 * expire.
 *
 * <p>A row that waits (backoff, Retry-After) holds back later rows of the same channel: failures are the
 * webhook's, and a "resolved" must never overtake its "firing".
 *
 * <p>{@link #drainOnce} runs every lane once on the caller's thread (tests, with a manual clock).
 */
public final class OutboxRelay implements AutoCloseable, Service {

    private static final Logger LOG = LoggerFactory.getLogger(OutboxRelay.class);
    /** Rows one channel may send per {@link #drainOnce}, so one busy channel cannot starve the others. */
    private static final int MAX_PER_CHANNEL_ROUND = 16;

    private final DataSource dataSource;
    private final ChannelStore channels;
    private final Messages messages;
    private final NotifySettings settings;
    private final Clock clock;
    private final DoubleSupplier jitter;
    private final WebhookClient client;
    private final NotifyMetrics metrics;
    /**
     * Lease owner name: unique per relay, so a relay that lost a lease cannot record over its new holder; the
     * process id in it tells operators (and the kill test) which process holds a row.
     */
    private final String owner = "relay-" + ProcessHandle.current().pid() + "-" + java.util.UUID.randomUUID();
    private final Map<String, DeliveryLane> lanes = new ConcurrentHashMap<>();
    private final Map<String, LaneThread> laneThreads = new HashMap<>();
    private final Object wake = new Object();
    private final Object lifecycle = new Object();
    private boolean woken;
    private volatile boolean running;
    private volatile boolean stopping;
    private Thread thread;
    private long lastErrorLogMillis;

    /**
     * @param jitter uniform random numbers in [0, 1) for the backoff; tests pass a constant
     */
    public OutboxRelay(DataSource dataSource, Messages messages, NotifySettings settings, Clock clock,
                       DoubleSupplier jitter, MeterRegistry registry) {
        this.dataSource = dataSource;
        this.channels = new ChannelStore(dataSource);
        this.messages = messages;
        this.settings = settings;
        this.clock = clock;
        this.jitter = jitter;
        this.client = new WebhookClient(settings.requestTimeout(), clock);
        this.metrics = new NotifyMetrics(registry);
    }

    /** Starts the dispatcher thread, which starts one lane thread per enabled channel. */
    public void start() {
        synchronized (lifecycle) {
            if (thread != null) {
                return;
            }
            running = true;
            thread = ServiceThreads.start("notify-relay", this::loop);
        }
    }

    /** Tells the relay that rows were committed, so it does not wait for its next poll. */
    public void wakeup() {
        synchronized (wake) {
            woken = true;
            wake.notifyAll();
        }
        synchronized (lifecycle) {
            laneThreads.values().forEach(LaneThread::wakeup);
        }
    }

    private void laneWakeup() {
        synchronized (lifecycle) {
            laneThreads.values().forEach(LaneThread::wakeup);
        }
    }

    private DeliveryLane lane(String channelId) {
        return lanes.computeIfAbsent(channelId, id -> new DeliveryLane(id, owner, dataSource, messages, settings,
            clock, jitter, client, metrics));
    }

    private void loop() {
        while (running) {
            try {
                syncLanes();
                final Instant now = clock.instant();
                try {
                    if (Holds.releaseEnded(dataSource, now) > 0) {
                        laneWakeup();
                    }
                } catch (SQLException | RuntimeException e) {
                    logError("releasing held notifications failed", e); // reminders and expiry still run
                }
                if (Reminders.enqueueDue(dataSource, now) > 0) {
                    laneWakeup();
                }
                expire(now);
                gauges(now);
            } catch (SQLException | RuntimeException e) {
                logError("notification relay round failed", e);
            }
            synchronized (wake) {
                if (!woken && running) {
                    try {
                        TimeUnit.MILLISECONDS.timedWait(wake, settings.pollInterval().toMillis());
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        running = false;
                    }
                }
                woken = false;
            }
        }
    }

    /** One lane thread per enabled channel; lanes of channels deleted or disabled end. */
    private void syncLanes() throws SQLException {
        final java.util.Set<String> enabled = new java.util.HashSet<>();
        for (Channel ch : channels.list()) {
            if (ch.enabled()) {
                enabled.add(ch.id());
            }
        }
        synchronized (lifecycle) {
            if (!running) {
                return;
            }
            for (String id : enabled) {
                laneThreads.computeIfAbsent(id, k -> new LaneThread(lane(k)));
            }
            laneThreads.entrySet().removeIf(e -> {
                if (!enabled.contains(e.getKey())) {
                    e.getValue().finish();
                    return true;
                }
                return false;
            });
        }
    }

    private synchronized void logError(String what, Exception e) {
        // A database outage would otherwise log once per poll.
        final long now = System.currentTimeMillis();
        if (now - lastErrorLogMillis > 60_000) {
            lastErrorLogMillis = now;
            LOG.warn("{} (retrying every {} ms; logged at most once a minute): {}", what,
                settings.pollInterval().toMillis(), e.toString());
        }
    }

    /** A lane's thread: steps while something is due, else waits for a wakeup or the poll interval. */
    private final class LaneThread {
        private final DeliveryLane lane;
        private final Object laneWake = new Object();
        private final Thread t;
        private volatile boolean live = true;
        private boolean laneWoken;

        LaneThread(DeliveryLane lane) {
            this.lane = lane;
            this.t = ServiceThreads.start("notify-lane-" + lane.channelId(), this::run);
        }

        private void run() {
            while (live && running) {
                DeliveryLane.Step step = DeliveryLane.Step.IDLE;
                try {
                    step = lane.step();
                } catch (SQLException | RuntimeException e) {
                    logError("notification lane '" + lane.channelId() + "' failed", e);
                } catch (InterruptedException e) {
                    return;
                }
                if (step != DeliveryLane.Step.CONTINUE) {
                    synchronized (laneWake) {
                        if (!laneWoken && live && running) {
                            try {
                                TimeUnit.MILLISECONDS.timedWait(laneWake, settings.pollInterval().toMillis());
                            } catch (InterruptedException e) {
                                return;
                            }
                        }
                        laneWoken = false;
                    }
                }
            }
        }

        void wakeup() {
            synchronized (laneWake) {
                laneWoken = true;
                laneWake.notifyAll();
            }
        }

        void finish() {
            live = false;
            wakeup();
        }
    }

    /**
     * One round on the caller's thread: release holds that ended, write due reminders, expire rows older than the
     * maximum age, then run every enabled channel's
     * lane until nothing is due (at most {@value #MAX_PER_CHANNEL_ROUND} messages a channel).
     *
     * @return delivery attempts made
     */
    public int drainOnce() throws SQLException, InterruptedException {
        Holds.releaseEnded(dataSource, clock.instant());
        Reminders.enqueueDue(dataSource, clock.instant());
        expire(clock.instant());
        int attempts = 0;
        for (Channel ch : channels.list()) {
            if (stopping) {
                break;
            }
            if (!ch.enabled()) {
                continue;
            }
            final DeliveryLane lane = lane(ch.id());
            for (int i = 0; i < MAX_PER_CHANNEL_ROUND; i++) {
                final DeliveryLane.Step step = lane.step();
                if (step == DeliveryLane.Step.IDLE) {
                    break;
                }
                attempts++;
                if (step == DeliveryLane.Step.STOP) {
                    break;
                }
            }
        }
        gauges(clock.instant());
        return attempts;
    }

    /** Gives up rows older than the maximum age (e.g. queued behind a disabled channel), one log line per channel. */
    private void expire(Instant now) throws SQLException {
        final Map<String, Integer> perChannel = new HashMap<>();
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("UPDATE notification_outbox SET state = 'failed', "
                 + "last_error = 'expired: not delivered within ' || ? || coalesce('; last error: ' || last_error, '') "
                 + "WHERE state = 'pending' AND created_at < ? AND (lease_until IS NULL OR lease_until < ?) "
                 + "RETURNING channel_id");
             PreparedStatement members = c.prepareStatement("UPDATE notification_outbox m SET state = d.state, "
                 + "last_error = d.last_error FROM notification_outbox d WHERE m.digest_id = d.id "
                 + "AND m.state = 'grouped' AND d.state = 'failed'")) {
            c.setAutoCommit(true);
            ps.setString(1, dev.spillway.runtime.config.Units.formatDuration(settings.maxAge()));
            ps.setTimestamp(2, Timestamp.from(now.minus(settings.maxAge())));
            ps.setTimestamp(3, Timestamp.from(now));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    perChannel.merge(rs.getString(1), 1, Integer::sum);
                }
            }
            if (!perChannel.isEmpty()) {
                members.executeUpdate();
            }
        }
        perChannel.forEach((channel, n) -> {
            metrics.failed(n);
            LOG.warn("{} notification(s) to channel '{}' expired undelivered after {}", n, channel,
                dev.spillway.runtime.config.Units.formatDuration(settings.maxAge()));
        });
    }

    private void gauges(Instant now) throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT count(*), min(created_at) FROM notification_outbox "
                 + "WHERE state = 'pending'");
             ResultSet rs = ps.executeQuery()) {
            rs.next();
            final Timestamp oldest = rs.getTimestamp(2);
            metrics.outbox(rs.getLong(1), oldest == null ? 0.0
                : Math.max(0, Duration.between(oldest.toInstant(), now).toMillis() / 1000.0));
        }
    }

    /** Counters, for tests and the status API. */
    public long sentCount() {
        return metrics.sentCount();
    }

    /** Attempts to be retried so far. */
    public long retriedCount() {
        return metrics.retriedCount();
    }

    /** Notifications given up so far. */
    public long failedCount() {
        return metrics.failedCount();
    }

    /** Age of the oldest pending row at the last round, in seconds. */
    public double oldestPendingSeconds() {
        return metrics.oldestPendingSeconds();
    }

    /**
     * Stops the thread after the round in progress (at most one more send per channel, each bounded by the
     * request timeout); only a relay still stuck after that is interrupted, and its row stays pending.
     */
    @Override
    public void close() {
        stop(Deadline.in(settings.requestTimeout().plusSeconds(4)));
    }

    @Override
    public String name() {
        return "notification relay";
    }

    /**
     * Stops the thread after the round in progress; a send in flight gets until 2 s before the deadline for its
     * answer, then the thread is interrupted and its row stays pending.
     */
    @Override
    public boolean stop(Deadline deadline) {
        final List<Thread> threads = new ArrayList<>();
        stopping = true;
        synchronized (lifecycle) {
            running = false;
            if (thread != null) {
                threads.add(thread);
            }
            thread = null;
            for (LaneThread lt : laneThreads.values()) {
                lt.finish();
                threads.add(lt.t);
            }
            laneThreads.clear();
        }
        wakeup();
        boolean stopped = true;
        try {
            // A send in flight gets its answer recorded (bounded by the request timeout): interrupting it would
            // leave the row leased after the receiver accepted it, and send it again once the lease ends.
            for (Thread t : threads) {
                t.join(Math.max(1, deadline.remaining().minusSeconds(2).toMillis()));
            }
            for (Thread t : threads) {
                if (t.isAlive()) {
                    t.interrupt();
                    deadline.join(t);
                }
                if (t.isAlive()) {
                    LOG.warn("notification relay thread {} did not stop; its row in flight stays leased until the "
                        + "lease ends", t.getName());
                    stopped = false;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return stopped;
    }
}
