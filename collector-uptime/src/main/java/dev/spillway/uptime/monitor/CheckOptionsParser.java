package dev.spillway.uptime.monitor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.spillway.runtime.api.ApiException;
import dev.spillway.runtime.api.ApiText;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The type-specific fields of a monitor, each an object named after its type, allowed only with that type:
 * <pre>
 * tcp:  {send, expect}                         url tcp://host:port
 * dns:  {query_name, record_type, expected}    url dns://resolver[:port]
 * tls:  {min_days, server_name}                url tls://host:port
 * icmp: {count, max_loss_percent}              url icmp://host
 * assertions: [{source, name|path, op, value}] url http(s)://...
 * </pre>
 * Every error names the field, e.g. {@code dns.record_type} or {@code assertions[1].op}.
 */
final class CheckOptionsParser {

    /** The top-level fields this class reads. */
    static final Set<String> FIELDS = Set.of("type", "tcp", "dns", "tls", "icmp", "assertions");

    private static final Set<String> RECORD_TYPES = Set.of("A", "AAAA", "CNAME", "MX", "NS", "TXT", "SOA");
    private static final Set<String> SOURCES = Set.of("status", "header", "body", "json");
    private static final Set<String> COMPARE = Set.of("==", "!=", "<", "<=", ">", ">=");
    private static final int MAX_TEXT = 1024;
    private static final int MAX_ASSERTIONS = 32;
    private static final Pattern HOST_NAME = Pattern.compile("[A-Za-z0-9_.-]{1,253}");

    private CheckOptionsParser() {
    }

    static CheckOptions parse(JsonNode node, CheckType type) throws ApiException {
        final JsonNode declared = node.get("type");
        if (declared != null && !declared.isNull()) {
            if (!declared.isTextual() || CheckType.ofScheme(declared.asText()) != type
                || declared.asText().equalsIgnoreCase("https")) {
                throw ApiException.invalid("type", "must be '" + type.apiName() + "' for this url (the url's scheme "
                    + "names the type: http(s)://, tcp://, dns://, tls://, icmp://), was '" + declared.asText() + "'");
            }
        }
        for (CheckType t : CheckType.values()) {
            final String f = t == CheckType.HTTP ? "assertions" : t.apiName();
            final JsonNode n = node.get(f);
            if (t != type && n != null && !n.isNull()) {
                throw ApiException.invalid(f, "only applies to " + t.apiName() + " monitors (url "
                    + (t == CheckType.HTTP ? "http(s)" : t.apiName()) + "://...); this one is " + type.apiName());
            }
        }
        final CheckOptions d = CheckOptions.of(type);
        return switch (type) {
            case HTTP -> new CheckOptions(type, null, null, null, d.dnsRecordType(), List.of(), d.tlsMinDays(), null,
                d.icmpCount(), d.icmpMaxLossPercent(), assertions(node.get("assertions")));
            case TCP -> {
                final JsonNode o = object(node, "tcp", Set.of("send", "expect"));
                final String send = text(o, "tcp", "send", false, true);
                final String expect = text(o, "tcp", "expect", false, true);
                yield new CheckOptions(type, send, expect, null, d.dnsRecordType(), List.of(), d.tlsMinDays(), null,
                    d.icmpCount(), d.icmpMaxLossPercent(), List.of());
            }
            case DNS -> {
                final JsonNode o = object(node, "dns", Set.of("query_name", "record_type", "expected"));
                final String name = text(o, "dns", "query_name", true, false);
                if (!HOST_NAME.matcher(name).matches()) {
                    throw ApiException.invalid("dns.query_name", "must be a domain name, was '" + name + "'");
                }
                final String rt = text(o, "dns", "record_type", false, false);
                final String recordType = rt == null ? "A" : rt.toUpperCase(Locale.ROOT);
                if (!RECORD_TYPES.contains(recordType)) {
                    throw ApiException.invalid("dns.record_type", "must be one of " + new java.util.TreeSet<>(
                        RECORD_TYPES) + ", was '" + rt + "'");
                }
                yield new CheckOptions(type, null, null, name, recordType, strings(o, "dns", "expected"),
                    d.tlsMinDays(), null, d.icmpCount(), d.icmpMaxLossPercent(), List.of());
            }
            case TLS -> {
                final JsonNode o = object(node, "tls", Set.of("min_days", "server_name"));
                final int days = integer(o, "tls", "min_days", CheckOptions.DEFAULT_TLS_MIN_DAYS, 0, 3650);
                final String sni = text(o, "tls", "server_name", false, false);
                if (sni != null && !HOST_NAME.matcher(sni).matches()) {
                    throw ApiException.invalid("tls.server_name", "must be a host name, was '" + sni + "'");
                }
                yield new CheckOptions(type, null, null, null, d.dnsRecordType(), List.of(), days, sni,
                    d.icmpCount(), d.icmpMaxLossPercent(), List.of());
            }
            case ICMP -> {
                final JsonNode o = object(node, "icmp", Set.of("count", "max_loss_percent"));
                yield new CheckOptions(type, null, null, null, d.dnsRecordType(), List.of(), d.tlsMinDays(), null,
                    integer(o, "icmp", "count", CheckOptions.DEFAULT_ICMP_COUNT, 1, 10),
                    integer(o, "icmp", "max_loss_percent", 100, 0, 100), List.of());
            }
        };
    }

    /** Writes the type and the type's options (only what differs from the defaults) into a monitor's JSON. */
    static void write(ObjectNode o, CheckOptions c) {
        o.put("type", c.type().apiName());
        switch (c.type()) {
            case HTTP -> {
                if (!c.assertions().isEmpty()) {
                    final ArrayNode a = o.putArray("assertions");
                    for (CheckOptions.Assertion x : c.assertions()) {
                        final ObjectNode e = a.addObject();
                        e.put("source", x.source());
                        if (x.name() != null) {
                            e.put(x.source().equals("json") ? "path" : "name", x.name());
                        }
                        e.put("op", x.op());
                        if (x.value() instanceof Double v) {
                            e.put("value", v);
                        } else if (x.value() instanceof Boolean v) {
                            e.put("value", v);
                        } else if (x.value() != null) {
                            e.put("value", x.value().toString());
                        } else if (!x.op().equals("exists")) {
                            e.putNull("value");
                        }
                    }
                }
            }
            case TCP -> {
                if (c.tcpSend() != null || c.tcpExpect() != null) {
                    final ObjectNode t = o.putObject("tcp");
                    if (c.tcpSend() != null) {
                        t.put("send", c.tcpSend());
                    }
                    if (c.tcpExpect() != null) {
                        t.put("expect", c.tcpExpect());
                    }
                }
            }
            case DNS -> {
                final ObjectNode t = o.putObject("dns");
                t.put("query_name", c.dnsQueryName());
                t.put("record_type", c.dnsRecordType());
                final ArrayNode e = t.putArray("expected");
                c.dnsExpected().forEach(e::add);
            }
            case TLS -> {
                final ObjectNode t = o.putObject("tls");
                t.put("min_days", c.tlsMinDays());
                if (c.tlsServerName() != null) {
                    t.put("server_name", c.tlsServerName());
                }
            }
            case ICMP -> {
                final ObjectNode t = o.putObject("icmp");
                t.put("count", c.icmpCount());
                t.put("max_loss_percent", c.icmpMaxLossPercent());
            }
        }
    }

    private static List<CheckOptions.Assertion> assertions(JsonNode n) throws ApiException {
        if (n == null || n.isNull()) {
            return List.of();
        }
        if (!n.isArray()) {
            throw ApiException.invalid("assertions", "must be an array of {source, op, value} objects");
        }
        if (n.size() > MAX_ASSERTIONS) {
            throw ApiException.invalid("assertions", "at most " + MAX_ASSERTIONS + " assertions");
        }
        final List<CheckOptions.Assertion> out = new ArrayList<>();
        for (int i = 0; i < n.size(); i++) {
            out.add(assertion(n.get(i), "assertions[" + i + "]"));
        }
        return List.copyOf(out);
    }

    private static CheckOptions.Assertion assertion(JsonNode n, String at) throws ApiException {
        if (!n.isObject()) {
            throw ApiException.invalid(at, "must be an object such as {\"source\": \"json\", \"path\": \"$.status\", "
                + "\"op\": \"==\", \"value\": \"ok\"}");
        }
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
            final String f = it.next();
            if (!Set.of("source", "name", "path", "op", "value").contains(f)) {
                throw ApiException.invalid(at + "." + f, "unknown field; known: source, name, path, op, value");
            }
        }
        final String source = text(n, at, "source", true, false);
        if (!SOURCES.contains(source)) {
            throw ApiException.invalid(at + ".source", "must be one of status, header, body, json, was '" + source
                + "'");
        }
        final String op = text(n, at, "op", true, false);
        final JsonNode v = n.get("value");
        final Set<String> ops = switch (source) {
            case "status" -> Set.of("==", "!=", "<", "<=", ">", ">=", "in");
            case "header" -> Set.of("==", "!=", "contains", "matches", "exists");
            case "body" -> Set.of("contains", "matches");
            default -> Set.of("==", "!=", "<", "<=", ">", ">=", "contains", "matches", "exists");
        };
        if (!ops.contains(op)) {
            throw ApiException.invalid(at + ".op", "for source '" + source + "' must be one of "
                + new java.util.TreeSet<>(ops) + ", was '" + op + "'");
        }
        String name = null;
        if (source.equals("header")) {
            name = text(n, at, "name", true, false);
        } else if (n.has("name")) {
            throw ApiException.invalid(at + ".name", "only applies to source 'header'");
        }
        if (source.equals("json")) {
            name = text(n, at, "path", true, false);
            try {
                JsonPath.parse(name);
            } catch (IllegalArgumentException e) {
                throw ApiException.invalid(at + ".path", e.getMessage());
            }
        } else if (n.has("path")) {
            throw ApiException.invalid(at + ".path", "only applies to source 'json'");
        }
        final Object value;
        if (op.equals("exists")) {
            if (v != null) {
                throw ApiException.invalid(at + ".value", "is not used with op 'exists'");
            }
            value = null;
        } else if (v == null) {
            throw ApiException.invalid(at + ".value", "is required with op '" + op + "'");
        } else if (op.equals("in")) {
            if (!v.isTextual() && !v.isInt()) {
                throw ApiException.invalid(at + ".value", "must be status ranges such as \"200-299,304\"");
            }
            try {
                value = StatusRanges.parse(v.asText()).toString();
            } catch (IllegalArgumentException e) {
                throw ApiException.invalid(at + ".value", e.getMessage());
            }
        } else if (COMPARE.contains(op) && !op.equals("==") && !op.equals("!=") || source.equals("status")) {
            if (!v.isNumber()) {
                throw ApiException.invalid(at + ".value", "must be a number with op '" + op + "'");
            }
            value = v.asDouble();
        } else if (op.equals("contains") || op.equals("matches")) {
            if (!v.isTextual() || v.asText().isEmpty() || v.asText().length() > MAX_TEXT) {
                throw ApiException.invalid(at + ".value", "must be a string of 1.." + MAX_TEXT + " characters");
            }
            if (op.equals("matches")) {
                try {
                    Pattern.compile(v.asText());
                } catch (PatternSyntaxException e) {
                    throw ApiException.invalid(at + ".value", "is not a valid regular expression: "
                        + e.getDescription());
                }
            }
            value = v.asText();
        } else if (v.isNumber()) {
            value = v.asDouble();
        } else if (v.isBoolean()) {
            value = v.asBoolean();
        } else if (v.isNull()) {
            value = null;
        } else if (v.isTextual()) {
            if (v.asText().length() > MAX_TEXT) {
                throw ApiException.invalid(at + ".value", "must be at most " + MAX_TEXT + " characters");
            }
            value = v.asText();
        } else {
            throw ApiException.invalid(at + ".value", "must be a string, number, boolean or null");
        }
        return new CheckOptions.Assertion(source, name, op, value);
    }

    private static JsonNode object(JsonNode node, String field, Set<String> known) throws ApiException {
        final JsonNode o = node.get(field);
        if (o == null || o.isNull()) {
            return com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
        }
        if (!o.isObject()) {
            throw ApiException.invalid(field, "must be an object with " + new java.util.TreeSet<>(known));
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = o.fields(); it.hasNext(); ) {
            final String f = it.next().getKey();
            if (!known.contains(f)) {
                throw ApiException.invalid(field + "." + f, "unknown field; known: " + new java.util.TreeSet<>(known));
            }
        }
        return o;
    }

    private static String text(JsonNode o, String prefix, String field, boolean required, boolean lineBreaks)
        throws ApiException {
        final JsonNode n = o.get(field);
        final String at = prefix + "." + field;
        if (n == null || n.isNull()) {
            if (required) {
                throw ApiException.invalid(at, "is required");
            }
            return null;
        }
        if (!n.isTextual() || n.asText().isEmpty() || n.asText().length() > MAX_TEXT) {
            throw ApiException.invalid(at, "must be a string of 1.." + MAX_TEXT + " characters");
        }
        if (lineBreaks) {
            ApiText.requireNoControlExceptLineBreaks(at, n.asText());
        } else {
            ApiText.requireNoControl(at, n.asText());
        }
        return n.asText();
    }

    private static List<String> strings(JsonNode o, String prefix, String field) throws ApiException {
        final JsonNode n = o.get(field);
        final String at = prefix + "." + field;
        if (n == null || n.isNull()) {
            return List.of();
        }
        if (!n.isArray() || n.size() > 32) {
            throw ApiException.invalid(at, "must be an array of at most 32 strings");
        }
        final List<String> out = new ArrayList<>();
        for (JsonNode e : n) {
            if (!e.isTextual() || e.asText().isEmpty() || e.asText().length() > MAX_TEXT) {
                throw ApiException.invalid(at, "items must be strings of 1.." + MAX_TEXT + " characters");
            }
            ApiText.requireNoControl(at, e.asText());
            out.add(e.asText());
        }
        return List.copyOf(out);
    }

    private static int integer(JsonNode o, String prefix, String field, int dflt, int min, int max)
        throws ApiException {
        final JsonNode n = o.get(field);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (!n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() < min || n.asInt() > max) {
            throw ApiException.invalid(prefix + "." + field, "must be an integer in " + min + ".." + max);
        }
        return n.asInt();
    }
}
