package dev.spillway.alerting;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.runtime.db.SchemaMigrations;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.FakeReceiver;
import dev.spillway.testkit.MutableClock;
import dev.spillway.uptime.schema.UptimeSchema;
import dev.spillway.uptime.transitions.Notification;
import dev.spillway.uptime.transitions.StateTransitions;
import dev.spillway.uptime.transitions.Transition;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Grouping: transitions to a channel within its group window go out as one digest that names the count, every
 * transition recorded and linked to its digest; a storm of 2,800 of 3,000 monitors is a handful of messages per
 * channel; several relays on one database send each digest once. Real PostgreSQL, real receivers on loopback,
 * a manual clock (no timed assertions).
 */
class DigestTest {

    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern SLACK_COUNT = Pattern.compile("^:[a-z_]+: (\\d+) monitors? (down|up): ");
    private static TestDatabase db;

    private final List<AutoCloseable> closeMe = new ArrayList<>();
    private FakeReceiver receiver;
    private MutableClock clock;

    @BeforeAll
    static void createDatabase() throws Exception {
        db = TestDatabase.create("notify_digest");
        SchemaMigrations.apply(db.dataSource(), Stream.concat(UptimeSchema.migrations().stream(),
            AlertingSchema.migrations().stream()).toList());
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    @BeforeEach
    void fresh() throws Exception {
        db.execute("TRUNCATE notification_outbox");
        db.execute("TRUNCATE monitor_transitions");
        db.execute("DELETE FROM notification_channels WHERE id <> 'log'");
        receiver = new FakeReceiver();
        closeMe.add(receiver);
        clock = new MutableClock(T0);
    }

    @AfterEach
    void closeAll() throws Exception {
        for (int i = closeMe.size() - 1; i >= 0; i--) {
            closeMe.get(i).close();
        }
        closeMe.clear();
    }

    private OutboxRelay relay(javax.sql.DataSource ds) {
        // Leases last the request timeout + 5 s by the manual clock, which the test moves on while relays send:
        // a long timeout keeps a lease from ending mid-send (that would be a legitimate resend, not this test's).
        final NotifySettings d = NotifySettings.defaults();
        final OutboxRelay r = new OutboxRelay(ds, new Messages(null), new NotifySettings(Duration.ofHours(1),
            d.ratePerSecond(), d.burst(), Duration.ofMinutes(5), d.backoffBase(), d.backoffMax(), d.pollInterval()),
            clock, () -> 0.0, new SimpleMeterRegistry());
        closeMe.add(0, r); // closed after the receiver: the receiver stops first, so nothing hangs
        return r;
    }

    private static String name(int i) {
        return String.format("web-%04d", i);
    }

    /** Records transitions the way monitors do: the state change's transaction writes the outbox rows. */
    private static void record(StateTransitions transitions, int from, int to, String fromState, String toState,
                               Instant at) throws Exception {
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            for (int i = from; i < to; i++) {
                transitions.record(c, Transition.of(Transition.KIND_HTTP, name(i), fromState, toState, at,
                    "DOWN".equals(toState) ? "HTTP 503" : null));
            }
            c.commit();
        }
    }

    private static void drainUntilIdle(OutboxRelay relay) throws Exception {
        while (relay.drainOnce() > 0) {
            // the log channel delivers 16 a round; nothing else is due
        }
    }

    /** Per message at one path: the count it names (Slack: from the text, webhook: the count field, 1 if single). */
    private List<Integer> counts(String path, String state) throws Exception {
        final List<Integer> out = new ArrayList<>();
        for (FakeReceiver.Received r : receiver.received(path)) {
            final JsonNode body = JSON.readTree(r.body());
            if (path.equals("/slack")) {
                final Matcher m = SLACK_COUNT.matcher(body.get("text").asText());
                assertTrue(m.find(), "the message names the count: " + body.get("text").asText());
                if (m.group(2).equals(state)) {
                    out.add(Integer.parseInt(m.group(1)));
                }
            } else if (body.get("type").asText().equals(OutboxEntry.DIGEST_TYPE)) {
                assertTrue(body.get("text").asText().startsWith(body.get("count").asInt() + " monitors "),
                    body.get("text").asText());
                if (body.get("text").asText().contains("monitors " + state + ":")) {
                    out.add(body.get("count").asInt());
                }
            } else if (body.get("new_state").asText().equals(state)) {
                out.add(1);
            }
        }
        return out;
    }

    @Test
    void aStormOf2800Of3000MonitorsIsAFewDigestsPerChannelEachNamingTheCount() throws Exception {
        final ChannelStore store = new ChannelStore(db.dataSource());
        store.put("slack", ChannelKind.SLACK, receiver.url("/slack")); // the default window, 30 s
        store.put("hook", ChannelKind.WEBHOOK, receiver.url("/hook"));
        assertEquals(Channel.DEFAULT_GROUP_WINDOW, store.get("hook").orElseThrow().groupWindow());
        final OutboxRelay relay = relay(db.dataSource());
        final StateTransitions transitions = new StateTransitions();
        transitions.addListener(new MonitorNotifications(clock, relay::wakeup));

        // 3,000 monitors created: first results recorded, not announced.
        record(transitions, 0, 3000, null, "UP", T0);
        drainUntilIdle(relay);
        assertEquals(0, receiver.received().size(), "no 'up' message for 3,000 new monitors");

        for (String[] phase : new String[][] {{"UP", "DOWN", "down"}, {"DOWN", "UP", "up"}}) {
            final Instant start = clock.instant();
            final int before = receiver.received().size();
            // 2,800 of them change within 10 s (280 a second); the relay runs a round every second for 60 s.
            for (int s = 0; s < 60; s++) {
                if (s < 10) {
                    record(transitions, s * 280, (s + 1) * 280, phase[0], phase[1], clock.instant());
                }
                drainUntilIdle(relay);
                clock.advance(Duration.ofSeconds(1));
            }
            assertEquals(start.plusSeconds(60), clock.instant());
            for (String path : List.of("/slack", "/hook")) {
                final List<Integer> counts = counts(path, phase[2]);
                assertTrue(counts.size() <= 5, path + ": at most 5 messages within 60 s, got " + counts);
                assertEquals(2800, counts.stream().mapToInt(Integer::intValue).sum(),
                    path + ": every " + phase[2] + " transition is in exactly one message: " + counts);
            }
            assertTrue(receiver.received().size() - before <= 10, "both channels together");
            assertEquals(2800, db.queryLong("SELECT count(*) FROM monitor_transitions WHERE from_state = '"
                + phase[0] + "' AND to_state = '" + phase[1] + "'"), "every transition recorded");
            for (String channel : List.of("slack", "hook")) {
                assertEquals(2800, db.queryLong("SELECT count(*) FROM notification_outbox m JOIN notification_outbox d "
                    + "ON d.id = m.digest_id WHERE m.channel_id = '" + channel + "' AND m.new_state = '" + phase[2]
                    + "' AND m.state = 'sent' AND d.state = 'sent' AND d.type = 'digest'"),
                    channel + ": every transition linked to a digest that was sent");
            }
            assertEquals(2800, db.queryLong("SELECT count(*) FROM notification_outbox WHERE channel_id = 'log' AND "
                + "new_state = '" + phase[2] + "' AND state = 'sent' AND digest_id IS NULL"),
                "the log channel logs each transition");
        }
        // The digest's text names the first monitors and how many more.
        final String text = JSON.readTree(receiver.received("/slack").get(0).body()).get("text").asText();
        assertTrue(text.matches(":red_circle: 280 monitors down: web-0000, web-0001, .*, web-0009 \\.\\.\\. and 270 "
            + "more"), text);
        final JsonNode hook = JSON.readTree(receiver.received("/hook").get(1).body());
        assertEquals("firing", hook.get("status").asText());
        assertEquals(100, hook.get("alerts").size());
        assertEquals(hook.get("count").asInt() - 100, hook.get("truncatedAlerts").asInt());
    }

    private static final String ROUTING_KEY = "R0123456789abcdefghijklmnopqrstu";
    private static final Pattern PD_COUNT = Pattern.compile("^(\\d+) monitors? (down|up)(: |$)");

    private static void putPagerDuty(ChannelStore store, String url) throws Exception {
        store.put("pd", ChannelKind.PAGERDUTY, url, Channel.DEFAULT_GROUP_WINDOW, null,
            Map.of("routing_key", ROUTING_KEY));
    }

    private List<JsonNode> pagerDutyEvents() throws Exception {
        final List<JsonNode> out = new ArrayList<>();
        for (FakeReceiver.Received r : receiver.received("/pd/v2/enqueue")) {
            out.add(JSON.readTree(r.body()));
        }
        return out;
    }

    @Test
    void aStormOnAPagerDutyChannelIsAFewGroupIncidentsEachNamingTheCountAndEachResolvedOnce() throws Exception {
        final ChannelStore store = new ChannelStore(db.dataSource());
        putPagerDuty(store, receiver.url("/pd"));
        final OutboxRelay relay = relay(db.dataSource());
        final StateTransitions transitions = new StateTransitions();
        transitions.addListener(new MonitorNotifications(clock, relay::wakeup));
        record(transitions, 0, 3000, null, "UP", T0);
        drainUntilIdle(relay);
        assertEquals(0, receiver.received().size(), "no event for 3,000 new monitors");

        final Set<String> triggered = new HashSet<>();
        for (String[] phase : new String[][] {{"UP", "DOWN", "down"}, {"DOWN", "UP", "up"}}) {
            final int before = pagerDutyEvents().size();
            for (int s = 0; s < 60; s++) {
                if (s < 10) {
                    record(transitions, s * 280, (s + 1) * 280, phase[0], phase[1], clock.instant());
                }
                drainUntilIdle(relay);
                clock.advance(Duration.ofSeconds(1));
            }
            final List<JsonNode> events = pagerDutyEvents().subList(before, pagerDutyEvents().size());
            assertTrue(events.size() <= 5, "at most 5 PagerDuty events within 60 s, got " + events.size());
            System.out.println("pagerduty storm, " + phase[2] + ": " + events.size() + " events: " + events.stream()
                .map(e -> e.get("event_action").asText() + " " + e.get("dedup_key").asText() + (e.has("payload")
                    ? " (" + e.get("payload").get("custom_details").path("count").asInt(1) + ")" : "")).toList());
            if (phase[2].equals("down")) {
                int total = 0;
                for (JsonNode e : events) {
                    assertEquals("trigger", e.get("event_action").asText());
                    assertEquals(ROUTING_KEY, e.get("routing_key").asText());
                    final String summary = e.get("payload").get("summary").asText();
                    final Matcher m = PD_COUNT.matcher(summary);
                    assertTrue(m.find(), "the summary names the count: " + summary);
                    final int count = Integer.parseInt(m.group(1));
                    assertEquals(count, e.get("payload").get("custom_details").get("count").asInt());
                    assertEquals(Math.min(count, 100), e.get("payload").get("custom_details").get("members").size());
                    assertTrue(e.get("dedup_key").asText().startsWith("spillway-group-"), e.toString());
                    assertTrue(triggered.add(e.get("dedup_key").asText()), "one trigger per incident");
                    total += count;
                }
                assertEquals(2800, total, "every DOWN in exactly one incident");
                assertEquals(2800, db.queryLong("SELECT count(*) FROM notification_pagerduty_open WHERE "
                    + "channel_id = 'pd' AND dedup_key LIKE 'spillway-group-%'"), "each alert in its group");
            } else {
                final Set<String> resolved = new HashSet<>();
                for (JsonNode e : events) {
                    assertEquals("resolve", e.get("event_action").asText(), e.toString());
                    assertTrue(resolved.add(e.get("dedup_key").asText()), "each incident resolved once");
                }
                assertEquals(triggered, resolved, "every group incident resolved, nothing else");
                assertEquals(0, db.queryLong("SELECT count(*) FROM notification_pagerduty_open WHERE "
                    + "channel_id = 'pd'"), "nothing left open");
            }
            assertEquals(2800, db.queryLong("SELECT count(*) FROM notification_outbox m JOIN notification_outbox d "
                + "ON d.id = m.digest_id WHERE m.channel_id = 'pd' AND m.new_state = '" + phase[2]
                + "' AND m.state = 'sent' AND d.state = 'sent' AND d.type = 'digest'"),
                "every transition recorded and linked to a digest that was sent");
        }
    }

    @Test
    void aPagerDutyGroupIsResolvedWhenItsLastMemberRecoversAndALoneAlertByItsOwnKey() throws Exception {
        final ChannelStore store = new ChannelStore(db.dataSource());
        putPagerDuty(store, receiver.url("/pd"));
        final OutboxRelay relay = relay(db.dataSource());
        final StateTransitions transitions = new StateTransitions();
        transitions.addListener(new MonitorNotifications(clock, relay::wakeup));
        record(transitions, 0, 4, null, "UP", T0);
        record(transitions, 0, 1, "UP", "DOWN", T0); // web-0000 alone: its own incident, at once
        drainUntilIdle(relay);
        clock.advance(Duration.ofSeconds(5));
        record(transitions, 1, 4, "UP", "DOWN", clock.instant()); // web-0001..3: one group, after the window
        clock.advance(Duration.ofSeconds(30));
        drainUntilIdle(relay);
        List<JsonNode> events = pagerDutyEvents();
        assertEquals(2, events.size(), events.toString());
        final String own = events.get(0).get("dedup_key").asText();
        assertTrue(own.matches("spillway-[0-9a-f]{16}"), own);
        final String group = events.get(1).get("dedup_key").asText();
        assertTrue(group.startsWith("spillway-group-"), group);
        assertEquals("3 monitors down: web-0001, web-0002, web-0003",
            events.get(1).get("payload").get("summary").asText());

        // One member recovers: the group stays open, nothing is sent, the row is recorded as sent without a status.
        clock.advance(Duration.ofSeconds(30));
        record(transitions, 1, 2, "DOWN", "UP", clock.instant());
        drainUntilIdle(relay);
        assertEquals(2, pagerDutyEvents().size(), "a group is not resolved while members are down");
        assertEquals(1, db.queryLong("SELECT count(*) FROM notification_outbox WHERE channel_id = 'pd' AND "
            + "subject = 'web-0001' AND new_state = 'up' AND state = 'sent' AND last_status IS NULL"));

        // The lone alert and the group's last two recover together (one digest): two resolves.
        clock.advance(Duration.ofSeconds(30));
        record(transitions, 0, 1, "DOWN", "UP", clock.instant());
        record(transitions, 2, 4, "DOWN", "UP", clock.instant());
        drainUntilIdle(relay);
        events = pagerDutyEvents();
        assertEquals(4, events.size(), events.toString());
        assertEquals("resolve", events.get(2).get("event_action").asText());
        assertEquals(own, events.get(2).get("dedup_key").asText(), "the lone alert by its own key");
        assertEquals("resolve", events.get(3).get("event_action").asText());
        assertEquals(group, events.get(3).get("dedup_key").asText(), "the group when its last member recovered");
        assertEquals(0, db.queryLong("SELECT count(*) FROM notification_pagerduty_open"));

        // A retried group trigger repeats its dedup key (the plan is made again from the same open alerts).
        receiver.then(FakeReceiver.Reply.status(500, "{}"));
        clock.advance(Duration.ofSeconds(30));
        record(transitions, 0, 2, "UP", "DOWN", clock.instant());
        drainUntilIdle(relay);
        clock.advance(Duration.ofSeconds(30));
        drainUntilIdle(relay);
        events = pagerDutyEvents();
        assertEquals(6, events.size(), events.toString());
        assertEquals(events.get(4).toString(), events.get(5).toString(), "the same event again");
        assertEquals(2, db.queryLong("SELECT count(*) FROM notification_pagerduty_open WHERE dedup_key = '"
            + events.get(5).get("dedup_key").asText() + "'"));
    }

    @Test
    void aPagerDutyMessageRefusedAfterItsResolvesWereAcceptedLeavesNothingOpenThatRecovered() throws Exception {
        final ChannelStore store = new ChannelStore(db.dataSource());
        putPagerDuty(store, receiver.url("/pd"));
        final OutboxRelay relay = relay(db.dataSource());
        final StateTransitions transitions = new StateTransitions();
        transitions.addListener(new MonitorNotifications(clock, relay::wakeup));
        record(transitions, 0, 3, null, "UP", T0);
        record(transitions, 0, 1, "UP", "DOWN", T0); // web-0000: its own incident
        drainUntilIdle(relay);
        assertEquals(1, db.queryLong("SELECT count(*) FROM notification_pagerduty_open WHERE subject = 'web-0000'"));

        // One digest: web-0000 recovers (a resolve, accepted), web-0001 and web-0002 fail (a group trigger, refused
        // for good with a 400).
        clock.advance(Duration.ofSeconds(40));
        receiver.then(FakeReceiver.Reply.ok(), FakeReceiver.Reply.status(400, "{\"status\":\"invalid event\"}"));
        record(transitions, 0, 1, "DOWN", "UP", clock.instant());
        record(transitions, 1, 3, "UP", "DOWN", clock.instant());
        drainUntilIdle(relay);
        List<JsonNode> events = pagerDutyEvents();
        assertEquals(3, events.size(), events.toString());
        assertEquals("resolve", events.get(1).get("event_action").asText());
        assertEquals("trigger", events.get(2).get("event_action").asText());
        assertEquals(1, db.queryLong("SELECT count(*) FROM notification_outbox WHERE channel_id = 'pd' AND "
            + "type = 'digest' AND state = 'failed'"), "refused for good");
        assertEquals(0, db.queryLong("SELECT count(*) FROM notification_pagerduty_open"),
            "web-0000 recovered (its resolve was accepted); the refused group opened nothing");

        // web-0000 fails again: a new incident, not taken for a repeat of one still open.
        clock.advance(Duration.ofSeconds(40));
        record(transitions, 0, 1, "UP", "DOWN", clock.instant());
        drainUntilIdle(relay);
        events = pagerDutyEvents();
        assertEquals(4, events.size(), events.toString());
        assertEquals("trigger", events.get(3).get("event_action").asText());
        assertEquals(events.get(0).get("dedup_key"), events.get(3).get("dedup_key"));
    }

    @Test
    void aLoneTransitionGoesOutAtOnceAndTheNextWaitForTheWindow() throws Exception {
        new ChannelStore(db.dataSource()).put("hook", ChannelKind.WEBHOOK, receiver.url("/hook"),
            Duration.ofSeconds(30));
        final OutboxRelay relay = relay(db.dataSource());
        final StateTransitions transitions = new StateTransitions();
        transitions.addListener(new MonitorNotifications(clock, relay::wakeup));
        record(transitions, 0, 1, "UP", "DOWN", T0);
        drainUntilIdle(relay);
        assertEquals(1, receiver.received("/hook").size(), "nothing was sent for a window: at once");
        assertEquals("monitor.down", JSON.readTree(receiver.received("/hook").get(0).body()).get("type").asText());

        clock.advance(Duration.ofSeconds(5));
        record(transitions, 1, 3, "UP", "DOWN", clock.instant());
        drainUntilIdle(relay);
        clock.advance(Duration.ofSeconds(24));
        drainUntilIdle(relay);
        assertEquals(1, receiver.received("/hook").size(), "held until 30 s after the last message");
        clock.advance(Duration.ofSeconds(1));
        drainUntilIdle(relay);
        assertEquals(2, receiver.received("/hook").size());
        final JsonNode digest = JSON.readTree(receiver.received("/hook").get(1).body());
        assertEquals("2 monitors down: web-0001, web-0002", digest.get("text").asText());
        assertEquals(2, digest.get("alerts").size());
        assertEquals(2, db.queryLong("SELECT count(*) FROM notification_outbox WHERE channel_id = 'hook' AND "
            + "digest_id = " + receiver.received("/hook").get(1).notificationId() + " AND state = 'sent'"));
    }

    @Test
    void threeRelaysOnOneDatabaseSendEachDigestOnce() throws Exception {
        new ChannelStore(db.dataSource()).put("hook", ChannelKind.WEBHOOK, receiver.url("/hook"),
            Duration.ofSeconds(10));
        final List<OutboxRelay> relays = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            final PGSimpleDataSource ds = new PGSimpleDataSource();
            ds.setURL(db.jdbcUrl());
            ds.setUser(db.user());
            ds.setPassword(db.password());
            relays.add(relay(ds));
        }
        relays.forEach(OutboxRelay::start);
        final int rounds = 20;
        final int perRound = 30;
        for (int r = 0; r < rounds; r++) {
            try (Connection c = db.connect()) {
                c.setAutoCommit(false);
                for (int i = 0; i < perRound; i++) {
                    Outbox.enqueue(c, new Notification("monitor.down", "monitor", name(r * perRound + i), "up",
                        "down", clock.instant(), Map.of()), clock.instant());
                }
                c.commit();
            }
            relays.get(r % 3).wakeup();
            clock.advance(Duration.ofSeconds(3));
        }
        clock.advance(Duration.ofSeconds(30));
        relays.forEach(OutboxRelay::wakeup);
        Await.until(Duration.ofSeconds(60), () -> db.queryLong("SELECT count(*) FROM notification_outbox WHERE "
            + "channel_id = 'hook' AND state NOT IN ('sent') ") == 0, "every row of the hook channel sent");
        final List<FakeReceiver.Received> got = receiver.received("/hook");
        final Set<Long> ids = new HashSet<>();
        int total = 0;
        for (FakeReceiver.Received r : got) {
            assertTrue(ids.add(r.notificationId()), "message " + r.notificationId() + " received twice");
            final JsonNode body = JSON.readTree(r.body());
            total += body.get("type").asText().equals(OutboxEntry.DIGEST_TYPE) ? body.get("count").asInt() : 1;
        }
        assertEquals(rounds * perRound, total, "each transition in exactly one message: " + got.size()
            + " messages");
        assertTrue(got.size() < rounds, "grouped: " + got.size() + " messages for " + rounds + " bursts");
        assertEquals(ids.size(), db.queryLong("SELECT count(*) FROM notification_outbox WHERE channel_id = 'hook' "
            + "AND digest_id IS NULL AND state = 'sent'"), "one message per digest (or single) row");
    }
}
