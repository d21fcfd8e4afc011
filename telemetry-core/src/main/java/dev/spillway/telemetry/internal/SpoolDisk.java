package dev.spillway.telemetry.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * The two disk operations whose speed the spool does not control: appending a record and forcing a file to the
 * device. {@link #DIRECT} is the real thing; a test passes one that is slow or stalls (a seam for the slow-disk
 * tests: no filesystem here can be made slow on demand).
 */
interface SpoolDisk {

    /** Writes all of {@code buf} at {@code position}. */
    void write(FileChannel channel, ByteBuffer buf, long position) throws IOException;

    /** Forces the file's content (not its metadata) to the device. */
    void force(FileChannel channel) throws IOException;

    /** The file channel itself. */
    SpoolDisk DIRECT = new SpoolDisk() {
        @Override
        public void write(FileChannel channel, ByteBuffer buf, long position) throws IOException {
            Segment.writeFully(channel, buf, position);
        }

        @Override
        public void force(FileChannel channel) throws IOException {
            channel.force(false);
        }
    };
}
