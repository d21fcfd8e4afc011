package dev.spillway.alerting;

import dev.spillway.runtime.api.ApiRouter;
import dev.spillway.runtime.lifecycle.ServiceStack;
import dev.spillway.uptime.transitions.Notification;
import dev.spillway.uptime.transitions.NotificationQueue;
import dev.spillway.uptime.transitions.StateTransitions;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Instant;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The alerting module assembled: the outbox relay (started, on the stack), the Slack channel from the command
 * line, the listener that turns monitor transitions into outbox rows, and the channels API. State owners that
 * announce richer notifications themselves (heartbeats) get this as their {@link NotificationQueue}.
 */
public final class Alerting implements NotificationQueue {

    private static final Logger LOG = LoggerFactory.getLogger(Alerting.class);

    private final OutboxRelay relay;

    private Alerting(OutboxRelay relay) {
        this.relay = relay;
    }

    /**
     * Starts the relay and pushes it onto {@code stack}; it stops after everything started later, so the last
     * rows those write are still sent.
     *
     * @param relayDuty whether this collector sends notifications; without it the outbox is still written (in the
     *     transactions of state changes) and the channels API works, and a collector with the duty sends them
     */
    public static Alerting start(AlertingSettings settings, DataSource ds, StateTransitions transitions, Clock clock,
                                 ApiRouter router, MeterRegistry registry, ServiceStack stack, boolean relayDuty)
        throws SQLException {
        final OutboxRelay relay = new OutboxRelay(ds, new Messages(settings.publicUrl()),
            NotifySettings.defaults().withMaxAge(settings.notifyMaxAge()), clock,
            () -> ThreadLocalRandom.current().nextDouble(), registry);
        if (settings.slackWebhook() != null) {
            final Channel slack = new ChannelStore(ds).ensure("slack", ChannelKind.SLACK, settings.slackWebhook(),
                settings.groupWindow());
            if (!slack.enabled()) {
                LOG.warn("notification channel 'slack' stays disabled since {}: {} (same --slack-webhook; re-enable "
                    + "with PUT /api/v1/channels/slack or give a new URL)", slack.disabledAt(), slack.disabledReason());
            }
        }
        if (!settings.channels().isEmpty()) {
            final ChannelStore store = new ChannelStore(ds);
            for (ChannelDefinition d : settings.channels()) {
                try {
                    NotifyApi.apply(store, d);
                } catch (SQLException e) {
                    throw e;
                } catch (Exception e) {
                    // Validated when the file was read; the store refusing it now is a defect, not bad input.
                    throw new IllegalStateException("--monitors: channel " + d + " could not be stored: "
                        + e.getMessage(), e);
                }
            }
            LOG.info("--monitors: {} notification channels applied: {}", settings.channels().size(),
                settings.channels());
        }
        if (!settings.windows().isEmpty()) {
            final Maintenance maintenance = new Maintenance(ds);
            for (MaintenanceWindow w : settings.windows()) {
                maintenance.put(w);
            }
            LOG.info("--monitors: {} maintenance windows applied", settings.windows().size());
        }
        transitions.addListener(new MonitorNotifications(clock, relay::wakeup));
        new NotifyApi(ds, relay::wakeup, clock).register(router);
        new MaintenanceApi(new Maintenance(ds), clock).register(router);
        if (relayDuty) {
            relay.start();
            stack.push(relay, NotifySettings.defaults().requestTimeout().plusSeconds(5));
        }
        return new Alerting(relay);
    }

    @Override
    public void enqueue(Connection c, Notification n, Instant now) throws SQLException {
        Outbox.enqueue(c, n, now);
    }

    /** Tells the relay that rows were committed. */
    public void wakeup() {
        relay.wakeup();
    }

    /** The relay (tests drain a round). */
    public OutboxRelay relay() {
        return relay;
    }
}
