package dev.spillway.alerting;

import dev.spillway.runtime.db.Migration;

import java.util.List;

/** The alerting module's DDL (schema steps 200-299): notification channels and the transactional outbox. */
public final class AlertingSchema {

    /** Notification channels (Slack, webhook, the built-in log). */
    public static final String NOTIFICATION_CHANNELS = "notification_channels";
    /** The transactional outbox: one row per (event, channel). */
    public static final String NOTIFICATION_OUTBOX = "notification_outbox";

    private AlertingSchema() {
    }

    /** This module's steps. */
    public static List<Migration> migrations() {
        return List.of(
                Migration.sql(200, "notification channels and outbox",
                    "CREATE TABLE IF NOT EXISTS " + NOTIFICATION_CHANNELS + " ("
                        + "id text PRIMARY KEY, "
                        + "kind text NOT NULL CHECK (kind IN ('slack', 'webhook', 'log')), "
                        + "url text, "
                        + "enabled boolean NOT NULL DEFAULT true, "
                        + "disabled_reason text, "
                        + "disabled_at timestamptz, "
                        + "created_at timestamptz NOT NULL DEFAULT now())",
                    // The log channel is always there: every notification is at least logged.
                    "INSERT INTO " + NOTIFICATION_CHANNELS + " (id, kind) VALUES ('log', 'log') ON CONFLICT (id) DO NOTHING",
                    "CREATE TABLE IF NOT EXISTS " + NOTIFICATION_OUTBOX + " ("
                        + "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                        + "channel_id text NOT NULL REFERENCES " + NOTIFICATION_CHANNELS + " (id) ON DELETE CASCADE, "
                        + "type text NOT NULL, "
                        + "subject_kind text NOT NULL, "
                        + "subject text NOT NULL, "
                        + "old_state text, "
                        + "new_state text NOT NULL, "
                        + "occurred_at timestamptz NOT NULL, "
                        + "details jsonb NOT NULL DEFAULT '{}', "
                        + "created_at timestamptz NOT NULL, "
                        + "state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')), "
                        + "attempts integer NOT NULL DEFAULT 0, "
                        + "next_attempt_at timestamptz NOT NULL, "
                        + "sent_at timestamptz, "
                        + "last_status integer, "
                        + "last_error text)",
                    // The relay's head-of-line lookup per channel, and the age gauge.
                    "CREATE INDEX IF NOT EXISTS " + NOTIFICATION_OUTBOX + "_pending_idx ON " + NOTIFICATION_OUTBOX
                        + " (channel_id, id) WHERE state = 'pending'",
                    "CREATE INDEX IF NOT EXISTS " + NOTIFICATION_OUTBOX + "_state_idx ON " + NOTIFICATION_OUTBOX
                        + " (state, id)"));
    }
}
