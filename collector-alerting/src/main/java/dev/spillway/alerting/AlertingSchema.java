package dev.spillway.alerting;

import dev.spillway.runtime.db.Migration;

import java.util.List;

/**
 * The alerting module's DDL (schema steps 200-299): notification channels and the transactional outbox, maintenance
 * windows, routes, reminders (213), channel kinds (220), held notifications released when their hold ends (221) and
 * the open PagerDuty incidents of grouped alerts (222).
 */
public final class AlertingSchema {

    /** Notification channels (Slack, webhook, Discord, Teams, Telegram, PagerDuty, ntfy, email, the built-in log). */
    public static final String NOTIFICATION_CHANNELS = "notification_channels";
    /** The transactional outbox: one row per (event, channel). */
    public static final String NOTIFICATION_OUTBOX = "notification_outbox";

    /** Maintenance windows: one-off and recurring. */
    public static final String MAINTENANCE_WINDOWS = "maintenance_windows";
    /** Notifications held by a maintenance window: recorded, not announced. */
    public static final String NOTIFICATION_HELD = "notification_held";

    /** Routing rules: channel -> monitor, service or monitor tag. */
    public static final String NOTIFICATION_ROUTES = "notification_routes";

    /** Acknowledged incidents: no more reminders for them. */
    public static final String NOTIFICATION_ACKS = "notification_acks";

    /** Per pagerduty channel: each firing alert and the dedup key of the incident it was sent in (its own, a group's). */
    public static final String NOTIFICATION_PAGERDUTY_OPEN = "notification_pagerduty_open";

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
                        + " (state, id)"),
                // Delivery lanes with leases (the POST runs outside any transaction) and grouping into digests.
                Migration.sql(210, "notification leases and digests",
                    "ALTER TABLE " + NOTIFICATION_OUTBOX + " ADD COLUMN IF NOT EXISTS lease_owner text, "
                        + "ADD COLUMN IF NOT EXISTS lease_until timestamptz, "
                        + "ADD COLUMN IF NOT EXISTS digest_id bigint REFERENCES " + NOTIFICATION_OUTBOX
                        + " (id) ON DELETE SET NULL",
                    "ALTER TABLE " + NOTIFICATION_OUTBOX + " DROP CONSTRAINT IF EXISTS " + NOTIFICATION_OUTBOX
                        + "_state_check",
                    "ALTER TABLE " + NOTIFICATION_OUTBOX + " ADD CONSTRAINT " + NOTIFICATION_OUTBOX + "_state_check "
                        + "CHECK (state IN ('pending', 'sent', 'failed', 'grouped'))",
                    "CREATE INDEX IF NOT EXISTS " + NOTIFICATION_OUTBOX + "_digest_idx ON " + NOTIFICATION_OUTBOX
                        + " (digest_id) WHERE digest_id IS NOT NULL",
                    // 30 s by default; the log channel logs each notification on its own.
                    "ALTER TABLE " + NOTIFICATION_CHANNELS + " ADD COLUMN IF NOT EXISTS group_window_ms bigint NOT NULL "
                        + "DEFAULT 30000 CHECK (group_window_ms >= 0), "
                        + "ADD COLUMN IF NOT EXISTS last_cut_at timestamptz",
                    "UPDATE " + NOTIFICATION_CHANNELS + " SET group_window_ms = 0 WHERE id = 'log'"),
                // Maintenance windows (uptime reports derive maintenance time from this table) and what they held.
                Migration.sql(211, "maintenance windows",
                    "CREATE TABLE IF NOT EXISTS " + MAINTENANCE_WINDOWS + " ("
                        + "id text PRIMARY KEY, "
                        + "scope text NOT NULL CHECK (scope IN ('all', 'monitor', 'service', 'tag')), "
                        + "target text, "
                        + "starts_at timestamptz, "
                        + "ends_at timestamptz, "
                        + "cron text, "
                        + "duration_ms bigint, "
                        + "zone text, "
                        + "reason text, "
                        + "created_at timestamptz NOT NULL DEFAULT now())",
                    "CREATE TABLE IF NOT EXISTS " + NOTIFICATION_HELD + " ("
                        + "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                        + "window_id text NOT NULL, "
                        + "type text NOT NULL, "
                        + "subject_kind text NOT NULL, "
                        + "subject text NOT NULL, "
                        + "old_state text, "
                        + "new_state text NOT NULL, "
                        + "occurred_at timestamptz NOT NULL, "
                        + "details jsonb NOT NULL DEFAULT '{}', "
                        + "held_at timestamptz NOT NULL)",
                    "CREATE INDEX IF NOT EXISTS " + NOTIFICATION_HELD + "_subject_idx ON " + NOTIFICATION_HELD
                        + " (subject_kind, subject, id)"),
                // Routing: a channel with routes gets only what they match; a channel without any gets everything.
                Migration.sql(212, "notification routes",
                    "CREATE TABLE IF NOT EXISTS " + NOTIFICATION_ROUTES + " ("
                        + "channel_id text NOT NULL REFERENCES " + NOTIFICATION_CHANNELS + " (id) ON DELETE CASCADE, "
                        + "scope text NOT NULL CHECK (scope IN ('monitor', 'service', 'tag')), "
                        + "target text NOT NULL, "
                        + "PRIMARY KEY (channel_id, scope, target))"),
                // Reminders while something stays down: one outbox row per (channel, subject, incident, number), so
                // several relays on one database write each reminder once; acknowledgements end an incident's.
                Migration.sql(213, "reminders and acknowledgements",
                    "ALTER TABLE " + NOTIFICATION_CHANNELS + " ADD COLUMN IF NOT EXISTS repeat_interval_ms bigint "
                        + "NOT NULL DEFAULT 0 CHECK (repeat_interval_ms >= 0)",
                    "ALTER TABLE " + NOTIFICATION_OUTBOX + " ADD COLUMN IF NOT EXISTS incident_start timestamptz, "
                        + "ADD COLUMN IF NOT EXISTS reminder_no integer",
                    // Rows that are not reminders have NULLs here, which never conflict.
                    "CREATE UNIQUE INDEX IF NOT EXISTS " + NOTIFICATION_OUTBOX + "_reminder_idx ON "
                        + NOTIFICATION_OUTBOX + " (channel_id, subject_kind, subject, incident_start, reminder_no)",
                    "CREATE TABLE IF NOT EXISTS " + NOTIFICATION_ACKS + " ("
                        + "subject_kind text NOT NULL, "
                        + "subject text NOT NULL, "
                        + "incident_start timestamptz NOT NULL, "
                        + "acked_at timestamptz NOT NULL, "
                        + "PRIMARY KEY (subject_kind, subject, incident_start))"),
                // More channel kinds, and their settings beyond the URL (chat id, routing key, SMTP server, ...).
                Migration.sql(220, "channel kinds and options",
                    "ALTER TABLE " + NOTIFICATION_CHANNELS + " DROP CONSTRAINT IF EXISTS " + NOTIFICATION_CHANNELS
                        + "_kind_check",
                    "ALTER TABLE " + NOTIFICATION_CHANNELS + " ADD CONSTRAINT " + NOTIFICATION_CHANNELS + "_kind_check "
                        + "CHECK (kind IN ('slack', 'webhook', 'log', 'discord', 'teams', 'telegram', 'pagerduty', "
                        + "'ntfy', 'email'))",
                    "ALTER TABLE " + NOTIFICATION_CHANNELS + " ADD COLUMN IF NOT EXISTS options jsonb NOT NULL "
                        + "DEFAULT '{}'"),
                // Dependencies and the end of holds: a notification held by a down parent names it (parent_kind,
                // parent; window_id is then null), and a held notification is released (released_at) once nothing
                // holds its subject any more: what changed meanwhile is announced once, or nothing. Rows held
                // before this step count as released.
                Migration.sql(221, "parents and released holds",
                    "ALTER TABLE " + NOTIFICATION_HELD + " ALTER COLUMN window_id DROP NOT NULL, "
                        + "ADD COLUMN IF NOT EXISTS parent_kind text, "
                        + "ADD COLUMN IF NOT EXISTS parent text, "
                        + "ADD COLUMN IF NOT EXISTS released_at timestamptz",
                    "UPDATE " + NOTIFICATION_HELD + " SET released_at = held_at WHERE released_at IS NULL",
                    "CREATE INDEX IF NOT EXISTS " + NOTIFICATION_HELD + "_open_idx ON " + NOTIFICATION_HELD
                        + " (subject_kind, subject, id) WHERE released_at IS NULL",
                    "CREATE INDEX IF NOT EXISTS " + NOTIFICATION_HELD + "_parent_idx ON " + NOTIFICATION_HELD
                        + " (parent_kind, parent, held_at) WHERE parent IS NOT NULL"),
                // PagerDuty grouping: a digest's failures go out as one incident (dedup key spillway-group-<digest
                // id>); it is resolved when its last member recovers. alert_key is the alert's own dedup key
                // (spillway-<fingerprint>), dedup_key the incident's it was sent in.
                Migration.sql(222, "open pagerduty incidents",
                    "CREATE TABLE IF NOT EXISTS " + NOTIFICATION_PAGERDUTY_OPEN + " ("
                        + "channel_id text NOT NULL REFERENCES " + NOTIFICATION_CHANNELS + " (id) ON DELETE CASCADE, "
                        + "alert_key text NOT NULL, "
                        + "dedup_key text NOT NULL, "
                        + "subject_kind text NOT NULL, "
                        + "subject text NOT NULL, "
                        + "opened_at timestamptz NOT NULL, "
                        + "PRIMARY KEY (channel_id, alert_key))",
                    "CREATE INDEX IF NOT EXISTS " + NOTIFICATION_PAGERDUTY_OPEN + "_dedup_idx ON "
                        + NOTIFICATION_PAGERDUTY_OPEN + " (channel_id, dedup_key)"));
    }
}
