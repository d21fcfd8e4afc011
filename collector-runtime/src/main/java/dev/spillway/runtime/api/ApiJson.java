package dev.spillway.runtime.api;

import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.spillway.runtime.log.LogText;

import java.io.IOException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The one JSON codec of the collector's APIs (Jackson). Handlers take request bodies as trees
 * ({@link ApiRequest#json()}) and validate them field by field, so error messages name the field; responses are
 * maps, records or trees.
 *
 * <p>Every endpoint reads its body the same way: a key given twice is refused (400 naming it, never "last one
 * wins"), and {@link #requireKnownFields} refuses a key the endpoint does not know (400 naming it), so a typo never
 * silently becomes a default.
 */
public final class ApiJson {

    /** The shared, thread-safe mapper. Instants should be written as ISO-8601 strings by the caller. */
    public static final ObjectMapper MAPPER = new ObjectMapper()
        .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
        .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
        .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS);

    private static final Pattern DUPLICATE = Pattern.compile("Duplicate field '(.*)'", Pattern.DOTALL);

    private ApiJson() {
    }

    /** Parses a body; 400 naming the problem when it is not one JSON value, or a key appears twice. */
    public static JsonNode parse(byte[] body) throws ApiException {
        if (body == null || body.length == 0) {
            throw ApiException.badRequest("request body must be a JSON document");
        }
        try {
            return MAPPER.readTree(body);
        } catch (JsonParseException e) {
            final Matcher m = DUPLICATE.matcher(String.valueOf(e.getOriginalMessage()));
            if (m.matches()) {
                final String field = path(e.getProcessor() == null ? null : e.getProcessor().getParsingContext(),
                    m.group(1));
                throw ApiException.invalid(LogText.escape(field), "duplicate key (each key may appear once)");
            }
            throw ApiException.badRequest("body is not valid JSON: " + oneLine(e));
        } catch (IOException e) {
            throw ApiException.badRequest("body is not valid JSON: " + oneLine(e));
        }
    }

    /**
     * Refuses any key of {@code object} that is neither {@code known} nor {@code ignored}: 400 naming the first such
     * key, the same words on every endpoint.
     *
     * @param ignored keys accepted and not used (read-only fields of the endpoint's answer, so a GET body can be sent
     *     back)
     */
    public static void requireKnownFields(JsonNode object, Set<String> known, Set<String> ignored)
        throws ApiException {
        for (Iterator<String> it = object.fieldNames(); it.hasNext(); ) {
            final String f = it.next();
            if (!known.contains(f) && !ignored.contains(f)) {
                throw ApiException.invalid(LogText.escape(f), "unknown field; known fields: "
                    + new TreeSet<>(known));
            }
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

    /** {@code tags.env} for a key {@code env} inside the object {@code tags}. */
    private static String path(JsonStreamContext context, String key) {
        final StringBuilder sb = new StringBuilder(key);
        // The context is the object holding the duplicate; its parents name where that object sits.
        for (JsonStreamContext c = context == null ? null : context.getParent(); c != null && !c.inRoot();
             c = c.getParent()) {
            if (c.inObject() && c.getCurrentName() != null) {
                sb.insert(0, c.getCurrentName() + ".");
            } else if (c.inArray()) {
                sb.insert(0, "[" + c.getCurrentIndex() + "].");
            }
        }
        return sb.toString();
    }

    private static String oneLine(IOException e) {
        final String m = e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
        return m == null ? e.getClass().getSimpleName() : LogText.escape(m);
    }
}
