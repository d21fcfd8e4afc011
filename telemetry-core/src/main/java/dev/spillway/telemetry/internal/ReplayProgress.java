package dev.spillway.telemetry.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32C;

/**
 * The small file that records how far replay got: {@code u64 segmentId | u64 offset | u32 crc32c}, rewritten in
 * place after every replayed batch and forced with the spool's fsync policy. Guarded by the spool's lock; the spool
 * forces {@link #channel()} outside it. A torn or stale file only makes the
 * next start replay a few batches again, which the sink's ledger turns into no-ops.
 */
final class ReplayProgress implements AutoCloseable {

    static final String FILE = "replay.progress";
    private static final int SIZE = 20;

    private final FileChannel channel;
    private final ByteBuffer buf = ByteBuffer.allocate(SIZE).order(ByteOrder.LITTLE_ENDIAN);
    private final CRC32C crc = new CRC32C();
    private boolean dirty;

    ReplayProgress(Path dir) throws IOException {
        channel = FileChannel.open(dir.resolve(FILE), StandardOpenOption.CREATE, StandardOpenOption.READ,
            StandardOpenOption.WRITE);
    }

    /** The stored position as {segmentId, offset}, or null when the file is empty or its CRC does not match. */
    long[] read() throws IOException {
        buf.clear();
        if (Segment.readFully(channel, buf, 0) < SIZE) {
            return null;
        }
        crc.reset();
        crc.update(buf.array(), 0, 16);
        if ((int) crc.getValue() != buf.getInt(16)) {
            return null;
        }
        return new long[] {buf.getLong(0), buf.getLong(8)};
    }

    void write(long segmentId, long offset) throws IOException {
        buf.clear();
        buf.putLong(segmentId).putLong(offset);
        crc.reset();
        crc.update(buf.array(), 0, 16);
        buf.putInt((int) crc.getValue()).flip();
        Segment.writeFully(channel, buf, 0);
        dirty = true;
    }

    /** Whether a write happened since the last call (the caller then forces {@link #channel()}). */
    boolean takeDirty() {
        final boolean was = dirty;
        dirty = false;
        return was;
    }

    /** After a failed force: the last write still has to be forced. */
    void markDirty(boolean again) {
        dirty |= again;
    }

    FileChannel channel() {
        return channel;
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
