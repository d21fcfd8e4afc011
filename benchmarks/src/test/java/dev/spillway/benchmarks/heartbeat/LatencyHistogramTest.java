package dev.spillway.benchmarks.heartbeat;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LatencyHistogramTest {

    @Test
    void everyValueLandsInABucketThatHoldsItAndIsAtMostOneSixtyFourthWide() {
        for (long v = 0; v < 5_000_000; v += v < 1000 ? 1 : 997) {
            final int i = LatencyHistogram.index(v);
            final long top = LatencyHistogram.highest(i);
            final long bottom = i == 0 ? 0 : LatencyHistogram.highest(i - 1) + 1;
            assertTrue(bottom <= v && v <= top, v + " in [" + bottom + ", " + top + "]");
            assertTrue(top - bottom <= Math.max(0, v / 64), "bucket of " + v + " too wide: " + bottom + ".." + top);
        }
    }

    @Test
    void percentilesOfAKnownDistribution() {
        final LatencyHistogram h = new LatencyHistogram();
        for (int v = 1; v <= 10_000; v++) {
            h.record(v);
        }
        assertEquals(10_000, h.count());
        assertEquals(10_000, h.max());
        assertWithin(5_000, h.percentile(0.50));
        assertWithin(9_900, h.percentile(0.99));
        assertWithin(9_990, h.percentile(0.999));
        assertEquals(10_000, h.percentile(1.0));
        assertEquals(1, h.percentile(0.0));
    }

    @Test
    void emptyAndOutliers() {
        final LatencyHistogram h = new LatencyHistogram();
        assertEquals(0, h.percentile(0.99));
        h.record(-5);
        h.record(Long.MAX_VALUE / 2);
        assertEquals(0, h.percentile(0.5));
        assertEquals(Long.MAX_VALUE / 2, h.percentile(1.0));
    }

    private static void assertWithin(long expected, long actual) {
        assertTrue(actual >= expected && actual <= expected + expected / 64 + 1, "expected ~" + expected + " got "
            + actual);
    }
}
