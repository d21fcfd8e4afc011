package dev.spillway.telemetry.nats;

import dev.spillway.telemetry.sink.EventBatch;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The wire format of one batch in one JetStream message: a version byte, the batch's ledger key, then the five
 * columns one after another, so that similar values sit together and small deltas stay small.
 *
 * <pre>
 * version 1:
 *   u8      version (1)
 *   u8      n = length of the origin run id, 1..255; then n bytes of ASCII
 *   i64     batch id (big-endian)
 *   varint  count, 1..{@link #MAX_EVENTS}
 *   column time:     i64 first timestamp (big-endian), then count-1 zigzag varint deltas to the previous event
 *   column source:   count zigzag varints
 *   column kind:     count zigzag varints
 *   column value:    count IEEE-754 doubles (big-endian bits)
 *   column sequence: count zigzag varint deltas to the previous event's sequence (the first to 0)
 * </pre>
 *
 * A version this code does not know, a truncated body or trailing bytes are refused with an
 * {@link IllegalArgumentException}: a permanent error, never retried.
 *
 * <p>An instance holds a growable scratch buffer: use one per thread.
 */
public final class BatchCodec {

    /** The version byte this code writes. */
    public static final byte VERSION = 1;
    /** Most events one message may carry (a guard against allocating for a corrupt count). */
    public static final int MAX_EVENTS = 1 << 20;

    private byte[] buf = new byte[64 * 1024];
    private int pos;

    /**
     * Encodes the batch into a new array sized exactly to the message.
     *
     * @param originRunId the run id of the pipeline that cut the batch (ASCII, 1..255 characters)
     */
    public byte[] encode(EventBatch batch, String originRunId) {
        final int n = batch.size();
        if (n < 1 || n > MAX_EVENTS) {
            throw new IllegalArgumentException("a batch must hold 1.." + MAX_EVENTS + " events, had " + n);
        }
        final byte[] run = originRunId.getBytes(StandardCharsets.US_ASCII);
        if (run.length < 1 || run.length > 255) {
            throw new IllegalArgumentException("run id must be 1..255 ASCII characters, was \"" + originRunId + '"');
        }
        pos = 0;
        ensure(2 + run.length + 8 + 5 + n * 40);
        buf[pos++] = VERSION;
        buf[pos++] = (byte) run.length;
        System.arraycopy(run, 0, buf, pos, run.length);
        pos += run.length;
        putLong(batch.batchId());
        putVarint(n);
        long previous = batch.timestampNanos(0);
        putLong(previous);
        for (int i = 1; i < n; i++) {
            final long t = batch.timestampNanos(i);
            putZigzag(t - previous);
            previous = t;
        }
        for (int i = 0; i < n; i++) {
            putZigzag(batch.sourceId(i));
        }
        for (int i = 0; i < n; i++) {
            putZigzag(batch.kind(i));
        }
        for (int i = 0; i < n; i++) {
            putLong(Double.doubleToRawLongBits(batch.value(i)));
        }
        long previousSeq = 0;
        for (int i = 0; i < n; i++) {
            final long s = batch.sequence(i);
            putZigzag(s - previousSeq);
            previousSeq = s;
        }
        return Arrays.copyOf(buf, pos);
    }

    /**
     * Decodes a message body into {@code into} (whose arrays grow as needed and are reused).
     *
     * @throws IllegalArgumentException for an unknown version, a bad count, a truncated body or trailing bytes
     */
    public static void decode(byte[] body, DecodedBatch into) {
        final Reader r = new Reader(body);
        final int version = r.u8();
        if (version != VERSION) {
            throw new IllegalArgumentException("unknown batch encoding version " + version + " (this build reads "
                + VERSION + ")");
        }
        final int runLength = r.u8();
        if (runLength < 1) {
            throw new IllegalArgumentException("empty origin run id");
        }
        final String run = new String(body, r.take(runLength), runLength, StandardCharsets.US_ASCII);
        final long batchId = r.i64();
        final long count = r.varint();
        if (count < 1 || count > MAX_EVENTS) {
            throw new IllegalArgumentException("event count " + count + " outside 1.." + MAX_EVENTS);
        }
        final int n = (int) count;
        // Each event takes at least 11 bytes (8 for the value, 1 per varint column): refuse before allocating.
        if ((long) n * 11 > body.length) {
            throw new IllegalArgumentException("body of " + body.length + " bytes cannot hold " + n + " events");
        }
        into.reset(run, batchId, n);
        long t = r.i64();
        into.timestampNanos[0] = t;
        for (int i = 1; i < n; i++) {
            t += unzigzag(r.varint());
            into.timestampNanos[i] = t;
        }
        for (int i = 0; i < n; i++) {
            into.sourceId[i] = (int) unzigzag(r.varint());
        }
        for (int i = 0; i < n; i++) {
            into.kind[i] = (short) unzigzag(r.varint());
        }
        for (int i = 0; i < n; i++) {
            into.value[i] = Double.longBitsToDouble(r.i64());
        }
        long s = 0;
        for (int i = 0; i < n; i++) {
            s += unzigzag(r.varint());
            into.sequence[i] = s;
        }
        if (r.pos != body.length) {
            throw new IllegalArgumentException((body.length - r.pos) + " trailing bytes after " + n + " events");
        }
        into.computeTimeRange();
    }

    private void ensure(int extra) {
        if (pos + extra > buf.length) {
            buf = Arrays.copyOf(buf, Math.max(buf.length * 2, pos + extra));
        }
    }

    private void putLong(long v) {
        ensure(8);
        for (int shift = 56; shift >= 0; shift -= 8) {
            buf[pos++] = (byte) (v >>> shift);
        }
    }

    private void putZigzag(long v) {
        putVarint((v << 1) ^ (v >> 63));
    }

    private void putVarint(long v) {
        ensure(10);
        while ((v & ~0x7FL) != 0) {
            buf[pos++] = (byte) ((v & 0x7F) | 0x80);
            v >>>= 7;
        }
        buf[pos++] = (byte) v;
    }

    private static long unzigzag(long v) {
        return (v >>> 1) ^ -(v & 1);
    }

    /** Bounds-checked reads over a message body. */
    private static final class Reader {
        private final byte[] b;
        private int pos;

        Reader(byte[] b) {
            this.b = b;
        }

        int take(int n) {
            if (n > b.length - pos) {
                throw new IllegalArgumentException("truncated batch: needs " + n + " more bytes at offset " + pos
                    + " of " + b.length);
            }
            final int at = pos;
            pos += n;
            return at;
        }

        int u8() {
            return b[take(1)] & 0xFF;
        }

        long i64() {
            final int at = take(8);
            long v = 0;
            for (int i = 0; i < 8; i++) {
                v = (v << 8) | (b[at + i] & 0xFF);
            }
            return v;
        }

        long varint() {
            long v = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                final int x = u8();
                v |= (long) (x & 0x7F) << shift;
                if ((x & 0x80) == 0) {
                    return v;
                }
            }
            throw new IllegalArgumentException("varint longer than 10 bytes at offset " + pos);
        }
    }
}
