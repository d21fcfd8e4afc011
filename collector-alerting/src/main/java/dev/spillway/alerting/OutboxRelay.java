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
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.DoubleSupplier;

/**
 * Drains the outbox: for each enabled channel, the oldest pending row is locked ({@code FOR UPDATE SKIP LOCKED},
 * under a per-channel advisory lock so two collectors never send to one webhook at once and messages keep their
 * order), sent, and marked with the answer in the same transaction. So a message the receiver answered is
 * marked exactly once; only a crash between the receiver's answer and the commit can send it twice.
 *
 * <p>Per webhook: a token bucket (about 1/s with short bursts), {@code 429} waits {@code Retry-After},
 * 5xx/408/timeouts back off exponentially with jitter until the message is {@code maxAge} old and is then given
 * up, and a permanent refusal (404, 410, 401/403, Slack's {@code invalid_token}) disables the channel with one log
 * line and a reason the API shows; its pending rows wait for the channel to be re-enabled or expire.
 *
 * <p>A row that waits (backoff, Retry-After) holds back later rows of the same channel: failures are the
 * webhook's, and a "resolved" must never overtake its "firing".
 *
 * <p>One thread ({@code notify-relay}); {@link #drainOnce} is also callable directly (tests, with a manual
 * clock).
 */
public final class OutboxRelay implements AutoCloseable, Service {

    private static final Logger LOG = LoggerFactory.getLogger(OutboxRelay.class);
    /** Advisory-lock namespace: "SPN1". */
    private static final int LOCK_NAMESPACE = 0x53504E31;
    /** Rows one channel may send per round, so one busy channel cannot starve the others. */
    private static final int MAX_PER_CHANNEL_ROUND = 16;

    private final DataSource dataSource;
    private final ChannelStore channels;
    private final Messages messages;
    private final NotifySettings settings;
    private final Clock clock;
    private final DoubleSupplier jitter;
    private final WebhookClient client;
    private final NotifyMetrics metrics;
    private final Map<String, TokenBucket> buckets = new HashMap<>();
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
        this.client = new WebhookClient(settings.requestTimeout());
        this.metrics = new NotifyMetrics(registry);
    }

    /** Starts the relay thread. */
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
    }

    private void loop() {
        while (running) {
            int attempts = 0;
            try {
                attempts = drainOnce();
            } catch (SQLException | RuntimeException e) {
                logError(e);
            } catch (InterruptedException e) {
                return;
            }
            if (attempts == 0) {
                awaitWork();
            }
        }
    }

    private void awaitWork() {
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

    private void logError(Exception e) {
        // A database outage would otherwise log once per poll.
        final long now = System.currentTimeMillis();
        if (now - lastErrorLogMillis > 60_000) {
            lastErrorLogMillis = now;
            LOG.warn("notification relay round failed (retrying every {} ms; logged at most once a minute): {}",
                settings.pollInterval().toMillis(), e.toString());
        }
    }

    /**
     * One round: expire rows older than the maximum age, then deliver what is due on every enabled channel, as
     * far as the rate limits allow.
     *
     * @return delivery attempts made
     */
    public synchronized int drainOnce() throws SQLException, InterruptedException {
        final Instant now = clock.instant();
        expire(now);
        int attempts = 0;
        for (Channel ch : channels.list()) {
            if (stopping) {
                break;
            }
            if (!ch.enabled()) {
                continue;
            }
            for (int i = 0; i < MAX_PER_CHANNEL_ROUND; i++) {
                if (ch.kind() != ChannelKind.LOG && bucket(ch.id(), now).millisUntilToken(now.toEpochMilli()) > 0) {
                    break;
                }
                final Step step = deliverOne(ch.id(), now);
                if (step == Step.IDLE) {
                    break;
                }
                attempts++;
                if (step == Step.STOP) {
                    break;
                }
            }
        }
        gauges(now);
        return attempts;
    }

    private enum Step { IDLE, CONTINUE, STOP }

    private TokenBucket bucket(String channelId, Instant now) {
        return buckets.computeIfAbsent(channelId, id -> new TokenBucket(settings.ratePerSecond(), settings.burst(),
            now.toEpochMilli()));
    }

    private Step deliverOne(String channelId, Instant now) throws SQLException, InterruptedException {
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try {
                final Step step = deliverLocked(c, channelId, now);
                c.commit();
                return step;
            } catch (SQLException | RuntimeException | InterruptedException e) {
                c.rollback();
                throw e;
            }
        }
    }

    private Step deliverLocked(Connection c, String channelId, Instant now) throws SQLException, InterruptedException {
        try (PreparedStatement ps = c.prepareStatement("SELECT pg_try_advisory_xact_lock(?, hashtext(?))")) {
            ps.setInt(1, LOCK_NAMESPACE);
            ps.setString(2, channelId);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                if (!rs.getBoolean(1)) {
                    return Step.IDLE; // another relay is sending to this channel
                }
            }
        }
        final OutboxEntry row;
        final Channel ch;
        try (PreparedStatement ps = c.prepareStatement("SELECT " + Outbox.COLUMNS + ", ch.kind, ch.url "
            + "FROM notification_outbox o JOIN notification_channels ch ON ch.id = o.channel_id AND ch.enabled "
            + "WHERE o.channel_id = ? AND o.state = 'pending' ORDER BY o.id LIMIT 1 FOR UPDATE OF o SKIP LOCKED")) {
            ps.setString(1, channelId);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return Step.IDLE;
                }
                row = Outbox.read(rs);
                ch = new Channel(channelId, ChannelKind.parse(rs.getString(17)), rs.getString(18), true, null, null);
            }
        }
        if (row.nextAttemptAt().isAfter(now)) {
            return Step.IDLE;
        }
        if (ch.kind() != ChannelKind.LOG && !bucket(channelId, now).tryTake(now.toEpochMilli())) {
            return Step.IDLE;
        }
        final Answer answer = send(ch, row, now);
        return record(c, ch, row, answer, now);
    }

    private Answer send(Channel ch, OutboxEntry row, Instant now) throws InterruptedException {
        return switch (ch.kind()) {
            case LOG -> {
                LOG.info("notification {}: {}", row.id(), LogText.escape(Messages.sentence(row.notification())));
                yield new Answer(200, "", null, null);
            }
            case SLACK -> client.post(ch.url(), messages.slack(row.notification(), row.id()), row.id(), now);
            case WEBHOOK -> client.post(ch.url(), messages.webhook(row.notification(), row.id()), row.id(), now);
        };
    }

    private Step record(Connection c, Channel ch, OutboxEntry row, Answer answer, Instant now) throws SQLException {
        final int attempts = row.attempts() + 1;
        final Integer status = answer.status() < 0 ? null : answer.status();
        switch (answer.outcome()) {
            case SENT -> {
                update(c, row.id(), OutboxEntry.SENT, attempts, row.nextAttemptAt(), now, status, null);
                metrics.sent();
                return Step.CONTINUE;
            }
            case RATE_LIMITED, RETRY -> {
                final Duration wait = answer.outcome() == Answer.Outcome.RATE_LIMITED
                    ? answer.retryAfter() : settings.backoff(attempts, jitter.getAsDouble());
                final Instant next = now.plus(wait);
                if (Duration.between(row.createdAt(), next).compareTo(settings.maxAge()) > 0) {
                    final String why = "gave up after " + attempts + " attempts over "
                        + dev.spillway.runtime.config.Units.formatDuration(
                            Duration.between(row.createdAt(), now).withNanos(0))
                        + " (max age " + dev.spillway.runtime.config.Units.formatDuration(settings.maxAge())
                        + "); last answer: " + answer.describe();
                    update(c, row.id(), OutboxEntry.FAILED, attempts, next, null, status, why);
                    metrics.failed(1);
                    LOG.warn("notification {} to channel '{}' {}", row.id(), ch.id(), LogText.escape(why));
                    return Step.CONTINUE;
                }
                update(c, row.id(), OutboxEntry.PENDING, attempts, next, null, status, answer.describe());
                metrics.retried();
                LOG.debug("notification {} to channel '{}' will be retried at {}: {}", row.id(), ch.id(), next,
                    LogText.escape(answer.describe()));
                return Step.STOP;
            }
            case REJECTED -> {
                final String why = "refused by the receiver: " + answer.describe();
                update(c, row.id(), OutboxEntry.FAILED, attempts, row.nextAttemptAt(), null, status, why);
                metrics.failed(1);
                LOG.warn("notification {} to channel '{}' {}", row.id(), ch.id(), LogText.escape(why));
                return Step.CONTINUE;
            }
            case DISABLE -> {
                final String why = answer.describe();
                // The row stays pending: if the channel is fixed and re-enabled, it is delivered (unless too old).
                update(c, row.id(), OutboxEntry.PENDING, attempts, row.nextAttemptAt(), null, status, why);
                ChannelStore.disable(c, ch.id(), why, now);
                metrics.disabled();
                LOG.error("notification channel '{}' ({} {}) disabled: {}. Its pending notifications wait until it "
                        + "is re-enabled (PUT /api/v1/channels/{}) or expire after {}.", ch.id(), ch.kind().id(),
                    ch.maskedUrl(), LogText.escape(why), ch.id(), dev.spillway.runtime.config.Units.formatDuration(settings.maxAge()));
                return Step.STOP;
            }
            default -> throw new IllegalStateException(answer.outcome().name());
        }
    }

    private static void update(Connection c, long id, String state, int attempts, Instant next, Instant sentAt,
                               Integer status, String error) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE notification_outbox SET state = ?, attempts = ?, "
            + "next_attempt_at = ?, sent_at = ?, last_status = ?, last_error = ? WHERE id = ?")) {
            ps.setString(1, state);
            ps.setInt(2, attempts);
            ps.setTimestamp(3, Timestamp.from(next));
            ps.setTimestamp(4, sentAt == null ? null : Timestamp.from(sentAt));
            if (status == null) {
                ps.setNull(5, java.sql.Types.INTEGER);
            } else {
                ps.setInt(5, status);
            }
            ps.setString(6, error);
            ps.setLong(7, id);
            ps.executeUpdate();
        }
    }

    /** Gives up rows older than the maximum age (e.g. queued behind a disabled channel), one log line per channel. */
    private void expire(Instant now) throws SQLException {
        final Map<String, Integer> perChannel = new HashMap<>();
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("UPDATE notification_outbox SET state = 'failed', "
                 + "last_error = 'expired: not delivered within ' || ? || coalesce('; last error: ' || last_error, '') "
                 + "WHERE state = 'pending' AND created_at < ? RETURNING channel_id")) {
            c.setAutoCommit(true);
            ps.setString(1, dev.spillway.runtime.config.Units.formatDuration(settings.maxAge()));
            ps.setTimestamp(2, Timestamp.from(now.minus(settings.maxAge())));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    perChannel.merge(rs.getString(1), 1, Integer::sum);
                }
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
        final Thread t;
        stopping = true;
        synchronized (lifecycle) {
            running = false;
            t = thread;
            thread = null;
        }
        if (t != null) {
            wakeup();
            try {
                // A send in flight gets its answer recorded (bounded by the request timeout): interrupting it
                // would roll the row back after the receiver accepted it, and send it again after a restart.
                t.join(Math.max(1, deadline.remaining().minusSeconds(2).toMillis()));
                if (t.isAlive()) {
                    t.interrupt();
                    deadline.join(t);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (t.isAlive()) {
                LOG.warn("notification relay did not stop; its row in flight stays pending");
                return false;
            }
        }
        return true;
    }
}
