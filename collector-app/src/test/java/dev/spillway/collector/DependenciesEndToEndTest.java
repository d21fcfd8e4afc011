package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.runtime.config.ConfigException;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.FakeReceiver;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Dependencies through the whole collector: parents set through the monitors and services APIs (unknown parents
 * and cycles are 400 naming {@code parent}) and the {@code --monitors} file (with its maintenance windows); real
 * checks against a receiver on loopback: children that go DOWN while their parent is DOWN are recorded and not
 * announced, and announced once when the parent recovers while they are still DOWN.
 */
class DependenciesEndToEndTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] AUTH = {"Authorization", "Token s3cret", "Content-Type", "application/json"};
    private static final Duration WAIT = Duration.ofSeconds(30);

    private static void assertInvalidParent(HttpResponse<String> r, String what) throws Exception {
        assertEquals(400, r.statusCode(), what + ": " + r.body());
        assertEquals("parent", JSON.readTree(r.body()).get("field").asText(), what + ": " + r.body());
    }

    @Test
    void parentsThroughTheApisAndChildrenHeldWhileTheirParentIsDown() throws Exception {
        try (TestDatabase db = TestDatabase.create("dependencies_e2e"); FakeReceiver receiver = new FakeReceiver();
             CollectorHarness h = CollectorHarness.start(db, "--token", "s3cret")) {
            receiver.always("/db", FakeReceiver.Reply.status(500, "broken"));
            assertEquals(200, h.put("/api/v1/channels/hook", "{\"kind\":\"webhook\",\"group_window\":\"0s\","
                + "\"url\":\"" + receiver.url("/hook") + "\"}", AUTH).statusCode());
            final String check = "\"interval\":\"1s\",\"failure_threshold\":1";

            assertInvalidParent(h.post("/api/v1/monitors", "{\"name\":\"web1\",\"url\":\"" + receiver.url("/web")
                + "\"," + check + ",\"parent\":\"nope\"}", AUTH), "unknown parent");
            assertInvalidParent(h.put("/api/v1/monitors/web1", "{\"url\":\"" + receiver.url("/web") + "\"," + check
                + ",\"parent\":\"web1\"}", AUTH), "itself");
            assertEquals(201, h.put("/api/v1/monitors/db", "{\"url\":\"" + receiver.url("/db") + "\"," + check + "}",
                AUTH).statusCode());
            for (String m : List.of("web1", "web2")) {
                final HttpResponse<String> r = h.put("/api/v1/monitors/" + m, "{\"url\":\"" + receiver.url("/web")
                    + "\"," + check + ",\"parent\":\"db\"}", AUTH);
                assertEquals(201, r.statusCode(), r.body());
                assertEquals("db", JSON.readTree(r.body()).get("parent").asText(), r.body());
            }
            assertInvalidParent(h.put("/api/v1/monitors/db", "{\"url\":\"" + receiver.url("/db") + "\"," + check
                + ",\"parent\":\"web1\"}", AUTH), "a cycle db -> web1 -> db");

            assertInvalidParent(h.put("/api/v1/services/backup", "{\"timeout\":\"1h\",\"parent\":\"nope\"}", AUTH),
                "a service's unknown parent");
            assertInvalidParent(h.put("/api/v1/services/backup", "{\"timeout\":\"1h\",\"parent\":\"backup\"}", AUTH),
                "a service as its own parent");
            final HttpResponse<String> backup = h.put("/api/v1/services/backup", "{\"timeout\":\"1h\","
                + "\"parent\":\"web2\"}", AUTH);
            assertEquals(200, backup.statusCode(), backup.body());
            assertEquals("web2", JSON.readTree(backup.body()).get("parent").asText(), backup.body());
            assertInvalidParent(h.put("/api/v1/monitors/db", "{\"url\":\"" + receiver.url("/db") + "\"," + check
                + ",\"parent\":\"backup\"}", AUTH), "a cycle db -> backup -> web2 -> db");
            assertEquals("db", JSON.readTree(h.get("/api/v1/monitors/web1", AUTH).body()).get("parent").asText());

            Await.untilNoThrow(WAIT, () -> db.queryLong("SELECT count(*) FROM monitor_transitions WHERE monitor = "
                + "'db' AND to_state = 'DOWN'") == 1 && db.queryLong("SELECT count(*) FROM monitor_transitions "
                + "WHERE monitor LIKE 'web%' AND to_state = 'UP'") == 2, "db DOWN, web1 and web2 UP (quietly)");
            Await.untilNoThrow(WAIT, () -> receiver.received("/hook").size() == 1, "db's DOWN announced");

            receiver.always("/web", FakeReceiver.Reply.status(503, "down too"));
            Await.untilNoThrow(WAIT, () -> db.queryLong("SELECT count(*) FROM notification_held WHERE parent = 'db' "
                + "AND new_state = 'down'") == 2, "web1's and web2's DOWN held");
            assertEquals(2, db.queryLong("SELECT count(*) FROM monitor_transitions WHERE monitor LIKE 'web%' "
                + "AND to_state = 'DOWN'"), "and recorded");
            assertEquals(0, db.queryLong("SELECT count(*) FROM notification_outbox WHERE subject LIKE 'web%'"),
                "not announced to any channel, the log included");
            final JsonNode held = JSON.readTree(h.get("/api/v1/maintenance-held", AUTH).body());
            assertEquals(2, held.size(), held.toString());
            assertEquals("db", held.get(0).get("parent").asText(), held.toString());

            receiver.always("/db", FakeReceiver.Reply.ok());
            Await.untilNoThrow(WAIT, () -> receiver.received("/hook").size() == 4, "db UP, then web1 and web2 DOWN");
            final List<String> texts = new ArrayList<>();
            for (FakeReceiver.Received r : receiver.received("/hook")) {
                texts.add(JSON.readTree(r.body()).get("text").asText());
            }
            assertTrue(texts.get(0).startsWith("Monitor db is down: "), texts.toString()); // its first result
            assertTrue(texts.get(1).startsWith("Monitor db is up (was down): "), texts.toString());
            final List<String> children = texts.subList(2, 4).stream().sorted().toList();
            assertTrue(children.get(0).startsWith("Monitor web1 is down (was up): ")
                && children.get(0).contains("503"), texts.toString());
            assertTrue(children.get(1).startsWith("Monitor web2 is down (was up): ")
                && children.get(1).contains("503"), texts.toString());
            assertEquals(4, db.queryLong("SELECT count(*) FROM notification_outbox WHERE channel_id = 'hook'"),
                "each announced once");
            assertEquals(0, db.queryLong("SELECT count(*) FROM notification_held WHERE released_at IS NULL"));
        }
    }

    @Test
    void theMonitorsFileDeclaresParentsAndWindowsAndAnUnknownParentStopsTheStart(@TempDir Path dir)
        throws Exception {
        final Path file = dir.resolve("monitors.yaml");
        Files.writeString(file, "monitors:\n"
            + "  - {name: api, url: 'http://127.0.0.1:9/', interval: 1h, parent: db}\n"
            + "  - {name: db, url: 'http://127.0.0.1:9/', interval: 1h, tags: {team: db}}\n"
            + "maintenance:\n"
            + "  - {id: nightly, scope: tag, target: team=db, cron: '0 2 * * *', duration: 30m, zone: Europe/Berlin}\n"
            + "channels:\n"
            + "  - {id: dbteam, kind: webhook, url: 'http://127.0.0.1:9/hook/secretpath', routes: [{scope: tag, "
            + "target: team=db}], repeat_interval: 4h}\n");
        try (TestDatabase db = TestDatabase.create("dependencies_file")) {
            try (CollectorHarness h = CollectorHarness.start(db, "--token", "s3cret", "--monitors",
                file.toString())) {
                assertEquals("db", JSON.readTree(h.get("/api/v1/monitors/api", AUTH).body()).get("parent").asText());
                final JsonNode w = JSON.readTree(h.get("/api/v1/maintenance/nightly", AUTH).body());
                assertEquals("0 2 * * *", w.get("cron").asText(), w.toString());
                assertEquals("Europe/Berlin", w.get("zone").asText(), w.toString());
                assertEquals("team=db", w.get("target").asText(), w.toString());
                // The declared channel is stored with its routes; its URL's secret path is masked in the answer.
                final JsonNode ch = JSON.readTree(h.get("/api/v1/channels/dbteam", AUTH).body());
                assertEquals("webhook", ch.get("kind").asText(), ch.toString());
                assertEquals("4h", ch.get("repeat_interval").asText(), ch.toString());
                assertEquals("team=db", ch.get("routes").get(0).get("target").asText(), ch.toString());
                assertFalse(ch.toString().contains("secretpath"), ch.toString());
            }
            Files.writeString(file, "monitors:\n  - {name: api, url: 'http://127.0.0.1:9/', interval: 1h, "
                + "parent: nope}\n");
            final ConfigException e = assertThrows(ConfigException.class, () -> CollectorHarness.start(db,
                "--monitors", file.toString()).close());
            assertEquals("--monitors " + file + ": monitor 'api': parent: no monitor or service 'nope'",
                e.getMessage());
            Files.writeString(file, "monitors:\n  - {name: a, url: 'http://127.0.0.1:9/', interval: 1h, parent: b}\n"
                + "  - {name: b, url: 'http://127.0.0.1:9/', interval: 1h, parent: a}\n");
            final ConfigException cycle = assertThrows(ConfigException.class, () -> CollectorHarness.start(db,
                "--monitors", file.toString()).close());
            assertTrue(cycle.getMessage().startsWith("--monitors " + file + ": monitor 'a': parent: 'b' would make a "
                + "cycle (a -> b -> a)"), cycle.getMessage());
        }
    }
}
