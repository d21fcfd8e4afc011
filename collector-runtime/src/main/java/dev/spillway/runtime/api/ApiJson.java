package dev.spillway.runtime.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The one JSON codec of the collector's APIs (Jackson). Handlers take request bodies as trees
 * ({@link ApiRequest#json()}) and validate them field by field, so error messages name the field; responses are
 * maps, records or trees.
 */
public final class ApiJson {

    /** The shared, thread-safe mapper. Instants should be written as ISO-8601 strings by the caller. */
    public static final ObjectMapper MAPPER = new ObjectMapper()
        .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
        .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS);

    private ApiJson() {
    }

    /** Parses a body; 400 naming the problem when it is not one JSON value. */
    public static JsonNode parse(byte[] body) throws ApiException {
        if (body == null || body.length == 0) {
            throw ApiException.badRequest("request body must be a JSON document");
        }
        try {
            return MAPPER.readTree(body);
        } catch (IOException e) {
            throw ApiException.badRequest("body is not valid JSON: " + oneLine(e));
        }
    }

    /** Encodes a value. */
    public static byte[] write(Object value) {
        try {
            return MAPPER.writeValueAsBytes(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot encode response: " + e.getMessage(), e);
        }
    }

    /** An empty object node. */
    public static ObjectNode object() {
        return MAPPER.createObjectNode();
    }

    /** The error body {@code {"code","message",...extra}}. */
    public static byte[] error(String code, String message, Map<String, Object> extra) {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("code", code);
        m.put("message", message);
        m.putAll(extra);
        return write(m);
    }

    private static String oneLine(IOException e) {
        final String m = e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
        return m == null ? e.getClass().getSimpleName() : m.replace('\n', ' ');
    }
}
