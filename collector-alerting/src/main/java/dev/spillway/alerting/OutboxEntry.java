package dev.spillway.alerting;

import dev.spillway.uptime.transitions.Notification;
import java.time.Instant;

/**
 * One outbox row: a notification bound for one channel, and where its delivery stands.
 *
 * @param id row id; also sent as the idempotency key ({@code X-Spillway-Notification-Id}, body {@code id})
 * @param channelId the channel
 * @param notification what to say
 * @param createdAt when the row was written (with the state change)
 * @param state {@code pending}, {@code sent} or {@code failed}
 * @param attempts delivery attempts so far
 * @param nextAttemptAt earliest next attempt while pending
 * @param sentAt when the receiver accepted it, or null
 * @param lastStatus the last HTTP status answered, or null (no answer: timeout, connection refused)
 * @param lastError why the last attempt failed, or why it was given up; null after success
 * @param digestId the digest this row went out in (its own state follows the digest's), or null
 */
public record OutboxEntry(long id, String channelId, Notification notification, Instant createdAt, String state,
                          int attempts, Instant nextAttemptAt, Instant sentAt, Integer lastStatus, String lastError,
                          Long digestId) {

    /** Delivery states. */
    public static final String PENDING = "pending";
    /** Accepted by the receiver. */
    public static final String SENT = "sent";
    /** Given up (too old, or refused for good). */
    public static final String FAILED = "failed";
    /** Taken into a digest (a row of type {@code digest}) that is being delivered. */
    public static final String GROUPED = "grouped";
    /** The type of a digest row. */
    public static final String DIGEST_TYPE = "digest";
}
