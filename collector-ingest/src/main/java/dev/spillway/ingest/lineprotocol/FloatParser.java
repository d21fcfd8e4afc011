package dev.spillway.ingest.lineprotocol;

import ch.randelshofer.fastdoubleparser.JavaDoubleParser;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * Parses a line-protocol float straight from bytes, allocating nothing. Results are bit-for-bit those of
 * {@link Double#parseDouble}: the first path handles inputs where a single correctly rounded IEEE operation
 * gives the exact answer (Clinger's fast path: up to 2^53 with a power of ten up to 10^22); the rest, typically
 * the 17-digit decimals that shortest-representation printers (Go's strconv, Java's Double.toString) produce,
 * go to {@code fastdoubleparser}'s byte-array parser (Eisel-Lemire with an exact big-number fallback), which
 * is correctly rounded and allocates nothing for up to 19 significant digits. {@code FloatParserTest} checks
 * both paths against {@code Double.parseDouble} on random and edge inputs.
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

    // 5^k for k <= 27 fits in a signed long; (2M+1) * 5^k then fits in 128 bits.
    private static final int MAX_EXACT_K = 27;
    private static final long[] POW5 = new long[MAX_EXACT_K + 1];

    static {
        POW5[0] = 1;
        for (int k = 1; k <= MAX_EXACT_K; k++) {
            POW5[k] = POW5[k - 1] * 5;
        }
    }

    private static final VarHandle WORD = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final long ZEROS = 0x3030303030303030L;
    private static final long HIGH_NIBBLES = 0xF0F0F0F0F0F0F0F0L;

    private FloatParser() {
    }

    /**
     * The value of the eight ASCII digits at {@code b[i, i+8)}, or -1 if any of those bytes is not a digit; the
     * caller guarantees {@code i + 8 <= b.length}. Reads them as one little-endian word: every byte is a digit when
     * its high nibble is 3 and adding 6 keeps it at 3 ({@code '0'..'9'} are 0x30..0x39); then adjacent digits are
     * combined pairwise into 2-, 4- and 8-digit numbers with three multiplications.
     */
    static long eightDigits(byte[] b, int i) {
        final long w = (long) WORD.get(b, i);
        if ((w & HIGH_NIBBLES) != ZEROS || ((w + 0x0606060606060606L) & HIGH_NIBBLES) != ZEROS) {
            return -1;
        }
        long v = w - ZEROS;                    // byte j = digit j (the first digit in the lowest byte)
        v = v * 10 + (v >>> 8);                // byte 2j = the 2-digit number of digits 2j, 2j+1
        v = ((v & 0x000000FF000000FFL) * (100 + (1_000_000L << 32))
            + ((v >>> 16) & 0x000000FF000000FFL) * (1 + (10_000L << 32))) >>> 32;
        return v;
    }

    /**
     * The fast path of {@link #parse}: {@code [-]digits[.digits]} with no exponent and at most 18 digits in all
     * (leading zeros included), so the digits as one integer fit a long; the value is that integer divided by ten
     * to the number of fraction digits, correctly rounded by Clinger's path or {@link #exactSmall}.
     *
     * @return the value, or NaN when the input is not of that form or needs the general path
     */
    private static double simple(byte[] b, int start, int end) {
        int i = start;
        final boolean negative = b[i] == '-';
        if (negative) {
            i++;
        }
        long m = 0;
        int d;
        final int intStart = i;
        while (i < end && (d = b[i] - '0') >= 0 && d <= 9) {
            m = m * 10 + d;
            i++;
        }
        int digits = i - intStart;
        int fraction = 0;
        if (i < end && b[i] == '.') {
            i++;
            final int fracStart = i;
            while (i + 8 <= end && digits + (i - fracStart) + 8 <= MAX_MANTISSA_DIGITS) {
                final long eight = eightDigits(b, i);
                if (eight < 0) {
                    break;
                }
                m = m * 100_000_000L + eight;
                i += 8;
            }
            while (i < end && (d = b[i] - '0') >= 0 && d <= 9) {
                m = m * 10 + d;
                i++;
            }
            fraction = i - fracStart;
            digits += fraction;
        }
        if (i != end || digits == 0 || digits > MAX_MANTISSA_DIGITS) {
            return Double.NaN; // an exponent, a syntax error, or too many digits: the general path decides
        }
        if (m == 0) {
            return negative ? -0.0 : 0.0;
        }
        double v;
        if (m <= MAX_EXACT_MANTISSA && fraction <= 22) {
            v = m / POW10[fraction];
        } else if (fraction <= MAX_EXACT_K) {
            v = exactSmall(m, fraction);
            if (Double.isNaN(v)) {
                return v;
            }
        } else {
            return Double.NaN;
        }
        return negative ? -v : v;
    }

    /**
     * {@code w / 10^k} correctly rounded (half to even), for {@code 0 < w < 10^18} and {@code 0 <= k <= 27}: the
     * decimals that shortest-form printers produce for telemetry-sized values (17 significant digits), exactly and
     * without allocating. An approximation within a few ulps is corrected by comparing the decimal with the
     * midpoints to its neighbours in exact 128-bit integer arithmetic.
     *
     * @return the value, or NaN when the result would not be a normal double (left to the general parser)
     */
    static double exactSmall(long w, int k) {
        if (k == 0) {
            return w; // long-to-double conversion is correctly rounded (JLS 5.1.2)
        }
        double d = k <= 22 ? w / POW10[k] : w / POW10[22] / POW10[k - 22];
        for (int step = 0; step < 8; step++) {
            if (!isNormal(d)) {
                return Double.NaN;
            }
            final int up = compareWithUpperMidpoint(w, k, d);
            if (up > 0 || (up == 0 && (Double.doubleToRawLongBits(d) & 1) != 0)) {
                d = Math.nextUp(d);
                continue;
            }
            final double down = Math.nextDown(d);
            if (!isNormal(down)) {
                return Double.NaN;
            }
            final int low = compareWithUpperMidpoint(w, k, down);
            if (low < 0 || (low == 0 && (Double.doubleToRawLongBits(down) & 1) == 0)) {
                d = down;
                continue;
            }
            return d;
        }
        return Double.NaN;
    }

    private static boolean isNormal(double d) {
        final long exp = (Double.doubleToRawLongBits(d) >>> 52) & 0x7ff;
        return exp != 0 && exp != 0x7ff;
    }

    /**
     * Sign of {@code w / 10^k - m}, where {@code m} is the midpoint between the positive normal {@code d = M 2^E}
     * and the next double up, {@code (2M+1) 2^(E-1)} (also right at a binade's top, where the next double is
     * {@code 2^52 2^(E+1)}). Multiplying both sides by {@code 2^(1-E) 10^k}: compare {@code w 2^(1-E-k)} with
     * {@code (2M+1) 5^k}, both held in 128 bits.
     */
    private static int compareWithUpperMidpoint(long w, int k, double d) {
        final long bits = Double.doubleToRawLongBits(d);
        final long m = (bits & ((1L << 52) - 1)) | (1L << 52);
        final int e = (int) ((bits >>> 52) & 0x7ff) - 1075;
        final long odd = 2 * m + 1;                      // < 2^54
        final long rHi = Math.multiplyHigh(odd, POW5[k]); // both positive: signed high half is the unsigned one
        final long rLo = odd * POW5[k];                   // right side < 2^117
        final int s = 1 - e - k;
        final int wBits = 64 - Long.numberOfLeadingZeros(w);
        if (s >= 0) {
            if (wBits + s > 127) {
                return 1; // the left side is at least 2^127 > right side
            }
            final long lHi = s == 0 ? 0 : s >= 64 ? w << (s - 64) : w >>> (64 - s);
            final long lLo = s >= 64 ? 0 : w << s;
            return compare128(lHi, lLo, rHi, rLo);
        }
        final int t = -s;
        final int rBits = rHi != 0 ? 128 - Long.numberOfLeadingZeros(rHi) : 64 - Long.numberOfLeadingZeros(rLo);
        if (rBits + t > 127) {
            return -1; // the right side is at least 2^127 > w
        }
        final long sHi = t >= 64 ? rLo << (t - 64) : (rHi << t) | (rLo >>> (64 - t));
        final long sLo = t >= 64 ? 0 : rLo << t;
        return compare128(0, w, sHi, sLo);
    }

    private static int compare128(long aHi, long aLo, long bHi, long bLo) {
        final int hi = Long.compareUnsigned(aHi, bHi);
        return hi != 0 ? hi : Long.compareUnsigned(aLo, bLo);
    }

    /**
     * Parses {@code [-](digits[.[digits]] | .digits)[(e|E)[+|-]digits]} as InfluxDB does.
     *
     * @return the value (possibly infinite if out of range), or {@link #INVALID} on a syntax error
     */
    static double parse(byte[] b, int start, int end) {
        if (start < end) {
            final double simple = simple(b, start, end);
            if (!Double.isNaN(simple)) {
                return simple;
            }
        }
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
        if (!truncated && exponent <= 0 && exponent >= -MAX_EXACT_K) {
            final double v = exactSmall(mantissa, -exponent);
            if (!Double.isNaN(v)) {
                return negative ? -v : v;
            }
        }
        // The syntax is validated above and is a subset of Java's decimal literal syntax (no hex, no suffix,
        // no "Infinity"), so the Java-syntax parser cannot read anything differently from Go's strconv.
        return JavaDoubleParser.parseDouble(b, start, end - start);
    }
}
