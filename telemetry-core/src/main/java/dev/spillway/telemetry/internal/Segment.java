package dev.spillway.telemetry.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * One segment file: a 16-byte header ({@code SPWSEG01} and the segment id), then records. Records never span
 * segments. All state is guarded by the owning {@link Spool}'s lock.
 */
final class Segment {

    static final int HEADER = 16;
    /** "SPWSEG01" little-endian: record format 1 (no flags byte), written before issue 19; read, never appended to. */
    static final long MAGIC_V1 = 0x3130_4745_5357_5053L;
    /** "SPWSEG02" little-endian: record format 2 (a flags byte), see {@link RecordCodec}. */
    static final long MAGIC = 0x3230_4745_5357_5053L;
    /** The record format new segments are written in. */
    static final int FORMAT = 2;

    final long id;
    final Path path;
    final FileChannel channel;
    /** Bytes of readable content: the end of the last record written or found intact. */
    long size;
    /** Below this offset, records were checked at open: corrupt ones there are already counted and logged. */
    long scannedEnd;
    /** Bytes the file occupies on disk (may exceed {@link #size} when a torn region was left in place). */
    long fileBytes;
    /** Record format of this segment (1 or 2), from its header. */
    int format = FORMAT;
    /** Events of intact records not yet replayed. */
    long events;
    /**
     * Intact records not yet replayed that are commit-acknowledged: while any remain, the full policy never drops
     * this segment.
     */
    long acknowledgedRecords;
    /** Where replay starts in this segment after a restart (its first record, or the recorded replay position). */
    long replayFrom = HEADER;
    boolean dropped;

    private Segment(long id, Path path, FileChannel channel, long size) {
        this.id = id;
        this.path = path;
        this.channel = channel;
        this.size = size;
    }

    static String fileName(long id) {
        return String.format("spool-%020d.seg", id);
    }

    static long idOf(Path file) {
        final String n = file.getFileName().toString();
        if (!n.startsWith("spool-") || !n.endsWith(".seg")) {
            return -1;
        }
        try {
            return Long.parseLong(n.substring(6, n.length() - 4));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** Creates a new segment file with its header. */
    static Segment create(Path dir, long id) throws IOException {
        final Path path = dir.resolve(fileName(id));
        final FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
            StandardOpenOption.WRITE);
        try {
            final ByteBuffer header = ByteBuffer.allocate(HEADER).order(ByteOrder.LITTLE_ENDIAN);
            header.putLong(MAGIC).putLong(id).flip();
            writeFully(ch, header, 0);
        } catch (IOException e) {
            ch.close();
            Files.deleteIfExists(path);
            throw e;
        }
        final Segment s = new Segment(id, path, ch, HEADER);
        s.fileBytes = HEADER;
        s.scannedEnd = HEADER;
        return s;
    }

    /** Opens an existing segment; {@code size} is set by the caller's scan. */
    static Segment open(Path path, long id) throws IOException {
        final FileChannel ch = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
        return new Segment(id, path, ch, 0);
    }

    /** Whether the file starts with a valid header for this id; sets {@link #format} from it. */
    boolean headerValid() throws IOException {
        final ByteBuffer header = ByteBuffer.allocate(HEADER).order(ByteOrder.LITTLE_ENDIAN);
        if (readFully(channel, header, 0) < HEADER) {
            return false;
        }
        final long magic = header.getLong(0);
        if (magic != MAGIC && magic != MAGIC_V1 || header.getLong(8) != id) {
            return false;
        }
        format = magic == MAGIC ? 2 : 1;
        return true;
    }

    long fileSize() throws IOException {
        return channel.size();
    }

    static void writeFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long p = position;
        while (buf.hasRemaining()) {
            p += ch.write(buf, p);
        }
    }

    /** Reads until the buffer is full or the file ends; returns the bytes read. */
    static int readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        int total = 0;
        while (buf.hasRemaining()) {
            final int n = ch.read(buf, position + total);
            if (n < 0) {
                break;
            }
            total += n;
        }
        return total;
    }

    @Override
    public String toString() {
        return path.getFileName().toString();
    }
}
