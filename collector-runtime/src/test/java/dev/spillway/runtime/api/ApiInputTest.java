package dev.spillway.runtime.api;

import com.fasterxml.jackson.databind.JsonNode;
import dev.spillway.runtime.log.LogText;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What every JSON endpoint gets from the router and the codec: duplicate and unknown keys refused naming them, a
 * JSON content type required (415), control characters in path and query parameters refused (400 naming the
 * parameter) before a handler runs, and an unreachable database answered 503 with {@code Retry-After}, never 500.
 */
class ApiInputTest {

    private final ApiRouter router = new ApiRouter(1 << 20, 2, 16);

    @AfterEach
    void close() {
        router.close();
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static JsonNode body(ApiResponse r) throws Exception {
        return ApiJson.MAPPER.readTree(r.body());
    }

    @Test
    void duplicateKeysAreRefusedNamingTheKeyAtAnyDepth() {
        final ApiException top = assertThrows(ApiException.class,
            () -> ApiJson.parse(utf8("{\"timeout\":\"5s\",\"timeout\":\"9s\"}")));
        assertEquals(400, top.status());
        assertEquals("timeout", top.extra().get("field"));
        assertTrue(top.getMessage().contains("duplicate key"), top.getMessage());
        final ApiException nested = assertThrows(ApiException.class,
            () -> ApiJson.parse(utf8("{\"tags\":{\"env\":\"a\",\"env\":\"b\"}}")));
        assertEquals("tags.env", nested.extra().get("field"));
    }

    @Test
    void unknownFieldsAreRefusedNamingTheField() throws Exception {
        final JsonNode n = ApiJson.parse(utf8("{\"timeout\":\"5s\",\"graec\":\"5s\"}"));
        final ApiException e = assertThrows(ApiException.class,
            () -> ApiJson.requireKnownFields(n, Set.of("timeout", "grace"), Set.of("state")));
        assertEquals("graec", e.extra().get("field"));
        assertTrue(e.getMessage().startsWith("graec: unknown field; known fields: [grace, timeout]"), e.getMessage());
        ApiJson.requireKnownFields(ApiJson.parse(utf8("{\"timeout\":\"5s\",\"state\":\"up\"}")),
            Set.of("timeout", "grace"), Set.of("state"));
    }

    @Test
    void jsonBodiesNeedAJsonContentType() throws Exception {
        final ApiRequest xml = new ApiRequest("PUT", "/x", Map.of(), Map.of(), Map.of("content-type", "application/xml"),
            utf8("<a/>"), true);
        final ApiException e = assertThrows(ApiException.class, xml::json);
        assertEquals(415, e.status());
        assertEquals("Content-Type", e.extra().get("header"));
        assertTrue(e.getMessage().contains("application/json"), e.getMessage());
        assertEquals(415, assertThrows(ApiException.class, () -> new ApiRequest("PUT", "/x", Map.of(), Map.of(),
            Map.of(), utf8("{}"), true).json()).status(), "no Content-Type at all");
        for (String ok : List.of("application/json", "Application/JSON; charset=utf-8", "application/merge-patch+json")) {
            assertTrue(new ApiRequest("PUT", "/x", Map.of(), Map.of(), Map.of("content-type", ok), utf8("{}"), true)
                .json().isObject(), ok);
        }
        assertFalse(ApiRequest.isJsonType("text/plain"));
        assertFalse(ApiRequest.isJsonType("application/x-www-form-urlencoded"));
    }

    @Test
    void controlCharactersInPathAndQueryParametersAre400NamingThem() throws Exception {
        router.route("GET", "/api/v1/services/{id}", req -> ApiResponse.ok(Map.of("id", req.param("id"))));
        final ApiResponse nul = router.dispatch("GET", "/api/v1/services/a\0b", Map.of(), Map.of(), new byte[0], true)
            .get();
        assertEquals(400, nul.status());
        assertEquals("id", body(nul).get("field").asText());
        final ApiResponse query = router.dispatch("GET", "/api/v1/services/a", Map.of("status", List.of("x\ny")),
            Map.of(), new byte[0], true).get();
        assertEquals(400, query.status());
        assertEquals("status", body(query).get("field").asText());
        assertEquals(200, router.dispatch("GET", "/api/v1/services/a", Map.of(), Map.of(), new byte[0], true).get()
            .status());
        final ApiResponse unknown = router.dispatch("GET", "/api/v1/x\r\nERROR forged", Map.of(), Map.of(),
            new byte[0], true).get();
        assertEquals(404, unknown.status());
        assertFalse(body(unknown).get("message").asText().contains("\n"), "the path is escaped in the message");
    }

    @Test
    void anUnreachableDatabaseIs503WithRetryAfterAndABugIs500WithoutDetails() throws Exception {
        router.route("GET", "/api/v1/down", req -> {
            throw new SQLTransientConnectionException("pool timed out after 5000ms");
        });
        router.route("GET", "/api/v1/refused", req -> {
            throw new IllegalStateException("wrapped", new SQLException("Connection to localhost:5 refused", "08001"));
        });
        router.route("GET", "/api/v1/bug", req -> {
            throw new SQLException("ERROR: relation \"secret_table\" does not exist", "42P01");
        });
        for (String path : List.of("/api/v1/down", "/api/v1/refused")) {
            final ApiResponse r = router.dispatch("GET", path, Map.of(), Map.of(), new byte[0], true).get();
            assertEquals(503, r.status(), path);
            assertEquals("1", r.headers().get("Retry-After"), path);
            assertEquals("unavailable", body(r).get("code").asText());
        }
        final ApiResponse bug = router.dispatch("GET", "/api/v1/bug", Map.of(), Map.of(), new byte[0], true).get();
        assertEquals(500, bug.status());
        assertFalse(new String(bug.body(), StandardCharsets.UTF_8).contains("secret_table"),
            "no database message in the answer");
    }

    @Test
    void logTextKeepsOneCallOnOneLine() {
        assertEquals("ok\\nERROR forged \\u0000 \\\\n", LogText.escape("ok\nERROR forged \0 \\n"));
        assertEquals("plain", LogText.escape("plain"));
        assertEquals("\\u2028", LogText.escape("\u2028"));
    }
}
