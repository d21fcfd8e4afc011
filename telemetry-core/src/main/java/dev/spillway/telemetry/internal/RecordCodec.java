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
 *     u8  flags         format 2 only: bit 0 = commit-acknowledged (a client may be told these events are durable);
 *                       bit 1 = continues the previous record's replay group (see {@link Spool}: records of batches
 *                       that never reached the sink are replayed together, under the group's first ledger key)
 *     count x i64 time | count x i32 source | count x i16 kind | count x f64 value | count x i64 seq
 * </pre>
 *
 * Columns, not rows: the payload is the batch's own struct-of-arrays layout. Format 1 (segments headed
 * {@code SPWSEG01}, written before the flags byte existed) has no flags: every record of it counts as
 * commit-acknowledged, so a full spool never drops it. Appends always write format 2.
 */
final class RecordCodec {

    static final int PREFIX = 8;
    /** The body's fixed part in format 1 (no flags byte). */
    static final int BODY_FIXED_V1 = 8 + 8 + 1 + 8 + 4;
    /** The body's fixed part in the current format. */
    static final int BODY_FIXED = BODY_FIXED_V1 + 1;
    static final int BYTES_PER_EVENT = 8 + 4 + 2 + 8 + 8;
    static final int MAX_RUN_ID = 255;
    /** Flag: the batch holds events a commit acknowledgement was waiting for (never dropped to make room). */
    static final int FLAG_COMMIT_ACKNOWLEDGED = 1;
    /**
     * Flag: the record continues the replay group of the record before it in the same segment (both batches never
     * reached the sink, so neither ledger key was ever used: they are written together under the first's).
     */
    static final int FLAG_CONTINUES_GROUP = 2;

    private RecordCodec() {
    }

    /** The fixed part of a body in {@code format} (1 or 2). */
    static int bodyFixed(int format) {
        return format == 1 ? BODY_FIXED_V1 : BODY_FIXED;
    }

    /** Whole record size (prefix + body) in the current format. */
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

    /** Encodes into {@code buf} (cleared, little-endian, large enough) in the current format and flips it. */
    static void encode(ByteBuffer buf, CRC32C crc, EventBatch batch, byte[] runId, long firstEvent, long nowMillis,
                       int flags) {
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
        buf.put((byte) flags);
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
    static int validate(ByteBuffer body, int expectedCrc, CRC32C crc, int format) {
        crc.reset();
        crc.update(body.duplicate());
        if ((int) crc.getValue() != expectedCrc) {
            return -1;
        }
        final int fixed = bodyFixed(format);
        final int length = body.remaining();
        if (length < fixed) {
            return -1;
        }
        final int p = body.position();
        final int runIdLength = body.get(p + 16) & 0xFF;
        if (length < fixed + runIdLength) {
            return -1;
        }
        final int count = body.getInt(p + 16 + 1 + runIdLength + 8);
        if (count < 0 || (long) fixed + runIdLength + (long) BYTES_PER_EVENT * count != length) {
            return -1;
        }
        return count;
    }

    /** Whether a validated body of {@code format} is commit-acknowledged (format 1: always, conservatively). */
    static boolean commitAcknowledged(ByteBuffer body, int format) {
        if (format == 1) {
            return true;
        }
        final int p = body.position();
        final int runIdLength = body.get(p + 16) & 0xFF;
        return (body.get(p + 16 + 1 + runIdLength + 8 + 4) & FLAG_COMMIT_ACKNOWLEDGED) != 0;
    }

    /** Whether a validated body continues the previous record's replay group (format 1: never). */
    static boolean continuesGroup(ByteBuffer body, int format) {
        if (format == 1) {
            return false;
        }
        final int p = body.position();
        final int runIdLength = body.get(p + 16) & 0xFF;
        return (body.get(p + 16 + 1 + runIdLength + 8 + 4) & FLAG_CONTINUES_GROUP) != 0;
    }

    static long firstEvent(ByteBuffer body) {
        return body.getLong(body.position());
    }

    static long spooledAtMillis(ByteBuffer body) {
        final int p = body.position();
        return body.getLong(p + 17 + (body.get(p + 16) & 0xFF));
    }

    /** Decodes a validated body into the batch. */
    static void decode(ByteBuffer body, int count, SpooledBatch into, int format) {
        decode(body, count, into, format, false);
    }

    /**
     * Decodes a validated body into the batch: replacing its events and ledger key, or (more) appending its events
     * after the batch's, which keeps the key of the group's first record.
     */
    static void decode(ByteBuffer body, int count, SpooledBatch into, int format, boolean more) {
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
        final int at = more ? into.size() : 0;
        if (more) {
            into.grow(count);
        } else {
            into.reset(runId, batchId, spooledAt, count);
        }
        int q = p + 17 + runIdLength + 8 + 4 + (format == 1 ? 0 : 1);
        final long[] times = into.times();
        for (int i = at; i < at + count; i++, q += 8) {
            times[i] = body.getLong(q);
        }
        final int[] sources = into.sources();
        for (int i = at; i < at + count; i++, q += 4) {
            sources[i] = body.getInt(q);
        }
        final short[] kinds = into.kinds();
        for (int i = at; i < at + count; i++, q += 2) {
            kinds[i] = body.getShort(q);
        }
        final double[] values = into.values();
        for (int i = at; i < at + count; i++, q += 8) {
            values[i] = body.getDouble(q);
        }
        final long[] seqs = into.sequences();
        for (int i = at; i < at + count; i++, q += 8) {
            seqs[i] = body.getLong(q);
        }
        into.computeRange();
    }
}
