package dev.spillway.alerting;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.runtime.api.ApiJson;

import java.io.UncheckedIOException;
import java.util.Map;
import java.util.TreeMap;

/** Helpers over the collector's one JSON codec ({@link ApiJson#MAPPER}) for message bodies and outbox details. */
final class Json {

    static final ObjectMapper MAPPER = ApiJson.MAPPER;
    private static final TypeReference<TreeMap<String, String>> STRING_MAP = new TypeReference<>() {
    };

    private Json() {
    }

    static String write(Object value) {
        try {
            return MAPPER.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Map<String, String> readStringMap(String json) {
        if (json == null || json.isEmpty()) {
            return Map.of();
        }
        try {
            return MAPPER.readValue(json, STRING_MAP);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }
}
