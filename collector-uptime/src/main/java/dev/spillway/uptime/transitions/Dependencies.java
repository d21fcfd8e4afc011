package dev.spillway.uptime.transitions;

import dev.spillway.runtime.api.ApiException;
import dev.spillway.runtime.log.LogText;
import dev.spillway.uptime.schema.UptimeSchema;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * Parents of monitors and heartbeat services ({@code monitors.parent}, {@code heartbeat_services.parent}, schema
 * step 123). A parent is named by its name alone: a monitor of that name if there is one, else the heartbeat
 * service with that id. While a parent is down, the alerting module holds its children's announcements.
 *
 * <p>{@link #check} is the rule the API (monitors and services) and the {@code --monitors} file apply: the parent
 * must exist, and following parents from it must never lead back to the child (a cycle, the child itself
 * included), since two things that hold each other's announcements would never be announced.
 */
public final class Dependencies {

    /** Kind of a probe monitor as a subject. */
    public static final String MONITOR = "monitor";
    /** Kind of a heartbeat service as a subject. */
    public static final String SERVICE = "service";

    private Dependencies() {
    }

    /** A monitor or service. */
    private record Node(String kind, String name) {
    }

    /**
     * Checks a parent about to be stored.
     *
     * @param c any connection to the collector database (read only)
     * @param kind {@link #MONITOR} or {@link #SERVICE}: what {@code name} is
     * @param name the child
     * @param parent the parent's name, or null (nothing to check)
     * @param pending monitors about to be stored with their parents (a {@code --monitors} file; the child itself may
     *     be among them), which count as existing and override the stored parents; may be empty
     * @throws ApiException 400 naming {@code parent}: unknown, or a cycle
     */
    public static void check(Connection c, String kind, String name, String parent, Map<String, String> pending)
        throws SQLException, ApiException {
        if (parent == null) {
            return;
        }
        final Map<String, String> monitors = new HashMap<>();
        final Map<String, String> services = new HashMap<>();
        load(c, "SELECT name, parent FROM " + UptimeSchema.MONITORS, monitors);
        load(c, "SELECT id, parent FROM " + UptimeSchema.HEARTBEAT_SERVICES, services);
        monitors.putAll(pending);
        if (MONITOR.equals(kind)) {
            monitors.put(name, parent);
        } else {
            services.put(name, parent);
        }
        final Node child = new Node(kind, name);
        Node at = resolve(parent, monitors, services);
        if (at == null) {
            throw ApiException.invalid("parent", "no monitor or service '" + LogText.escape(parent) + "'");
        }
        final Set<Node> seen = new HashSet<>();
        final StringBuilder path = new StringBuilder(name);
        while (at != null && seen.add(at)) {
            path.append(" -> ").append(at.name());
            if (at.equals(child)) {
                throw ApiException.invalid("parent", "'" + LogText.escape(parent) + "' would make a cycle ("
                    + LogText.escape(path.toString()) + "): a parent must not depend on its child");
            }
            final String next = (MONITOR.equals(at.kind()) ? monitors : services).get(at.name());
            at = next == null ? null : resolve(next, monitors, services);
        }
    }

    /** The monitor of that name, else the service of that id, else null. */
    private static Node resolve(String name, Map<String, String> monitors, Map<String, String> services) {
        if (monitors.containsKey(name)) {
            return new Node(MONITOR, name);
        }
        return services.containsKey(name) ? new Node(SERVICE, name) : null;
    }

    private static void load(Connection c, String sql, Map<String, String> into) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql); ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                into.put(rs.getString(1), rs.getString(2));
            }
        }
    }
}
