package dev.spillway.ingest.resend;

import dev.spillway.runtime.lifecycle.ServiceThreads;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.zip.CRC32C;

/**
 * The window's memory across a crash: one fixed-size record per request first seen, appended (written to the
 * kernel, so it survives {@code kill -9}) before any of the request's events enters the pipeline. A restarted
 * collector reads the records of the last window and treats each such request as "may be partly stored".
 *
 * <p>Files {@code resend-<n>.journal} beside the spool; a new one every {@code rotateRecords} records; a file is
 * deleted once its newest record is older than the window, or when the files hold more than the window's request
 * bound plus one file. Record (56 bytes, little-endian): {@code u32 CRC32C of the rest | i64 wall-clock millis |
 * i64 the request's default time (nanos) | i64 identity hi | i64 identity lo | i64 body digest hi | i64 body digest
 * lo | u8 flags (1 = keyed) | 3 bytes zero}. A torn or corrupt record ends its file (a crash mid-append: that
 * request's events never entered the pipeline). Forced to disk at most once a second by a background thread, so a
 * power loss can forget the last second's requests (a {@code kill -9} cannot).
 *
 * <p>Thread-safe.
 */
final class ResendJournal implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ResendJournal.class);
    static final int RECORD = 56;
    private static final String PREFIX = "resend-";
    private static final String SUFFIX = ".journal";

    /** A request recorded by an earlier run. */
    record Entry(long wallMillis, long nowNanos, RequestIdentity identity) {
    }

    private final Path dir;
    private final long windowMillis;
    private final int rotateRecords;
    private final int maxFiles;
    private final TreeMap<Long, Long> files = new TreeMap<>(); // file number -> newest record's wall millis
    private FileChannel current;
    private long currentNumber;
    private int currentRecords;
    private boolean dirty;
    private static final long SYNC_PERIOD_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final Thread syncer;
    private volatile boolean closed;
    private long failures;

    private ResendJournal(Path dir, long windowMillis, int maxRequests) {
        this.dir = dir;
        this.windowMillis = windowMillis;
        this.rotateRecords = Math.max(1_000, maxRequests / 4);
        this.maxFiles = (maxRequests + rotateRecords - 1) / rotateRecords + 1;
        this.syncer = ServiceThreads.single("resend-journal-sync").newThread(this::syncLoop);
    }

    /**
     * Opens the journal in {@code dir} and reads what earlier runs recorded within the window.
     *
     * @param loaded receives the records of the last window, oldest first
     */
    static ResendJournal open(Path dir, long windowMillis, int maxRequests, long nowMillis, List<Entry> loaded)
        throws IOException {
        Files.createDirectories(dir);
        final ResendJournal j = new ResendJournal(dir, windowMillis, maxRequests);
        final TreeMap<Long, Path> found = new TreeMap<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, PREFIX + "*" + SUFFIX)) {
            for (Path p : ds) {
                final String name = p.getFileName().toString();
                try {
                    found.put(Long.parseLong(name.substring(PREFIX.length(), name.length() - SUFFIX.length())), p);
                } catch (NumberFormatException e) {
                    LOG.warn("ignoring {}: not a journal file of this collector", p);
                }
            }
        }
        long last = 0;
        for (var e : found.entrySet()) {
            final long newest = read(e.getValue(), nowMillis - windowMillis, loaded);
            j.files.put(e.getKey(), newest);
            last = e.getKey();
        }
        j.currentNumber = last; // the next append starts a new file: never append after a torn tail
        j.prune(nowMillis);
        j.syncer.start();
        return j;
    }

    /** @return the newest record's wall millis in the file (0 if none) */
    private static long read(Path p, long since, List<Entry> out) throws IOException {
        long newest = 0;
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
            final ByteBuffer b = ByteBuffer.allocate(RECORD).order(ByteOrder.LITTLE_ENDIAN);
            long pos = 0;
            while (true) {
                b.clear();
                int n = 0;
                while (b.hasRemaining()) {
                    final int r = ch.read(b, pos + n);
                    if (r < 0) {
                        break;
                    }
                    n += r;
                }
                if (n < RECORD) {
                    break;
                }
                final CRC32C c = new CRC32C();
                c.update(b.array(), 4, RECORD - 4);
                b.flip();
                if (b.getInt() != (int) c.getValue()) {
                    LOG.warn("{}: a torn or corrupt record at byte {} ends the file", p, pos);
                    break;
                }
                final long wall = b.getLong();
                final long nowNanos = b.getLong();
                final RequestIdentity id = new RequestIdentity(b.getLong(), b.getLong(), b.getLong(), b.getLong(),
                    (b.get() & 1) != 0);
                newest = Math.max(newest, wall);
                if (wall >= since) {
                    out.add(new Entry(wall, nowNanos, id));
                }
                pos += RECORD;
            }
        }
        return newest;
    }

    /** Appends one request's record (written to the kernel on return, forced within a second). */
    synchronized void append(long wallMillis, long nowNanos, RequestIdentity id) throws IOException {
        if (closed) {
            throw new IOException("journal closed");
        }
        if (current == null || currentRecords >= rotateRecords) {
            rotate(wallMillis);
        }
        final ByteBuffer b = ByteBuffer.allocate(RECORD).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0).putLong(wallMillis).putLong(nowNanos).putLong(id.hi()).putLong(id.lo()).putLong(id.bodyHi())
            .putLong(id.bodyLo()).put((byte) (id.keyed() ? 1 : 0)).put((byte) 0).put((byte) 0).put((byte) 0);
        final CRC32C c = new CRC32C();
        c.update(b.array(), 4, RECORD - 4);
        b.putInt(0, (int) c.getValue());
        b.flip();
        final long start = current.position();
        try {
            while (b.hasRemaining()) {
                current.write(b);
            }
        } catch (IOException e) {
            current.truncate(start); // no half record for the next one to follow
            current.position(start);
            throw e;
        }
        currentRecords++;
        files.put(currentNumber, wallMillis);
        dirty = true;
    }

    private void rotate(long nowMillis) throws IOException {
        if (current != null) {
            current.force(false);
            current.close();
        }
        currentNumber++;
        current = FileChannel.open(dir.resolve(PREFIX + currentNumber + SUFFIX), StandardOpenOption.CREATE,
            StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
        currentRecords = 0;
        files.put(currentNumber, nowMillis);
        prune(nowMillis);
    }

    /** Deletes files whose newest record left the window, and the oldest beyond the request bound. */
    private void prune(long nowMillis) {
        while (!files.isEmpty()) {
            final var oldest = files.firstEntry();
            if (oldest.getKey() == currentNumber && current != null) {
                break;
            }
            if (oldest.getValue() >= nowMillis - windowMillis && files.size() <= maxFiles) {
                break;
            }
            try {
                Files.deleteIfExists(dir.resolve(PREFIX + oldest.getKey() + SUFFIX));
            } catch (IOException e) {
                LOG.warn("could not delete {}: {}", dir.resolve(PREFIX + oldest.getKey() + SUFFIX), e.toString());
                break;
            }
            files.pollFirstEntry();
        }
    }

    /** Files on disk now (for tests). */
    synchronized List<Long> fileNumbers() {
        return new ArrayList<>(files.keySet());
    }

    private void syncLoop() {
        // A timer, not synchronisation: how often the page cache is forced. close() unparks it rather than
        // interrupting it, because an interrupt during force() would close the journal's channel under close().
        while (!closed) {
            LockSupport.parkNanos(this, SYNC_PERIOD_NANOS);
            if (!closed) {
                sync();
            }
        }
    }

    private void sync() {
        final FileChannel ch;
        synchronized (this) {
            if (!dirty || current == null) {
                return;
            }
            dirty = false;
            ch = current;
        }
        try {
            ch.force(false);
        } catch (IOException e) {
            if (failures++ % 100 == 0) {
                LOG.warn("could not force {} to disk: {}", dir, e.toString());
            }
        }
    }

    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        LockSupport.unpark(syncer);
        try {
            syncer.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (this) {
            if (current != null) {
                try {
                    current.force(false);
                    current.close();
                } catch (IOException e) {
                    LOG.warn("closing {} failed: {}", dir, e.toString());
                }
            }
        }
    }
}
