package dev.spillway.telemetry.timescale;

import dev.spillway.telemetry.sink.EventBatch;

import java.nio.ByteBuffer;
import java.sql.SQLException;
import java.util.Arrays;

/**
 * The {@link StorageLayout#BLOCKS} encoder: groups the events of a batch range by (source, kind), in batch order
 * within each group, and encodes every group of at least {@link StorageLayout#MIN_BLOCK_EVENTS} events as one row of
 * {@code <table>_blocks} in PostgreSQL's binary COPY format:
 * {@code (source_id int4, kind int2, time_min, time_max timestamptz, first_seq, last_seq int8, n int4,
 * times timestamptz[], vals float8[], seqs int8[])}, where {@code seqs} is NULL when the sequences are
 * {@code first_seq, first_seq + 1, ...} in order (the normal case) and {@code first_seq}/{@code last_seq} are the
 * smallest and largest sequence. The events of smaller groups are left for {@link #encodeRows} (the rows table).
 *
 * <p>Grouping is a counting sort over an open-addressing table: O(n), no allocation once the arrays have grown to
 * the largest batch seen. Not thread-safe: one per thread.
 */
final class BlockEncoder {

    private static final byte[] HEADER = {
        'P', 'G', 'C', 'O', 'P', 'Y', '\n', (byte) 0xFF, '\r', '\n', 0, 0, 0, 0, 0, 0, 0, 0, 0,
    };
    private static final short FIELD_COUNT = 10;
    /** Field count, then the fixed fields: source_id, kind, time_min, time_max, first_seq, last_seq, n. */
    private static final int FIXED_BYTES = 2 + (4 + 4) + (4 + 2) + 4 * (4 + 8) + (4 + 4);
    /** Length word plus the one-dimensional array header: ndim, has-null, element type, size, lower bound. */
    private static final int ARRAY_HEADER_BYTES = 4 + 20;
    private static final int ELEMENT_BYTES = 4 + 8;
    private static final int OID_INT8 = 20;
    private static final int OID_FLOAT8 = 701;
    private static final int OID_TIMESTAMPTZ = 1184;

    private final byte[] bytes = new byte[BinaryCopyEncoder.DEFAULT_BUFFER_BYTES];
    private final ByteBuffer buffer = ByteBuffer.wrap(bytes);
    private final BinaryCopyEncoder rowEncoder = new BinaryCopyEncoder();

    private long[] slotKey = new long[0];
    private int[] slotGroup = new int[0];
    private int[] groupCount = new int[0];
    private int[] groupStart = new int[0];
    private int[] order = new int[0];
    private int[] rowIndices = new int[0];
    private int groups;
    private int blocks;
    private int rows;

    /**
     * Groups events {@code [from, to)} of the batch; afterwards {@link #blocks()} and {@link #rows()} say what the
     * two COPY streams will hold.
     */
    void group(EventBatch batch, int from, int to) {
        final int n = to - from;
        ensureCapacity(n);
        final int mask = slotKey.length - 1;
        Arrays.fill(slotGroup, -1);
        groups = 0;
        final int[] eventGroup = order; // first pass: each event's group; rewritten below
        for (int i = from; i < to; i++) {
            final long key = ((long) batch.sourceId(i) << 16) | (batch.kind(i) & 0xFFFFL);
            int h = mix(key) & mask;
            while (slotGroup[h] >= 0 && slotKey[h] != key) {
                h = (h + 1) & mask;
            }
            if (slotGroup[h] < 0) {
                slotKey[h] = key;
                slotGroup[h] = groups;
                groupCount[groups++] = 0;
            }
            final int g = slotGroup[h];
            eventGroup[i - from] = g;
            groupCount[g]++;
        }
        blocks = 0;
        rows = 0;
        int start = 0;
        for (int g = 0; g < groups; g++) {
            groupStart[g] = start;
            start += groupCount[g];
            if (groupCount[g] >= StorageLayout.MIN_BLOCK_EVENTS) {
                blocks++;
            } else {
                rows += groupCount[g];
            }
        }
        // Second pass: place each event at its group's next position (stable: batch order within a group). The
        // events' groups move to rowIndices first (free until the row list is built below), as order is rewritten.
        System.arraycopy(eventGroup, 0, rowIndices, 0, n);
        final int[] fill = slotGroup; // reuse as the per-group fill cursor (groups <= n <= slots)
        System.arraycopy(groupStart, 0, fill, 0, groups);
        for (int i = 0; i < n; i++) {
            final int g = rowIndices[i];
            order[fill[g]++] = from + i;
        }
        int r = 0;
        for (int g = 0; g < groups; g++) {
            if (groupCount[g] < StorageLayout.MIN_BLOCK_EVENTS) {
                System.arraycopy(order, groupStart[g], rowIndices, r, groupCount[g]);
                r += groupCount[g];
            }
        }
    }

    /** Block rows the last {@link #group} produced. */
    int blocks() {
        return blocks;
    }

    /** Events of the last {@link #group} left for the rows table. */
    int rows() {
        return rows;
    }

    /** Encodes the blocks of the last {@link #group} as one complete COPY stream. */
    void encodeBlocks(EventBatch batch, BinaryCopyEncoder.ChunkWriter out) throws SQLException {
        buffer.clear();
        buffer.put(HEADER);
        for (int g = 0; g < groups; g++) {
            final int count = groupCount[g];
            if (count < StorageLayout.MIN_BLOCK_EVENTS) {
                continue;
            }
            final int start = groupStart[g];
            final int first = order[start];
            long tMin = Long.MAX_VALUE;
            long tMax = Long.MIN_VALUE;
            long sMin = Long.MAX_VALUE;
            long sMax = Long.MIN_VALUE;
            final long seq0 = batch.sequence(first);
            boolean consecutive = true;
            for (int k = 0; k < count; k++) {
                final int i = order[start + k];
                final long t = batch.timestampNanos(i);
                final long s = batch.sequence(i);
                tMin = Math.min(tMin, t);
                tMax = Math.max(tMax, t);
                sMin = Math.min(sMin, s);
                sMax = Math.max(sMax, s);
                consecutive &= s == seq0 + k;
            }
            ensure(out, FIXED_BYTES);
            buffer.putShort(FIELD_COUNT);
            buffer.putInt(4).putInt(batch.sourceId(first));
            buffer.putInt(2).putShort(batch.kind(first));
            buffer.putInt(8).putLong(BinaryCopyEncoder.toPgMicros(tMin));
            buffer.putInt(8).putLong(BinaryCopyEncoder.toPgMicros(tMax));
            buffer.putInt(8).putLong(sMin);
            buffer.putInt(8).putLong(sMax);
            buffer.putInt(4).putInt(count);
            arrayHeader(out, OID_TIMESTAMPTZ, count);
            for (int k = 0; k < count; k++) {
                ensure(out, ELEMENT_BYTES);
                buffer.putInt(8).putLong(BinaryCopyEncoder.toPgMicros(batch.timestampNanos(order[start + k])));
            }
            arrayHeader(out, OID_FLOAT8, count);
            for (int k = 0; k < count; k++) {
                ensure(out, ELEMENT_BYTES);
                buffer.putInt(8).putLong(Double.doubleToRawLongBits(batch.value(order[start + k])));
            }
            if (consecutive) {
                ensure(out, 4);
                buffer.putInt(-1); // NULL: the sequences are first_seq, first_seq + 1, ...
            } else {
                arrayHeader(out, OID_INT8, count);
                for (int k = 0; k < count; k++) {
                    ensure(out, ELEMENT_BYTES);
                    buffer.putInt(8).putLong(batch.sequence(order[start + k]));
                }
            }
        }
        ensure(out, 2);
        buffer.putShort((short) -1);
        flush(out);
    }

    /** Encodes the events of the last {@link #group} left for the rows table as one complete COPY stream. */
    void encodeRows(EventBatch batch, BinaryCopyEncoder.ChunkWriter out) throws SQLException {
        rowEncoder.encode(batch, rowIndices, rows, out);
    }

    private void arrayHeader(BinaryCopyEncoder.ChunkWriter out, int elementOid, int count) throws SQLException {
        ensure(out, ARRAY_HEADER_BYTES);
        buffer.putInt(20 + count * ELEMENT_BYTES);
        buffer.putInt(1).putInt(0).putInt(elementOid).putInt(count).putInt(1);
    }

    private void ensure(BinaryCopyEncoder.ChunkWriter out, int needed) throws SQLException {
        if (buffer.remaining() < needed) {
            flush(out);
        }
    }

    private void flush(BinaryCopyEncoder.ChunkWriter out) throws SQLException {
        if (buffer.position() > 0) {
            out.write(bytes, 0, buffer.position());
            buffer.clear();
        }
    }

    private void ensureCapacity(int n) {
        if (order.length < n) {
            order = new int[n];
            rowIndices = new int[n];
            groupCount = new int[n];
            groupStart = new int[n];
        }
        final int slots = Integer.highestOneBit(Math.max(2, n) * 2 - 1) * 2; // power of two >= 2n
        if (slotKey.length < slots) {
            slotKey = new long[slots];
            slotGroup = new int[slots];
        }
    }

    private static int mix(long key) {
        final long h = key * 0x9E37_79B9_7F4A_7C15L;
        return (int) (h ^ (h >>> 32));
    }
}
