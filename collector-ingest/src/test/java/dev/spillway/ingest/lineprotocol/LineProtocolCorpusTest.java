package dev.spillway.ingest.lineprotocol;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.TreeSet;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Runs every decode case of the influxdata line-protocol conformance corpus through
 * {@link LineProtocolParser}. A case expecting an error passes if at least one line is rejected; a case
 * expecting a result passes if no line is rejected and the points match exactly (name, sorted tags, typed
 * field values, time). Known deviations are listed in {@code known-corpus-deviations.txt}; the list may
 * only shrink: a listed case that starts passing fails the test too.
 */
class LineProtocolCorpusTest {

    private static final String CORPUS_PROPERTY = "SPILLWAY_LP_CORPUS";
    private static final Path RELATIVE_CORPUS = Paths.get("shared", "conformance", "line-protocol-corpus", "corpus.json");

    @Test
    void decodeCasesMatchTheCorpus() throws IOException {
        Path corpus = locateCorpus();
        Assumptions.assumeTrue(corpus != null, "line-protocol corpus not found: set -D" + CORPUS_PROPERTY
                + " or env " + CORPUS_PROPERTY + " to corpus.json, or place it at ../" + RELATIVE_CORPUS
                + " relative to the repository root; skipping the conformance test");
        JsonNode decode = new ObjectMapper().readTree(corpus.toFile()).path("decode");
        assertTrue(decode.size() > 0, "no decode cases in " + corpus);
        Map<String, String> knownDeviations = readKnownDeviations();

        LineProtocolParser parser = new LineProtocolParser();
        int total = 0;
        int passed = 0;
        int accept = 0;
        int reject = 0;
        Map<String, String> unexpectedFailures = new TreeMap<>();
        TreeSet<String> fixedDeviations = new TreeSet<>();
        for (Map.Entry<String, JsonNode> entry : decode.properties()) {
            String key = entry.getKey();
            String failure = runCase(parser, entry.getValue());
            total++;
            boolean expectsError = entry.getValue().path("output").has("error");
            if (failure == null) {
                passed++;
                if (expectsError) {
                    reject++;
                } else {
                    accept++;
                }
                if (knownDeviations.containsKey(key)) {
                    fixedDeviations.add(key);
                }
            } else if (!knownDeviations.containsKey(key)) {
                unexpectedFailures.put(key, failure);
            }
        }
        System.out.printf("line-protocol corpus: %d/%d decode cases pass (%d accept, %d reject)%n",
                passed, total, accept, reject);

        StringBuilder problems = new StringBuilder();
        unexpectedFailures.forEach((k, why) -> problems.append("FAIL ").append(k).append(": ").append(why).append('\n'));
        fixedDeviations.forEach(k -> problems.append("NOW PASSING, remove from known-corpus-deviations.txt: ")
                .append(k).append('\n'));
        if (problems.length() > 0) {
            fail(unexpectedFailures.size() + " unexpected failures, " + fixedDeviations.size()
                    + " fixed deviations:\n" + problems);
        }
    }

    /** @return null if the case passes, else why not */
    private static String runCase(LineProtocolParser parser, JsonNode testCase) {
        JsonNode input = testCase.path("input");
        JsonNode output = testCase.path("output");
        JsonNode textNode = input.path("text");
        byte[] text = textNode.isObject()
                ? Base64.getDecoder().decode(textNode.path("binary").asText())
                : textNode.asText().getBytes(StandardCharsets.UTF_8);
        Precision precision = corpusPrecision(input.path("precision").asText());
        long defaultTime = input.path("defaultTime").asLong();

        Recorder recorder = new Recorder();
        parser.parse(text, 0, text.length, precision, defaultTime, recorder);
        String shownText = textNode.toString();
        if (output.has("error")) {
            return recorder.errors.isEmpty()
                    ? "expected an error (" + output.path("error").asText() + ") but accepted " + shownText
                            + " as " + recorder.points
                    : null;
        }
        if (!recorder.errors.isEmpty()) {
            return "expected success but rejected " + shownText + ": " + recorder.errors;
        }
        List<String> expected = new ArrayList<>();
        for (JsonNode p : output.path("result")) {
            expected.add(describeExpected(p));
        }
        return expected.equals(recorder.points)
                ? null
                : "input " + shownText + "\n  expected " + expected + "\n  actual   " + recorder.points;
    }

    private static Precision corpusPrecision(String p) {
        switch (p) {
            case "1ns":
                return Precision.NANOSECONDS;
            case "1\u00b5s":
                return Precision.MICROSECONDS;
            case "1ms":
                return Precision.MILLISECONDS;
            case "1s":
                return Precision.SECONDS;
            case "1m":
                return Precision.MINUTES;
            case "1h":
                return Precision.HOURS;
            default:
                throw new IllegalArgumentException("unknown corpus precision " + p);
        }
    }

    // Both sides are rendered to the same canonical text so a mismatch reads naturally in the report.

    private static String describeExpected(JsonNode p) {
        StringBuilder sb = new StringBuilder("name=").append(quote(stringOrBinary(p.path("name"))));
        for (JsonNode t : p.path("tags")) {
            sb.append(" tag ").append(quote(stringOrBinary(t.path("key")))).append('=')
                    .append(quote(stringOrBinary(t.path("value"))));
        }
        for (JsonNode f : p.path("fields")) {
            sb.append(" field ").append(quote(stringOrBinary(f.path("key")))).append('=');
            JsonNode v = f.path("value");
            if (v.has("float")) {
                sb.append("float:").append(canonicalDouble(v.path("float").asDouble()));
            } else if (v.has("int")) {
                sb.append("int:").append(v.path("int").bigIntegerValue());
            } else if (v.has("uint")) {
                sb.append("uint:").append(v.path("uint").bigIntegerValue());
            } else if (v.has("bool")) {
                sb.append("bool:").append(v.path("bool").asBoolean());
            } else if (v.has("string")) {
                sb.append("string:").append(quote(v.path("string").asText()));
            } else if (v.has("binary")) {
                sb.append("string:").append(quote(new String(Base64.getDecoder().decode(v.path("binary").asText()),
                        StandardCharsets.UTF_8)));
            } else {
                sb.append("unsupported:").append(v);
            }
        }
        return sb.append(" time=").append(p.path("time").bigIntegerValue()).toString();
    }

    private static String describeActual(ParsedPoint p) {
        StringBuilder sb = new StringBuilder("name=").append(quote(p.measurement()));
        for (int i = 0; i < p.tagCount(); i++) {
            sb.append(" tag ").append(quote(p.tagKey(i))).append('=').append(quote(p.tagValue(i)));
        }
        for (int i = 0; i < p.fieldCount(); i++) {
            sb.append(" field ").append(quote(p.fieldKey(i))).append('=');
            switch (p.fieldType(i)) {
                case FLOAT:
                    sb.append("float:").append(canonicalDouble(p.fieldValue(i)));
                    break;
                case INTEGER:
                    sb.append("int:").append(BigInteger.valueOf(p.fieldLong(i)));
                    break;
                case UNSIGNED:
                    sb.append("uint:").append(new BigInteger(Long.toUnsignedString(p.fieldLong(i))));
                    break;
                case BOOLEAN:
                    sb.append("bool:").append(p.fieldBoolean(i));
                    break;
                case STRING:
                    sb.append("string:").append(quote(p.fieldString(i)));
                    break;
                default:
                    throw new AssertionError(p.fieldType(i));
            }
        }
        return sb.append(" time=").append(p.timestampNanos()).toString();
    }

    private static String canonicalDouble(double d) {
        // JSON cannot tell 0 from -0; everything else must match to the bit.
        return d == 0 ? "0" : Double.toString(d);
    }

    private static String stringOrBinary(JsonNode n) {
        return n.isObject()
                ? new String(Base64.getDecoder().decode(n.path("binary").asText()), StandardCharsets.UTF_8)
                : n.asText();
    }

    private static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
                sb.append(String.format("\\u%04x", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.append('"').toString();
    }

    private static final class Recorder implements LineHandler {
        final List<String> points = new ArrayList<>();
        final List<String> errors = new ArrayList<>();

        @Override
        public void onPoint(ParsedPoint point) {
            points.add(describeActual(point));
        }

        @Override
        public void onError(int lineNumber, String message) {
            errors.add(lineNumber + ": " + message);
        }
    }

    private static Path locateCorpus() {
        String override = System.getProperty(CORPUS_PROPERTY, System.getenv(CORPUS_PROPERTY));
        if (override != null && !override.isBlank()) {
            Path p = Paths.get(override);
            if (!Files.isRegularFile(p)) {
                fail(CORPUS_PROPERTY + " points to " + p.toAbsolutePath() + ", which is not a file");
            }
            return p;
        }
        // The vendored copy in the test resources (corpus/README.md), so the test runs on a fresh clone.
        java.net.URL vendored = LineProtocolCorpusTest.class.getResource("corpus/corpus.json");
        if (vendored != null && "file".equals(vendored.getProtocol())) {
            try {
                return Paths.get(vendored.toURI());
            } catch (java.net.URISyntaxException e) {
                fail("bad resource URL " + vendored + ": " + e.getMessage());
            }
        }
        // Walk up from the module directory: the corpus lives in ../shared next to the repository root.
        for (Path dir = Paths.get(System.getProperty("user.dir")).toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path candidate = dir.resolve(RELATIVE_CORPUS);
            if (Files.isRegularFile(candidate)) {
                return candidate;
            }
        }
        return null;
    }

    /** Lines of {@code <case key> <reason>}; blank lines and lines starting with # are ignored. */
    private static Map<String, String> readKnownDeviations() throws IOException {
        Map<String, String> deviations = new TreeMap<>();
        try (InputStream in = LineProtocolCorpusTest.class.getResourceAsStream("known-corpus-deviations.txt")) {
            if (in == null) {
                return deviations;
            }
            BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            for (String line; (line = reader.readLine()) != null; ) {
                line = line.strip();
                if (line.isEmpty() || line.startsWith("#")) {
                    continue;
                }
                String[] parts = line.split("\\s+", 2);
                deviations.put(parts[0], parts.length > 1 ? parts[1] : "");
                Objects.requireNonNull(parts[0]);
            }
        }
        return deviations;
    }
}
