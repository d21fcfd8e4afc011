package dev.spillway.statuspage;

import dev.spillway.alerting.Maintenance;
import dev.spillway.alerting.MaintenanceWindow;
import dev.spillway.uptime.transitions.Notification;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The maintenance panel names the open windows, until when, and the held notifications, escaped. */
class MaintenancePanelTest {

    @Test
    void openWindowsAndHeldNotificationsAreShown() {
        final Instant now = Instant.parse("2026-07-01T00:10:00Z"); // 02:10 in Berlin
        final MaintenanceWindow w = new MaintenanceWindow("nightly", "tag", "team=db", null, null, "0 2 * * *",
            Duration.ofMinutes(30), ZoneId.of("Europe/Berlin"), "backup <db>");
        final Maintenance.Held held = new Maintenance.Held(1, "nightly", new Notification("monitor.down", "monitor",
            "db-1", "up", "down", now, Map.of()), now);
        final StringBuilder h = new StringBuilder();
        MaintenancePanel.html(h, List.of(w), List.of(held), now);
        final String html = h.toString();
        assertTrue(html.contains("<strong>nightly</strong>: tag team=db, for 20m 0s more"), html);
        assertTrue(html.contains("backup &lt;db&gt;"), html);
        assertTrue(html.contains("<td>monitor db-1</td><td>monitor.down</td><td>nightly</td>"), html);
        final Map<String, Object> json = MaintenancePanel.json(List.of(w), List.of(held), now);
        assertEquals(1, ((List<?>) json.get("open")).size());
        assertEquals(1, ((List<?>) json.get("held")).size());

        final StringBuilder empty = new StringBuilder();
        MaintenancePanel.html(empty, List.of(), List.of(), now);
        assertTrue(empty.toString().contains("No maintenance window is open."));
        assertFalse(empty.toString().contains("Held notifications"));
    }
}
