package dev.spillway.alerting;

import dev.spillway.runtime.db.SchemaMigrations;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.uptime.schema.UptimeSchema;
import dev.spillway.uptime.transitions.Notification;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Routing rules pick the channels a notification goes to; channels without rules (and the log) get everything. */
class RoutingTest {

    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
    private static TestDatabase db;

    @BeforeAll
    static void createDatabase() throws Exception {
        db = TestDatabase.create("notify_routing");
        SchemaMigrations.apply(db.dataSource(), Stream.concat(UptimeSchema.migrations().stream(),
            AlertingSchema.migrations().stream()).toList());
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    private static long rows(String channel, String subject) {
        return db.queryLong("SELECT count(*) FROM notification_outbox WHERE channel_id = '" + channel
            + "' AND subject = '" + subject + "'");
    }

    @Test
    void routesByMonitorServiceAndTagDefaultAll() throws Exception {
        db.execute("INSERT INTO monitors (name, url, tags) VALUES ('web', 'http://127.0.0.1:9/', '{}'), "
            + "('db-1', 'http://127.0.0.1:9/', '{\"team\":\"db\"}')");
        final ChannelStore store = new ChannelStore(db.dataSource());
        store.put("web-only", ChannelKind.WEBHOOK, "http://127.0.0.1:9/a", Duration.ZERO);
        store.put("db-team", ChannelKind.WEBHOOK, "http://127.0.0.1:9/b", Duration.ZERO);
        store.put("backup-owner", ChannelKind.WEBHOOK, "http://127.0.0.1:9/c", Duration.ZERO);
        store.put("everything", ChannelKind.WEBHOOK, "http://127.0.0.1:9/d", Duration.ZERO);
        store.setRoutes("web-only", List.of(new ChannelStore.Route("monitor", "web")));
        store.setRoutes("db-team", List.of(new ChannelStore.Route("tag", "team=db")));
        store.setRoutes("backup-owner", List.of(new ChannelStore.Route("service", "backup")));
        assertEquals(List.of(new ChannelStore.Route("tag", "team=db")), store.routes("db-team"));
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            for (Notification n : List.of(
                new Notification("monitor.down", "monitor", "web", "up", "down", T0, Map.of()),
                new Notification("monitor.down", "monitor", "db-1", "up", "down", T0, Map.of()),
                new Notification("service.unavailable", "service", "backup", "available", "unavailable", T0,
                    Map.of()))) {
                Outbox.enqueue(c, n, T0);
            }
            c.commit();
        }
        assertEquals(1, rows("web-only", "web"));
        assertEquals(0, rows("web-only", "db-1"));
        assertEquals(0, rows("web-only", "backup"));
        assertEquals(1, rows("db-team", "db-1"));
        assertEquals(0, rows("db-team", "web"));
        assertEquals(1, rows("backup-owner", "backup"));
        assertEquals(0, rows("backup-owner", "web"), "a service route does not match a monitor");
        for (String s : List.of("web", "db-1", "backup")) {
            assertEquals(1, rows("everything", s), "no routes: everything");
            assertEquals(1, rows("log", s), "the log gets everything");
        }
        // Emptying the routes makes a channel get everything again.
        store.setRoutes("web-only", List.of());
        assertEquals(List.of(), store.routes("web-only"));
        assertThrows(IllegalArgumentException.class, () -> store.setRoutes("log",
            List.of(new ChannelStore.Route("monitor", "web"))));
        assertThrows(IllegalArgumentException.class, () -> new ChannelStore.Route("tag", "nokey"));
        assertThrows(IllegalArgumentException.class, () -> new ChannelStore.Route("team", "x"));
    }
}
