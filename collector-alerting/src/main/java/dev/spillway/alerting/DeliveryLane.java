package dev.spillway.alerting;

import dev.spillway.runtime.config.Units;
import dev.spillway.runtime.log.LogText;
import dev.spillway.uptime.transitions.Notification;
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
import java.util.List;
import java.util.function.DoubleSupplier;

/**
 * Delivers one channel's outbox, one message at a time, in order: claim, send, record.
 *
 * <ol>
 *   <li><b>Claim</b> (a short transaction under the channel's advisory lock): the oldest pending row is leased to
 *       this relay ({@code lease_owner}, {@code lease_until}); when it is a fresh transition and the channel groups,
 *       either it waits for the group window (a message went out less than a window ago) or every fresh pending row
 *       of the channel is taken into one new digest row, which is leased instead. Commit.</li>
 *   <li><b>Send</b>, with no transaction open and no connection held: the POST is bounded by the request
 *       timeout.</li>
 *   <li><b>Record</b> the answer on the row, only while this relay still holds the lease (a relay that lost it to
 *       another collector records nothing). A digest's outcome is copied to its members.</li>
 * </ol>
 *
 * A relay killed between the receiver's answer and the record leaves the row leased; once the lease ends
 * another relay sends it again with the same id ({@code X-Spillway-Notification-Id}, {@code Idempotency-Key}),
 * so a receiver that dedupes by it sees it once. Two relays never send one channel's rows at the same time.
 *
 * <p>Not thread-safe by itself: {@link #step} is synchronized, one lane per channel per relay.
 */
final class DeliveryLane {

    private static final Logger LOG = LoggerFactory.getLogger(DeliveryLane.class);
    /** Advisory-lock namespace: "SPN1" (shared with earlier relays, so mixed versions exclude each other). */
    private static final int LOCK_NAMESPACE = 0x53504E31;
    /** Margin of a lease beyond the request timeout: the record after the answer. */
    private static final Duration LEASE_MARGIN = Duration.ofSeconds(5);

    /** What a step did. */
    enum Step {
        /** Nothing due (empty, waiting for a retry, a lease, the group window, or the rate limit). */
        IDLE,
        /** Delivered or given up; the next may be due at once. */
        CONTINUE,
        /** Attempted and must wait (retry later, or the channel was disabled). */
        STOP
    }

    /** @param pagerduty a pagerduty channel's plan (events, and the open alerts' changes), else null */
    private record Claim(Channel channel, OutboxEntry row, List<Notification> members,
                         PagerDutyGroups.Plan pagerduty) {
    }

    private final String channelId;
    private final String owner;
    private final DataSource dataSource;
    private final Messages messages;
    private final NotifySettings settings;
    private final Clock clock;
    private final DoubleSupplier jitter;
    private final WebhookClient client;
    private final NotifyMetrics metrics;
    private TokenBucket bucket;
    /** Discord, Teams, Telegram, PagerDuty, ntfy and email. */
    private final ChannelSender sender;

    DeliveryLane(String channelId, String owner, DataSource dataSource, Messages messages, NotifySettings settings,
                 Clock clock, DoubleSupplier jitter, WebhookClient client, NotifyMetrics metrics) {
        this.channelId = channelId;
        this.owner = owner;
        this.dataSource = dataSource;
        this.messages = messages;
        this.settings = settings;
        this.clock = clock;
        this.jitter = jitter;
        this.client = client;
        this.metrics = metrics;
        this.sender = new ChannelSender(client, new SmtpClient(settings.requestTimeout(), clock), messages);
    }

    String channelId() {
        return channelId;
    }

    /** One claim-send-record, if something is due. */
    synchronized Step step() throws SQLException, InterruptedException {
        final Instant now = clock.instant();
        if (Channel.LOG_ID.equals(channelId)) {
            return logBatch(now) > 0 ? Step.CONTINUE : Step.IDLE;
        }
        if (bucket != null && bucket.millisUntilToken(now.toEpochMilli()) > 0) {
            return Step.IDLE;
        }
        final Claim claim = claim(now);
        if (claim == null) {
            return Step.IDLE;
        }
        if (claim.channel.kind() != ChannelKind.LOG) {
            if (bucket == null) {
                bucket = new TokenBucket(settings.ratePerSecond(), settings.burst(), now.toEpochMilli());
            }
            bucket.tryTake(now.toEpochMilli());
        }
        final Answer answer = send(claim);
        return record(claim, answer, clock.instant());
    }

    /** Rows the log channel writes per transaction. */
    private static final int LOG_BATCH = 500;

    /**
     * The built-in log channel: no receiver to wait for, so due rows are logged and marked sent in batches, in one
     * transaction each (a storm of 2,800 transitions is 6 transactions, not 5,600). A crash before the commit logs
     * the batch again at the next start: the log is at least once.
     */
    private int logBatch(Instant now) throws SQLException {
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("UPDATE notification_outbox o SET state = 'sent', "
                + "attempts = o.attempts + 1, sent_at = ?, last_status = 200, last_error = NULL WHERE o.id IN ("
                + "SELECT id FROM notification_outbox WHERE channel_id = ? AND state = 'pending' "
                + "AND next_attempt_at <= ? ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING " + Outbox.COLUMNS)) {
                ps.setTimestamp(1, Timestamp.from(now));
                ps.setString(2, channelId);
                ps.setTimestamp(3, Timestamp.from(now));
                ps.setInt(4, LOG_BATCH);
                final List<OutboxEntry> rows = new ArrayList<>();
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        rows.add(Outbox.read(rs));
                    }
                }
                rows.sort(java.util.Comparator.comparingLong(OutboxEntry::id));
                for (OutboxEntry row : rows) {
                    LOG.info("notification {}: {}", row.id(), LogText.escape(Messages.sentence(row.notification())));
                }
                c.commit();
                for (int i = 0; i < rows.size(); i++) {
                    metrics.sent();
                }
                return rows.size();
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            }
        }
    }

    private Claim claim(Instant now) throws SQLException {
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try {
                final Claim claim = claimLocked(c, now);
                c.commit();
                return claim;
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            }
        }
    }

    private Claim claimLocked(Connection c, Instant now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT pg_try_advisory_xact_lock(?, hashtext(?))")) {
            ps.setInt(1, LOCK_NAMESPACE);
            ps.setString(2, channelId);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                if (!rs.getBoolean(1)) {
                    return null; // another relay is claiming on this channel right now
                }
            }
        }
        final Channel ch;
        final Instant lastCut;
        try (PreparedStatement ps = c.prepareStatement("SELECT kind, url, group_window_ms, last_cut_at, options "
            + "FROM notification_channels WHERE id = ? AND enabled")) {
            ps.setString(1, channelId);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return null;
                }
                ch = new Channel(channelId, ChannelKind.parse(rs.getString(1)), rs.getString(2), true, null, null,
                    Duration.ofMillis(rs.getLong(3)), Duration.ZERO, Json.readStringMap(rs.getString(5)));
                lastCut = Outbox.instant(rs.getTimestamp(4));
            }
        }
        OutboxEntry head;
        final Instant leaseUntil;
        try (PreparedStatement ps = c.prepareStatement("SELECT " + Outbox.COLUMNS + ", o.lease_until "
            + "FROM notification_outbox o WHERE o.channel_id = ? AND o.state = 'pending' ORDER BY o.id LIMIT 1 "
            + "FOR UPDATE")) {
            ps.setString(1, channelId);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return null;
                }
                head = Outbox.read(rs);
                leaseUntil = Outbox.instant(rs.getTimestamp(18));
            }
        }
        if (leaseUntil != null && leaseUntil.isAfter(now)) {
            return null; // being sent by another relay (or this one's previous step is still recording)
        }
        if (head.nextAttemptAt().isAfter(now)) {
            return null;
        }
        final boolean fresh = head.attempts() == 0 && leaseUntil == null
            && !OutboxEntry.DIGEST_TYPE.equals(head.notification().type());
        if (fresh && !ch.groupWindow().isZero()) {
            if (lastCut != null && now.isBefore(lastCut.plus(ch.groupWindow()))) {
                return null; // the group window since the last message: let more transitions join the next one
            }
            head = cut(c, head, now);
            try (PreparedStatement ps = c.prepareStatement("UPDATE notification_channels SET last_cut_at = ? "
                + "WHERE id = ?")) {
                ps.setTimestamp(1, Timestamp.from(now));
                ps.setString(2, channelId);
                ps.executeUpdate();
            }
        }
        try (PreparedStatement ps = c.prepareStatement("UPDATE notification_outbox SET lease_owner = ?, "
            + "lease_until = ? WHERE id = ?")) {
            ps.setString(1, owner);
            ps.setTimestamp(2, Timestamp.from(now.plus(settings.requestTimeout()).plus(LEASE_MARGIN)));
            ps.setLong(3, head.id());
            ps.executeUpdate();
        }
        final List<Notification> members = OutboxEntry.DIGEST_TYPE.equals(head.notification().type())
            ? Outbox.members(c, head.id()) : List.of();
        final PagerDutyGroups.Plan pd = ch.kind() == ChannelKind.PAGERDUTY
            ? PagerDutyGroups.plan(c, ch, head, members, messages) : null;
        return new Claim(ch, head, members, pd);
    }

    /**
     * Takes every fresh pending row of the channel (never attempted, not leased) into one digest row; a single
     * row is sent as itself.
     */
    private OutboxEntry cut(Connection c, OutboxEntry head, Instant now) throws SQLException {
        final List<Long> ids = new ArrayList<>();
        Instant oldestCreated = head.createdAt();
        Instant firstOccurred = head.notification().occurredAt();
        final List<String> states = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT id, created_at, occurred_at, new_state "
            + "FROM notification_outbox WHERE channel_id = ? AND state = 'pending' AND attempts = 0 "
            + "AND lease_until IS NULL AND type <> ? ORDER BY id FOR UPDATE")) {
            ps.setString(1, channelId);
            ps.setString(2, OutboxEntry.DIGEST_TYPE);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    ids.add(rs.getLong(1));
                    final Instant created = rs.getTimestamp(2).toInstant();
                    final Instant occurred = rs.getTimestamp(3).toInstant();
                    oldestCreated = created.isBefore(oldestCreated) ? created : oldestCreated;
                    firstOccurred = occurred.isBefore(firstOccurred) ? occurred : firstOccurred;
                    states.add(rs.getString(4));
                }
            }
        }
        if (ids.size() <= 1) {
            return head;
        }
        final String state = states.stream().distinct().count() == 1 ? states.get(0) : "mixed";
        final long digestId;
        // created_at is the oldest member's, so the digest expires when its oldest member would have.
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO notification_outbox (channel_id, type, "
            + "subject_kind, subject, new_state, occurred_at, details, created_at, next_attempt_at) "
            + "VALUES (?, ?, 'channel', ?, ?, ?, ?::jsonb, ?, ?) RETURNING id")) {
            ps.setString(1, channelId);
            ps.setString(2, OutboxEntry.DIGEST_TYPE);
            ps.setString(3, channelId);
            ps.setString(4, state);
            ps.setTimestamp(5, Timestamp.from(firstOccurred));
            ps.setString(6, Json.write(java.util.Map.of("count", Integer.toString(ids.size()))));
            ps.setTimestamp(7, Timestamp.from(oldestCreated));
            ps.setTimestamp(8, Timestamp.from(now));
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                digestId = rs.getLong(1);
            }
        }
        try (PreparedStatement ps = c.prepareStatement("UPDATE notification_outbox SET state = 'grouped', "
            + "digest_id = ? WHERE id = ANY (?)")) {
            ps.setLong(1, digestId);
            ps.setArray(2, c.createArrayOf("bigint", ids.toArray()));
            ps.executeUpdate();
        }
        try (PreparedStatement ps = c.prepareStatement("SELECT " + Outbox.COLUMNS
            + " FROM notification_outbox o WHERE o.id = ?")) {
            ps.setLong(1, digestId);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return Outbox.read(rs);
            }
        }
    }

    private Answer send(Claim claim) throws InterruptedException {
        final OutboxEntry row = claim.row;
        final Channel ch = claim.channel;
        final boolean digest = !claim.members.isEmpty();
        return switch (ch.kind()) {
            case LOG -> {
                LOG.info("notification {}: {}", row.id(), LogText.escape(digest
                    ? Messages.digestSentence(claim.members) : Messages.sentence(row.notification())));
                yield new Answer(200, "", null, null);
            }
            case SLACK -> client.post(ch.url(), digest ? messages.slackDigest(claim.members, row.id())
                : messages.slack(row.notification(), row.id()), row.id());
            case WEBHOOK -> client.post(ch.url(), digest ? messages.webhookDigest(ch.id(), claim.members, row.id())
                : messages.webhook(row.notification(), row.id()), row.id());
            case PAGERDUTY -> sender.pagerduty(ch, claim.pagerduty, row.id());
            case DISCORD, TEAMS, TELEGRAM, NTFY, EMAIL -> sender.send(ch, row, claim.members);
        };
    }

    /** Records the answer, dated when it came ({@code answered}): sent_at and Retry-After count from there. */
    private Step record(Claim claim, Answer answer, Instant answered) throws SQLException {
        final OutboxEntry row = claim.row;
        final Channel ch = claim.channel;
        final int attempts = row.attempts() + 1;
        final Integer status = answer.status() < 0 || Answer.NONE.equals(answer.protocol()) ? null : answer.status();
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try {
                final Step step;
                switch (answer.outcome()) {
                    case SENT -> {
                        step = update(c, row, OutboxEntry.SENT, attempts, row.nextAttemptAt(), answered, status, null)
                            ? Step.CONTINUE : Step.IDLE;
                        if (step == Step.CONTINUE) {
                            metrics.sent();
                            if (claim.pagerduty != null) {
                                PagerDutyGroups.apply(c, ch.id(), claim.pagerduty, answered);
                            }
                        }
                    }
                    case RATE_LIMITED, RETRY -> {
                        final Duration wait = answer.outcome() == Answer.Outcome.RATE_LIMITED
                            ? answer.retryAfter() : settings.backoff(attempts, jitter.getAsDouble());
                        final Instant next = answered.plus(wait);
                        if (Duration.between(row.createdAt(), next).compareTo(settings.maxAge()) > 0) {
                            final String why = "gave up after " + attempts + " attempts over "
                                + Units.formatDuration(Duration.between(row.createdAt(), answered).withNanos(0))
                                + " (max age " + Units.formatDuration(settings.maxAge()) + "); last answer: "
                                + answer.describe();
                            if (update(c, row, OutboxEntry.FAILED, attempts, next, null, status, why)) {
                                metrics.failed(1);
                                if (claim.pagerduty != null) {
                                    PagerDutyGroups.applyGivenUp(c, ch.id(), claim.pagerduty);
                                }
                                LOG.warn("notification {} to channel '{}' {}", row.id(), ch.id(), LogText.escape(why));
                            }
                            step = Step.CONTINUE;
                        } else {
                            if (update(c, row, OutboxEntry.PENDING, attempts, next, null, status, answer.describe())) {
                                metrics.retried();
                                LOG.debug("notification {} to channel '{}' will be retried at {}: {}", row.id(),
                                    ch.id(), next, LogText.escape(answer.describe()));
                            }
                            step = Step.STOP;
                        }
                    }
                    case REJECTED -> {
                        final String why = "refused by the receiver: " + answer.describe();
                        if (update(c, row, OutboxEntry.FAILED, attempts, row.nextAttemptAt(), null, status, why)) {
                            metrics.failed(1);
                            if (claim.pagerduty != null) {
                                PagerDutyGroups.applyGivenUp(c, ch.id(), claim.pagerduty);
                            }
                            LOG.warn("notification {} to channel '{}' {}", row.id(), ch.id(), LogText.escape(why));
                        }
                        step = Step.CONTINUE;
                    }
                    case DISABLE -> {
                        final String why = answer.describe();
                        // The row stays pending: if the channel is fixed and re-enabled, it is delivered (unless
                        // too old).
                        if (update(c, row, OutboxEntry.PENDING, attempts, row.nextAttemptAt(), null, status, why)) {
                            ChannelStore.disable(c, ch.id(), why, answered);
                            metrics.disabled();
                            LOG.error("notification channel '{}' ({} {}) disabled: {}. Its pending notifications wait "
                                    + "until it is re-enabled (PUT /api/v1/channels/{}) or expire after {}.", ch.id(),
                                ch.kind().id(), ch.maskedUrl() != null ? ch.maskedUrl()
                                    : ch.option("host") != null ? LogText.escape(ch.option("host")) : "-",
                                LogText.escape(why), ch.id(),
                                Units.formatDuration(settings.maxAge()));
                        }
                        step = Step.STOP;
                    }
                    default -> throw new IllegalStateException(answer.outcome().name());
                }
                c.commit();
                return step;
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            }
        }
    }

    /**
     * Writes the outcome while this relay holds the lease, and copies a final outcome of a digest to its members.
     *
     * @return false when the lease was lost (another relay took the row over after it expired): nothing written
     */
    private boolean update(Connection c, OutboxEntry row, String state, int attempts, Instant next, Instant sentAt,
                           Integer status, String error) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE notification_outbox SET state = ?, attempts = ?, "
            + "next_attempt_at = ?, sent_at = ?, last_status = ?, last_error = ?, lease_owner = NULL, "
            + "lease_until = NULL WHERE id = ? AND lease_owner = ? AND state = 'pending'")) {
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
            ps.setLong(7, row.id());
            ps.setString(8, owner);
            if (ps.executeUpdate() == 0) {
                LOG.warn("notification {} to channel '{}': this relay's lease ended before the answer was recorded; "
                    + "another relay sends it again with the same id", row.id(), channelId);
                return false;
            }
        }
        if (!OutboxEntry.PENDING.equals(state) && OutboxEntry.DIGEST_TYPE.equals(row.notification().type())) {
            try (PreparedStatement ps = c.prepareStatement("UPDATE notification_outbox SET state = ?, attempts = ?, "
                + "sent_at = ?, last_status = ?, last_error = ? WHERE digest_id = ?")) {
                ps.setString(1, state);
                ps.setInt(2, attempts);
                ps.setTimestamp(3, sentAt == null ? null : Timestamp.from(sentAt));
                if (status == null) {
                    ps.setNull(4, java.sql.Types.INTEGER);
                } else {
                    ps.setInt(4, status);
                }
                ps.setString(5, error);
                ps.setLong(6, row.id());
                ps.executeUpdate();
            }
        }
        return true;
    }
}
