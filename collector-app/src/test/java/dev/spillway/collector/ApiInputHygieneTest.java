package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.spillway.statuspage.CheckSeeder;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.LogCapture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the JSON endpoints take, over real HTTP against a running collector: control characters refused naming
 * the field before anything reaches the database (bodies, ids and status names, path parameters), unknown and
 * duplicate keys refused the same way on every endpoint, JSON required by content type (415), secrets masked in
 * every answer (a webhook's {@code user:password@}, a monitor's {@code Authorization}) and kept across a GET-then-PUT
 * round trip, and user text escaped in the log.
 */
class ApiInputHygieneTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String TOKEN = "hygiene-s3cret";
    private static final String[] AUTH = {"Authorization", "Token " + TOKEN};

    private static TestDatabase db;
    private static CollectorHarness h;

    @BeforeAll
    static void start() throws Exception {
        db = TestDatabase.create("api_hygiene");
        h = CollectorHarness.start(db, "--token", TOKEN);
    }

    @AfterAll
    static void stop() {
        if (h != null) {
            h.close();
        }
        if (db != null) {
            db.close();
        }
    }

    private static HttpResponse<String> send(String method, String path, String body, String... headers)
        throws Exception {
        final HttpRequest.Builder b = HttpRequest.newBuilder(h.uri(path)).headers(AUTH)
            .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (headers.length > 0) {
            b.headers(headers);
        }
        return h.http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static HttpResponse<String> json(String method, String path, String body) throws Exception {
        return send(method, path, body, "Content-Type", "application/json");
    }

    /** Asserts a 400 naming {@code field}; returns the message. */
    private static String invalid(HttpResponse<String> r, String field) throws Exception {
        assertEquals(400, r.statusCode(), r.body());
        final JsonNode b = JSON.readTree(r.body());
        assertEquals("invalid", b.get("code").asText(), r.body());
        assertEquals(field, b.get("field").asText(), r.body());
        return b.get("message").asText();
    }

    @Test
    void controlCharactersAre400NamingTheFieldBeforeTheDatabase() throws Exception {
        final String url = "\"url\":\"http://127.0.0.1:1/\"";
        invalid(json("POST", "/api/v1/monitors", "{\"name\":\"nul-tag\"," + url + ",\"tags\":{\"env\":\"a\\u0000b\"}}"),
            "tags");
        invalid(json("POST", "/api/v1/monitors", "{\"name\":\"nul-kw\"," + url + ",\"keyword\":\"ok\\u0000\"}"),
            "keyword");
        invalid(json("POST", "/api/v1/monitors", "{\"name\":\"nl-kw\"," + url + ",\"keyword\":\"a\\nb\"}"), "keyword");
        invalid(json("POST", "/api/v1/monitors", "{\"name\":\"nul-body\"," + url
            + ",\"method\":\"POST\",\"body\":\"{\\u0000}\"}"), "body");
        invalid(json("POST", "/api/v1/monitors", "{\"name\":\"esc-hdr\"," + url
            + ",\"headers\":{\"X-A\":\"\\u001b[31m\"}}"), "headers");
        final HttpResponse<String> multiLine = json("POST", "/api/v1/monitors", "{\"name\":\"multi-line-body\"," + url
            + ",\"method\":\"POST\",\"body\":\"{\\n  \\\"a\\\": 1\\n}\"}");
        assertEquals(201, multiLine.statusCode(), "a body may span lines: " + multiLine.body());

        invalid(json("PUT", "/api/v1/services/svc", "{\"timeout\":\"30s\",\"statuses\":[\"ok\",\"bad\\nERROR forged\"]}"),
            "statuses");
        invalid(json("PUT", "/api/v1/services/svc", "{\"timeout\":\"30s\",\"statuses\":[\"ok\\u0000\"]}"), "statuses");
        invalid(json("PUT", "/api/v1/channels/hook", "{\"kind\":\"webhook\",\"url\":\"http://h.example/a\\u0000\"}"),
            "url");

        for (String method : List.of("GET", "DELETE")) {
            invalid(send(method, "/api/v1/services/a%00b", null), "id");
            invalid(send(method, "/api/v1/monitors/a%0Ab", null), "name");
            invalid(send(method, "/api/v1/channels/a%0Db", null), "id");
        }
        invalid(send("POST", "/api/v1/services/a%00b/ping", null), "id");
        invalid(send("GET", "/api/v1/services/ok/ping?status=%00", null), "status");
        invalid(send("GET", "/api/v1/page/monitors/a%00b", null), "name");
        assertEquals(0, db.queryLong("SELECT count(*) FROM heartbeat_services WHERE id = 'svc'"),
            "nothing reached the database");
        assertEquals(List.of("multi-line-body"), names("SELECT name FROM monitors WHERE name IN ('nul-tag', 'nul-kw', "
            + "'nl-kw', 'nul-body', 'esc-hdr', 'multi-line-body') ORDER BY name"));
    }

    @Test
    void unknownAndDuplicateKeysAreRefusedAlikeOnEveryJsonEndpoint() throws Exception {
        final String m = invalid(json("PUT", "/api/v1/services/typo", "{\"timeout\":\"30s\",\"graec\":\"5s\"}"), "graec");
        assertTrue(m.contains("unknown field"), m);
        assertTrue(invalid(json("PUT", "/api/v1/channels/typo",
            "{\"kind\":\"webhook\",\"url\":\"http://h.example/x\",\"ulr\":\"x\"}"), "ulr").contains("unknown field"));
        assertTrue(invalid(json("POST", "/api/v1/monitors",
            "{\"name\":\"typo\",\"url\":\"http://127.0.0.1:1/\",\"intervall\":\"5s\"}"), "intervall")
            .contains("unknown field"));

        assertTrue(invalid(json("PUT", "/api/v1/services/dup", "{\"timeout\":\"30s\",\"timeout\":\"1d\"}"), "timeout")
            .contains("duplicate key"));
        invalid(json("PUT", "/api/v1/channels/dup", "{\"kind\":\"webhook\",\"url\":\"http://a.example/\","
            + "\"url\":\"http://b.example/\"}"), "url");
        invalid(json("POST", "/api/v1/monitors", "{\"name\":\"dup\",\"name\":\"dup2\",\"url\":\"http://127.0.0.1:1/\"}"),
            "name");
        invalid(json("PUT", "/api/v1/monitors/dup", "{\"url\":\"http://127.0.0.1:1/\",\"tags\":{\"a\":\"1\",\"a\":\"2\"}}"),
            "tags.a");
        assertEquals(0, db.queryLong("SELECT count(*) FROM heartbeat_services WHERE id IN ('typo', 'dup')"));
        assertEquals(0, db.queryLong("SELECT count(*) FROM notification_channels WHERE id IN ('typo', 'dup')"));
    }

    @Test
    void jsonEndpointsAnswer415ToAnythingButJson() throws Exception {
        for (String[] c : new String[][] {{"PUT", "/api/v1/services/xml"}, {"PUT", "/api/v1/channels/xml"},
            {"POST", "/api/v1/monitors"}, {"PUT", "/api/v1/monitors/xml"}}) {
            for (String type : List.of("application/xml", "text/plain", "application/x-www-form-urlencoded")) {
                final HttpResponse<String> r = send(c[0], c[1], "<service><timeout>30s</timeout></service>",
                    "Content-Type", type);
                assertEquals(415, r.statusCode(), c[1] + " " + type + ": " + r.body());
                final JsonNode b = JSON.readTree(r.body());
                assertEquals("Content-Type", b.get("header").asText());
                assertTrue(b.get("message").asText().contains("application/json"), r.body());
            }
            assertEquals(415, send(c[0], c[1], "{}").statusCode(), "no Content-Type at all: " + c[1]);
        }
        assertEquals(400, json("PUT", "/api/v1/services/xml", "<service/>").statusCode(),
            "XML labelled JSON is a 400 (not JSON)");
    }

    @Test
    void secretsAreMaskedInEveryAnswerAndSurviveARoundTrip() throws Exception {
        final HttpResponse<String> put = json("PUT", "/api/v1/channels/creds",
            "{\"kind\":\"webhook\",\"url\":\"https://alice:pa55word@hooks.example:8443/services/T1/B2/XyZ?sig=abc\"}");
        assertEquals(200, put.statusCode(), put.body());
        for (String body : List.of(put.body(), send("GET", "/api/v1/channels", null).body(),
            send("GET", "/api/v1/channels/creds", null).body())) {
            assertFalse(body.contains("pa55word") || body.contains("alice") || body.contains("sig=abc")
                || body.contains("XyZ"), body);
        }
        assertTrue(put.body().contains("\"https://***@hooks.example:8443/services/***\""), put.body());
        invalid(json("PUT", "/api/v1/channels/bad", "{\"kind\":\"webhook\",\"url\":\"http://u:pa55 word@h/\"}"), "url");
        assertFalse(json("PUT", "/api/v1/channels/bad", "{\"kind\":\"webhook\",\"url\":\"http://u:pa55 word@h/\"}")
            .body().contains("pa55"), "the error does not repeat the URL");

        final HttpResponse<String> created = json("POST", "/api/v1/monitors", "{\"name\":\"secret-headers\","
            + "\"url\":\"http://bob:hunter2@127.0.0.1:1/x\",\"headers\":{\"Authorization\":\"Bearer tok-123\","
            + "\"X-Api-Key\":\"key-456\",\"Accept\":\"text/plain\"},\"interval\":\"1h\"}");
        assertEquals(201, created.statusCode(), created.body());
        final HttpResponse<String> got = send("GET", "/api/v1/monitors/secret-headers", null);
        for (String body : List.of(created.body(), got.body(), send("GET", "/api/v1/monitors", null).body())) {
            assertFalse(body.contains("tok-123") || body.contains("key-456") || body.contains("hunter2"), body);
        }
        final JsonNode view = JSON.readTree(got.body());
        assertEquals("http://bob:***@127.0.0.1:1/x", view.get("url").asText());
        assertEquals("***", view.get("headers").get("Authorization").asText());
        assertEquals("text/plain", view.get("headers").get("Accept").asText(), "only secrets are masked");
        // The GET body sent back with PUT (status ignored) keeps the stored secrets.
        final ObjectNode back = (ObjectNode) view;
        back.put("interval", "2h");
        assertEquals(200, json("PUT", "/api/v1/monitors/secret-headers", back.toString()).statusCode());
        try (Connection c = db.connect(); PreparedStatement ps = c.prepareStatement(
            "SELECT url, headers::text, interval_ms FROM monitors WHERE name = 'secret-headers'");
             ResultSet rs = ps.executeQuery()) {
            assertTrue(rs.next());
            assertEquals("http://bob:hunter2@127.0.0.1:1/x", rs.getString(1));
            assertTrue(rs.getString(2).contains("Bearer tok-123") && rs.getString(2).contains("key-456"), rs.getString(2));
            assertEquals(7_200_000, rs.getLong(3));
        }
    }

    @Test
    void secretsInTheQueryOfMonitorAndChannelUrlsAreMasked() throws Exception {
        final String url = "http://127.0.0.1:1/health?api_key=k-789&page=2&X-Amz-Signature=s1g&Access_Token=at-1"
            + "&code=c0de&sessionToken=st-2&q=visible";
        final HttpResponse<String> created = json("POST", "/api/v1/monitors", "{\"name\":\"secret-query\",\"url\":\""
            + url + "\",\"interval\":\"1h\"}");
        assertEquals(201, created.statusCode(), created.body());
        final HttpResponse<String> got = send("GET", "/api/v1/monitors/secret-query", null);
        for (String body : List.of(created.body(), got.body(), send("GET", "/api/v1/monitors", null).body(),
            send("POST", "/api/v1/monitors/secret-query/pause", null).body())) {
            for (String secret : List.of("k-789", "s1g", "at-1", "c0de", "st-2")) {
                assertFalse(body.contains(secret), secret + " in " + body);
            }
        }
        final ObjectNode view = (ObjectNode) JSON.readTree(got.body());
        assertEquals("http://127.0.0.1:1/health?api_key=***&page=2&X-Amz-Signature=***&Access_Token=***&code=***"
            + "&sessionToken=***&q=visible", view.get("url").asText(), "names kept, other values kept");
        // The GET body sent back with PUT keeps the stored URL.
        view.put("interval", "2h");
        view.remove("status");
        assertEquals(200, json("PUT", "/api/v1/monitors/secret-query", view.toString()).statusCode());
        try (Connection c = db.connect(); PreparedStatement ps = c.prepareStatement(
            "SELECT url FROM monitors WHERE name = 'secret-query'"); ResultSet rs = ps.executeQuery()) {
            assertTrue(rs.next());
            assertEquals(url, rs.getString(1));
        }

        // Channels: the URL is shown without its query at all (and its path after the first segment masked).
        final HttpResponse<String> put = json("PUT", "/api/v1/channels/secret-query",
            "{\"kind\":\"webhook\",\"url\":\"https://hooks.example/hook?token=t0k-1&apikey=ak-2&x=1\"}");
        assertEquals(200, put.statusCode(), put.body());
        for (String body : List.of(put.body(), send("GET", "/api/v1/channels", null).body(),
            send("GET", "/api/v1/channels/secret-query", null).body())) {
            assertFalse(body.contains("t0k-1") || body.contains("ak-2"), body);
        }
        assertTrue(put.body().contains("\"https://hooks.example/hook\""), put.body());
    }

    @Test
    void userTextInTheLogStaysOnOneLine() throws Exception {
        // A status name stored before control characters were refused (or by another tool) still loads, and the
        // log channel's line about it is one line.
        try (Connection c = db.connect()) {
            CheckSeeder.service(c, "legacy", "new", 0, "[\"ok\", \"bad\\nERROR forged line\"]", null, 60_000, 0);
        }
        try (LogCapture log = LogCapture.of("dev.spillway.alerting")) {
            Await.untilNoThrow(Duration.ofSeconds(30), () -> send("GET", "/api/v1/services/legacy/ping?status=1", null)
                .statusCode() == 204, "the seeded service is known");
            Await.until(Duration.ofSeconds(30), () -> log.count("Service legacy") > 0, "the log channel's line");
            for (String line : log.messages()) {
                assertFalse(line.contains("\n"), line);
            }
            assertTrue(log.messages().stream().anyMatch(l -> l.contains("bad\\nERROR forged line")), log.messages()
                .toString());
        }
    }

    private static List<String> names(String sql) throws Exception {
        final List<String> out = new java.util.ArrayList<>();
        try (Connection c = db.connect(); PreparedStatement ps = c.prepareStatement(sql); ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                out.add(rs.getString(1));
            }
        }
        return out;
    }
}
