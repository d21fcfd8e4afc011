package dev.spillway.uptime.monitor;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;

/**
 * The subset of JSONPath an assertion needs to name one value: {@code $} followed by {@code .key},
 * {@code ['key']} and {@code [index]} steps ({@code $.status}, {@code $.checks[0].state},
 * {@code $['build-info'].version}). No wildcards, filters or recursive descent: an assertion compares one value.
 */
final class JsonPath {

    private final List<Object> steps;

    private JsonPath(List<Object> steps) {
        this.steps = steps;
    }

    /**
     * Parses a path.
     *
     * @throws IllegalArgumentException saying where the path is wrong
     */
    static JsonPath parse(String path) {
        if (path == null || !path.startsWith("$")) {
            throw new IllegalArgumentException("must start with '$', e.g. $.status");
        }
        final List<Object> steps = new ArrayList<>();
        int i = 1;
        while (i < path.length()) {
            final char c = path.charAt(i);
            if (c == '.') {
                int j = i + 1;
                while (j < path.length() && path.charAt(j) != '.' && path.charAt(j) != '[') {
                    j++;
                }
                if (j == i + 1) {
                    throw new IllegalArgumentException("empty key at character " + (i + 1) + " of '" + path + "'");
                }
                steps.add(path.substring(i + 1, j));
                i = j;
            } else if (c == '[') {
                final int end = path.indexOf(']', i);
                if (end < 0) {
                    throw new IllegalArgumentException("'[' at character " + (i + 1) + " is not closed");
                }
                final String inner = path.substring(i + 1, end).trim();
                if (inner.length() >= 2 && (inner.startsWith("'") && inner.endsWith("'")
                    || inner.startsWith("\"") && inner.endsWith("\""))) {
                    steps.add(inner.substring(1, inner.length() - 1));
                } else {
                    try {
                        final int index = Integer.parseInt(inner);
                        if (index < 0) {
                            throw new NumberFormatException();
                        }
                        steps.add(index);
                    } catch (NumberFormatException e) {
                        throw new IllegalArgumentException("[" + inner + "] must be an index >= 0 or a quoted key "
                            + "(wildcards and filters are not supported)");
                    }
                }
                i = end + 1;
            } else {
                throw new IllegalArgumentException("unexpected '" + c + "' at character " + (i + 1) + " of '" + path
                    + "' (use .key, ['key'] or [index])");
            }
        }
        return new JsonPath(List.copyOf(steps));
    }

    /** The value at the path, or null when there is none (a missing key, an index past the end, a wrong type). */
    JsonNode select(JsonNode root) {
        JsonNode n = root;
        for (Object s : steps) {
            if (n == null) {
                return null;
            }
            n = s instanceof Integer i ? (n.isArray() ? n.get(i) : null) : (n.isObject() ? n.get((String) s) : null);
        }
        return n;
    }
}
