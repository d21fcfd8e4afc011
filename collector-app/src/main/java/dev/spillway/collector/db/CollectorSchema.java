package dev.spillway.collector.db;

import dev.spillway.alerting.AlertingSchema;
import dev.spillway.ingest.auth.ApiTokens;
import dev.spillway.ingest.series.SeriesSchema;
import dev.spillway.runtime.db.Migration;
import dev.spillway.runtime.db.SchemaMigrations;
import dev.spillway.statuspage.CheckRollups;
import dev.spillway.uptime.schema.UptimeSchema;

import javax.sql.DataSource;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * The collector's whole schema: every module's {@link Migration} steps, applied together by
 * {@link SchemaMigrations} (the sink creates its own {@code telemetry_events}). Idempotent, and safe when several
 * collectors start at once. Each module owns its DDL; this class only gathers it.
 *
 * <h2>Adding tables</h2>
 * Append a step to your module's schema class with a version from its range; never edit a released step.
 * Version ranges (so modules and parallel branches do not collide):
 * <ul>
 *   <li>1-99: series catalogue and view ({@link SeriesSchema}, collector-ingest); 50: read-only tokens and ping keys
 *   ({@link ApiTokens}, collector-ingest)</li>
 *   <li>100-199 and 201: monitors, transitions, heartbeats ({@link UptimeSchema}, collector-uptime)</li>
 *   <li>200-299 but 201: notification channels and outbox ({@link AlertingSchema}, collector-alerting)</li>
 *   <li>300-399: status page rollups ({@link CheckRollups}, collector-status-page)</li>
 * </ul>
 */
public final class CollectorSchema {

    private CollectorSchema() {
    }

    /**
     * Applies every missing step.
     *
     * @param eventsTable the sink's events table
     */
    public static void create(DataSource ds, String eventsTable) throws SQLException {
        SchemaMigrations.apply(ds, migrations(eventsTable));
    }

    /** Every step, in any order (the runner sorts by version). */
    public static List<Migration> migrations(String eventsTable) {
        final List<Migration> steps = new ArrayList<>(SeriesSchema.migrations(eventsTable));
        steps.addAll(ApiTokens.migrations());
        steps.addAll(UptimeSchema.migrations());
        steps.addAll(AlertingSchema.migrations());
        steps.addAll(CheckRollups.migrations(eventsTable));
        return steps;
    }
}
