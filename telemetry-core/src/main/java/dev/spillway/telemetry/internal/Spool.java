package dev.spillway.telemetry.internal;

import dev.spillway.telemetry.sink.EventBatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongSupplier;
import java.util.zip.CRC32C;

/**
 * A bounded, checksummed, segmented log of batches on local disk: workers {@link #append} batches the sink could
 * not take, one replayer {@link #peek}s the oldest and {@link #commit}s it once written.
 *
 * <p>Layout: {@code spool-<id>.seg} segment files (see {@link RecordCodec} for a record) and a small
 * {@code replay.progress} file (segment id and offset of the next record to replay). A segment is deleted once
 * everything in it was replayed (the last one too), or when the full policy drops it.
 *
 * <p>When full: each record says whether it is commit-acknowledged (a client may have been told its events are
 * durable), and each segment counts its unreplayed acknowledged records. The drop-oldest policy drops only the
 * oldest segment with none (never the one being written); when there is no such segment, or under the refuse
 * policy, the append is refused and {@link #isFull()} holds until a segment is freed.
 *
 * <p>Start-up scans every unreplayed record and checks its CRC32C. A corrupt record (bad CRC, impossible length)
 * is skipped, logged once with its file, position and size, and counted; a torn tail (power loss mid-append) is
 * truncated so appends continue after the last intact record. Nothing found on disk stops start-up.
 *
 * <p>Thread-safe: one lock guards the files and counters (taken once per batch, never per event). With the
 * interval fsync policy a daemon thread forces the current segment and the progress file at that interval,
 * outside that lock: appends go on at page-cache speed while an fsync is slow.
 *
 * <h2>Slow or stalled disk</h2>
 * Nothing can interrupt a write the kernel is blocked in, so a stalled disk holds one appending thread. Everyone
 * else waits for the lock at most {@link #DEFAULT_STALL_NANOS} (then 1 ms while the stall lasts): an append that
 * cannot get the disk in that time is refused like a disk error ({@link SpoolException}; its batch is counted
 * failed), so the workers keep taking batches and the ring keeps moving instead of backing up behind the disk.
 * The counters behind {@code stats()} and the meters are volatile fields, read without the lock: observing a
 * pipeline never waits for its disk. Close waits for the lock the same bounded time, then closes the files
 * without a final fsync (logged).
 */
final class Spool implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Spool.class);
    private static final int MAX_LOGGED_CORRUPT = 100;
    /** Longest an append (or close) waits for the disk another thread is stuck on before giving up. */
    static final long DEFAULT_STALL_NANOS = TimeUnit.SECONDS.toNanos(5);
    /** While a stall lasts, later appends give up after this much instead (so the workers keep moving). */
    private static final long STALLED_WAIT_NANOS = TimeUnit.MILLISECONDS.toNanos(1);

    private final SpoolSettings config;
    private final Path dir;
    private final LongSupplier clockMillis;
    private final ReentrantLock lock = new ReentrantLock();
    /** Serialises fsyncs (the syncer's and close's), which run outside {@link #lock}. */
    private final Object syncLock = new Object();
    private final SpoolDisk disk;
    private final long stallNanos;
    /** Set when an append gave up waiting for the disk; cleared by the next append that completes. */
    private volatile boolean stalled;
    private final ArrayDeque<Segment> segments = new ArrayDeque<>();
    private final ReplayProgress progress;
    /** Held while open: two spools on one directory would replay each other's batches. */
    private final FileChannel lockChannel;
    private final CRC32C appendCrc = new CRC32C();
    private final CRC32C readCrc = new CRC32C();
    /** The most events a replay group holds (see {@link #append(EventBatch, String, boolean, boolean)}). */
    static final int MAX_GROUP_EVENTS = 16_384;

    private final ByteBuffer prefix = ByteBuffer.allocate(RecordCodec.PREFIX).order(ByteOrder.LITTLE_ENDIAN);
    private final SpooledBatch replayBatch = new SpooledBatch();
    private ByteBuffer appendBuf = ByteBuffer.allocate(64 << 10).order(ByteOrder.LITTLE_ENDIAN);
    private ByteBuffer readBuf = ByteBuffer.allocate(64 << 10).order(ByteOrder.LITTLE_ENDIAN);

    private Segment readSegment;
    private long readOffset;
    private long nextSegmentId;
    private long nextEvent;
    private boolean dirty;

    private boolean peeked;
    private Segment peekedSegment;
    private long peekedEnd;
    private int peekedCount;
    /** Records in the peeked group, and how many of them are commit-acknowledged. */
    private int peekedRecords;
    private int peekedAcknowledgedRecords;

    /**
     * The replay group appends may continue (guarded by the lock): the segment its records are in (null: none
     * open), their run id and events. See {@link #append(EventBatch, String, boolean, boolean)}.
     */
    private Segment groupSegment;
    private byte[] groupRunId;
    private int groupEvents;

    // Written under the lock, read anywhere (gauges, stats).
    private volatile long events;
    private volatile long bytes;
    private volatile long headMillis;
    /** Unreplayed events of segments the full policy dropped. */
    private volatile long droppedEvents;
    /** Events counted as spooled that were not found intact on disk when replay caught up (runtime corruption). */
    private volatile long lostEvents;
    private volatile long droppedSegments;
    private volatile long replayedBatches;
    private volatile long replayedEvents;
    private volatile long appendedBatches;
    private volatile long appendedEvents;
    private volatile long appendedBytes;
    private volatile long corruptRecords;
    private volatile long corruptBytes;
    private volatile long appendGeneration;
    private volatile long syncedGeneration;
    private final long recoveredEvents;
    private long lostInCorrupt;

    /** An append was refused for lack of room, and no room was freed since (written under the lock). */
    private volatile boolean full;
    private volatile boolean closed;
    /** Set by {@link #close()} before its final fsync: appends are refused from then on. */
    private volatile boolean closing;
    private volatile Runnable syncListener = () -> { };
    private final Thread syncer;
    private boolean syncFailing;

    private Spool(SpoolSettings config, LongSupplier clockMillis, SpoolDisk disk, long stallNanos) throws IOException {
        this.config = config;
        this.disk = disk;
        this.stallNanos = stallNanos;
        this.dir = config.directory();
        this.clockMillis = clockMillis;
        try {
            Files.createDirectories(dir);
            lockChannel = FileChannel.open(dir.resolve("lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new IOException("spool directory " + dir.toAbsolutePath() + " is not usable (" + describe(e)
                + "); fix its permissions or free space, or configure another directory", e);
        }
        try {
            if (lockChannel.tryLock() == null) {
                throw new IOException("locked by another process");
            }
            progress = new ReplayProgress(dir);
        } catch (IOException | java.nio.channels.OverlappingFileLockException e) {
            lockChannel.close();
            throw new IOException("spool directory " + dir.toAbsolutePath() + " is not usable (" + (e instanceof IOException
                ? describe((IOException) e) : "already open in this process") + "); each pipeline needs a spool "
                + "directory of its own", e);
        }
        try {
            recoveredEvents = recover();
        } catch (IOException e) {
            closeQuietly();
            throw new IOException("spool directory " + dir.toAbsolutePath() + " could not be read: " + describe(e), e);
        }
        events = recoveredEvents;
        syncer = new Thread(this::syncLoop, "spillway-spool-sync");
        syncer.setDaemon(true);
        syncer.start();
    }

    /**
     * Opens (or creates) the spool in {@link SpoolSettings#directory()} and scans what a previous run left.
     *
     * @throws IOException with a message naming the directory when it cannot be created, written or read
     */
    public static Spool open(SpoolSettings config) throws IOException {
        return new Spool(config, System::currentTimeMillis, SpoolDisk.DIRECT, DEFAULT_STALL_NANOS);
    }

    /** Like {@link #open(SpoolSettings)} with a wall clock for spool timestamps (tests). */
    static Spool open(SpoolSettings config, LongSupplier clockMillis) throws IOException {
        return new Spool(config, clockMillis, SpoolDisk.DIRECT, DEFAULT_STALL_NANOS);
    }

    /** With a disk seam and a stall bound (the slow-disk tests). */
    static Spool open(SpoolSettings config, SpoolDisk disk, long stallNanos) throws IOException {
        return new Spool(config, System::currentTimeMillis, disk, stallNanos);
    }

    // ---------------------------------------------------------------------------------------------------- recovery

    private long recover() throws IOException {
        final List<Path> files = new ArrayList<>();
        long maxId = -1;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "spool-*")) {
            for (Path p : ds) {
                final long id = Segment.idOf(p);
                if (id >= 0) {
                    files.add(p);
                }
                maxId = Math.max(maxId, idOfAny(p));
            }
        }
        files.sort(Comparator.comparingLong(Segment::idOf));
        final long[] pos = progress.read();
        long recovered = 0;
        for (Path p : files) {
            final long id = Segment.idOf(p);
            if (pos != null && id < pos[0]) {
                Files.deleteIfExists(p); // fully replayed before the crash; its deletion was not yet done
                continue;
            }
            final Segment s = Segment.open(p, id);
            final long fileSize = s.fileSize();
            if (!s.headerValid()) {
                s.channel.close();
                final Path aside = p.resolveSibling(p.getFileName() + ".corrupt");
                Files.move(p, aside, StandardCopyOption.REPLACE_EXISTING);
                countCorrupt(s, 0, fileSize, "segment header missing or invalid; file moved to " + aside.getFileName());
                continue;
            }
            long start = Segment.HEADER;
            if (pos != null && id == pos[0]) {
                start = Math.max(Segment.HEADER, Math.min(pos[1], fileSize));
            }
            scan(s, start, fileSize);
            s.fileBytes = fileSize;
            if (s.events == 0) {
                // Nothing left to replay in it (replayed before the crash, or only torn or corrupt records, which
                // the scan counted and logged): its bytes go now, not after a replay that has nothing to read.
                s.channel.close();
                Files.deleteIfExists(p);
                continue;
            }
            s.replayFrom = start;
            recovered += s.events;
            segments.add(s);
        }
        final Segment tail = segments.peekLast();
        if (tail != null && tail.fileBytes > tail.size) {
            // A torn tail: appends continue right after the last intact record.
            tail.channel.truncate(tail.size);
            tail.channel.force(true);
            tail.fileBytes = tail.size;
        }
        long total = 0;
        for (Segment s : segments) {
            total += s.fileBytes;
        }
        bytes = total;
        nextSegmentId = maxId + 1;
        readSegment = segments.peekFirst();
        readOffset = readSegment == null ? Segment.HEADER : readSegment.replayFrom;
        if (recovered > 0 || corruptRecords > 0) {
            LOG.info("spool {}: recovered {} events in {} segment(s) ({} bytes) to replay; {} corrupt or torn record(s)"
                    + " ({} bytes) skipped{}", dir, recovered, segments.size(), total, corruptRecords, corruptBytes,
                lostInCorrupt > 0 ? ", holding " + lostInCorrupt + " events (known from the record numbering)" : "");
        }
        return recovered;
    }

    private static long idOfAny(Path p) {
        final String n = p.getFileName().toString();
        final int end = n.indexOf(".seg");
        if (!n.startsWith("spool-") || end < 0) {
            return -1;
        }
        try {
            return Long.parseLong(n.substring(6, end));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** Checks every record of {@code s} from {@code start}; sets its size, events and scanned end. */
    private void scan(Segment s, long start, long fileSize) throws IOException {
        long off = start;
        long expectedEvent = -1;
        while (off < fileSize) {
            if (off + RecordCodec.PREFIX > fileSize) {
                countCorrupt(s, off, fileSize - off, "torn record (a partial header at the end of the segment)");
                break;
            }
            prefix.clear();
            Segment.readFully(s.channel, prefix, off);
            final int length = prefix.getInt(0);
            final int crc = prefix.getInt(4);
            if (length < RecordCodec.bodyFixed(s.format) || length > fileSize - off - RecordCodec.PREFIX) {
                countCorrupt(s, off, fileSize - off, length == 0 ? "torn record (zeros where a record should start)"
                    : "torn record (length " + length + " runs past the end of the segment)");
                break;
            }
            final ByteBuffer body = readBody(s.channel, off + RecordCodec.PREFIX, length);
            final int count = body == null ? -1 : RecordCodec.validate(body, crc, readCrc, s.format);
            if (count < 0) {
                countCorrupt(s, off, RecordCodec.PREFIX + (long) length, "corrupt record (CRC32C mismatch)");
            } else {
                final long first = RecordCodec.firstEvent(body);
                if (expectedEvent >= 0 && first > expectedEvent) {
                    lostInCorrupt += first - expectedEvent;
                }
                expectedEvent = first + count;
                nextEvent = Math.max(nextEvent, expectedEvent);
                if (headMillis == 0) {
                    headMillis = RecordCodec.spooledAtMillis(body); // the oldest unreplayed record
                }
                s.events += count;
                if (RecordCodec.commitAcknowledged(body, s.format)) {
                    s.acknowledgedRecords++;
                }
            }
            off += RecordCodec.PREFIX + (long) length;
        }
        s.size = Math.min(off, fileSize);
        if (off > fileSize) {
            s.size = fileSize;
        }
        s.scannedEnd = s.size;
    }

    private void countCorrupt(Segment s, long offset, long size, String what) {
        corruptRecords++;
        corruptBytes += size;
        if (corruptRecords <= MAX_LOGGED_CORRUPT) {
            LOG.warn("spool: {} in {} at byte {}, {} bytes: skipped{}", what, s.path, offset, size,
                corruptRecords == MAX_LOGGED_CORRUPT ? " (further corrupt records are counted, not logged)" : "");
        }
    }

    /** Reads a body of {@code length} bytes into the read buffer; null when the file is shorter. */
    private ByteBuffer readBody(FileChannel ch, long position, int length) throws IOException {
        if (readBuf.capacity() < length) {
            readBuf = ByteBuffer.allocate(Math.max(length, readBuf.capacity() * 2)).order(ByteOrder.LITTLE_ENDIAN);
        }
        readBuf.clear().limit(length);
        if (Segment.readFully(ch, readBuf, position) < length) {
            return null;
        }
        readBuf.flip();
        return readBuf;
    }

    // ------------------------------------------------------------------------------------------------------ append

    /**
     * Appends a batch under ledger key ({@code runId}, {@code batch.batchId()}). With the {@code always} fsync
     * policy the record is on the device when this returns; otherwise it is once {@link #syncedGeneration()}
     * reaches the returned generation.
     *
     * @param runId the run id the sink keys this batch under (null when the sink has no ledger)
     * @return the append's generation
     * @throws SpoolException when the spool is full and must refuse (or cannot make
     *     room), the disk failed, or the disk is stalled (another append has held it longer than the stall bound);
     *     nothing of the batch is in the spool then
     */
    public long append(EventBatch batch, String runId) throws SpoolException {
        return append(batch, runId, true);
    }

    /**
     * Appends a batch; see {@link #append(EventBatch, String)}.
     *
     * @param commitAcknowledged whether a client may be told that events of this batch are durable (a commit
     *     acknowledgement waits on them): such a batch is never dropped to make room. False only for batches whose
     *     producers were promised nothing beyond acceptance.
     */
    public long append(EventBatch batch, String runId, boolean commitAcknowledged) throws SpoolException {
        return append(batch, runId, commitAcknowledged, false);
    }

    /**
     * Appends a batch; see {@link #append(EventBatch, String)}.
     *
     * <p><b>Replay groups.</b> Each replayed record costs the sink a transaction, and while the sink is down the
     * pipeline spools batches as small as its flush interval cuts them (about 400 events at 4,000 events/s and
     * 100 ms): a 30-minute outage left some 15,000 records, one commit each on replay. So consecutive records of
     * batches that <em>never reached the sink</em> ({@code neverWritten}: their ledger keys were never used, so
     * no commit of them can be ambiguous) form a group of up to {@value #MAX_GROUP_EVENTS} events in one segment,
     * replayed as one batch under the ledger key of its first record. The group is fixed on disk as it is
     * appended (a flag on each record that continues the one before), and {@link #peek()} closes the group it
     * reads to the end of (later appends start a new one), so a group is the same set of records on every read,
     * before and after a restart: a group written whose replay position was not saved is found under the same
     * key and not written twice.
     *
     * @param neverWritten whether the batch was never handed to the sink (it may then share a ledger key)
     */
    public long append(EventBatch batch, String runId, boolean commitAcknowledged, boolean neverWritten)
        throws SpoolException {
        // An interrupt must not end an append: a FileChannel closes itself when its thread is interrupted in I/O
        // (ClosedByInterruptException), which would cost this batch and every later append to that segment. The
        // status is cleared for the append and restored when it returns.
        boolean interrupted = Thread.interrupted();
        try {
            final long wait = stalled ? STALLED_WAIT_NANOS : stallNanos;
            final long waitUntil = System.nanoTime() + wait;
            boolean locked;
            while (true) {
                try {
                    locked = lock.tryLock(Math.max(0, waitUntil - System.nanoTime()), TimeUnit.NANOSECONDS);
                    break;
                } catch (InterruptedException e) {
                    interrupted = true; // the wait stays bounded by the stall bound
                }
            }
            return appendLocked(batch, runId, locked, commitAcknowledged, neverWritten);
        } finally {
            if (interrupted | Thread.interrupted()) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private long appendLocked(EventBatch batch, String runId, boolean locked, boolean commitAcknowledged,
                              boolean neverWritten) throws SpoolException {
        final byte[] rid = RecordCodec.runIdBytes(batch.runId() != null ? batch.runId() : runId);
        final int n = batch.size();
        final int length = RecordCodec.recordSize(rid.length, n);
        if (!locked) {
            stalled = true;
            throw new SpoolException("spool " + dir + " is stalled: the disk has not finished an earlier append for "
                + "over " + TimeUnit.NANOSECONDS.toMillis(stallNanos) + " ms; the batch of " + n + " events is not "
                + "spooled", false, null);
        }
        try {
            if (closed || closing) {
                throw new SpoolException("spool " + dir + " is closed", false, null);
            }
            if (length > config.segmentBytes() - Segment.HEADER) {
                throw new SpoolException("a batch of " + n + " events needs " + length + " bytes, more than a spool "
                    + "segment of " + config.segmentBytes() + " bytes holds", false, null);
            }
            if (appendBuf.capacity() < length) {
                appendBuf = ByteBuffer.allocate(Math.max(length, appendBuf.capacity() * 2));
            }
            final long now = clockMillis.getAsLong();
            Segment tail = segments.peekLast();
            // A segment of the older format is only read: appends go to a new one.
            final boolean roll = tail == null || tail.format != Segment.FORMAT
                || tail.size + length > config.segmentBytes();
            final long need = length + (roll ? Segment.HEADER : 0);
            while (bytes + need > config.maxBytes()) {
                if (!config.dropOldestWhenFull() || !dropOldestUnacknowledged()) {
                    if (!full) {
                        full = true;
                        LOG.error("spool {} is full ({} of {} bytes): refusing new batches until replay frees a "
                            + "segment", dir, bytes, config.maxBytes());
                    }
                    throw new SpoolException("spool " + dir + " is full (" + bytes + " of " + config.maxBytes()
                        + " bytes); the batch of " + n + " events is not spooled", true, null);
                }
            }
            final boolean continues = neverWritten && !roll && groupSegment != null && groupSegment == tail
                && groupEvents + (long) n <= MAX_GROUP_EVENTS && java.util.Arrays.equals(groupRunId, rid);
            RecordCodec.encode(appendBuf, appendCrc, batch, rid, nextEvent, now,
                (commitAcknowledged ? RecordCodec.FLAG_COMMIT_ACKNOWLEDGED : 0)
                    | (continues ? RecordCodec.FLAG_CONTINUES_GROUP : 0));
            final long before;
            try {
                if (roll) {
                    tail = roll();
                }
                before = tail.size;
                disk.write(tail.channel, appendBuf, before);
                if (config.fsyncAlways()) {
                    disk.force(tail.channel);
                }
            } catch (IOException e) {
                undo(tail);
                groupSegment = null;
                throw new SpoolException("spool append to " + (tail == null ? dir : tail.path) + " failed ("
                    + describe(e) + "); the batch of " + n + " events is not spooled", false, e);
            }
            stalled = false;
            if (continues) {
                groupEvents += n;
            } else if (neverWritten && n <= MAX_GROUP_EVENTS) {
                groupSegment = tail;
                groupRunId = rid;
                groupEvents = n;
            } else {
                groupSegment = null;
            }
            tail.size = before + length;
            tail.fileBytes = tail.size;
            tail.events += n;
            if (commitAcknowledged) {
                tail.acknowledgedRecords++;
            }
            bytes += length;
            if (events == 0) {
                headMillis = now;
            }
            events += n;
            nextEvent += n;
            appendedBatches++;
            appendedEvents += n;
            appendedBytes += length;
            final long gen = appendGeneration + 1;
            appendGeneration = gen;
            if (config.fsyncAlways()) {
                syncedGeneration = gen;
            } else {
                dirty = true;
            }
            return gen;
        } finally {
            lock.unlock();
        }
    }

    /** After a failed write: cut the segment back to its last complete record. */
    private void undo(Segment tail) {
        if (tail == null) {
            return;
        }
        try {
            tail.channel.truncate(tail.size);
        } catch (IOException e) {
            LOG.warn("spool: could not cut {} back to {} bytes after a failed append ({}); the partial record will be"
                + " skipped by its CRC at the next start", tail.path, tail.size, describe(e));
        }
    }

    private Segment roll() throws IOException {
        final Segment old = segments.peekLast();
        if (old != null) {
            disk.force(old.channel); // an older segment is complete on disk before a newer one exists
        }
        final Segment s = Segment.create(dir, nextSegmentId++);
        segments.add(s);
        bytes += Segment.HEADER;
        forceDirectory();
        if (readSegment == null) {
            readSegment = s;
            readOffset = Segment.HEADER;
        }
        return s;
    }

    private void forceDirectory() {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException e) {
            LOG.debug("spool: fsync of directory {} not supported: {}", dir, e.toString());
        }
    }

    /**
     * Deletes the oldest segment that holds no unreplayed commit-acknowledged record, to make room; false when
     * there is none (every older segment holds data a client was told is durable, or only the segment being written
     * is left): then the append is refused instead.
     */
    private boolean dropOldestUnacknowledged() {
        final Segment tail = segments.peekLast();
        Segment victim = null;
        for (Segment s : segments) {
            if (s == tail) {
                break;
            }
            if (s.acknowledgedRecords == 0) {
                victim = s;
                break;
            }
        }
        if (victim == null) {
            return false;
        }
        // A record the replayer is writing right now stays the replayer's: it is accounted at its commit.
        final long lost = victim.events - (peeked && peekedSegment == victim ? peekedCount : 0);
        segments.remove(victim);
        victim.dropped = true;
        delete(victim);
        events -= lost;
        droppedEvents += lost;
        droppedSegments++;
        if (readSegment == victim) {
            readSegment = segments.peekFirst();
            readOffset = Segment.HEADER;
            saveProgress();
        }
        LOG.error("spool {} full ({} of {} bytes): dropped segment {} with {} unreplayed events, none of them "
            + "awaited by a commit acknowledgement (counted as dropped, reason spool_full)", dir,
            bytes + victim.fileBytes, config.maxBytes(), victim, lost);
        return true;
    }

    private void delete(Segment s) {
        bytes -= s.fileBytes;
        if (groupSegment == s) {
            groupSegment = null;
        }
        if (full) {
            full = false;
            LOG.info("spool {}: room again ({} of {} bytes used); new batches are spooled", dir, bytes,
                config.maxBytes());
        }
        try {
            s.channel.close();
            Files.deleteIfExists(s.path);
        } catch (IOException e) {
            LOG.warn("spool: could not delete {}: {}", s.path, describe(e));
        }
    }

    // ------------------------------------------------------------------------------------------------------ replay

    /**
     * The oldest unreplayed batch, or null when the spool is empty. Calling it again before {@link #commit()}
     * returns the same batch. Replayer thread only; the batch is reused by the next peek.
     */
    public SpooledBatch peek() throws IOException {
        lock.lock();
        try {
            if (peeked) {
                return replayBatch;
            }
            while (readSegment != null) {
                final Segment seg = readSegment;
                if (readOffset >= seg.size) {
                    retire(seg); // the last one too: the next append starts a new segment
                    continue;
                }
                prefix.clear();
                Segment.readFully(seg.channel, prefix, readOffset);
                final int length = prefix.getInt(0);
                final long end = readOffset + RecordCodec.PREFIX + (long) length;
                if (length < RecordCodec.bodyFixed(seg.format) || end > seg.size) {
                    runtimeCorrupt(seg, readOffset, seg.size - readOffset);
                    readOffset = seg.size;
                    continue;
                }
                final ByteBuffer body = readBody(seg.channel, readOffset + RecordCodec.PREFIX, length);
                final int count = body == null ? -1
                    : RecordCodec.validate(body, prefix.getInt(4), readCrc, seg.format);
                if (count < 0) {
                    if (readOffset >= seg.scannedEnd) {
                        runtimeCorrupt(seg, readOffset, end - readOffset);
                    }
                    readOffset = end;
                    continue;
                }
                peekedAcknowledgedRecords = RecordCodec.commitAcknowledged(body, seg.format) ? 1 : 0;
                RecordCodec.decode(body, count, replayBatch, seg.format);
                peekedRecords = 1;
                final long groupEnd = readGroup(seg, end);
                peeked = true;
                peekedSegment = seg;
                peekedEnd = groupEnd;
                peekedCount = replayBatch.size();
                if (groupSegment == seg && groupEnd >= seg.size) {
                    groupSegment = null; // read to its end: appends start a new group, this one stays as read
                }
                headMillis = replayBatch.spooledAtMillis();
                return replayBatch;
            }
            reconcileDrained();
            return null;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Appends to the peeked batch the records after {@code end} that continue its replay group (intact, flagged,
     * within the group's size); a record that does not stops the group and is left for the next peek.
     *
     * @return the end of the group's last record
     */
    private long readGroup(Segment seg, long end) throws IOException {
        while (end < seg.size) {
            prefix.clear();
            Segment.readFully(seg.channel, prefix, end);
            final int length = prefix.getInt(0);
            final long next = end + RecordCodec.PREFIX + (long) length;
            if (length < RecordCodec.bodyFixed(seg.format) || next > seg.size) {
                return end;
            }
            final ByteBuffer body = readBody(seg.channel, end + RecordCodec.PREFIX, length);
            final int count = body == null ? -1 : RecordCodec.validate(body, prefix.getInt(4), readCrc, seg.format);
            if (count < 0 || !RecordCodec.continuesGroup(body, seg.format)
                || replayBatch.size() + (long) count > MAX_GROUP_EVENTS) {
                return end;
            }
            if (RecordCodec.commitAcknowledged(body, seg.format)) {
                peekedAcknowledgedRecords++;
            }
            RecordCodec.decode(body, count, replayBatch, seg.format, true);
            peekedRecords++;
            end = next;
        }
        return end;
    }

    /** The peeked batch was written (or given up on): the spool forgets it and records the replay position. */
    public void commit() {
        lock.lock();
        try {
            if (!peeked) {
                throw new IllegalStateException("commit without a peeked batch");
            }
            peeked = false;
            events -= peekedCount;
            replayedBatches += peekedRecords;
            replayedEvents += peekedCount;
            if (!peekedSegment.dropped) {
                peekedSegment.events -= peekedCount;
                peekedSegment.acknowledgedRecords -= peekedAcknowledgedRecords;
                readOffset = peekedEnd;
                if (readOffset >= peekedSegment.size) {
                    // Fully replayed, the segment being appended to included: its bytes leave the spool now (an
                    // append meanwhile would have grown it, so nothing unreplayed goes with it).
                    retire(peekedSegment);
                } else {
                    saveProgress();
                }
            }
            peekedSegment = null;
            if (events == 0) {
                headMillis = 0;
            }
        } finally {
            lock.unlock();
        }
    }

    /** Deletes a fully replayed segment; the replay position moves to the next one (or past this one). */
    private void retire(Segment seg) {
        segments.remove(seg);
        readSegment = segments.peekFirst();
        readOffset = Segment.HEADER;
        if (readSegment == null) {
            // The last segment: the position records its end, so a crash before the file is gone leaves nothing
            // to replay (it is deleted at the next start); segments created later have higher ids.
            writeProgress(seg.id, seg.size);
        } else {
            saveProgress();
        }
        delete(seg);
    }

    private void saveProgress() {
        if (readSegment != null) {
            writeProgress(readSegment.id, readOffset);
        }
    }

    private void writeProgress(long segmentId, long offset) {
        try {
            progress.write(segmentId, offset);
        } catch (IOException e) {
            // Only costs re-replaying a few batches after a restart, which the sink's ledger makes harmless.
            LOG.warn("spool: could not record the replay position in {}: {}", dir, describe(e));
        }
    }

    private void runtimeCorrupt(Segment seg, long offset, long size) {
        corruptRecords++;
        corruptBytes += size;
        LOG.error("spool: corrupt record in {} at byte {}, {} bytes, written by this run: skipped; its events are "
            + "counted as failed once the spool drains", seg.path, offset, size);
    }

    /** Caught up with the writer: whatever the counters still hold was lost to corruption on disk. */
    private void reconcileDrained() {
        if (events != 0) {
            LOG.error("spool {}: {} events counted as spooled were not found intact on disk; counted as failed", dir,
                events);
            lostEvents += events;
            events = 0;
        }
        headMillis = 0;
    }

    // -------------------------------------------------------------------------------------------------------- sync

    /** Called after each periodic fsync (e.g. to complete acknowledgements waiting for durability). */
    public void onSynced(Runnable listener) {
        this.syncListener = listener;
    }

    private void syncLoop() {
        final long interval = config.fsyncAlways() ? TimeUnit.MILLISECONDS.toNanos(500) : config.fsyncIntervalNanos();
        while (!closed) {
            LockSupport.parkNanos(this, interval);
            if (closed) {
                return;
            }
            sync();
            try {
                syncListener.run();
            } catch (RuntimeException e) {
                LOG.error("spool: sync listener failed", e);
            }
        }
    }

    /**
     * Forces appended records and the replay position to the device now. The fsync runs outside the append lock
     * (appends continue meanwhile); only the snapshot of what to force is taken under it, and that wait is bounded
     * like an append's: a disk stalled in an append makes this round skip (the next one tries again).
     */
    public void sync() {
        final boolean interrupted = Thread.interrupted(); // an interrupt in force() would close the channel
        try {
            syncUninterrupted();
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void syncUninterrupted() {
        synchronized (syncLock) {
            final Segment tail;
            final boolean segmentDirty;
            final boolean progressDirty;
            final long gen;
            try {
                if (!lock.tryLock(stallNanos, TimeUnit.NANOSECONDS)) {
                    return; // an append is stuck on the disk; it holds what would be forced
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            try {
                if (closed) {
                    return;
                }
                gen = appendGeneration;
                tail = segments.peekLast();
                segmentDirty = dirty && tail != null;
                dirty = false;
                progressDirty = progress.takeDirty();
            } finally {
                lock.unlock();
            }
            try {
                if (segmentDirty) {
                    forceSegment(tail);
                }
                if (progressDirty) {
                    disk.force(progress.channel());
                }
                if (!config.fsyncAlways()) {
                    syncedGeneration = gen; // only this method advances it under the interval policy
                }
                if (syncFailing) {
                    syncFailing = false;
                    LOG.info("spool {}: fsync works again", dir);
                }
            } catch (IOException e) {
                lock.lock();
                try {
                    dirty |= segmentDirty;
                    progress.markDirty(progressDirty);
                } finally {
                    lock.unlock();
                }
                if (!syncFailing) {
                    syncFailing = true;
                    LOG.error("spool {}: fsync failed ({}); spooled batches are not known to be durable", dir,
                        describe(e));
                }
            }
        }
    }

    /** Forces {@code s}; a segment closed meanwhile was forced by the roll that retired it, or dropped. */
    private void forceSegment(Segment s) throws IOException {
        try {
            disk.force(s.channel);
        } catch (java.nio.channels.ClosedChannelException e) {
            final boolean current;
            lock.lock();
            try {
                current = !s.dropped && s == segments.peekLast();
            } finally {
                lock.unlock();
            }
            if (current) {
                throw e;
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------- state

    /** Events in the spool: appended or recovered, not yet replayed or dropped. */
    public long events() {
        return events;
    }

    /** Whether anything waits to be replayed. */
    public boolean hasEvents() {
        return events > 0;
    }

    /**
     * Whether the spool is refusing batches for lack of room: an append was refused, and since then neither was a
     * segment freed (by replay, or by the full policy) nor did the sink take a batch again ({@link #sinkWrites()}).
     */
    public boolean isFull() {
        return full;
    }

    /**
     * The sink took a batch (live or replayed): new batches go to it, not here, so there is room for them again and
     * the spool stops reporting itself full at once, not only once replay has freed a whole segment (up to 64 MiB
     * of replay during which every HTTP write was answered 503 although the database was back). An append refused
     * later sets it again. Any thread, without the append lock (a stalled disk may hold it): a refusal racing with
     * this may be reported a moment late, by the next refused append.
     */
    public void sinkWrites() {
        if (full) {
            full = false;
            LOG.info("spool {}: the sink takes batches again, so new batches need no room here: not full any more "
                + "({} of {} bytes in use until replay frees segments)", dir, bytes, config.maxBytes());
        }
    }

    /** Bytes of segment files on disk. */
    public long bytes() {
        return bytes;
    }

    /** Age of the oldest unreplayed batch in seconds (0 when empty), from the time it was spooled. */
    public double oldestAgeSeconds() {
        final long head = headMillis;
        return head == 0 ? 0 : Math.max(0, clockMillis.getAsLong() - head) / 1000.0;
    }

    /** Events found in the spool at open (left by an earlier run). */
    public long recoveredEvents() {
        return recoveredEvents;
    }

    /** Unreplayed events of segments dropped by the full policy in this run. */
    public long droppedEvents() {
        return droppedEvents;
    }

    /** Events appended by this run that replay did not find intact on disk (corrupted after they were written). */
    public long lostEvents() {
        return lostEvents;
    }

    /** Segments dropped by the full policy. */
    public long droppedSegments() {
        return droppedSegments;
    }

    /** Batches handed back by {@link #commit()}. */
    public long replayedBatches() {
        return replayedBatches;
    }

    /** Events in the batches handed back by {@link #commit()}. */
    public long replayedEvents() {
        return replayedEvents;
    }

    /** Batches appended by this run. */
    public long appendedBatches() {
        return appendedBatches;
    }

    /** Events appended by this run. */
    public long appendedEvents() {
        return appendedEvents;
    }

    /** Bytes appended by this run. */
    public long appendedBytes() {
        return appendedBytes;
    }

    /** Torn or corrupt records skipped (found at open, or while replaying). */
    public long corruptRecords() {
        return corruptRecords;
    }

    /** Bytes of torn or corrupt records skipped. */
    public long corruptBytes() {
        return corruptBytes;
    }

    /** Generation of the latest append. */
    public long appendGeneration() {
        return appendGeneration;
    }

    /** Appends up to this generation are on the device. */
    public long syncedGeneration() {
        return syncedGeneration;
    }

    /** The configuration. */
    public SpoolSettings config() {
        return config;
    }

    /** Forces everything to the device and closes the files. Idempotent. */
    @Override
    public void close() {
        // An interrupted closer still gets its final fsync (an interrupt in force() would close the channel).
        boolean interrupted = Thread.interrupted();
        try {
            closeUninterrupted();
        } finally {
            if (interrupted | Thread.interrupted()) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void closeUninterrupted() {
        boolean locked;
        try {
            locked = lock.tryLock(stallNanos, TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            locked = false;
        }
        try {
            if (closed || closing) {
                return;
            }
            closing = true; // no more appends
        } finally {
            if (locked) {
                lock.unlock();
            }
        }
        if (locked) {
            sync();
        } else {
            LOG.error("spool {}: the disk has been stuck in an append for over {} ms; closing the files without a "
                + "final fsync (what earlier appends wrote is in the page cache and is replayed at the next start "
                + "unless the machine loses power)", dir, TimeUnit.NANOSECONDS.toMillis(stallNanos));
        }
        closed = true;
        LockSupport.unpark(syncer);
        closeQuietly();
    }

    private void closeQuietly() {
        // Closing a channel is thread-safe; a write stuck on a stalled disk fails when it returns.
        closed = true;
        for (Segment s : segments.toArray(new Segment[0])) {
            if (s == null) {
                continue;
            }
            try {
                s.channel.close();
            } catch (IOException e) {
                LOG.warn("spool: closing {} failed: {}", s.path, describe(e));
            }
        }
        if (progress != null) {
            try {
                progress.close();
            } catch (IOException e) {
                LOG.warn("spool: closing the progress file failed: {}", describe(e));
            }
        }
        try {
            lockChannel.close(); // releases the directory lock
        } catch (IOException e) {
            LOG.warn("spool: releasing the directory lock failed: {}", describe(e));
        }
    }

    private static String describe(IOException e) {
        final String m = e.getMessage();
        if (e instanceof java.nio.file.AccessDeniedException) {
            return "permission denied: " + m;
        }
        if (m != null && m.contains("Read-only file system")) {
            return "read-only filesystem: " + m;
        }
        if (m != null && m.contains("No space left on device")) {
            return "disk full (ENOSPC): " + m;
        }
        return e.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }

    @Override
    public String toString() {
        return "Spool{" + dir + ", events=" + events + ", bytes=" + bytes + '}';
    }
}
