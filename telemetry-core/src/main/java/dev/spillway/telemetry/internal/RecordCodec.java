package dev.spillway.telemetry.internal;

import dev.spillway.telemetry.sink.EventBatch;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32C;

/**
 * The on-disk record, little-endian:
 *
 * <pre>
 *   u32 length        bytes of the body that follows the CRC
 *   u32 crc32c        over the body
 *   body:
 *     u64 firstEvent    spool-wide index of the record's first event (gaps tell how many events a bad record held)
 *     i64 batchId       } the batch's ledger key
 *     u8  runIdLength   }
 *     ..  runId (ASCII) }
 *     i64 spooledAtMillis
 *     i32 count
 *     count x i64 time | count x i32 source | count x i16 kind | count x f64 value | count x i64 seq
 * </pre>
 *
 * Columns, not rows: the payload is the batch's own struct-of-arrays layout.
 */
final class RecordCodec {

    static final int PREFIX = 8;
    static final int BODY_FIXED = 8 + 8 + 1 + 8 + 4;
    static final int BYTES_PER_EVENT = 8 + 4 + 2 + 8 + 8;
    static final int MAX_RUN_ID = 255;

    private RecordCodec() {
    }

    /** Whole record size (prefix + body). */
    static int recordSize(int runIdLength, int count) {
        return PREFIX + BODY_FIXED + runIdLength + BYTES_PER_EVENT * count;
    }

    static byte[] runIdBytes(String runId) {
        final byte[] b = runId == null ? new byte[0] : runId.getBytes(StandardCharsets.US_ASCII);
        if (b.length > MAX_RUN_ID) {
            throw new IllegalArgumentException("run id longer than " + MAX_RUN_ID + " bytes: " + runId);
        }
        return b;
    }

    /** Encodes into {@code buf} (cleared, little-endian, large enough) and flips it for writing. */
    static void encode(ByteBuffer buf, CRC32C crc, EventBatch batch, byte[] runId, long firstEvent, long nowMillis) {
        final int n = batch.size();
        buf.clear();
        buf.order(ByteOrder.LITTLE_ENDIAN);
        buf.putInt(BODY_FIXED + runId.length + BYTES_PER_EVENT * n);
        buf.putInt(0); // CRC, filled below
        buf.putLong(firstEvent);
        buf.putLong(batch.batchId());
        buf.put((byte) runId.length);
        buf.put(runId);
        buf.putLong(nowMillis);
        buf.putInt(n);
        for (int i = 0; i < n; i++) {
            buf.putLong(batch.timestampNanos(i));
        }
        for (int i = 0; i < n; i++) {
            buf.putInt(batch.sourceId(i));
        }
        for (int i = 0; i < n; i++) {
            buf.putShort(batch.kind(i));
        }
        for (int i = 0; i < n; i++) {
            buf.putDouble(batch.value(i));
        }
        for (int i = 0; i < n; i++) {
            buf.putLong(batch.sequence(i));
        }
        buf.flip();
        crc.reset();
        crc.update(buf.duplicate().position(PREFIX));
        buf.putInt(4, (int) crc.getValue());
    }

    /**
     * Checks a body (positioned at its start, limit at its end) against its CRC and its own structure.
     *
     * @return the event count, or -1 when the body is corrupt
     */
    static int validate(ByteBuffer body, int expectedCrc, CRC32C crc) {
        crc.reset();
        crc.update(body.duplicate());
        if ((int) crc.getValue() != expectedCrc) {
            return -1;
        }
        final int length = body.remaining();
        if (length < BODY_FIXED) {
            return -1;
        }
        final int p = body.position();
        final int runIdLength = body.get(p + 16) & 0xFF;
        if (length < BODY_FIXED + runIdLength) {
            return -1;
        }
        final int count = body.getInt(p + 16 + 1 + runIdLength + 8);
        if (count < 0 || (long) BODY_FIXED + runIdLength + (long) BYTES_PER_EVENT * count != length) {
            return -1;
        }
        return count;
    }

    static long firstEvent(ByteBuffer body) {
        return body.getLong(body.position());
    }

    static long spooledAtMillis(ByteBuffer body) {
        final int p = body.position();
        return body.getLong(p + 17 + (body.get(p + 16) & 0xFF));
    }

    /** Decodes a validated body into the batch. */
    static void decode(ByteBuffer body, int count, SpooledBatch into) {
        final int p = body.position();
        final long batchId = body.getLong(p + 8);
        final int runIdLength = body.get(p + 16) & 0xFF;
        final String runId;
        if (runIdLength == 0) {
            runId = null;
        } else {
            final byte[] b = new byte[runIdLength];
            body.get(p + 17, b);
            runId = new String(b, StandardCharsets.US_ASCII);
        }
        final long spooledAt = body.getLong(p + 17 + runIdLength);
        into.reset(runId, batchId, spooledAt, count);
        int q = p + 17 + runIdLength + 8 + 4;
        final long[] times = into.times();
        for (int i = 0; i < count; i++, q += 8) {
            times[i] = body.getLong(q);
        }
        final int[] sources = into.sources();
        for (int i = 0; i < count; i++, q += 4) {
            sources[i] = body.getInt(q);
        }
        final short[] kinds = into.kinds();
        for (int i = 0; i < count; i++, q += 2) {
            kinds[i] = body.getShort(q);
        }
        final double[] values = into.values();
        for (int i = 0; i < count; i++, q += 8) {
            values[i] = body.getDouble(q);
        }
        final long[] seqs = into.sequences();
        for (int i = 0; i < count; i++, q += 8) {
            seqs[i] = body.getLong(q);
        }
        into.computeRange();
    }
}
