package dev.spillway.ingest.lineprotocol;

import org.junit.jupiter.api.Test;

import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@link FloatParser} must give bit-for-bit the double {@link Double#parseDouble} gives, on both of its paths
 * (Clinger's fast path and the Eisel-Lemire library path), for every spelling line protocol allows.
 */
class FloatParserTest {

    private static final double[] POW10 = {1e-30, 1e-20, 1e-9, 1e-6, 1e-3, 1, 1e3, 1e6, 1e9, 1e12, 1e15, 1e20, 1e30};
    private static int checked;

    private static void check(String text) {
        final byte[] b = ("xx" + text + "yy").getBytes(StandardCharsets.ISO_8859_1);
        final double got = FloatParser.parse(b, 2, 2 + text.length());
        final double want = Double.parseDouble(text);
        if (Double.doubleToRawLongBits(got) != Double.doubleToRawLongBits(want)) {
            fail("\"" + text + "\": got " + got + " (" + Long.toHexString(Double.doubleToRawLongBits(got))
                + "), Double.parseDouble gives " + want + " (" + Long.toHexString(Double.doubleToRawLongBits(want)) + ")");
        }
        checked++;
    }

    @Test
    void edgeValuesMatchTheJdk() {
        for (String s : List.of("0", "-0", "0.0", "-0.0", ".0", "0.", "00000.00000", "1", "-1", "1.5", ".5", "5.",
                "9007199254740992", "9007199254740993", "9007199254740994", "9007199254740995", // 2^53 + k: ties
                "18014398509481985", "123456789012345678", "1234567890123456789", "12345678901234567890123",
                "0.1", "0.2", "0.3", "0.30000000000000004", "0.1234567890123456789",
                "1e22", "1e23", "9e22", "1e-22", "1e-23", "1.7976931348623157e308", "1.7976931348623158e308",
                "1.7976931348623159e308", "1e309", "-1e309", "2.2250738585072014e-308", "2.2250738585072011e-308",
                "2.225073858507201e-308", "4.9e-324", "5e-324", "2.4703282292062327e-324", "2.4703282292062328e-324",
                "1e-324", "1e-400", "1e-99999", "1e99999", "1E5", "1e+5", "1e-5", "1.0E+10", "-.5e-3",
                "0.000000000000000000000000000000000000000000001",
                "100000000000000000000000000000000000000000000000000000000000000000000000000000000",
                // a halfway case that needs all of its digits (2^-1075 + tiny): must round up, not to even
                "2.4703282292062327208828439643411068618252990130716238221279284125033775363510437593264991818"
                    + "0810736281000000000000000000000000000000000000000000000000000001e-324",
                "8.988465674311579538646525953945123668089884894711532863671504057886633790275048156635423866"
                    + "1203e307")) {
            check(s);
            if (!s.startsWith("-")) {
                check("-" + s);
            }
        }
    }

    @Test
    void randomDoublesInEveryPrintedFormMatchTheJdk() {
        checked = 0;
        final SplittableRandom r = new SplittableRandom(20261201);
        for (int i = 0; i < 30_000; i++) {
            final double d = Double.longBitsToDouble(r.nextLong()); // any bit pattern: all exponents, subnormals
            if (Double.isNaN(d) || Double.isInfinite(d)) {
                continue;
            }
            check(Double.toString(d)); // shortest form, often 17 digits, with E exponents
            final double up = Math.nextUp(d); // the exact midpoint to the next double: a tie, needs every digit
            if (i % 32 == 0 && !Double.isInfinite(up)) {
                check(new BigDecimal(d).add(new BigDecimal(up)).divide(BigDecimal.valueOf(2)).toString());
            }
        }
        for (int i = 0; i < 40_000; i++) {
            final double d = r.nextDouble() * POW10[r.nextInt(POW10.length)]; // telemetry-like magnitudes
            check(Double.toString(d));
            if (i % 8 == 0) {
                check(String.format(Locale.ROOT, "%.17f", d));
                check(String.format(Locale.ROOT, "%.17e", d));
            }
        }
        assertTrue(checked > 70_000, "checked " + checked);
    }

    @Test
    void randomDigitStringsMatchTheJdk() {
        final SplittableRandom r = new SplittableRandom(14);
        final StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 80_000; i++) {
            sb.setLength(0);
            if (r.nextInt(4) == 0) {
                sb.append('-');
            }
            final int intDigits = r.nextInt(0, 22);
            for (int k = 0; k < intDigits; k++) {
                sb.append((char) ('0' + r.nextInt(10)));
            }
            final int fracDigits = intDigits == 0 ? r.nextInt(1, 22) : r.nextInt(0, 22);
            if (fracDigits > 0 || r.nextBoolean()) {
                sb.append('.');
            }
            for (int k = 0; k < fracDigits; k++) {
                sb.append((char) ('0' + r.nextInt(10)));
            }
            if (r.nextInt(3) == 0) {
                sb.append(r.nextBoolean() ? 'e' : 'E').append(r.nextInt(3) == 0 ? "-" : r.nextBoolean() ? "+" : "")
                    .append(r.nextInt(0, 340));
            }
            check(sb.toString());
        }
    }

    @Test
    void theExactIntegerPathMatchesTheJdkOnEveryMantissaSizeAndScale() {
        final SplittableRandom r = new SplittableRandom(47);
        for (int i = 0; i < 60_000; i++) {
            final long w = r.nextLong(1, r.nextBoolean() ? 1_000_000_000_000_000_000L : 1L << r.nextInt(1, 61));
            final int k = r.nextInt(0, 28);
            final double got = FloatParser.exactSmall(w, k);
            final double want = Double.parseDouble(w + "e-" + k);
            if (Double.doubleToRawLongBits(got) != Double.doubleToRawLongBits(want)) {
                fail(w + "e-" + k + ": got " + got + ", Double.parseDouble gives " + want);
            }
        }
        // Exact midpoints between neighbouring doubles (ties to even) and values within 1e-20 of a double.
        for (int i = 0; i < 5_000; i++) {
            final double d = r.nextDouble() * POW10[r.nextInt(2, POW10.length - 1)];
            final BigDecimal mid = new BigDecimal(d).add(new BigDecimal(Math.nextUp(d))).divide(BigDecimal.valueOf(2));
            if (mid.precision() <= 18 && mid.scale() >= 0 && mid.scale() <= 27) {
                check(mid.toPlainString());
            }
            check(new BigDecimal(d).round(new java.math.MathContext(17)).toString());
        }
        check("47.030088919404335"); // within 2e-18 of a double: where Eisel-Lemire has to give up
    }

    @Test
    void syntaxErrorsAreInvalidNotGuessed() {
        for (String s : List.of("", "-", ".", "-.", "e5", "1e", "1e+", "1.2.3", "1e5.5", "0x10", "1f", "1d",
                "Infinity", "NaN", "+1", "1_000", " 1", "1 ", "--1", "1e--5")) {
            final byte[] b = s.getBytes(StandardCharsets.ISO_8859_1);
            assertTrue(Double.isNaN(FloatParser.parse(b, 0, b.length)), "\"" + s + "\" should be invalid");
        }
        assertEquals(1.5, FloatParser.parse("1.5".getBytes(StandardCharsets.ISO_8859_1), 0, 3));
    }

    /** Eight bytes read as one word: every window of digits and non-digits, against a byte-by-byte reading. */
    @Test
    void eightDigitsAtOnceMatchesDigitByDigit() {
        final SplittableRandom r = new SplittableRandom(8);
        final byte[] b = new byte[12];
        for (int i = 0; i < 200_000; i++) {
            for (int k = 0; k < b.length; k++) {
                final int kind = r.nextInt(16);
                b[k] = (byte) (kind < 14 ? '0' + r.nextInt(10) // mostly digits
                    : kind == 14 ? "/:.-eE \n\0\u00ff".charAt(r.nextInt(10)) : r.nextInt(256));
            }
            final int at = r.nextInt(0, 5);
            long want = 0;
            for (int k = at; k < at + 8; k++) {
                if (b[k] < '0' || b[k] > '9') {
                    want = -1;
                    break;
                }
                want = want * 10 + (b[k] - '0');
            }
            assertEquals(want, FloatParser.eightDigits(b, at), () -> new String(b, StandardCharsets.ISO_8859_1));
        }
        assertEquals(99_999_999L, FloatParser.eightDigits("99999999".getBytes(StandardCharsets.ISO_8859_1), 0));
        assertEquals(0L, FloatParser.eightDigits("00000000".getBytes(StandardCharsets.ISO_8859_1), 0));
        assertEquals(12_345_678L, FloatParser.eightDigits("12345678".getBytes(StandardCharsets.ISO_8859_1), 0));
    }

    /**
     * The plain-decimal fast path ({@code [-]digits[.digits]}, at most 18 digits): every split of up to 19 digits
     * into integer and fraction, leading and trailing zeros, both signs, 2-decimal telemetry and the 17-digit
     * shortest forms, and non-digits where the eight-digit word is read.
     */
    @Test
    void plainDecimalsOfEveryLengthAndScaleMatchTheJdk() {
        checked = 0;
        final SplittableRandom r = new SplittableRandom(2525);
        final StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 100_000; i++) {
            sb.setLength(0);
            if (r.nextBoolean()) {
                sb.append('-');
            }
            final int total = r.nextInt(1, 20);
            final int point = r.nextInt(0, total + 1);
            final int zeros = r.nextInt(4) == 0 ? r.nextInt(0, total + 1) : 0; // leading zeros
            for (int k = 0; k < total; k++) {
                if (k == point) {
                    sb.append('.');
                }
                sb.append((char) ('0' + (k < zeros ? 0 : r.nextInt(10))));
            }
            if (point == total && r.nextBoolean()) {
                sb.append('.');
            }
            check(sb.toString());
        }
        for (int i = 0; i < 50_000; i++) {
            check(String.format(Locale.ROOT, "%.2f", r.nextInt(100_000) / 100.0));
            check(Double.toString(r.nextDouble() * 100));
            check(Double.toString(-r.nextDouble() * POW10[r.nextInt(4, 9)]));
        }
        for (String s : List.of("0.00", "-0.00", "-0", "0.000000000000000000", "-0.000000000000000000",
                "999999999999999999", "0.999999999999999999", "9999999999.99999999", "0.000000000000000001",
                "1.00000000000000000", "9007199254740993.0", "900719925474099.35", "4.35", "0.1", "1.", "-.5")) {
            check(s);
        }
        for (String s : List.of("1.2345678a", "1.23456789x", "12.3456789-", "1.234567890123456789012e", "1.2.3456789")) {
            final byte[] b = s.getBytes(StandardCharsets.ISO_8859_1);
            assertTrue(Double.isNaN(FloatParser.parse(b, 0, b.length)), "\"" + s + "\" should be invalid");
        }
        assertTrue(checked > 200_000, "checked " + checked);
    }
}
