package dev.spillway.alerting;

import javax.sql.DataSource;
import java.net.URI;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/** Notification channels in the database: the API's and the relay's one view of them. */
public final class ChannelStore {

    private static final Pattern ID = Pattern.compile("[A-Za-z0-9_.-]{1,64}");
    private static final String COLUMNS = "id, kind, url, enabled, disabled_reason, disabled_at, group_window_ms, "
        + "repeat_interval_ms, options";

    private final DataSource dataSource;

    /** @param dataSource the collector database (tables from {@code CollectorSchema}, step 200) */
    public ChannelStore(DataSource dataSource) {
        this.dataSource = dataSource;
    }

    /**
     * Checks an id, kind and URL as the API and the options take them.
     *
     * @throws IllegalArgumentException naming the field and the rule
     */
    public static void validate(String id, ChannelKind kind, String url) {
        validate(id, kind, url, java.util.Map.of());
    }

    /**
     * Checks an id, kind, URL and the kind's options (e.g. a telegram channel's {@code bot_token} and
     * {@code chat_id}, an email channel's {@code host}, {@code port}, {@code from}, {@code to}).
     *
     * @throws IllegalArgumentException starting with the field's name; never repeating a secret
     */
    public static void validate(String id, ChannelKind kind, String url, java.util.Map<String, String> options) {
        if (id == null || !ID.matcher(id).matches()) {
            throw new IllegalArgumentException("id must match [A-Za-z0-9_.-]{1,64}, was '" + id + "'");
        }
        if (kind == ChannelKind.LOG) {
            throw new IllegalArgumentException("kind: the log channel is built in; use slack, webhook, discord, "
                + "teams, telegram, pagerduty, ntfy or email");
        }
        if (url == null || url.isBlank()) {
            if (ChannelOptions.urlRequired(kind)) {
                throw new IllegalArgumentException("url is required for a " + kind.id() + " channel");
            }
            ChannelOptions.validate(kind, null, options);
            return;
        }
        if (kind == ChannelKind.EMAIL) {
            throw new IllegalArgumentException("url is not a setting of an email channel (host and port are)");
        }
        final URI u;
        try {
            u = URI.create(url);
        } catch (IllegalArgumentException e) {
            // The reason only: the exception's message repeats the URL, which may hold a secret.
            final String why = e.getCause() instanceof java.net.URISyntaxException x ? x.getReason() + " at index "
                + x.getIndex() : "malformed";
            throw new IllegalArgumentException("url is not a valid URI: " + why);
        }
        if (!"http".equals(u.getScheme()) && !"https".equals(u.getScheme())) {
            throw new IllegalArgumentException("url must be http or https, was '" + Channel.mask(url) + "'");
        }
        if (u.getHost() == null) {
            throw new IllegalArgumentException("url has no host: '" + Channel.mask(url) + "'");
        }
        ChannelOptions.validate(kind, url, options);
    }

    /**
     * Checks a reminder interval: 0 (none) or {@link Channel#MIN_REPEAT_INTERVAL}..{@link Channel#MAX_REPEAT_INTERVAL};
     * null (keep) passes.
     *
     * @throws IllegalArgumentException starting with "repeat_interval"
     */
    public static void validateRepeatInterval(java.time.Duration repeatInterval) {
        if (repeatInterval != null && !repeatInterval.isZero() && (repeatInterval.compareTo(Channel.MIN_REPEAT_INTERVAL) < 0
            || repeatInterval.compareTo(Channel.MAX_REPEAT_INTERVAL) > 0)) {
            throw new IllegalArgumentException("repeat_interval must be 0s (off) or 1m..7d, was " + repeatInterval);
        }
    }

    /** All channels, by id. */
    public List<Channel> list() throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT " + COLUMNS + " FROM notification_channels ORDER BY id");
             ResultSet rs = ps.executeQuery()) {
            final List<Channel> out = new ArrayList<>();
            while (rs.next()) {
                out.add(read(rs));
            }
            return out;
        }
    }

    /** One channel. */
    public Optional<Channel> get(String id) throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT " + COLUMNS + " FROM notification_channels WHERE id = ?")) {
            ps.setString(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Optional.of(read(rs)) : Optional.empty();
            }
        }
    }

    /**
     * Creates or replaces a channel (idempotent). Putting a channel enables it and clears a disable reason: that
     * is how a user says "fixed, try again".
     *
     * @return the stored channel
     */
    public Channel put(String id, ChannelKind kind, String url) throws SQLException {
        return put(id, kind, url, Channel.DEFAULT_GROUP_WINDOW);
    }

    /**
     * Creates or replaces a channel with a group window (0 sends each transition on its own).
     *
     * @throws IllegalArgumentException naming the field and the rule
     */
    public Channel put(String id, ChannelKind kind, String url, java.time.Duration groupWindow) throws SQLException {
        return put(id, kind, url, groupWindow, null);
    }

    /**
     * Creates or replaces a channel with a group window and a reminder interval.
     *
     * @param repeatInterval a reminder every this long while something stays down; 0 for none; null keeps the
     *     stored one (none for a new channel)
     * @throws IllegalArgumentException naming the field and the rule
     */
    public Channel put(String id, ChannelKind kind, String url, java.time.Duration groupWindow,
                       java.time.Duration repeatInterval) throws SQLException {
        return put(id, kind, url, groupWindow, repeatInterval, java.util.Map.of());
    }

    /**
     * Creates or replaces a channel with the kind's options (see {@link #validate(String, ChannelKind, String,
     * java.util.Map)}); the options replace the stored ones.
     *
     * @param url the endpoint; optional for telegram and pagerduty (their public API), absent for email
     * @throws IllegalArgumentException naming the field and the rule
     */
    public Channel put(String id, ChannelKind kind, String url, java.time.Duration groupWindow,
                       java.time.Duration repeatInterval, java.util.Map<String, String> options) throws SQLException {
        url = url == null || url.isBlank() ? null : url;
        options = options == null ? java.util.Map.of() : options;
        validate(id, kind, url, options);
        validateRepeatInterval(repeatInterval);
        if (groupWindow == null || groupWindow.isNegative() || groupWindow.compareTo(Channel.MAX_GROUP_WINDOW) > 0) {
            throw new IllegalArgumentException("group_window must be 0s..1h, was " + groupWindow);
        }
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("INSERT INTO notification_channels (id, kind, url, "
                 + "group_window_ms, repeat_interval_ms, options) VALUES (?, ?, ?, ?, coalesce(?, 0), ?::jsonb) "
                 + "ON CONFLICT (id) DO "
                 + "UPDATE SET kind = EXCLUDED.kind, url = EXCLUDED.url, group_window_ms = EXCLUDED.group_window_ms, "
                 + "options = EXCLUDED.options, "
                 + "repeat_interval_ms = coalesce(?, notification_channels.repeat_interval_ms), "
                 + "enabled = true, disabled_reason = NULL, disabled_at = NULL RETURNING " + COLUMNS)) {
            ps.setString(1, id);
            ps.setString(2, kind.id());
            ps.setString(3, url);
            ps.setLong(4, groupWindow.toMillis());
            if (repeatInterval == null) {
                ps.setNull(5, java.sql.Types.BIGINT);
                ps.setNull(7, java.sql.Types.BIGINT);
            } else {
                ps.setLong(5, repeatInterval.toMillis());
                ps.setLong(7, repeatInterval.toMillis());
            }
            ps.setString(6, Json.write(new java.util.TreeMap<>(options)));
            // The row as written, in the same statement: a concurrent DELETE cannot slip in before it is read.
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return read(rs);
            }
        }
    }

    /**
     * The channel of a command-line option ({@code --slack-webhook}): created when missing, its URL updated when
     * the option changed (which re-enables it), and otherwise left alone, so a channel disabled after a permanent
     * failure stays disabled across restarts until the URL changes or the API re-enables it.
     *
     * @return the stored channel
     */
    public Channel ensure(String id, ChannelKind kind, String url, java.time.Duration groupWindow)
        throws SQLException {
        validate(id, kind, url);
        final Optional<Channel> existing = get(id);
        if (existing.isPresent() && existing.get().kind() == kind && url.equals(existing.get().url())) {
            if (!existing.get().groupWindow().equals(groupWindow)) {
                try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
                    "UPDATE notification_channels SET group_window_ms = ? WHERE id = ?")) {
                    ps.setLong(1, groupWindow.toMillis());
                    ps.setString(2, id);
                    ps.executeUpdate();
                }
                return get(id).orElseThrow();
            }
            return existing.get();
        }
        return put(id, kind, url, groupWindow);
    }

    /**
     * Deletes a channel and its outbox rows.
     *
     * @return whether it existed
     * @throws IllegalArgumentException for the built-in log channel
     */
    public boolean delete(String id) throws SQLException {
        if (Channel.LOG_ID.equals(id)) {
            throw new IllegalArgumentException("the log channel is built in and cannot be deleted");
        }
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("DELETE FROM notification_channels WHERE id = ?")) {
            ps.setString(1, id);
            return ps.executeUpdate() > 0;
        }
    }

    /** A routing rule: the channel gets notifications about this monitor, service or monitor tag. */
    public record Route(String scope, String target) {
        /**
         * Validates.
         *
         * @throws IllegalArgumentException starting with "routes"
         */
        public Route {
            if (!java.util.Set.of("monitor", "service", "tag").contains(scope)) {
                throw new IllegalArgumentException("routes: scope must be monitor, service or tag, was '" + scope + "'");
            }
            if (target == null || target.isBlank() || target.length() > 256
                || ("tag".equals(scope) && target.indexOf('=') < 1)) {
                throw new IllegalArgumentException("routes: target must be a name (or key=value for a tag), was '"
                    + target + "'");
            }
        }
    }

    /** A channel's routes (empty: it gets every notification). */
    public List<Route> routes(String id) throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT scope, target FROM notification_routes "
                 + "WHERE channel_id = ? ORDER BY scope, target")) {
            ps.setString(1, id);
            final List<Route> out = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new Route(rs.getString(1), rs.getString(2)));
                }
            }
            return out;
        }
    }

    /** Replaces a channel's routes in one transaction (empty: every notification). */
    public void setRoutes(String id, List<Route> routes) throws SQLException {
        if (Channel.LOG_ID.equals(id) && !routes.isEmpty()) {
            throw new IllegalArgumentException("routes: the log channel gets every notification");
        }
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try (PreparedStatement del = c.prepareStatement("DELETE FROM notification_routes WHERE channel_id = ?");
                 PreparedStatement ins = c.prepareStatement("INSERT INTO notification_routes (channel_id, scope, "
                     + "target) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")) {
                del.setString(1, id);
                del.executeUpdate();
                for (Route r : routes) {
                    ins.setString(1, id);
                    ins.setString(2, r.scope());
                    ins.setString(3, r.target());
                    ins.executeUpdate();
                }
                c.commit();
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            }
        }
    }

    /** Disables a channel with a reason, on the caller's transaction. */
    static void disable(Connection c, String id, String reason, Instant now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE notification_channels SET enabled = false, "
            + "disabled_reason = ?, disabled_at = ? WHERE id = ?")) {
            ps.setString(1, reason);
            ps.setTimestamp(2, Timestamp.from(now));
            ps.setString(3, id);
            ps.executeUpdate();
        }
    }

    private static Channel read(ResultSet rs) throws SQLException {
        return new Channel(rs.getString(1), ChannelKind.parse(rs.getString(2)), rs.getString(3), rs.getBoolean(4),
            rs.getString(5), Outbox.instant(rs.getTimestamp(6)), java.time.Duration.ofMillis(rs.getLong(7)),
            java.time.Duration.ofMillis(rs.getLong(8)), Json.readStringMap(rs.getString(9)));
    }
}
