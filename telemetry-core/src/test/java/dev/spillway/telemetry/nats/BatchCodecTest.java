package dev.spillway.telemetry.nats;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BatchCodecTest {

    private static ArrayBatch batch(long id, int n, Random r) {
        final ArrayBatch b = new ArrayBatch(n + 1);
        b.reset(id);
        long t = 1_700_000_000_000_000_000L;
        for (int i = 0; i < n; i++) {
            t += r.nextInt(2_000_000) - 500_000; // not monotonic: negative deltas too
            b.append(t, r.nextInt(), (short) r.nextInt(), r.nextDouble() * 1e6 - 5e5, r.nextLong());
        }
        return b;
    }

    @Test
    void roundTripKeepsEveryColumnAndTheLedgerKey() {
        final Random r = new Random(42);
        final ArrayBatch in = batch(987_654_321L, 4096, r);
        in.append(Long.MIN_VALUE, Integer.MIN_VALUE, Short.MIN_VALUE, Double.NaN, Long.MIN_VALUE);
        final byte[] body = new BatchCodec().encode(in, "edge-run-1");
        assertEquals(BatchCodec.VERSION, body[0]);
        final DecodedBatch out = new DecodedBatch();
        BatchCodec.decode(body, out);
        assertEquals("edge-run-1", out.runId());
        assertEquals(987_654_321L, out.batchId());
        assertEquals(in.size(), out.size());
        for (int i = 0; i < in.size(); i++) {
            assertEquals(in.timestampNanos(i), out.timestampNanos(i), "time " + i);
            assertEquals(in.sourceId(i), out.sourceId(i), "source " + i);
            assertEquals(in.kind(i), out.kind(i), "kind " + i);
            assertEquals(Double.doubleToRawLongBits(in.value(i)), Double.doubleToRawLongBits(out.value(i)), "value " + i);
            assertEquals(in.sequence(i), out.sequence(i), "seq " + i);
        }
        assertEquals(Long.MIN_VALUE, out.minTimestampNanos());
    }

    @Test
    void typicalBatchIsSmallerThanRawColumns() {
        final ArrayBatch b = new ArrayBatch(1000);
        b.reset(1);
        for (int i = 0; i < 1000; i++) {
            b.append(1_700_000_000_000_000_000L + i * 1_000_000L, i % 50, (short) 1, i * 0.5, i / 50);
        }
        final byte[] body = new BatchCodec().encode(b, "r");
        // raw: 8 + 4 + 2 + 8 + 8 = 30 bytes per event
        assertTrue(body.length < 1000 * 15, "encoded " + body.length + " bytes for 1000 events");
    }

    @Test
    void refusesUnknownVersionTruncationAndTrailingBytes() {
        final byte[] body = new BatchCodec().encode(batch(5, 10, new Random(1)), "run");
        final DecodedBatch out = new DecodedBatch();
        final byte[] v2 = body.clone();
        v2[0] = 2;
        assertTrue(assertThrows(IllegalArgumentException.class, () -> BatchCodec.decode(v2, out)).getMessage()
            .contains("version 2"));
        for (int cut = 0; cut < body.length; cut++) {
            final byte[] truncated = Arrays.copyOf(body, cut);
            assertThrows(IllegalArgumentException.class, () -> BatchCodec.decode(truncated, out), "cut at " + cut);
        }
        final byte[] longer = Arrays.copyOf(body, body.length + 1);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> BatchCodec.decode(longer, out)).getMessage()
            .contains("trailing"));
    }

    @Test
    void refusesACountTheBodyCannotHold() {
        final byte[] body = {BatchCodec.VERSION, 1, 'r', 0, 0, 0, 0, 0, 0, 0, 1, (byte) 0xFF, (byte) 0xFF, 0x3F};
        assertTrue(assertThrows(IllegalArgumentException.class, () -> BatchCodec.decode(body, new DecodedBatch()))
            .getMessage().contains("cannot hold"));
    }
}
