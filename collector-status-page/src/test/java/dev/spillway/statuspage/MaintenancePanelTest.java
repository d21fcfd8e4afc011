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

/**
 * The maintenance panel names the open windows, until when, and the held notifications (by a window or by a down
 * parent), escaped.
 */
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
        assertTrue(html.contains("<td>monitor db-1</td><td>monitor.down</td><td>window nightly</td>"), html);
        final Map<String, Object> json = MaintenancePanel.json(List.of(w), List.of(held), now);
        assertEquals(1, ((List<?>) json.get("open")).size());
        assertEquals(1, ((List<?>) json.get("held")).size());
        final Map<?, ?> heldJson = (Map<?, ?>) ((List<?>) json.get("held")).get(0);
        assertEquals("nightly", heldJson.get("window"));
        assertEquals(null, heldJson.get("parent"));

        final StringBuilder empty = new StringBuilder();
        MaintenancePanel.html(empty, List.of(), List.of(), now);
        assertTrue(empty.toString().contains("No maintenance window is open."));
        assertFalse(empty.toString().contains("Held notifications"));
    }

    @Test
    void notificationsHeldByADownParentAreShownWithTheParentNotAsAWindow() {
        final Instant now = Instant.parse("2026-07-01T00:10:00Z");
        // As Maintenance.held reads a row a parent held: window_id is null, the id reads parent:<name>.
        final Maintenance.Held child = new Maintenance.Held(2, "parent:db<1>", new Notification("monitor.down",
            "monitor", "web1", "up", "down", now, Map.of()), now);
        final Maintenance.Held service = new Maintenance.Held(3, "parent:db<1>", new Notification(
            "service.unavailable", "service", "backup", "available", "unavailable", now, Map.of()), now);
        final StringBuilder h = new StringBuilder();
        MaintenancePanel.html(h, List.of(), List.of(child, service), now);
        final String html = h.toString();
        assertTrue(html.contains("No maintenance window is open."), "no window is open: " + html);
        assertTrue(html.contains("<h3>Held notifications</h3>"), "held by a parent, shown all the same: " + html);
        assertTrue(html.contains("<th scope=\"col\">Held by</th>"), html);
        assertTrue(html.contains("<td>monitor web1</td><td>monitor.down</td><td>parent db&lt;1&gt;</td>"), html);
        assertTrue(html.contains("<td>service backup</td><td>service.unavailable</td><td>parent db&lt;1&gt;</td>"),
            html);
        assertFalse(html.contains("parent:"), "not shown as a window id: " + html);
        final List<?> held = (List<?>) MaintenancePanel.json(List.of(), List.of(child, service), now).get("held");
        assertEquals(2, held.size());
        final Map<?, ?> first = (Map<?, ?>) held.get(0);
        assertEquals(null, first.get("window"), "no window held it");
        assertEquals("db<1>", first.get("parent"));
        assertEquals("parent db<1>", first.get("heldBy"));
        assertEquals("web1", first.get("subject"));
    }
}
