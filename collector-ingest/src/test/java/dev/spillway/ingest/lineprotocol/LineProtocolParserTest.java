package dev.spillway.ingest.lineprotocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class LineProtocolParserTest {

    private static final long DEFAULT_TIME = 1_700_000_000_123_456_789L;

    private final LineProtocolParser parser = new LineProtocolParser();

    /** Snapshot of a point, since the flyweight dies with the callback. */
    private record Field(String key, FieldType type, double value, long asLong, String string) { }

    private record Point(int line, String measurement, List<String> tags, List<Field> fields, long time) { }

    private record Error(int line, String message) { }

    private static final class Collector implements LineHandler {
        final List<Point> points = new ArrayList<>();
        final List<Error> errors = new ArrayList<>();

        @Override
        public void onPoint(ParsedPoint p) {
            List<String> tags = new ArrayList<>();
            for (int i = 0; i < p.tagCount(); i++) {
                tags.add(p.tagKey(i) + "=" + p.tagValue(i));
            }
            List<Field> fields = new ArrayList<>();
            for (int i = 0; i < p.fieldCount(); i++) {
                fields.add(new Field(p.fieldKey(i), p.fieldType(i), p.fieldValue(i), p.fieldLong(i), p.fieldString(i)));
            }
            points.add(new Point(p.lineNumber(), p.measurement(), tags, fields, p.timestampNanos()));
        }

        @Override
        public void onError(int lineNumber, String message) {
            errors.add(new Error(lineNumber, message));
        }
    }

    private Collector parse(String text) {
        return parse(text, Precision.NANOSECONDS);
    }

    private Collector parse(String text, Precision precision) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        Collector c = new Collector();
        int accepted = parser.parse(bytes, 0, bytes.length, precision, DEFAULT_TIME, c);
        assertEquals(c.points.size(), accepted, "return value counts accepted points");
        return c;
    }

    private Point single(String text) {
        Collector c = parse(text);
        assertEquals(List.of(), c.errors, () -> "errors for " + text);
        assertEquals(1, c.points.size(), () -> "points for " + text);
        return c.points.get(0);
    }

    private Field singleField(String text) {
        Point p = single(text);
        assertEquals(1, p.fields().size());
        return p.fields().get(0);
    }

    private String rejected(String text) {
        Collector c = parse(text);
        assertEquals(List.of(), c.points, () -> "expected " + text + " to be rejected");
        assertEquals(1, c.errors.size(), () -> "errors for " + text);
        return c.errors.get(0).message();
    }

    // ---- structure and escapes ----

    @Test
    void parsesATypicalTelegrafLine() {
        Point p = single("cpu,host=server01,region=us-west usage_user=12.5,usage_idle=84i 1700000000000000000");
        assertEquals("cpu", p.measurement());
        assertEquals(List.of("host=server01", "region=us-west"), p.tags());
        assertEquals(new Field("usage_user", FieldType.FLOAT, 12.5, 12, null), p.fields().get(0));
        assertEquals(new Field("usage_idle", FieldType.INTEGER, 84.0, 84, null), p.fields().get(1));
        assertEquals(1_700_000_000_000_000_000L, p.time());
        assertEquals(1, p.line());
    }

    @Test
    void unescapesMeasurementTagsAndFieldKeys() {
        Point p = single("my\\ cpu\\,x,ta\\ g\\=k\\,=va\\=l\\ u\\,e fi\\=el\\ d\\,=1");
        assertEquals("my cpu,x", p.measurement());
        assertEquals(List.of("ta g=k,=va=l u,e"), p.tags());
        assertEquals("fi=el d,", p.fields().get(0).key());
    }

    @Test
    void keepsBackslashBeforeOtherCharactersLiteral() {
        Point p = single("c\\pu\\=,t\\ag=v\\al\\\\ue f\\ield=1");
        assertEquals("c\\pu\\=", p.measurement(), "'=' is not escapable in a measurement");
        assertEquals(List.of("t\\ag=v\\al\\\\ue"), p.tags());
        assertEquals("f\\ield", p.fields().get(0).key());
    }

    @Test
    void unescapesOnlyQuoteAndBackslashInStrings() {
        Field f = singleField("m s=\"a\\\"b\\\\c\\nd\\te,f=g h\"");
        assertEquals(FieldType.STRING, f.type());
        assertEquals("a\"b\\c\\nd\\te,f=g h", f.string());
        assertTrue(Double.isNaN(f.value()));
    }

    @Test
    void sortsTagsByKeyBytesAndRejectsDuplicates() {
        assertEquals(List.of("a=1", "b=2", "c=3"), single("m,c=3,a=1,b=2 f=1").tags());
        // U+10000 (F0 90 80 80) sorts after U+FFFD (EF BF BD) in UTF-8 byte order, though not in UTF-16.
        assertEquals(List.of("\uFFFD=1", "\uD800\uDC00=2"), single("m,\uD800\uDC00=2,\uFFFD=1 f=1").tags());
        assertTrue(rejected("m,b=1,a=2,b=3 f=1").contains("duplicate tag key \"b\""));
    }

    @Test
    void keepsDuplicateFieldKeysInOrderLikeTheReferenceDecoder() {
        List<Field> fields = single("m f=1,f=2i").fields();
        assertEquals(2, fields.size());
        assertEquals(FieldType.FLOAT, fields.get(0).type());
        assertEquals(FieldType.INTEGER, fields.get(1).type());
    }

    @Test
    void toleratesLeadingTrailingAndRepeatedSpaces() {
        Point p = single("   m,t=v    f=1    123   ");
        assertEquals("m", p.measurement());
        assertEquals(123, p.time());
    }

    @ParameterizedTest
    @ValueSource(strings = {"m", "m ", "m,t=v", "m,t=v ", "m,t= f=1", "m,=v f=1", "m, f=1", "m,t f=1", "m f", "m f=",
        "m f= 1", "m f=1,", "m ,f=1", ",t=v f=1", "\tm f=1", "m\u0001x f=1", "m f\u0001=1", "m f=1 12 3", "m f=1 1a",
        "m f=1 -", "m f=1 1-2", "m f=\"x\"y", "m f=\"unterminated", "m f=x", "m\r f=1"})
    void rejectsMalformedLines(String line) {
        rejected(line);
    }

    @ParameterizedTest
    @ValueSource(strings = {"m# f=1", "m,t#=v f=1", "m,t=v# f=1", "m f#=1", "m f=\"a#\"", "m f=\"\u00e9#\""})
    void rejectsInvalidUtf8InEveryToken(String template) {
        // '#' marks where a lone 0xFF byte (never valid UTF-8) goes.
        byte[] bytes = template.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] == '#') {
                bytes[i] = (byte) 0xff;
            }
        }
        Collector c = new Collector();
        assertEquals(0, parser.parse(bytes, 0, bytes.length, Precision.NANOSECONDS, 0, c));
        assertEquals(1, c.errors.size());
        assertTrue(c.errors.get(0).message().contains("invalid UTF-8"), c.errors.get(0).message());
    }

    @Test
    void acceptsValidMultiByteUtf8() {
        assertEquals("w\u00e8\uD83D\uDE00", singleField("m f=\"w\u00e8\uD83D\uDE00\"").string());
        assertEquals("m\u00e8", single("m\u00e8 f=1").measurement());
        // Overlong encodings and UTF-16 surrogates encoded as UTF-8 are invalid, as in Go.
        for (byte[] bad : new byte[][] {{(byte) 0xc0, (byte) 0x80}, {(byte) 0xed, (byte) 0xa0, (byte) 0x80},
            {(byte) 0xf4, (byte) 0x90, (byte) 0x80, (byte) 0x80}, {(byte) 0xe2, (byte) 0x82}}) {
            assertTrue(Utf8.firstInvalid(bad, 0, bad.length) >= 0);
        }
    }

    @Test
    void allowsControlCharactersInsideStringsAndTagValuesLikeTheCorpus() {
        assertEquals("x\u0001y", singleField("m v=\"x\u0001y\"").string());
        assertEquals(List.of("k=x\u0001y"), single("m,k=x\u0001y v=1").tags());
    }

    // ---- field types ----

    @ParameterizedTest
    @ValueSource(strings = {"1", "1.", ".5", "-.5", "1e3", "-1.2E+78", "1E-3", "0", "-0", "00012.50", "1.7976931348623157e308",
        "4.9e-324", "1e-400", "123456789012345678901234567890", "0.000000000000000000000000000001234",
        "9007199254740993", "2.2250738585072011e-308"})
    void parsesFloatsExactlyLikeDoubleParseDouble(String literal) {
        Field f = singleField("m f=" + literal);
        assertEquals(FieldType.FLOAT, f.type());
        assertEquals(Double.doubleToRawLongBits(Double.parseDouble(literal)), Double.doubleToRawLongBits(f.value()), literal);
    }

    @Test
    void floatFastPathAgreesWithParseDoubleOnRandomInput() {
        SplittableRandom random = new SplittableRandom(42);
        for (int n = 0; n < 200_000; n++) {
            String literal;
            switch (n % 3) {
                case 0:
                    literal = Double.toString(Double.longBitsToDouble(random.nextLong()));
                    break;
                case 1:
                    literal = (random.nextBoolean() ? "-" : "") + random.nextLong(0, Long.MAX_VALUE) / pow10(random.nextInt(0, 19))
                            + "." + random.nextLong(0, 1_000_000_000_000L);
                    break;
                default:
                    literal = random.nextLong(0, 1L << 54) + "e" + random.nextInt(-30, 30);
            }
            if (literal.contains("N") || literal.contains("I")) {
                continue;
            }
            byte[] b = literal.getBytes(StandardCharsets.US_ASCII);
            double expected = Double.parseDouble(literal);
            double actual = FloatParser.parse(b, 0, b.length);
            if (Double.isInfinite(expected)) {
                assertTrue(Double.isInfinite(actual), literal);
            } else {
                assertEquals(Double.doubleToRawLongBits(expected), Double.doubleToRawLongBits(actual), literal);
            }
        }
    }

    private static long pow10(int e) {
        long v = 1;
        for (int i = 0; i < e; i++) {
            v *= 10;
        }
        return v;
    }

    @ParameterizedTest
    @ValueSource(strings = {"NaN", "-NaN", "Inf", "-Inf", "+1", "1e", "1e+", ".", "-", "--1", "1.2.3", "1..", "0x10", "1_000",
        "1f", "1d", "1e400", "-1e400", "1ee3", ".e3", "1 .5"})
    void rejectsInvalidAndNonFiniteFloats(String literal) {
        rejected("m f=" + literal);
    }

    @Test
    void parsesSignedIntegersWithRangeCheck() {
        assertEquals(Long.MAX_VALUE, singleField("m f=9223372036854775807i").asLong());
        assertEquals(Long.MIN_VALUE, singleField("m f=-9223372036854775808i").asLong());
        assertEquals(-42, singleField("m f=-42i").asLong());
        assertEquals(-42.0, singleField("m f=-42i").value());
        assertTrue(rejected("m f=9223372036854775808i").contains("out of the signed 64-bit range"));
        rejected("m f=-9223372036854775809i");
        for (String bad : new String[] {"i", "-i", "1.0i", "1e3i", "+1i", "1ii", "0x1i", "1_0i"}) {
            rejected("m f=" + bad);
        }
    }

    @Test
    void parsesUnsignedIntegersWithRangeCheck() {
        Field max = singleField("m f=18446744073709551615u");
        assertEquals(FieldType.UNSIGNED, max.type());
        assertEquals("18446744073709551615", Long.toUnsignedString(max.asLong()));
        assertEquals(1.8446744073709552e19, max.value());
        assertEquals(0, singleField("m f=0u").asLong());
        assertTrue(rejected("m f=18446744073709551616u").contains("out of the range"));
        rejected("m f=-1u");
        rejected("m f=u");
        rejected("m f=1.5u");
    }

    @ParameterizedTest
    @ValueSource(strings = {"t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"})
    void parsesAllBooleanSpellings(String spelling) {
        Field f = singleField("m b=" + spelling);
        assertEquals(FieldType.BOOLEAN, f.type());
        boolean expected = Character.toLowerCase(spelling.charAt(0)) == 't';
        assertEquals(expected ? 1 : 0, f.asLong());
        assertEquals(expected ? 1.0 : 0.0, f.value());
    }

    @ParameterizedTest
    @ValueSource(strings = {"tru", "tRUE", "yes", "falsey", "Fa", "truE"})
    void rejectsOtherBooleanLookalikes(String spelling) {
        rejected("m b=" + spelling);
    }

    @Test
    void limitsStringFieldsTo64KiB() {
        String max = "x".repeat(LineProtocolParser.MAX_STRING_FIELD_BYTES);
        assertEquals(max, singleField("m s=\"" + max + "\"").string());
        // Escapes count as the single byte they decode to.
        assertEquals(max.length(), singleField("m s=\"" + max.substring(1) + "\\\"\"").string().length());
        String message = rejected("m s=\"" + max + "x\"");
        assertTrue(message.contains("longer than 65536 bytes"), message);
    }

    // ---- time and precision ----

    @Test
    void scalesTimestampsByPrecision() {
        assertEquals(1_000_000_000L, parse("m f=1 1", Precision.SECONDS).points.get(0).time());
        assertEquals(1_000_000L, parse("m f=1 1", Precision.MILLISECONDS).points.get(0).time());
        assertEquals(1_000L, parse("m f=1 1", Precision.MICROSECONDS).points.get(0).time());
        assertEquals(-60_000_000_000L, parse("m f=1 -1", Precision.MINUTES).points.get(0).time());
        assertEquals(7_200_000_000_000L, parse("m f=1 2", Precision.HOURS).points.get(0).time());
        assertEquals(Long.MIN_VALUE, single("m f=1 -9223372036854775808").time());
    }

    @Test
    void rejectsTimestampsThatOverflowOnceScaled() {
        Collector c = parse("m f=1 9223372037", Precision.SECONDS);
        assertEquals(1, c.errors.size());
        assertTrue(c.errors.get(0).message().contains("out of range for precision seconds"), c.errors.get(0).message());
        assertEquals(1, parse("m f=1 9223372036", Precision.SECONDS).points.size());
        rejected("m f=1 9223372036854775808");
    }

    @Test
    void usesTheDefaultTimeRoundedDownToThePrecisionWhenNoTimestamp() {
        assertEquals(DEFAULT_TIME, single("m f=1").time());
        assertEquals(1_700_000_000_000_000_000L, parse("m f=1", Precision.SECONDS).points.get(0).time());
        assertEquals(1_700_000_000_123_000_000L, parse("m f=1", Precision.MILLISECONDS).points.get(0).time());
        assertEquals(-1_000_000_000L, Precision.SECONDS.truncate(-1L));
    }

    @Test
    void precisionAcceptsTheUnionOfV1AndV2Spellings() {
        assertEquals(Precision.NANOSECONDS, Precision.parse(null));
        assertEquals(Precision.NANOSECONDS, Precision.parse(""));
        assertEquals(Precision.NANOSECONDS, Precision.parse("ns"));
        assertEquals(Precision.NANOSECONDS, Precision.parse("n"));
        assertEquals(Precision.MICROSECONDS, Precision.parse("us"));
        assertEquals(Precision.MICROSECONDS, Precision.parse("u"));
        assertEquals(Precision.MICROSECONDS, Precision.parse("\u00b5s"));
        assertEquals(Precision.MILLISECONDS, Precision.parse("ms"));
        assertEquals(Precision.SECONDS, Precision.parse("s"));
        assertEquals(Precision.MINUTES, Precision.parse("m"));
        assertEquals(Precision.HOURS, Precision.parse("h"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Precision.parse("sec"));
        assertTrue(e.getMessage().contains("'sec'") && e.getMessage().contains("ns, n, us"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Precision.parse("NS"));
    }

    @Test
    void toNanosThrowsOnOverflow() {
        assertEquals(3_600_000_000_000L, Precision.HOURS.toNanos(1));
        assertThrows(ArithmeticException.class, () -> Precision.MILLISECONDS.toNanos(Long.MAX_VALUE / 1000));
        assertEquals(Long.MAX_VALUE, Precision.NANOSECONDS.toNanos(Long.MAX_VALUE));
    }

    // ---- lines, comments, recovery ----

    @Test
    void skipsBlankAndCommentLinesAndAcceptsCrLf() {
        Collector c = parse("# header\r\n\r\n   \n  # indented comment\nm f=1\r\nm f=2 5\r\n\n#last");
        assertEquals(List.of(), c.errors);
        assertEquals(2, c.points.size());
        assertEquals(5, c.points.get(0).line());
        assertEquals(6, c.points.get(1).line());
        assertEquals(5, c.points.get(1).time());
    }

    @Test
    void rejectsCommentsWithControlCharacters() {
        Collector c = parse("# bad\u0001comment\nm f=1");
        assertEquals(1, c.errors.size());
        assertEquals(1, c.errors.get(0).line());
        assertEquals(1, c.points.size());
    }

    @Test
    void reportsBadLineWithItsNumberAndKeepsTheGoodOnes() {
        Collector c = parse("m f=1\n# comment\nm f=oops\nm f=3\n\nm,t= f=4\nm f=5");
        assertEquals(List.of(1, 4, 7), c.points.stream().map(Point::line).toList());
        assertEquals(List.of(1.0, 3.0, 5.0), c.points.stream().map(p -> p.fields().get(0).value()).toList());
        assertEquals(List.of(3, 6), c.errors.stream().map(Error::line).toList());
        String message = c.errors.get(0).message();
        assertTrue(message.contains("\"oops\"") && message.contains("\"f\"") && message.contains("column 5"), message);
        message = c.errors.get(1).message();
        assertTrue(message.contains("empty value for tag key \"t\""), message);
    }

    @Test
    void countsLinesInsideMultiLineStrings() {
        Collector c = parse("m s=\"a\nb\nc\" 1\nm f=bad\nm f=1");
        assertEquals("a\nb\nc", c.points.get(0).fields().get(0).string());
        assertEquals(List.of(new Error(4, c.errors.get(0).message())), c.errors);
        assertEquals(5, c.points.get(1).line());
    }

    @Test
    void errorMessagesNameTheProblem() {
        assertTrue(rejected("m f=1i2").contains("invalid number \"1i2\" for field \"f\""));
        assertTrue(rejected("m").contains("missing fields"));
        assertTrue(rejected("m f=1 12x").contains("invalid timestamp \"12x\""));
        assertTrue(rejected("m f=\"abc").contains("unterminated string value for field \"f\""));
        assertTrue(rejected("m f=NaN").contains("has no recognizable type"));
        assertTrue(rejected("m f=1e999").contains("out of range"));
    }

    @Test
    void parsesASubRangeAndIsReusable() {
        byte[] bytes = "garbage\nm f=1 7\ngarbage".getBytes(StandardCharsets.UTF_8);
        for (int round = 0; round < 3; round++) {
            Collector c = new Collector();
            assertEquals(1, parser.parse(bytes, 8, 7, Precision.NANOSECONDS, 0, c));
            assertEquals(List.of(), c.errors);
            assertEquals(7, c.points.get(0).time());
            assertEquals(1, c.points.get(0).line());
        }
        assertThrows(IndexOutOfBoundsException.class,
                () -> parser.parse(bytes, 20, 10, Precision.NANOSECONDS, 0, new Collector()));
    }

    @Test
    void flyweightDoesNotLeakFieldsBetweenLines() {
        Collector c = parse("m s=\"first\",x=2\nm y=3");
        assertEquals(2, c.points.get(0).fields().size());
        assertEquals(1, c.points.get(1).fields().size());
        assertNull(c.points.get(1).fields().get(0).string());
        assertFalse(c.points.get(1).fields().get(0).key().equals("s"));
    }

    /**
     * Timestamps of every length and around every bound, read in one pass when they are 1-19 unsigned digits ending
     * the line (the fast path) and by the general path otherwise; both must give what {@link java.math.BigInteger}
     * says, or reject exactly what is out of range, whatever ends the line and in every precision.
     */
    @Test
    void timestampsOfEveryLengthAndBoundMatchExactArithmetic() {
        final SplittableRandom r = new SplittableRandom(25);
        final List<String> texts = new ArrayList<>(List.of("0", "00", "7", "000000000000000000001",
            "9223372036854775807", "9223372036854775808", "9999999999999999999", "10000000000000000000",
            "-9223372036854775808", "-9223372036854775809", "-0", "-1", "0000000000000000009223372036854775807",
            "922337203685477580", "999999999999999999", "1000000000000000000", "1700000000000001000"));
        for (int i = 0; i < 3_000; i++) {
            final StringBuilder sb = new StringBuilder(r.nextInt(8) == 0 ? "-" : "");
            final int len = r.nextInt(1, 22);
            for (int k = 0; k < len; k++) {
                sb.append((char) ('0' + (k == 0 && len == 19 && r.nextBoolean() ? 9 : r.nextInt(10))));
            }
            texts.add(sb.toString());
        }
        final java.math.BigInteger min = java.math.BigInteger.valueOf(Long.MIN_VALUE);
        final java.math.BigInteger max = java.math.BigInteger.valueOf(Long.MAX_VALUE);
        int accepted = 0;
        for (String ts : texts) {
            for (Precision precision : Precision.values()) {
                final java.math.BigInteger want = new java.math.BigInteger(ts)
                    .multiply(java.math.BigInteger.valueOf(precision.nanosPerUnit()));
                final boolean fits = want.compareTo(min) >= 0 && want.compareTo(max) <= 0
                    && new java.math.BigInteger(ts).compareTo(min) >= 0 && new java.math.BigInteger(ts).compareTo(max) <= 0;
                for (String ending : List.of("", "\n", "\r\n", "  \n", "\nm f=2 5")) {
                    final Collector c = parse("m f=1 " + ts + ending, precision);
                    final String what = ts + " " + precision + " ending " + ending.replace("\n", "\\n");
                    if (fits) {
                        assertEquals(List.of(), c.errors, what);
                        assertEquals(want.longValueExact(), c.points.get(0).time(), what);
                        accepted++;
                    } else {
                        assertEquals(1, c.errors.size(), what);
                        assertTrue(c.errors.get(0).message().contains("out of")
                            || c.errors.get(0).message().contains("range"), what + ": " + c.errors.get(0));
                        assertEquals(1, c.errors.get(0).line(), what);
                    }
                    if (ending.endsWith("5")) {
                        assertEquals(5L * precision.nanosPerUnit(), c.points.get(c.points.size() - 1).time(), what);
                    }
                }
            }
        }
        assertTrue(accepted > 10_000, "accepted " + accepted);
        assertTrue(rejected("m f=1 17000000000000010001x").contains("invalid timestamp"));
        assertTrue(rejected("m f=1 1700000000000001000 x").contains("unexpected text after timestamp"));
        assertEquals(1_700_000_000_000_001_000L, single("m f=1 1700000000000001000\r").time());
    }
}
