package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Credentials narrower than {@code --token}, over real HTTP: a read-only token reads everything and changes nothing;
 * a ping key pings its one service (by header or as a ping URL) and nothing else; both are created and revoked by
 * the admin token, shown once, stored only as a hash, and work on another collector on the same database.
 */
class ScopedTokensTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String ADMIN = "scoped-admin-s3cret";

    private static TestDatabase db;
    private static CollectorHarness h;

    @BeforeAll
    static void start() throws Exception {
        db = TestDatabase.create("scoped_tokens");
        h = CollectorHarness.start(db, "--token", ADMIN);
        assertEquals(200, h.put("/api/v1/services/backup", "{\"timeout\":\"1h\"}", auth(ADMIN)).statusCode());
        assertEquals(200, h.put("/api/v1/services/other", "{\"timeout\":\"1h\"}", auth(ADMIN)).statusCode());
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

    private static String[] auth(String token) {
        return new String[] {"Authorization", "Token " + token};
    }

    private static HttpResponse<String> send(String method, String path, String body, String token) throws Exception {
        final HttpRequest.Builder b = HttpRequest.newBuilder(h.uri(path))
            .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            b.header("Content-Type", path.startsWith("/api/v1/") ? "application/json" : "text/plain");
        }
        if (token != null) {
            b.header("Authorization", "Token " + token);
        }
        return h.http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static JsonNode create(String body) throws Exception {
        final HttpResponse<String> r = send("POST", "/api/v1/tokens", body, ADMIN);
        assertEquals(201, r.statusCode(), r.body());
        assertEquals("no-store", r.headers().firstValue("Cache-Control").orElseThrow());
        return JSON.readTree(r.body());
    }

    private static void forbidden(HttpResponse<String> r) throws Exception {
        assertEquals(403, r.statusCode(), r.body());
        assertEquals("forbidden", JSON.readTree(r.body()).get("code").asText());
    }

    @Test
    void aReadOnlyTokenReadsEverythingAndChangesNothing() throws Exception {
        final String read = create("{\"name\":\"grafana\"}").get("token").asText();
        assertTrue(read.startsWith("spw_") && read.length() == 47, read);
        for (String path : List.of("/api/v1/monitors", "/api/v1/services", "/api/v1/services/backup",
            "/api/v1/channels", "/api/v1/notifications", "/api/v1/status", "/api/v1/page/overview", "/metrics", "/ready")) {
            assertEquals(200, send("GET", path, null, read).statusCode(), path);
        }
        forbidden(send("POST", "/api/v2/write", "scoped v=1", read));
        forbidden(send("PUT", "/api/v1/services/backup", "{\"timeout\":\"2h\"}", read));
        forbidden(send("DELETE", "/api/v1/services/backup", null, read));
        forbidden(send("POST", "/api/v1/monitors", "{\"name\":\"r\",\"url\":\"http://127.0.0.1:1/\"}", read));
        forbidden(send("PUT", "/api/v1/channels/c", "{\"kind\":\"webhook\",\"url\":\"http://127.0.0.1:1/\"}", read));
        forbidden(send("POST", "/api/v1/services/backup/ping", null, read));
        forbidden(send("GET", "/api/v1/tokens", null, read));
        forbidden(send("POST", "/api/v1/tokens", "{\"name\":\"escalate\"}", read));
        assertTrue(send("GET", "/api/v1/services/backup", null, read).body().contains("\"timeout\":\"3600s\""),
            "unchanged");
        assertEquals(401, send("GET", "/api/v1/services", null, read + "x").statusCode(), "a wrong token is no token");
    }

    @Test
    void aPingKeyPingsItsServiceAndNothingElse() throws Exception {
        final JsonNode created = create("{\"name\":\"backup-cron\",\"scope\":\"ping\",\"service\":\"backup\"}");
        final String key = created.get("token").asText();
        final String pingUrl = created.get("ping_url").asText();
        assertEquals("/api/v1/services/backup/ping?key=" + key, pingUrl);
        assertEquals(204, send("POST", "/api/v1/services/backup/ping", null, key).statusCode());
        assertEquals(204, send("GET", "/api/v1/services/backup/ping?status=0", null, key).statusCode());
        assertEquals(204, send("GET", pingUrl, null, null).statusCode(), "the ping URL alone is enough");
        forbidden(send("POST", "/api/v1/services/other/ping", null, key));
        assertEquals(401, send("GET", "/api/v1/services/other/ping?key=" + key + "x", null, null).statusCode());
        forbidden(send("GET", "/api/v1/services/backup", null, key));
        forbidden(send("GET", "/api/v1/monitors", null, key));
        forbidden(send("POST", "/api/v2/write", "scoped v=1", key));
        forbidden(send("GET", "/metrics", null, key));
        assertEquals(303, h.get("/", "Authorization", "Token " + key).statusCode(), "not a page credential");

        final HttpResponse<String> unknown = send("POST", "/api/v1/tokens",
            "{\"name\":\"x\",\"scope\":\"ping\",\"service\":\"nobody\"}", ADMIN);
        assertEquals(400, unknown.statusCode());
        assertEquals("service", JSON.readTree(unknown.body()).get("field").asText());
    }

    @Test
    void tokensAreShownOnceStoredHashedRevocableAndSharedThroughTheDatabase() throws Exception {
        final JsonNode created = create("{\"name\":\"dashboard\",\"scope\":\"read\"}");
        final String token = created.get("token").asText();
        final long id = created.get("id").asLong();
        final String list = send("GET", "/api/v1/tokens", null, ADMIN).body();
        assertTrue(list.contains("\"name\":\"dashboard\"") && !list.contains(token) && !list.contains("\"token\""),
            list);
        assertEquals(0, db.queryLong("SELECT count(*) FROM api_tokens WHERE hash LIKE '%" + token + "%' OR name = '"
            + token + "'"), "the secret itself is not stored");
        assertEquals(1, db.queryLong("SELECT count(*) FROM api_tokens WHERE id = " + id + " AND length(hash) = 64"));

        try (CollectorHarness second = CollectorHarness.start(db, "--token", ADMIN)) {
            assertEquals(200, second.get("/api/v1/services", "Authorization", "Token " + token).statusCode(),
                "another collector on the database knows it");
            assertEquals(204, send("DELETE", "/api/v1/tokens/" + id, null, ADMIN).statusCode());
            assertEquals(401, send("GET", "/api/v1/services", null, token).statusCode(), "revoked here at once");
            Await.untilNoThrow(Duration.ofSeconds(30), () -> second.get("/api/v1/services", "Authorization", "Token " + token)
                .statusCode() == 401, "and there within its reload interval");
        }
        assertEquals(404, send("DELETE", "/api/v1/tokens/" + id, null, ADMIN).statusCode());

        final String key = create("{\"name\":\"k\",\"scope\":\"ping\",\"service\":\"other\"}").get("token").asText();
        assertEquals(204, send("POST", "/api/v1/services/other/ping", null, key).statusCode());
        assertEquals(204, send("DELETE", "/api/v1/services/other", null, ADMIN).statusCode());
        assertEquals(200, send("PUT", "/api/v1/services/other", "{\"timeout\":\"1h\"}", ADMIN).statusCode());
        assertEquals(401, send("POST", "/api/v1/services/other/ping", null, key).statusCode(),
            "deleting a service revokes its keys");

        for (String bad : List.of("{\"name\":\"x\",\"scope\":\"admin\"}", "{\"name\":\"bad name\"}",
            "{\"name\":\"x\",\"service\":\"backup\"}", "{\"name\":\"x\",\"nmae\":\"y\"}", "{\"name\":\"x\",\"name\":\"y\"}")) {
            assertEquals(400, send("POST", "/api/v1/tokens", bad, ADMIN).statusCode(), bad);
        }
        assertFalse(send("GET", "/api/v1/tokens", null, ADMIN).body().contains("spw_"), "no secret in any list");
    }
}
