package dev.spillway.uptime.schema;

import dev.spillway.runtime.db.Migration;

import java.util.List;

/**
 * The uptime module's DDL: monitors, their state and the transitions log (schema steps 100-199), monitor leases
 * shared by several collectors (102; liveness locks 126; leases held while the holder is live 127), locations and quorum (110), parents (123), heartbeat services (201; 200 is the alerting module's outbox, from the time
 * both lived in one range).
 */
public final class UptimeSchema {

    /** Monitor definitions. */
    public static final String MONITORS = "monitors";
    /** Per-monitor state (UP/DOWN/PENDING/PAUSED and counters). */
    public static final String MONITOR_STATE = "monitor_state";
    /** Confirmed state changes, one row each, written in the transaction of the state change. */
    public static final String MONITOR_TRANSITIONS = "monitor_transitions";
    /** Heartbeat services: registration and Healthchecks-style state. */
    public static final String HEARTBEAT_SERVICES = "heartbeat_services";
    /** Signals of heartbeat services (start, success, fail, log) with run ids, durations and bodies. */
    public static final String HEARTBEAT_EVENTS = "heartbeat_events";
    /**
     * When a collector with the heartbeats duty was watching the services: one row per run of such a collector
     * ({@code started_at} to {@code seen_at}, extended every few seconds); time outside every row is unknown in
     * the services' uptime reports.
     */
    public static final String HEARTBEAT_WATCH = "heartbeat_watch";
    /** How often a watching collector moves its {@code heartbeat_watch.seen_at} on (milliseconds). */
    public static final long HEARTBEAT_WATCH_PERIOD_MS = 10_000;
    /** One heartbeat row per collector that runs monitors (who is alive, for the fair share of leases). */
    public static final String MONITOR_COLLECTORS = "monitor_collectors";
    /** One lease row per monitor: which collector checks it, until when. */
    public static final String MONITOR_LEASES = "monitor_leases";
    /** Where the collectors' liveness lock keys come from ({@code monitor_collectors.lock_key}). */
    public static final String MONITOR_COLLECTOR_LOCK = "monitor_collector_lock";
    /** Versions of {@code monitor_state} rows (compare-and-set), from one sequence so they never repeat. */
    public static final String MONITOR_STATE_VERSION = "monitor_state_version";
    /**
     * Per-location state of monitors that list locations (one row per monitor and location, written by the
     * location's lease holder at every check); {@code monitor_state} holds the combined (quorum) state.
     */
    public static final String MONITOR_LOCATION_STATE = "monitor_location_state";

    /**
     * The table of heartbeat services as step 201 made it; also run (IF NOT EXISTS) by step 121, which on a new
     * database comes first and adds its columns to it.
     */
    private static final String HEARTBEAT_SERVICES_DDL =
        "CREATE TABLE IF NOT EXISTS " + HEARTBEAT_SERVICES + " ("
            + "id text PRIMARY KEY, "
            + "timeout_ms bigint NOT NULL, "
            + "grace_ms bigint NOT NULL, "
            + "statuses jsonb NOT NULL, "
            + "state text NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'up', 'down')), "
            + "status integer NOT NULL DEFAULT 0, "
            + "last_ping timestamptz, "
            + "alert_after timestamptz, "
            + "created_at timestamptz NOT NULL DEFAULT now(), "
            + "updated_at timestamptz NOT NULL DEFAULT now())";

    private UptimeSchema() {
    }

    /** This module's steps. */
    public static List<Migration> migrations() {
        return List.of(
                Migration.sql(100, "monitors and monitor_state",
                    // One row per monitor; columns mirror the API's fields (see monitor.MonitorSpec). Rows written
                    // directly with SQL are validated by the same rules at the next reload.
                    "CREATE TABLE IF NOT EXISTS " + MONITORS + " ("
                        + "name text PRIMARY KEY, "
                        + "url text NOT NULL, "
                        + "method text NOT NULL DEFAULT 'GET', "
                        + "headers jsonb NOT NULL DEFAULT '{}', "
                        + "body text, "
                        + "interval_ms bigint NOT NULL DEFAULT 60000, "
                        + "timeout_ms bigint, "
                        + "expected_status text NOT NULL DEFAULT '200-299', "
                        + "keyword text, "
                        + "keyword_invert boolean NOT NULL DEFAULT false, "
                        + "follow_redirects boolean NOT NULL DEFAULT true, "
                        + "tls_verify boolean NOT NULL DEFAULT true, "
                        + "failure_threshold integer NOT NULL DEFAULT 3, "
                        + "success_threshold integer NOT NULL DEFAULT 1, "
                        + "enabled boolean NOT NULL DEFAULT true, "
                        + "tags jsonb NOT NULL DEFAULT '{}', "
                        + "created_at timestamptz NOT NULL DEFAULT now(), "
                        + "updated_at timestamptz NOT NULL DEFAULT now())",
                    "CREATE TABLE IF NOT EXISTS " + MONITOR_STATE + " ("
                        + "name text PRIMARY KEY REFERENCES " + MONITORS + " (name) ON DELETE CASCADE, "
                        + "state text NOT NULL, "
                        + "confirmed_state text, "
                        + "since timestamptz NOT NULL, "
                        + "consecutive_failures integer NOT NULL DEFAULT 0, "
                        + "consecutive_successes integer NOT NULL DEFAULT 0, "
                        + "first_failure_at timestamptz, "
                        + "last_check_at timestamptz, "
                        + "last_error text, "
                        + "updated_at timestamptz NOT NULL DEFAULT now())"),
                Migration.sql(101, "monitor_transitions",
                    "CREATE TABLE IF NOT EXISTS " + MONITOR_TRANSITIONS + " ("
                        + "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                        + "kind text NOT NULL DEFAULT 'http', "
                        + "monitor text NOT NULL, "
                        + "from_state text, "
                        + "to_state text NOT NULL, "
                        + "started_at timestamptz NOT NULL, "
                        + "recorded_at timestamptz NOT NULL DEFAULT now(), "
                        + "reason text)",
                    "CREATE INDEX IF NOT EXISTS " + MONITOR_TRANSITIONS + "_monitor_idx ON " + MONITOR_TRANSITIONS
                        + " (kind, monitor, id)"),
                Migration.sql(102, "monitor leases, collectors and state versions",
                    // Versions come from one sequence, so a row deleted and created again never reuses a version
                    // a collector still remembers; existing rows get distinct versions (a volatile default).
                    "CREATE SEQUENCE IF NOT EXISTS " + MONITOR_STATE_VERSION,
                    "ALTER TABLE " + MONITOR_STATE + " ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT "
                        + "nextval('" + MONITOR_STATE_VERSION + "')",
                    // A row per collector running the monitors duty; live while expires_at is ahead.
                    "CREATE TABLE IF NOT EXISTS " + MONITOR_COLLECTORS + " ("
                        + "id text PRIMARY KEY, "
                        + "host text NOT NULL, "
                        + "pid bigint, "
                        + "started_at timestamptz NOT NULL, "
                        + "seen_at timestamptz NOT NULL, "
                        + "expires_at timestamptz NOT NULL)",
                    // A row per monitor (made by whichever collector first wants to claim it); free when holder
                    // is NULL or expires_at has passed.
                    "CREATE TABLE IF NOT EXISTS " + MONITOR_LEASES + " ("
                        + "monitor text PRIMARY KEY REFERENCES " + MONITORS + " (name) ON DELETE CASCADE, "
                        + "holder text, "
                        + "expires_at timestamptz NOT NULL DEFAULT '-infinity', "
                        + "acquired_at timestamptz)",
                    "CREATE INDEX IF NOT EXISTS " + MONITOR_LEASES + "_holder_idx ON " + MONITOR_LEASES + " (holder)"),
                Migration.sql(110, "monitor locations and quorum",
                    // Empty locations: checked by any one collector (as before); quorum NULL: a majority.
                    "ALTER TABLE " + MONITORS + " ADD COLUMN IF NOT EXISTS locations text[] NOT NULL DEFAULT '{}'",
                    "ALTER TABLE " + MONITORS + " ADD COLUMN IF NOT EXISTS quorum integer",
                    // '' = a collector started without --location.
                    "ALTER TABLE " + MONITOR_COLLECTORS + " ADD COLUMN IF NOT EXISTS location text NOT NULL DEFAULT ''",
                    // A lease per (monitor, location): '' for "any one collector", else one per listed location.
                    "ALTER TABLE " + MONITOR_LEASES + " ADD COLUMN IF NOT EXISTS location text NOT NULL DEFAULT ''",
                    "ALTER TABLE " + MONITOR_LEASES + " DROP CONSTRAINT IF EXISTS " + MONITOR_LEASES + "_pkey",
                    "ALTER TABLE " + MONITOR_LEASES + " ADD PRIMARY KEY (monitor, location)",
                    "CREATE TABLE IF NOT EXISTS " + MONITOR_LOCATION_STATE + " ("
                        + "monitor text NOT NULL REFERENCES " + MONITORS + " (name) ON DELETE CASCADE, "
                        + "location text NOT NULL, "
                        + "state text NOT NULL, "
                        + "confirmed_state text, "
                        + "since timestamptz NOT NULL, "
                        + "consecutive_failures integer NOT NULL DEFAULT 0, "
                        + "consecutive_successes integer NOT NULL DEFAULT 0, "
                        + "first_failure_at timestamptz, "
                        + "last_check_at timestamptz NOT NULL, "
                        + "last_error text, "
                        + "collector text, "
                        + "updated_at timestamptz NOT NULL DEFAULT now(), "
                        + "PRIMARY KEY (monitor, location))"),
                Migration.sql(120, "monitor check types",
                    // The type-specific options of tcp, dns, tls and icmp monitors and HTTP assertions, in the API's
                    // JSON shape ({"dns": {...}}, {"assertions": [...]}); the url's scheme names the type.
                    "ALTER TABLE " + MONITORS + " ADD COLUMN IF NOT EXISTS probe jsonb NOT NULL DEFAULT '{}'"),
                Migration.sql(121, "heartbeat schedules",
                    // A cron schedule and its time zone (null: the fixed period timeout_ms); alert_after is then
                    // computed by the collector from the schedule, not by SQL.
                    HEARTBEAT_SERVICES_DDL,
                    "ALTER TABLE " + HEARTBEAT_SERVICES + " ADD COLUMN IF NOT EXISTS schedule text",
                    "ALTER TABLE " + HEARTBEAT_SERVICES + " ADD COLUMN IF NOT EXISTS tz text"),
                Migration.sql(122, "heartbeat runs and signals",
                    HEARTBEAT_SERVICES_DDL,
                    // Longest a run (from /start to its end) may take; null: runs are not timed out.
                    "ALTER TABLE " + HEARTBEAT_SERVICES + " ADD COLUMN IF NOT EXISTS max_run_ms bigint",
                    // Signals of heartbeat services: start, success, fail, log; bodies truncated at 10,000 bytes; a
                    // start is open until its run ends (a success or fail with its run id) or times out.
                    "CREATE TABLE IF NOT EXISTS " + HEARTBEAT_EVENTS + " ("
                        + "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                        + "service text NOT NULL, "
                        + "kind text NOT NULL CHECK (kind IN ('start', 'success', 'fail', 'log')), "
                        + "run_id text, "
                        + "at timestamptz NOT NULL, "
                        + "open boolean NOT NULL DEFAULT false, "
                        + "duration_ms double precision, "
                        + "exit_status integer, "
                        + "body text)",
                    "CREATE INDEX IF NOT EXISTS " + HEARTBEAT_EVENTS + "_service_idx ON " + HEARTBEAT_EVENTS
                        + " (service, id)",
                    "CREATE INDEX IF NOT EXISTS " + HEARTBEAT_EVENTS + "_open_idx ON " + HEARTBEAT_EVENTS
                        + " (service, at) WHERE open"),
                // Dependencies: a monitor or service may name a parent (a monitor's name, else a service's id); while
                // the parent is down, the alerting module holds the child's announcements.
                Migration.sql(123, "monitor and service parents",
                    HEARTBEAT_SERVICES_DDL,
                    "ALTER TABLE " + MONITORS + " ADD COLUMN IF NOT EXISTS parent text",
                    "ALTER TABLE " + HEARTBEAT_SERVICES + " ADD COLUMN IF NOT EXISTS parent text"),
                Migration.sql(125, "heartbeat watch spans",
                    // A row per run of a collector with the heartbeats duty; stopped: it ended cleanly at seen_at
                    // (otherwise it is taken to have watched until one write period after seen_at).
                    "CREATE TABLE IF NOT EXISTS " + HEARTBEAT_WATCH + " ("
                        + "collector text PRIMARY KEY, "
                        + "started_at timestamptz NOT NULL, "
                        + "seen_at timestamptz NOT NULL, "
                        + "stopped boolean NOT NULL DEFAULT false)",
                    "CREATE INDEX IF NOT EXISTS " + HEARTBEAT_WATCH + "_seen_idx ON " + HEARTBEAT_WATCH
                        + " (seen_at)"),
                Migration.sql(126, "monitor collectors' liveness locks",
                    // Each run of a collector with the monitors duty holds a session-level advisory lock
                    // (pg_try_advisory_lock(namespace, lock_key)) on a connection of its own; lock_key comes from
                    // this sequence, so two collectors never share one. A lease records the key it was claimed
                    // under (holder_key): a lease whose key is no longer locked is its dead holder's, free at once.
                    "CREATE SEQUENCE IF NOT EXISTS " + MONITOR_COLLECTOR_LOCK + " AS integer MINVALUE 1 CYCLE",
                    "ALTER TABLE " + MONITOR_COLLECTORS + " ADD COLUMN IF NOT EXISTS lock_key integer",
                    "ALTER TABLE " + MONITOR_LEASES + " ADD COLUMN IF NOT EXISTS holder_key integer",
                    // When the last holder freed the lease (it had stopped checking by then): the next holder
                    // checks at once if a due time passed since.
                    "ALTER TABLE " + MONITOR_LEASES + " ADD COLUMN IF NOT EXISTS released_at timestamptz"),
                Migration.sql(127, "monitor leases valid while their holder is live",
                    // A lease is held while its holder is live: a lease round renews only the collector's own row,
                    // not every lease row. A collector that takes over from a holder whose row expired first marks
                    // that row fenced (fenced_at); the holder's next heartbeat, conditional on not being fenced,
                    // fails and it starts over under a new key. A fenced row never counts as live again. Lease rows
                    // claimed from now on carry expires_at = 'infinity' (no expiry of their own).
                    "ALTER TABLE " + MONITOR_COLLECTORS + " ADD COLUMN IF NOT EXISTS fenced_at timestamptz"),
                Migration.sql(201, "heartbeat services",
                    // state: 'new' (registered, never pinged: silently unavailable), 'up' or 'down'.
                    // alert_after = last_ping + timeout + grace, precomputed so the flip loop is one index scan.
                    HEARTBEAT_SERVICES_DDL,
                    "CREATE INDEX IF NOT EXISTS " + HEARTBEAT_SERVICES + "_due_idx ON " + HEARTBEAT_SERVICES
                        + " (alert_after) WHERE state = 'up'"));
    }
}
