package dev.spillway.telemetry.internal;

import dev.spillway.telemetry.sink.EventBatch;

import dev.spillway.telemetry.SpoolConfig;
import dev.spillway.telemetry.testsupport.Await;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.stream.LongStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The spool on its own: round trip, restart, torn tail, corrupt record, full spool, disk errors. */
class SpoolTest {

    private static final String RUN = "run-a";
    private static final int SEGMENT = 64 << 10;

    @TempDir
    Path dir;

    /** The API's validated config, as the pipeline hands it to the spool. */
    static SpoolSettings settings(SpoolConfig c) {
        return new SpoolSettings(c.directory(), c.maxBytes(), c.segmentBytes(), c.fsyncIntervalNanos(),
            c.fullPolicy() == SpoolConfig.FullPolicy.DROP_OLDEST_SEGMENT);
    }

    private SpoolSettings config(long maxBytes, SpoolConfig.FullPolicy policy) {
        return settings(SpoolConfig.builder(dir).segmentBytes(SEGMENT).maxBytes(maxBytes).fullPolicy(policy)
            .fsyncAlways().build());
    }

    private SpoolSettings config() {
        return config(16L * SEGMENT, SpoolConfig.FullPolicy.DROP_OLDEST_SEGMENT);
    }

    private static int recordBytes(int events) {
        return RecordCodec.recordSize(RUN.length(), events);
    }

    /** Replays everything, checking batches {@code first..last} in order, each of {@code size} events. */
    private static void replayExpecting(Spool spool, long first, long last, int size) throws IOException {
        for (long id = first; id <= last; id++) {
            final SpooledBatch b = spool.peek();
            assertNotNull(b, "batch " + id + " expected");
            ArrayBatch.check(b, id, size);
            assertEquals(RUN, b.runId(), "the ledger key survives the spool");
            assertSame(b, spool.peek(), "peek is idempotent until commit");
            spool.commit();
        }
        assertNull(spool.peek(), "nothing after batch " + last);
        assertEquals(0, spool.events());
    }

    private List<Path> segmentFiles() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".seg")).sorted().toList();
        }
    }

    @Test
    void roundTripAcrossSegmentsAndARestart() throws Exception {
        final int size = 700; // ~21 KB per record: three per 64 KiB segment
        try (Spool spool = Spool.open(config())) {
            for (long id = 0; id < 10; id++) {
                spool.append(new ArrayBatch(id, size), RUN);
            }
            assertEquals(10 * size, spool.events());
            assertEquals(spool.appendGeneration(), spool.syncedGeneration(), "fsync always: durable on return");
            assertTrue(segmentFiles().size() >= 3, "records never span segments: " + segmentFiles());
            // Replay half, then "crash" (close) and restart.
            for (long id = 0; id < 4; id++) {
                ArrayBatch.check(spool.peek(), id, size);
                spool.commit();
            }
        }
        try (Spool spool = Spool.open(config())) {
            assertEquals(6 * size, spool.recoveredEvents(), "the replay position survived the restart");
            assertEquals(0, spool.corruptRecords());
            replayExpecting(spool, 4, 9, size);
            assertEquals(List.of(), segmentFiles(), "replayed segments are deleted, the last one too");
            assertEquals(0, spool.bytes());
            spool.append(new ArrayBatch(10, size), RUN);
            replayExpecting(spool, 10, 10, size);
            assertEquals(List.of(), segmentFiles());
        }
    }

    /**
     * Issue 19, item 2: a spool replayed to the end frees every byte at once, its last segment included, so the
     * next outage finds the whole spool free (before, the last segment stayed: a spool that had filled once
     * refused the next outage's first batch).
     */
    @Test
    void aFullyReplayedSpoolFreesAllItsBytesAndTheNextOutageHasTheWholeSpool() throws Exception {
        final int size = 700;
        try (Spool spool = Spool.open(config(3L * SEGMENT, SpoolConfig.FullPolicy.REFUSE))) {
            for (int outage = 0; outage < 3; outage++) {
                long id = 0;
                while (true) {
                    try {
                        spool.append(new ArrayBatch(id, size), RUN);
                        id++;
                    } catch (SpoolException full) {
                        assertTrue(full.isFull(), full.getMessage());
                        break;
                    }
                }
                assertTrue(id >= 8, "outage " + outage + ": the whole spool takes batches again, only " + id);
                replayExpecting(spool, 0, id - 1, size);
                assertEquals(0, spool.bytes(), "outage " + outage + ": every byte freed once replayed");
                assertEquals(List.of(), segmentFiles());
            }
        }
    }

    /** A crash after the last batch was replayed but before its segment file was deleted: deleted at open. */
    @Test
    void aReplayedSegmentLeftByACrashIsDeletedAtOpen() throws Exception {
        final int size = 100;
        final byte[] leftOver;
        final Path segment;
        try (Spool spool = Spool.open(config())) {
            spool.append(new ArrayBatch(0, size), RUN);
            spool.append(new ArrayBatch(1, size), RUN);
            segment = segmentFiles().get(0);
            leftOver = Files.readAllBytes(segment);
            replayExpecting(spool, 0, 1, size);
            assertFalse(Files.exists(segment));
        }
        Files.write(segment, leftOver); // the unlink that the crash prevented
        try (Spool spool = Spool.open(config())) {
            assertEquals(0, spool.recoveredEvents(), "its records were replayed: nothing to recover");
            assertEquals(0, spool.bytes());
            assertEquals(List.of(), segmentFiles(), "deleted at open, not left until a replay that never comes");
            assertNull(spool.peek());
            spool.append(new ArrayBatch(2, size), RUN);
            replayExpecting(spool, 2, 2, size);
        }
    }

    /**
     * An interrupted thread (a worker at the close deadline, an interrupted closer) still appends: the interrupt
     * would otherwise close the segment's FileChannel and lose this batch and every later append to it.
     */
    @Test
    void anAppendFromAnInterruptedThreadSucceedsAndKeepsTheInterruptStatus() throws Exception {
        try (Spool spool = Spool.open(config())) {
            Thread.currentThread().interrupt();
            try {
                spool.append(new ArrayBatch(0, 10), RUN);
                spool.sync();
                assertTrue(Thread.currentThread().isInterrupted(), "the status is restored");
            } finally {
                Thread.interrupted();
            }
            spool.append(new ArrayBatch(1, 10), RUN); // the channel is still open
            replayExpecting(spool, 0, 1, 10);
        }
    }

    @Test
    void intervalFsyncCatchesUpWithinTheInterval() throws Exception {
        final SpoolSettings cfg = settings(SpoolConfig.builder(dir).segmentBytes(SEGMENT).maxBytes(4L * SEGMENT)
            .fsyncInterval(Duration.ofMillis(20)).build());
        try (Spool spool = Spool.open(cfg)) {
            final long gen = spool.append(new ArrayBatch(1, 10), RUN);
            Await.until(Duration.ofSeconds(10), () -> spool.syncedGeneration() >= gen, "periodic fsync");
            assertEquals(10, spool.events());
        }
    }

    @Test
    void aTailTornAtARandomByteIsSkippedCountedAndTheRestReplays() throws Exception {
        final Random random = new Random(13);
        for (int round = 0; round < 20; round++) {
            try (Stream<Path> s = Files.list(dir)) {
                for (Path p : s.toList()) {
                    Files.delete(p);
                }
            }
            final int size = 100 + random.nextInt(200);
            try (Spool spool = Spool.open(config())) {
                for (long id = 0; id < 5; id++) {
                    spool.append(new ArrayBatch(id, size), RUN);
                }
            }
            final Path segment = segmentFiles().get(0);
            final long full = Files.size(segment);
            final long lastRecordStart = full - recordBytes(size);
            final long cut = lastRecordStart + 1 + random.nextInt(recordBytes(size) - 1); // inside the last record
            try (FileChannel ch = FileChannel.open(segment, StandardOpenOption.WRITE)) {
                ch.truncate(cut);
            }
            try (Spool spool = Spool.open(config())) {
                assertEquals(4L * size, spool.recoveredEvents(), "round " + round + ", cut at " + cut);
                assertEquals(1, spool.corruptRecords(), "the torn record is counted");
                assertEquals(cut - lastRecordStart, spool.corruptBytes());
                assertEquals(lastRecordStart, Files.size(segment), "the torn tail is cut off for new appends");
                spool.append(new ArrayBatch(5, size), RUN); // appends continue after the last intact record
                for (long id = 0; id < 4; id++) {
                    ArrayBatch.check(spool.peek(), id, size);
                    spool.commit();
                }
                replayExpecting(spool, 5, 5, size);
            }
        }
    }

    @Test
    void aCorruptRecordInTheMiddleIsSkippedAndTheOthersReplay() throws Exception {
        final int size = 50;
        try (Spool spool = Spool.open(config())) {
            for (long id = 0; id < 3; id++) {
                spool.append(new ArrayBatch(id, size), RUN);
            }
        }
        final Path segment = segmentFiles().get(0);
        final long middle = Segment.HEADER + recordBytes(size) + recordBytes(size) / 2;
        try (FileChannel ch = FileChannel.open(segment, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            final ByteBuffer one = ByteBuffer.allocate(1);
            ch.read(one, middle);
            one.put(0, (byte) (one.get(0) ^ 0x40)).rewind();
            ch.write(one, middle);
        }
        try (Spool spool = Spool.open(config())) {
            assertEquals(2L * size, spool.recoveredEvents());
            assertEquals(1, spool.corruptRecords());
            assertEquals(recordBytes(size), spool.corruptBytes());
            ArrayBatch.check(spool.peek(), 0, size);
            spool.commit();
            ArrayBatch.check(spool.peek(), 2, size);
            spool.commit();
            assertNull(spool.peek());
            assertEquals(1, spool.corruptRecords(), "skipped again by the replayer, but counted once");
            assertEquals(0, spool.droppedEvents(), "not this run's events: nothing to fail");
        }
    }

    @Test
    void aFullSpoolDropsItsOldestSegmentAndCountsTheEvents() throws Exception {
        final int size = 700;
        try (Spool spool = Spool.open(config(3L * SEGMENT, SpoolConfig.FullPolicy.DROP_OLDEST_SEGMENT))) {
            long appended = 0;
            for (long id = 0; id < 20; id++) {
                spool.append(new ArrayBatch(id, size), RUN, false); // acceptance only: may be dropped
                appended += size;
                assertTrue(spool.bytes() <= 3L * SEGMENT, "bounded: " + spool.bytes());
            }
            assertTrue(spool.droppedSegments() > 0);
            assertFalse(spool.isFull(), "dropping made room every time");
            assertEquals(appended, spool.events() + spool.droppedEvents(), "every event spooled or dropped");
            final long firstLeft = 20 - spool.events() / size;
            replayExpecting(spool, firstLeft, 19, size);
        }
    }

    /**
     * Issue 19, item 1: under drop-oldest-segment, a full spool whose segments all hold commit-acknowledged batches
     * refuses the new batch (and says it is full) instead of dropping what a client was told is durable.
     */
    @Test
    void aFullSpoolOfCommitAcknowledgedBatchesRefusesInsteadOfDropping() throws Exception {
        final int size = 700;
        final ch.qos.logback.classic.Logger logger =
            (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(Spool.class);
        final ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> log =
            new ch.qos.logback.core.read.ListAppender<>();
        log.start();
        logger.addAppender(log);
        try (Spool spool = Spool.open(config(3L * SEGMENT, SpoolConfig.FullPolicy.DROP_OLDEST_SEGMENT))) {
            long id = 0;
            SpoolException refused = null;
            while (refused == null) {
                try {
                    spool.append(new ArrayBatch(id, size), RUN, true);
                    id++;
                } catch (SpoolException e) {
                    refused = e;
                }
            }
            assertTrue(refused.isFull(), refused.getMessage());
            assertTrue(spool.isFull());
            for (int again = 0; again < 3; again++) {
                assertThrows(SpoolException.class, () -> spool.append(new ArrayBatch(99, size), RUN, true));
            }
            final java.util.function.Function<String, Long> lines = text -> log.list.stream()
                .filter(e -> e.getFormattedMessage().contains(text)).count();
            assertEquals(1, lines.apply("is full"), "one line when it fills, not one per refusal");
            assertEquals(0, spool.droppedSegments());
            assertEquals(0, spool.droppedEvents());
            assertEquals(id * size, spool.events());
            final long stored = id;
            // Replay frees the first segment: room again.
            for (long b = 0; b < 3; b++) {
                ArrayBatch.check(spool.peek(), b, size);
                spool.commit();
            }
            assertFalse(spool.isFull(), "a replayed segment was freed");
            assertEquals(1, lines.apply("room again"), "and one when room returns");
            spool.append(new ArrayBatch(stored, size), RUN, true);
            replayExpecting(spool, 3, stored, size);
        } finally {
            logger.detachAppender(log);
        }
    }

    /**
     * Mixed: only segments without a commit-acknowledged record are dropped, oldest first, skipping marked ones;
     * the marks survive a restart (they are in the records).
     */
    @Test
    void onlySegmentsWithoutCommitAcknowledgedBatchesAreDroppedAlsoAfterARestart() throws Exception {
        final int size = 700; // three records per segment
        final SpoolSettings cfg = config(4L * SEGMENT, SpoolConfig.FullPolicy.DROP_OLDEST_SEGMENT);
        final java.util.Set<Long> marked = java.util.Set.of(3L, 4L, 5L);
        try (Spool spool = Spool.open(cfg)) {
            for (long id = 0; id < 12; id++) { // four segments: A (0-2), B (3-5, marked), C (6-8), D (9-11)
                spool.append(new ArrayBatch(id, size), RUN, marked.contains(id));
            }
            assertEquals(0, spool.droppedSegments());
        }
        try (Spool spool = Spool.open(cfg)) {
            assertEquals(12L * size, spool.recoveredEvents());
            spool.append(new ArrayBatch(12, size), RUN, false); // drops A
            spool.append(new ArrayBatch(13, size), RUN, false);
            spool.append(new ArrayBatch(14, size), RUN, false);
            spool.append(new ArrayBatch(15, size), RUN, false); // B is marked: drops C
            assertEquals(2, spool.droppedSegments());
            assertEquals(6L * size, spool.droppedEvents());
            for (long id : new long[] {3, 4, 5, 9, 10, 11, 12, 13, 14, 15}) {
                ArrayBatch.check(spool.peek(), id, size);
                spool.commit();
            }
            assertNull(spool.peek());
            assertEquals(0, spool.bytes());
        }
    }

    /**
     * A segment written before the record carried its flags (format 1, {@code SPWSEG01}) is still read and
     * replayed, and counts as commit-acknowledged: a full spool never drops it.
     */
    @Test
    void aFormatOneSegmentIsReplayedAndNeverDropped() throws Exception {
        final int size = 700;
        final Path v1 = dir.resolve(Segment.fileName(0));
        final java.io.ByteArrayOutputStream file = new java.io.ByteArrayOutputStream();
        final ByteBuffer header = ByteBuffer.allocate(Segment.HEADER).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        header.putLong(Segment.MAGIC_V1).putLong(0);
        file.write(header.array());
        for (long id = 0; id < 3; id++) {
            file.write(formatOneRecord(new ArrayBatch(id, size), id * size));
        }
        Files.write(v1, file.toByteArray());
        try (Spool spool = Spool.open(config(3L * SEGMENT, SpoolConfig.FullPolicy.DROP_OLDEST_SEGMENT))) {
            assertEquals(3L * size, spool.recoveredEvents());
            assertEquals(0, spool.corruptRecords());
            for (long id = 3; id < 20; id++) { // appends go to new segments, which are dropped; the old one is not
                spool.append(new ArrayBatch(id, size), RUN, false);
            }
            assertTrue(spool.droppedSegments() > 0);
            assertTrue(Files.exists(v1), "the format-1 segment is kept");
            for (long b = 0; b < 3; b++) {
                ArrayBatch.check(spool.peek(), b, size);
                spool.commit();
            }
            assertFalse(Files.exists(v1), "replayed, then deleted");
        }
    }

    /** A record as format 1 wrote it: the current encoding without its flags byte. */
    private static byte[] formatOneRecord(ArrayBatch batch, long firstEvent) {
        final ByteBuffer v2 = ByteBuffer.allocate(RecordCodec.recordSize(RUN.length(), batch.size()))
            .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        RecordCodec.encode(v2, new java.util.zip.CRC32C(), batch, RUN.getBytes(java.nio.charset.StandardCharsets.US_ASCII),
            firstEvent, 1_000L, 0);
        final byte[] all = new byte[v2.remaining()];
        v2.get(all);
        final int flagsAt = RecordCodec.PREFIX + RecordCodec.BODY_FIXED_V1 + RUN.length();
        final byte[] v1 = new byte[all.length - 1];
        System.arraycopy(all, 0, v1, 0, flagsAt);
        System.arraycopy(all, flagsAt + 1, v1, flagsAt, all.length - flagsAt - 1);
        final ByteBuffer out = ByteBuffer.wrap(v1).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        out.putInt(0, v1.length - RecordCodec.PREFIX);
        final java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(v1, RecordCodec.PREFIX, v1.length - RecordCodec.PREFIX);
        out.putInt(4, (int) crc.getValue());
        return v1;
    }

    @Test
    void aFullSpoolUnderRefuseRefusesTheNewBatch() throws Exception {
        final int size = 700;
        try (Spool spool = Spool.open(config(2L * SEGMENT, SpoolConfig.FullPolicy.REFUSE))) {
            long id = 0;
            SpoolException refused = null;
            while (refused == null) {
                try {
                    spool.append(new ArrayBatch(id, size), RUN);
                    id++;
                } catch (SpoolException e) {
                    refused = e;
                }
            }
            assertTrue(refused.isFull(), refused.getMessage());
            assertTrue(refused.getMessage().contains("is full"), refused.getMessage());
            assertEquals(id * size, spool.events(), "the refused batch left no trace");
            assertEquals(0, spool.droppedEvents());
            replayExpecting(spool, 0, id - 1, size);
        }
    }

    @Test
    void aDirectoryInUseByAnotherSpoolIsRefused() throws Exception {
        try (Spool first = Spool.open(config())) {
            final IOException e = assertThrows(IOException.class, () -> Spool.open(config()));
            assertTrue(e.getMessage().contains("a spool directory of its own"), e.getMessage());
            first.append(new ArrayBatch(0, 10), RUN);
        }
        try (Spool again = Spool.open(config())) {
            assertEquals(10, again.recoveredEvents(), "the lock is released at close");
        }
    }

    @Test
    void anUnwritableDirectoryIsAClearErrorAtOpen() throws Exception {
        final Path target;
        if ("root".equals(System.getProperty("user.name"))) {
            // Permissions do not stop root; sysfs refuses new files to everyone.
            target = Path.of("/sys/kernel/spillway-spool-test");
        } else {
            final Path locked = dir.resolve("locked");
            Files.createDirectory(locked);
            Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("r-xr-xr-x"));
            target = locked.resolve("spool");
        }
        Assumptions.assumeFalse(canCreate(target), "skipping: cannot make an unwritable directory here");
        final IOException e = assertThrows(IOException.class,
            () -> Spool.open(settings(SpoolConfig.builder(target).fsyncAlways().build())));
        assertTrue(e.getMessage().contains(target.toAbsolutePath().toString()), e.getMessage());
        assertTrue(e.getMessage().contains("not usable"), e.getMessage());
    }

    private static boolean canCreate(Path p) {
        try {
            Files.createDirectories(p);
            Files.delete(p);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    @Test
    void aDiskErrorDuringAnAppendFailsThatAppendOnlyAndTheSpoolCarriesOn() throws Exception {
        final int size = 1_500; // ~45 KB: every append starts a new 64 KiB segment
        try (Spool spool = Spool.open(config())) {
            spool.append(new ArrayBatch(0, size), RUN);
            // The directory goes away under the spool (a disk error as far as new files are concerned).
            final Path moved = dir.resolveSibling(dir.getFileName() + "-moved");
            Files.move(dir, moved);
            Files.writeString(dir, "not a directory");
            try {
                final SpoolException e = assertThrows(SpoolException.class,
                    () -> spool.append(new ArrayBatch(1, size), RUN));
                assertFalse(e.isFull());
                assertTrue(e.getMessage().contains("failed") && e.getMessage().contains("not spooled"), e.getMessage());
                assertEquals(size, spool.events(), "the failed append is not counted as spooled");
            } finally {
                Files.delete(dir);
                Files.move(moved, dir);
            }
            spool.append(new ArrayBatch(2, size), RUN);
            ArrayBatch.check(spool.peek(), 0, size);
            spool.commit();
            replayExpecting(spool, 2, 2, size);
        }
    }

    /** Asserts that {@code b} holds batches {@code ids} of {@code size} back to back, keyed by the first. */
    private static void checkGroup(EventBatch b, int size, long... ids) {
        assertEquals(ids[0], b.batchId(), "a group carries its first record's ledger key");
        assertEquals(RUN, b.runId());
        assertEquals(ids.length * size, b.size(), "records in the group");
        for (int r = 0; r < ids.length; r++) {
            for (int i = 0; i < size; i++) {
                final int at = r * size + i;
                assertEquals(ArrayBatch.seq(ids[r], i), b.sequence(at), "event " + at);
                assertEquals(ArrayBatch.time(ids[r], i), b.timestampNanos(at), "event " + at);
                assertEquals(ArrayBatch.source(ids[r], i), b.sourceId(at), "event " + at);
                assertEquals(ArrayBatch.value(ids[r], i), b.value(at), "event " + at);
            }
        }
    }

    /**
     * Records of batches that never reached the sink are replayed in groups (one sink transaction each, up to
     * MAX_GROUP_EVENTS) under the first record's ledger key; a batch that did reach the sink (its commit may be
     * ambiguous) is replayed alone under its own key and ends the group; a group never spans segments.
     */
    @Test
    void recordsOfBatchesThatNeverReachedTheSinkReplayAsOneGroupUnderTheFirstKey() throws Exception {
        final int size = 100; // 3 KB a record: about 20 per 64 KiB segment
        try (Spool spool = Spool.open(config())) {
            for (long id = 0; id < 5; id++) {
                spool.append(new ArrayBatch(id, size), RUN, false, true);
            }
            spool.append(new ArrayBatch(5, size), RUN, true, false); // tried by the sink: alone
            for (long id = 6; id < 8; id++) {
                spool.append(new ArrayBatch(id, size), RUN, id == 7, true);
            }
            assertEquals(8, spool.appendedBatches());
            checkGroup(spool.peek(), size, 0, 1, 2, 3, 4);
            assertSame(spool.peek(), spool.peek(), "peek is idempotent until commit");
            spool.commit();
            assertEquals(5, spool.replayedBatches(), "replayed records are counted, not groups");
            checkGroup(spool.peek(), size, 5);
            spool.commit();
            checkGroup(spool.peek(), size, 6, 7);
            spool.commit();
            assertNull(spool.peek());
            assertEquals(0, spool.events());
            assertEquals(8, spool.replayedBatches());
            assertEquals(0, spool.bytes(), "replayed to the end");

            // No group across segments.
            final int perSegment = 500; // 15 KB: four per 64 KiB segment
            for (long id = 10; id < 22; id++) {
                spool.append(new ArrayBatch(id, perSegment), RUN, false, true);
            }
            long id = 10;
            while (id < 22) {
                final SpooledBatch b = spool.peek();
                assertTrue(b.size() >= perSegment && b.size() <= 4 * perSegment && b.size() % perSegment == 0,
                    "a group stays in its segment: " + b);
                final int records = b.size() / perSegment;
                final long[] ids = LongStream.range(id, id + records).toArray();
                checkGroup(b, perSegment, ids);
                spool.commit();
                id += records;
            }
            assertNull(spool.peek());
        }
        // The group limit: MAX_GROUP_EVENTS events (segments large enough not to cut it first).
        final int quarter = Spool.MAX_GROUP_EVENTS / 4;
        try (Spool spool = Spool.open(settings(SpoolConfig.builder(dir.resolve("big")).segmentBytes(4L << 20)
            .maxBytes(64L << 20).fsyncAlways().build()))) {
            for (long id = 0; id < 5; id++) {
                spool.append(new ArrayBatch(id, quarter), RUN, false, true);
            }
            checkGroup(spool.peek(), quarter, 0, 1, 2, 3);
            spool.commit();
            checkGroup(spool.peek(), quarter, 4);
            spool.commit();
            assertNull(spool.peek());
        }
    }

    /**
     * A group is fixed on disk: read to its end, it is closed (later appends start a new one), and after a restart
     * whose replay position was not saved the same records form the same group under the same key, so a sink with
     * a ledger finds it committed and nothing is written twice.
     */
    @Test
    void aReplayGroupIsTheSameRecordsUnderTheSameKeyAfterARestart() throws Exception {
        final int size = 50;
        try (Spool spool = Spool.open(config())) {
            spool.append(new ArrayBatch(0, size), RUN, false, true);
            spool.append(new ArrayBatch(1, size), RUN, false, true);
            checkGroup(spool.peek(), size, 0, 1); // read to its end: closed
            spool.append(new ArrayBatch(2, size), RUN, false, true); // a new group
            spool.append(new ArrayBatch(3, size), RUN, false, true);
            checkGroup(spool.peek(), size, 0, 1); // still the peeked group, not grown
            // "crash": the group was written, its commit in the spool not recorded
        }
        try (Spool spool = Spool.open(config())) {
            checkGroup(spool.peek(), size, 0, 1);
            spool.commit();
            spool.append(new ArrayBatch(4, size), RUN, false, true); // after a restart: a new group, not batch 2's
            checkGroup(spool.peek(), size, 2, 3);
            spool.commit();
            checkGroup(spool.peek(), size, 4);
            spool.commit();
            assertNull(spool.peek());
        }
    }
}
