package dev.spillway.telemetry.timescale;

import dev.spillway.telemetry.sink.EventBatch;

import java.nio.ByteBuffer;
import java.sql.SQLException;

/**
 * Encodes events in PostgreSQL's binary COPY format ({@code COPY ... FROM STDIN (FORMAT binary)}) for the columns
 * {@code (time timestamptz, source_id int4, kind int2, value float8, seq int8)}, into one reusable buffer that is
 * handed to the COPY stream whenever it fills: no allocation per row or per batch.
 *
 * <p>Not thread-safe: one encoder per thread (or per connection).
 *
 * <p>Time: PostgreSQL stores {@code timestamptz} as microseconds since 2000-01-01 00:00:00 UTC; events carry
 * nanoseconds since the Unix epoch. The sub-microsecond part is dropped by rounding toward negative infinity
 * ({@link Math#floorDiv}), so an event 1 ns before a microsecond boundary stays in the earlier microsecond, also for
 * times before 1970 (where plain division would round toward zero, i.e. up). Every {@code long} nanosecond value
 * (years 1677 to 2262) is inside PostgreSQL's timestamp range, so encoding cannot fail.
 */
public final class BinaryCopyEncoder {

    /** Bytes per encoded row: field count, then five (length, value) pairs. */
    public static final int ROW_BYTES = 2 + (4 + 8) + (4 + 4) + (4 + 2) + (4 + 8) + (4 + 8);

    /** Microseconds from the Unix epoch to PostgreSQL's epoch, 2000-01-01T00:00:00Z. */
    public static final long PG_EPOCH_OFFSET_MICROS = 946_684_800_000_000L;

    /** Default buffer size: large enough to make COPY messages cheap, small enough to stay in cache. */
    public static final int DEFAULT_BUFFER_BYTES = 64 * 1024;

    private static final byte[] HEADER = {
        'P', 'G', 'C', 'O', 'P', 'Y', '\n', (byte) 0xFF, '\r', '\n', 0, // signature
        0, 0, 0, 0, // flags: no OIDs
        0, 0, 0, 0, // header extension length
    };
    private static final short FIELD_COUNT = 5;
    private static final short TRAILER = -1;

    private final byte[] bytes;
    private final ByteBuffer buffer; // big-endian by default, which is what the COPY format wants

    /** An encoder with a {@link #DEFAULT_BUFFER_BYTES} buffer. */
    public BinaryCopyEncoder() {
        this(DEFAULT_BUFFER_BYTES);
    }

    /** @param bufferBytes size of the reusable buffer; at least the header plus one row and the trailer */
    public BinaryCopyEncoder(int bufferBytes) {
        if (bufferBytes < HEADER.length + ROW_BYTES + 2) {
            throw new IllegalArgumentException("bufferBytes must be at least " + (HEADER.length + ROW_BYTES + 2)
                + ", was " + bufferBytes);
        }
        this.bytes = new byte[bufferBytes];
        this.buffer = ByteBuffer.wrap(bytes);
    }

    /** Receives encoded bytes; {@code org.postgresql.copy.CopyIn::writeToCopy} fits. */
    @FunctionalInterface
    public interface ChunkWriter {
        /** Consumes {@code bytes[offset, offset+length)}; the array is reused after the call returns. */
        void write(byte[] bytes, int offset, int length) throws SQLException;
    }

    /**
     * Encodes rows {@code [from, to)} of the batch as one complete COPY stream (header, rows, trailer) and passes
     * it to {@code out} in buffer-sized chunks.
     */
    public void encode(EventBatch batch, int from, int to, ChunkWriter out) throws SQLException {
        buffer.clear();
        buffer.put(HEADER);
        for (int i = from; i < to; i++) {
            if (buffer.remaining() < ROW_BYTES) {
                flush(out);
            }
            buffer.putShort(FIELD_COUNT);
            buffer.putInt(8).putLong(toPgMicros(batch.timestampNanos(i)));
            buffer.putInt(4).putInt(batch.sourceId(i));
            buffer.putInt(2).putShort(batch.kind(i));
            buffer.putInt(8).putLong(Double.doubleToRawLongBits(batch.value(i)));
            buffer.putInt(8).putLong(batch.sequence(i));
        }
        if (buffer.remaining() < 2) {
            flush(out);
        }
        buffer.putShort(TRAILER);
        flush(out);
    }

    /**
     * Encodes the rows {@code indices[0, count)} of the batch, in that order, as one complete COPY stream (the
     * {@link StorageLayout#BLOCKS} layout's rows table).
     */
    void encode(EventBatch batch, int[] indices, int count, ChunkWriter out) throws SQLException {
        buffer.clear();
        buffer.put(HEADER);
        for (int k = 0; k < count; k++) {
            if (buffer.remaining() < ROW_BYTES) {
                flush(out);
            }
            final int i = indices[k];
            buffer.putShort(FIELD_COUNT);
            buffer.putInt(8).putLong(toPgMicros(batch.timestampNanos(i)));
            buffer.putInt(4).putInt(batch.sourceId(i));
            buffer.putInt(2).putShort(batch.kind(i));
            buffer.putInt(8).putLong(Double.doubleToRawLongBits(batch.value(i)));
            buffer.putInt(8).putLong(batch.sequence(i));
        }
        if (buffer.remaining() < 2) {
            flush(out);
        }
        buffer.putShort(TRAILER);
        flush(out);
    }

    private void flush(ChunkWriter out) throws SQLException {
        if (buffer.position() > 0) {
            out.write(bytes, 0, buffer.position());
            buffer.clear();
        }
    }

    /**
     * Nanoseconds since the Unix epoch to PostgreSQL microseconds since 2000-01-01 UTC, truncating toward negative
     * infinity (see the class comment).
     */
    public static long toPgMicros(long epochNanos) {
        return Math.floorDiv(epochNanos, 1_000L) - PG_EPOCH_OFFSET_MICROS;
    }
}
