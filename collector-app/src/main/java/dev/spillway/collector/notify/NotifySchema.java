package dev.spillway.collector.notify;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * Tables of the notification side: {@code notification_channels} (with the built-in {@code log} channel) and
 * {@code notification_outbox}, one row per (event, channel), written in the same transaction as the state change
 * it announces. Idempotent.
 */
public final class NotifySchema {

    private NotifySchema() {
    }

    /** Creates what is missing; tolerates a concurrent twin (every statement is IF NOT EXISTS / ON CONFLICT). */
    public static void create(Connection c) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute("CREATE TABLE IF NOT EXISTS notification_channels ("
                + "id text PRIMARY KEY, "
                + "kind text NOT NULL CHECK (kind IN ('slack', 'webhook', 'log')), "
                + "url text, "
                + "enabled boolean NOT NULL DEFAULT true, "
                + "disabled_reason text, "
                + "disabled_at timestamptz, "
                + "created_at timestamptz NOT NULL DEFAULT now())");
            st.execute("INSERT INTO notification_channels (id, kind) VALUES ('" + Channel.LOG_ID + "', 'log') "
                + "ON CONFLICT (id) DO NOTHING");
            st.execute("CREATE TABLE IF NOT EXISTS notification_outbox ("
                + "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                + "channel_id text NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE, "
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
                + "last_error text)");
            // The relay's head-of-line lookup per channel, and the age gauge.
            st.execute("CREATE INDEX IF NOT EXISTS notification_outbox_pending_idx ON notification_outbox "
                + "(channel_id, id) WHERE state = 'pending'");
            st.execute("CREATE INDEX IF NOT EXISTS notification_outbox_state_idx ON notification_outbox (state, id)");
        }
    }
}
