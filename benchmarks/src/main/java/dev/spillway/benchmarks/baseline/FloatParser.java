package dev.spillway.benchmarks.baseline;

import java.nio.charset.StandardCharsets;

/**
 * Parses a line-protocol float straight from bytes. Results are bit-for-bit those of
 * {@link Double#parseDouble}: the fast path only handles inputs where a single correctly rounded IEEE
 * operation gives the exact answer (Clinger's fast path); everything else goes to the JDK.
 */
final class FloatParser {

    /** Returned for syntax errors; a valid decimal literal never parses to NaN. */
    static final double INVALID = Double.NaN;

    private static final double[] POW10 = {
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
    };
    private static final long MAX_EXACT_MANTISSA = 1L << 53;
    private static final int MAX_MANTISSA_DIGITS = 18; // 10^18 - 1 still fits in a long
    // Far beyond any double's range, so capping here never changes a result.
    private static final int EXPONENT_CAP = 100_000;

    private FloatParser() {
    }

    /**
     * Parses {@code [-](digits[.[digits]] | .digits)[(e|E)[+|-]digits]} as InfluxDB does.
     *
     * @return the value (possibly infinite if out of range), or {@link #INVALID} on a syntax error
     */
    static double parse(byte[] b, int start, int end) {
        int i = start;
        boolean negative = false;
        if (i < end && b[i] == '-') {
            negative = true;
            i++;
        }
        long mantissa = 0;
        int digits = 0;
        int exponent = 0;
        boolean anyDigit = false;
        boolean truncated = false;
        int d;
        while (i < end && (d = b[i] - '0') >= 0 && d <= 9) {
            anyDigit = true;
            if (digits < MAX_MANTISSA_DIGITS) {
                if (mantissa != 0 || d != 0) {
                    mantissa = mantissa * 10 + d;
                    digits++;
                }
            } else {
                truncated = true;
                exponent++;
            }
            i++;
        }
        if (i < end && b[i] == '.') {
            i++;
            while (i < end && (d = b[i] - '0') >= 0 && d <= 9) {
                anyDigit = true;
                if (digits < MAX_MANTISSA_DIGITS) {
                    if (mantissa != 0 || d != 0) {
                        mantissa = mantissa * 10 + d;
                        digits++;
                    }
                    exponent--;
                } else {
                    truncated = true;
                }
                i++;
            }
        }
        if (!anyDigit) {
            return INVALID;
        }
        if (i < end && (b[i] == 'e' || b[i] == 'E')) {
            i++;
            boolean expNegative = false;
            if (i < end && (b[i] == '+' || b[i] == '-')) {
                expNegative = b[i] == '-';
                i++;
            }
            int expStart = i;
            int exp = 0;
            while (i < end && (d = b[i] - '0') >= 0 && d <= 9) {
                if (exp < EXPONENT_CAP) {
                    exp = exp * 10 + d;
                }
                i++;
            }
            if (i == expStart) {
                return INVALID;
            }
            exponent += expNegative ? -exp : exp;
        }
        if (i != end) {
            return INVALID;
        }
        if (mantissa == 0) {
            return negative ? -0.0 : 0.0;
        }
        if (!truncated && mantissa <= MAX_EXACT_MANTISSA && exponent >= -22 && exponent <= 22) {
            double v = exponent >= 0 ? mantissa * POW10[exponent] : mantissa / POW10[-exponent];
            return negative ? -v : v;
        }
        // Rare (long mantissas, large exponents): correctness over speed. The syntax is already
        // validated, so parseDouble cannot see anything it would interpret differently from Go.
        return Double.parseDouble(new String(b, start, end - start, StandardCharsets.ISO_8859_1));
    }
}
