package dev.spillway.alerting;

import java.time.Duration;
import java.util.Locale;

/**
 * What a receiver answered to one delivery attempt (or that it did not answer), and what that means.
 *
 * @param status HTTP status, or -1 when there was no answer (timeout, refused, reset)
 * @param body the start of the response body (Slack's errors are short words such as {@code no_service})
 * @param retryAfter the {@code Retry-After} of a 429, or null
 * @param error the transport error when there was no answer, else null
 * @param protocol {@code HTTP}, or {@code SMTP} for a mail server's reply code (classified by SMTP's rules)
 */
public record Answer(int status, String body, Duration retryAfter, String error, String protocol) {

    /** An HTTP answer. */
    public Answer(int status, String body, Duration retryAfter, String error) {
        this(status, body, retryAfter, error, HTTP);
    }

    /** The protocol of webhook answers. */
    public static final String HTTP = "HTTP";
    /** The protocol of mail server replies. */
    public static final String SMTP = "SMTP";

    /** No request was made: nothing needed sending (a PagerDuty group that still has open alerts). */
    static final String NONE = "NONE";

    /** The answer when there was nothing to send: counts as sent, records no status. */
    static Answer nothingToSend(String why) {
        return new Answer(200, why, null, null, NONE);
    }

    /** SMTP reply codes that mean "these credentials or this TLS setup will never work" (disable the channel). */
    private static final java.util.Set<Integer> SMTP_DISABLE = java.util.Set.of(530, 534, 535, 538);

    /** A mail server's reply code and text. */
    public static Answer smtp(int code, String text) {
        return new Answer(code, text == null ? "" : text, null, null, SMTP);
    }

    /** Slack's body words that mean "this webhook will never work again" (besides 404/410). */
    private static final String[] PERMANENT_WORDS = {"invalid_token", "no_service", "channel_not_found",
        "channel_is_archived", "team_disabled", "action_prohibited", "no_team", "no_active_hooks"};

    /** What the relay does next. */
    public enum Outcome {
        /** Accepted: mark sent. */
        SENT,
        /** Receiver asked to slow down: wait Retry-After, then send the same row again. */
        RATE_LIMITED,
        /** Transient (5xx, 408, timeout, connection error): back off and retry until the maximum age. */
        RETRY,
        /** This message was refused for good (e.g. 413, 400 invalid_payload): mark it failed, keep the channel. */
        REJECTED,
        /** The webhook is gone or the credentials are wrong (404, 410, 401, 403, 400 invalid_token): disable. */
        DISABLE
    }

    /** An answer for a transport failure. */
    public static Answer noAnswer(String error) {
        return new Answer(-1, "", null, error, HTTP);
    }

    /** Classifies the answer. */
    public Outcome outcome() {
        if (status < 0) {
            return Outcome.RETRY;
        }
        if (SMTP.equals(protocol)) {
            // 2xx accepted, 4xx transient (greylisting, mailbox busy), 5xx permanent: a wrong address or a refused
            // message fails this message; refused credentials or a missing STARTTLS disable the channel.
            if (status >= 200 && status < 400) {
                return Outcome.SENT;
            }
            if (status < 500) {
                return Outcome.RETRY;
            }
            return SMTP_DISABLE.contains(status) ? Outcome.DISABLE : Outcome.REJECTED;
        }
        if (status >= 200 && status < 300) {
            return Outcome.SENT;
        }
        if (status == 429) {
            return Outcome.RATE_LIMITED;
        }
        if (status == 408 || status == 425 || status >= 500) {
            return Outcome.RETRY;
        }
        if (status == 404 || status == 410 || status == 401 || status == 403) {
            return Outcome.DISABLE;
        }
        final String lower = body.toLowerCase(Locale.ROOT);
        for (String word : PERMANENT_WORDS) {
            if (lower.contains(word)) {
                return Outcome.DISABLE;
            }
        }
        return Outcome.REJECTED;
    }

    /** For logs and {@code last_error}: {@code HTTP 404 no_service}, or the transport error. */
    public String describe() {
        if (status < 0) {
            return error;
        }
        final String b = body.strip();
        return (protocol == null ? HTTP : protocol) + " " + status + (b.isEmpty() ? "" : " " + (b.length() > 200 ? b.substring(0, 200) + "…" : b));
    }
}
