package dev.spillway.ingest.series;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.zip.CRC32C;

/**
 * What the series catalogue must remember on local disk to ride out a database outage: sequence limits reserved
 * while the database could not be asked, and series first seen meanwhile (with their provisional ids). Kept beside
 * the spool ({@code series.journal}, {@code instance.id}, {@code series.lock}), written only during an outage and
 * emptied once the database holds all of it again, so a collector with a healthy database never touches it.
 *
 * <p>Each append is forced to disk before it returns: a number or a provisional id is handed out only once the
 * record that covers it is durable, so neither a crash nor a power loss can make a restarted collector reuse one.
 *
 * <p>Records: {@code u32 length | u32 CRC32C of the payload | payload}, payload {@code u8 type} then
 * <ul>
 *   <li>type 1, limit: {@code i32 id, i64 limit} (every number of series {@code id} below {@code limit} may be
 *       used);</li>
 *   <li>type 2, provisional series: {@code i32 id (negative), i64 limit, string measurement, i32 n, n strings
 *       (tag key, value alternating), string field}; strings are {@code i32 length | UTF-8}.</li>
 * </ul>
 * A torn or corrupt tail (a crash in the middle of an append) ends the file: it is cut off at the last whole
 * record, which can only lose a record whose append had not returned, i.e. whose numbers were never handed out.
 *
 * <p>Thread-safe: appends, reads and truncation are serialised on this object.
 */
public final class LocalSeriesStore implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(LocalSeriesStore.class);

    static final String FILE = "series.journal";
    static final String INSTANCE = "instance.id";
    static final String LOCK = "series.lock";
    private static final byte LIMIT = 1;
    private static final byte CREATE = 2;
    private static final int MAX_RECORD = 1 << 20;

    private final Path dir;
    private final String instance;
    private final FileChannel channel;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private final Contents contents;
    private long records;

    /** A provisional series as recorded: created while the database was down. */
    record Created(int id, long limit, String measurement, List<String> tags, String field) {
    }

    /** What the file held when it was opened. */
    record Contents(Map<Integer, Long> limits, List<Created> created) {
    }

    private LocalSeriesStore(Path dir, String instance, FileChannel channel, FileChannel lockChannel, FileLock lock,
                             Contents contents, long records) {
        this.dir = dir;
        this.instance = instance;
        this.channel = channel;
        this.lockChannel = lockChannel;
        this.lock = lock;
        this.contents = contents;
        this.records = records;
    }

    /**
     * Opens (creating if needed) the store in {@code dir}, reads what an earlier run left and takes the directory's
     * series lock.
     *
     * @throws IOException when the directory cannot be used, or another process holds it
     */
    public static LocalSeriesStore open(Path dir) throws IOException {
        return open(dir, false);
    }

    /**
     * Opens the store of a NATS-only edge, which is its series catalogue for good and never emptied: the limit
     * records that pile up while it runs are folded into one record per series at every start (the file rewritten
     * beside it, forced, and moved over it).
     */
    public static LocalSeriesStore openCatalogue(Path dir) throws IOException {
        return open(dir, true);
    }

    private static LocalSeriesStore open(Path dir, boolean compact) throws IOException {
        Files.createDirectories(dir);
        final FileChannel lockChannel = FileChannel.open(dir.resolve(LOCK), StandardOpenOption.CREATE,
            StandardOpenOption.WRITE);
        FileLock lock = null;
        try {
            try {
                lock = lockChannel.tryLock();
            } catch (java.nio.channels.OverlappingFileLockException e) {
                lock = null; // held by another collector in this process
            }
            if (lock == null) {
                throw new IOException("series store " + dir.toAbsolutePath() + " is locked by another process");
            }
            final String instance = instance(dir);
            final FileChannel ch = FileChannel.open(dir.resolve(FILE), StandardOpenOption.CREATE,
                StandardOpenOption.READ, StandardOpenOption.WRITE);
            final Map<Integer, Long> limits = new HashMap<>();
            final List<Created> created = new ArrayList<>();
            final long[] count = {0};
            final long good = read(ch, limits, created, count);
            if (compact && count[0] > created.size()) {
                ch.close();
                final List<Created> folded = new ArrayList<>(created.size());
                for (Created cr : created) {
                    folded.add(new Created(cr.id(), Math.max(cr.limit(), limits.getOrDefault(cr.id(), cr.limit())),
                        cr.measurement(), cr.tags(), cr.field()));
                }
                final Path tmp = dir.resolve(FILE + ".tmp");
                try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                    for (Created cr : folded) {
                        final ByteBuffer b = createRecord(cr.id(), cr.limit(), cr.measurement(), cr.tags(), cr.field());
                        while (b.hasRemaining()) {
                            out.write(b);
                        }
                    }
                    out.force(true);
                }
                Files.move(tmp, dir.resolve(FILE), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
                forceDirectory(dir);
                LOG.info("{}: folded {} records into {} (one per series)", dir.resolve(FILE), count[0], folded.size());
                final FileChannel again = FileChannel.open(dir.resolve(FILE), StandardOpenOption.READ,
                    StandardOpenOption.WRITE);
                final Map<Integer, Long> foldedLimits = new HashMap<>();
                for (Created cr : folded) {
                    foldedLimits.put(cr.id(), cr.limit());
                }
                again.position(again.size());
                return new LocalSeriesStore(dir, instance, again, lockChannel, lock,
                    new Contents(foldedLimits, folded), folded.size());
            }
            if (good < ch.size()) {
                LOG.warn("{}: cut a torn or corrupt tail of {} bytes at byte {} (an append that never returned)",
                    dir.resolve(FILE), ch.size() - good, good);
                ch.truncate(good);
                ch.force(true);
            }
            ch.position(good);
            return new LocalSeriesStore(dir, instance, ch, lockChannel, lock, new Contents(limits, created), count[0]);
        } catch (IOException | RuntimeException e) {
            if (lock != null) {
                lock.release();
            }
            lockChannel.close();
            throw e;
        }
    }

    /** This directory's instance id: a random UUID made once, naming this collector's provisional series. */
    private static String instance(Path dir) throws IOException {
        final Path p = dir.resolve(INSTANCE);
        if (Files.exists(p)) {
            final String s = Files.readString(p, StandardCharsets.US_ASCII).trim();
            if (!s.isEmpty()) {
                return s;
            }
        }
        final String id = UUID.randomUUID().toString();
        final Path tmp = dir.resolve(INSTANCE + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
            StandardOpenOption.TRUNCATE_EXISTING)) {
            ch.write(ByteBuffer.wrap((id + "\n").getBytes(StandardCharsets.US_ASCII)));
            ch.force(true);
        }
        Files.move(tmp, p, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        forceDirectory(dir);
        return id;
    }

    private static void forceDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException e) {
            LOG.debug("fsync of directory {} not supported: {}", dir, e.toString());
        }
    }

    /** @return the length of the intact prefix */
    private static long read(FileChannel ch, Map<Integer, Long> limits, List<Created> created, long[] count)
        throws IOException {
        final long size = ch.size();
        final ByteBuffer head = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        long pos = 0;
        while (pos + 8 <= size) {
            head.clear();
            if (readFully(ch, head, pos) < 8) {
                break;
            }
            head.flip();
            final int len = head.getInt();
            final int crc = head.getInt();
            if (len <= 0 || len > MAX_RECORD || pos + 8 + len > size) {
                break;
            }
            final ByteBuffer body = ByteBuffer.allocate(len).order(ByteOrder.LITTLE_ENDIAN);
            if (readFully(ch, body, pos + 8) < len) {
                break;
            }
            final CRC32C c = new CRC32C();
            c.update(body.array(), 0, len);
            if ((int) c.getValue() != crc) {
                break;
            }
            body.flip();
            try {
                final byte type = body.get();
                if (type == LIMIT) {
                    limits.merge(body.getInt(), body.getLong(), Math::max);
                } else if (type == CREATE) {
                    final int id = body.getInt();
                    final long limit = body.getLong();
                    final String m = string(body);
                    final int n = body.getInt();
                    final List<String> tags = new ArrayList<>(n);
                    for (int i = 0; i < n; i++) {
                        tags.add(string(body));
                    }
                    final String f = string(body);
                    created.add(new Created(id, limit, m, List.copyOf(tags), f));
                    limits.merge(id, limit, Math::max);
                } else {
                    break;
                }
            } catch (RuntimeException e) {
                break; // a record that does not parse is treated like a torn one
            }
            count[0]++;
            pos += 8 + len;
        }
        return pos;
    }

    private static int readFully(FileChannel ch, ByteBuffer b, long pos) throws IOException {
        int total = 0;
        while (b.hasRemaining()) {
            final int n = ch.read(b, pos + total);
            if (n < 0) {
                break;
            }
            total += n;
        }
        return total;
    }

    private static String string(ByteBuffer b) {
        final int len = b.getInt();
        if (len < 0 || len > b.remaining()) {
            throw new IllegalStateException("bad string length " + len);
        }
        final byte[] bytes = new byte[len];
        b.get(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    /** The directory's instance id. */
    public String instance() {
        return instance;
    }

    /** Where the store lives. */
    public Path directory() {
        return dir;
    }

    /** What the file held when opened (an earlier run's outage that the database has not seen yet). */
    Contents contents() {
        return contents;
    }

    /** Whether the file holds any record. */
    synchronized boolean isEmpty() {
        return records == 0;
    }

    /** Records that series {@code ids[i]} may use every number below {@code limits[i]}; durable on return. */
    synchronized void appendLimits(int[] ids, long[] limits, int n) throws IOException {
        final ByteBuffer b = ByteBuffer.allocate(n * (8 + 13)).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            final int start = b.position();
            b.putInt(13).putInt(0).put(LIMIT).putInt(ids[i]).putLong(limits[i]);
            final CRC32C c = new CRC32C();
            c.update(b.array(), start + 8, 13);
            b.putInt(start + 4, (int) c.getValue());
        }
        b.flip();
        write(b);
        records += n;
    }

    /** Records a provisional series and its first reserved limit; durable on return. */
    synchronized void appendCreate(int id, long limit, String measurement, List<String> tags, String field)
        throws IOException {
        write(createRecord(id, limit, measurement, tags, field));
        records++;
    }

    /** A provisional series' record, ready to write. */
    private static ByteBuffer createRecord(int id, long limit, String measurement, List<String> tags, String field) {
        final List<byte[]> strings = new ArrayList<>();
        strings.add(measurement.getBytes(StandardCharsets.UTF_8));
        for (String t : tags) {
            strings.add(t.getBytes(StandardCharsets.UTF_8));
        }
        strings.add(field.getBytes(StandardCharsets.UTF_8));
        int len = 1 + 4 + 8 + 4;
        for (byte[] s : strings) {
            len += 4 + s.length;
        }
        final ByteBuffer b = ByteBuffer.allocate(8 + len).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(len).putInt(0).put(CREATE).putInt(id).putLong(limit);
        b.putInt(strings.get(0).length).put(strings.get(0));
        b.putInt(tags.size());
        for (int i = 1; i <= tags.size(); i++) {
            b.putInt(strings.get(i).length).put(strings.get(i));
        }
        final byte[] f = strings.get(strings.size() - 1);
        b.putInt(f.length).put(f);
        final CRC32C c = new CRC32C();
        c.update(b.array(), 8, len);
        b.putInt(4, (int) c.getValue());
        b.flip();
        return b;
    }

    private void write(ByteBuffer b) throws IOException {
        final long start = channel.position();
        try {
            while (b.hasRemaining()) {
                channel.write(b);
            }
            channel.force(false);
        } catch (IOException e) {
            // Leave no half record for the next append to follow: it would hide every later record at load.
            try {
                channel.truncate(start);
                channel.position(start);
            } catch (IOException again) {
                e.addSuppressed(again);
            }
            throw e;
        }
    }

    /** Empties the file: everything it held is in the database now. */
    synchronized void clear() throws IOException {
        channel.truncate(0);
        channel.position(0);
        channel.force(true);
        records = 0;
    }

    @Override
    public synchronized void close() {
        try {
            channel.close();
        } catch (IOException e) {
            LOG.debug("closing {} failed", dir.resolve(FILE), e);
        }
        try {
            lock.release();
            lockChannel.close();
        } catch (IOException e) {
            LOG.debug("releasing {} failed", dir.resolve(LOCK), e);
        }
    }
}
