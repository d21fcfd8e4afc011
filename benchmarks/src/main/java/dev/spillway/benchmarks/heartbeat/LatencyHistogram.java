package dev.spillway.benchmarks.heartbeat;

/**
 * Latencies in microseconds in log-linear buckets: exact below 128 µs, then 64 buckets per power of two (each value
 * is counted in a bucket at most 1/64 = 1.6 % wider than itself). Percentiles answer the bucket's highest value, so
 * they never understate; the maximum is kept exactly. Not thread-safe: one recording thread.
 */
final class LatencyHistogram {

    private static final int SUB_BITS = 6;
    private static final int SUB = 1 << SUB_BITS;
    private static final int MAX_EXPONENT = 40; // 2^40 µs = 12.7 days; larger values land in the last bucket
    private final long[] counts = new long[SUB + (MAX_EXPONENT - SUB_BITS + 1) * SUB];
    private long total;
    private long max;

    void record(long micros) {
        final long v = Math.max(0, micros);
        counts[Math.min(counts.length - 1, index(v))]++;
        total++;
        max = Math.max(max, v);
    }

    long count() {
        return total;
    }

    long max() {
        return max;
    }

    /** The smallest bucket top such that at least {@code fraction} of the values are at or below it; 0 if empty. */
    long percentile(double fraction) {
        if (total == 0) {
            return 0;
        }
        final long rank = Math.max(1, (long) Math.ceil(fraction * total));
        long seen = 0;
        for (int i = 0; i < counts.length; i++) {
            seen += counts[i];
            if (seen >= rank) {
                return i == counts.length - 1 ? max : Math.min(max, highest(i));
            }
        }
        return max;
    }

    static int index(long v) {
        if (v < SUB) {
            return (int) v;
        }
        final int shift = 63 - Long.numberOfLeadingZeros(v) - SUB_BITS;
        return SUB + shift * SUB + (int) ((v >> shift) - SUB);
    }

    /** The highest value counted in bucket {@code i}. */
    static long highest(int i) {
        if (i < SUB) {
            return i;
        }
        final int shift = (i - SUB) / SUB;
        final long mantissa = SUB + (i - SUB) % SUB;
        return ((mantissa + 1) << shift) - 1;
    }
}
