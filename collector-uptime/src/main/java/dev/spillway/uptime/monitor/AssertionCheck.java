package dev.spillway.uptime.monitor;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.spillway.runtime.api.ApiJson;

import java.util.List;
import java.util.Objects;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * Evaluates a monitor's HTTP assertions against one response; the first that fails is the check's error
 * ({@code assertion: assertions[1] $.status == "ok": was "degraded"}). The body is parsed as JSON once, and only
 * when a {@code json} assertion needs it.
 */
final class AssertionCheck {

    private AssertionCheck() {
    }

    /**
     * @param headers a response header's first value by name (case-insensitive), or null
     * @return why the first failing assertion failed, or null when all hold
     */
    static String failure(List<CheckOptions.Assertion> assertions, int status, Function<String, String> headers,
                          String body) {
        JsonNode json = null;
        for (int i = 0; i < assertions.size(); i++) {
            final CheckOptions.Assertion a = assertions.get(i);
            final String label = "assertion: assertions[" + i + "] " + describe(a) + ": ";
            switch (a.source()) {
                case "status" -> {
                    if (!holds(a.op(), (double) status, a.value())) {
                        return label + "was " + status;
                    }
                }
                case "header" -> {
                    final String v = headers.apply(a.name());
                    if (!holdsText(a.op(), v, a.value())) {
                        return label + (v == null ? "no such header" : "was \"" + clip(v) + "\"");
                    }
                }
                case "body" -> {
                    if (!holdsText(a.op(), body, a.value())) {
                        return label + "not in the body";
                    }
                }
                default -> {
                    if (json == null) {
                        try {
                            json = ApiJson.MAPPER.readTree(body);
                        } catch (JsonProcessingException e) {
                            return label + "the body is not JSON (" + clip(e.getOriginalMessage()) + ")";
                        }
                        if (json == null) {
                            return label + "the body is empty";
                        }
                    }
                    final JsonNode v = JsonPath.parse(a.name()).select(json);
                    if (!holdsJson(a.op(), v, a.value())) {
                        return label + (v == null || v.isMissingNode() ? "no such value" : "was " + clip(v.toString()));
                    }
                }
            }
        }
        return null;
    }

    private static boolean holdsJson(String op, JsonNode v, Object want) {
        if (op.equals("exists")) {
            return v != null && !v.isMissingNode();
        }
        if (v == null || v.isMissingNode()) {
            return op.equals("!=");
        }
        if (op.equals("contains") || op.equals("matches")) {
            return holdsText(op, v.isValueNode() ? v.asText() : v.toString(), want);
        }
        final Object have;
        if (v.isNumber()) {
            have = v.asDouble();
        } else if (v.isBoolean()) {
            have = v.asBoolean();
        } else if (v.isNull()) {
            have = null;
        } else if (v.isTextual()) {
            // "2.5" compared with 3 compares numbers: APIs often send numbers as strings.
            have = want instanceof Double ? number(v.asText()) : v.asText();
        } else {
            have = v.toString();
        }
        if (op.equals("==") || op.equals("!=")) {
            return Objects.equals(have, want) == op.equals("==");
        }
        return have instanceof Double d && holds(op, d, want);
    }

    private static Double number(String s) {
        try {
            return Double.parseDouble(s.trim());
        } catch (NumberFormatException e) {
            return null;
        }
    }

    private static boolean holdsText(String op, String have, Object want) {
        return switch (op) {
            case "exists" -> have != null;
            case "==" -> have != null && have.equals(want);
            case "!=" -> have == null || !have.equals(want);
            case "contains" -> have != null && have.contains((String) want);
            case "matches" -> have != null && Pattern.compile((String) want).matcher(have).find();
            default -> false;
        };
    }

    private static boolean holds(String op, double have, Object want) {
        if (op.equals("in")) {
            return StatusRanges.parse((String) want).matches((int) have);
        }
        final double w = (Double) want;
        return switch (op) {
            case "==" -> have == w;
            case "!=" -> have != w;
            case "<" -> have < w;
            case "<=" -> have <= w;
            case ">" -> have > w;
            case ">=" -> have >= w;
            default -> false;
        };
    }

    private static String describe(CheckOptions.Assertion a) {
        final String subject = switch (a.source()) {
            case "status" -> "status";
            case "header" -> "header " + a.name();
            case "body" -> "body";
            default -> a.name();
        };
        if (a.op().equals("exists")) {
            return subject + " exists";
        }
        final String v = a.value() instanceof String s ? "\"" + s + "\""
            : a.value() instanceof Double d && d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString(d.longValue())
            : String.valueOf(a.value());
        return subject + " " + a.op() + " " + v;
    }

    private static String clip(String s) {
        if (s == null) {
            return "";
        }
        return s.length() <= 100 ? s : s.substring(0, 97) + "...";
    }
}
