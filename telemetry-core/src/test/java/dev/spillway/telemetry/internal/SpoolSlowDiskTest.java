package dev.spillway.telemetry.internal;

import dev.spillway.telemetry.sink.RetryPolicy;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.DedicatedPostgres;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.telemetry.timescale.TimescaleSink;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The spool on a slow or stalled disk, inside a whole pipeline writing to a real PostgreSQL that is down (so every
 * batch goes to the spool) and comes back at the end (so the spool drains and the table is checked).
 *
 * <p>No filesystem here can be made slow on demand (no FUSE, no device-mapper delay in CI), so the disk is slowed at
 * the spool's one seam, {@link SpoolDisk}: {@link StallingDisk} holds writes or fsyncs at a gate the test opens, as a
 * disk that stops answering would (the thread stays in the call, deaf to interrupts, like a write in the kernel).
 * What is asserted: appends are not held up by a slow fsync (and nothing is acknowledged before it completes); a
 * stuck append does not stall ingest (the producer, even with the {@code BLOCK} policy, gets through while the disk
 * is still stuck); memory stays bounded (everything not yet resolved is at most the one batch on the disk); every
 * event is accounted for at every quiescent point; close returns on a stuck disk and says what it left unresolved.
 */
class SpoolSlowDiskTest {

    private static final int RING = 4096;
    private static final int BATCH = 256;
    private static final int WORKERS = 2;
    /** The stall bound, short so the test moves; nothing asserted depends on its length. */
    private static final long STALL_NANOS = TimeUnit.MILLISECONDS.toNanos(200);
    /** One attempt: a batch meets the spool at once (the retry budget is not what this test is about). */
    private static final RetryPolicy ONE_ATTEMPT = RetryPolicy.builder().maxAttempts(1).build();

    @TempDir
    static Path shared;
    private static DedicatedPostgres pg;
    private static final AtomicInteger DATABASES = new AtomicInteger();

    @TempDir
    Path dir;
    private String url;

    @BeforeAll
    static void startServer() {
        pg = TestDatabase.dedicated(shared.resolve("data"), TestDatabase.freePort());
    }

    @AfterAll
    static void stopServer() {
        pg.close();
    }

    @BeforeEach
    void database() {
        if (!pg.isRunning()) {
            pg.startServer();
        }
        final String db = "slowdisk" + DATABASES.incrementAndGet();
        pg.createDatabase(db);
        url = pg.jdbcUrl(db);
    }

    /** A disk whose writes and fsyncs can be held at a gate; counts the threads waiting there. */
    static final class StallingDisk implements SpoolDisk {
        volatile CountDownLatch writeGate;
        volatile CountDownLatch forceGate;
        final AtomicInteger writesWaiting = new AtomicInteger();
        final AtomicInteger forcesWaiting = new AtomicInteger();
        final AtomicLong forcesDone = new AtomicLong();

        @Override
        public void write(FileChannel channel, ByteBuffer buf, long position) throws IOException {
            pass(writeGate, writesWaiting);
            SpoolDisk.DIRECT.write(channel, buf, position);
        }

        @Override
        public void force(FileChannel channel) throws IOException {
            pass(forceGate, forcesWaiting);
            SpoolDisk.DIRECT.force(channel);
            forcesDone.incrementAndGet();
        }

        /** Waits for the gate, if closed, ignoring interrupts (a thread in a stuck syscall does not see them). */
        private static void pass(CountDownLatch gate, AtomicInteger waiting) {
            if (gate == null) {
                return;
            }
            waiting.incrementAndGet();
            boolean interrupted = false;
            while (true) {
                try {
                    gate.await();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            waiting.decrementAndGet();
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private PipelineCore pipeline(StallingDisk disk, long fsyncIntervalNanos) throws Exception {
        final TimescaleSink sink = TimescaleSink.builder().jdbcUrl(url).username(pg.user()).password("").poolSize(2)
            .connectionTimeout(Duration.ofMillis(250)).build();
        sink.attach("slowdisk");
        final SpoolSettings spool = new SpoolSettings(dir.resolve("spool"), 64L << 20, 1L << 20, fsyncIntervalNanos,
            true);
        final PipelineCore core = new PipelineCore(new CoreSettings("slowdisk", sink, RING, BATCH,
            TimeUnit.MILLISECONDS.toNanos(5), WORKERS, RingMode.BLOCK, ONE_ATTEMPT, null,
            new BackoffIdleStrategy(100, 10, 1_000, 1_000_000), null, spool,
            dev.spillway.telemetry.Pipeline.DEFAULT_ROUTE_BY_SOURCE), disk, STALL_NANOS);
        core.start();
        return core;
    }

    /** Rows in the table, failing on a duplicated (source, seq). */
    private long rowsExactlyOnce() throws Exception {
        try (Connection c = DriverManager.getConnection(url, pg.user(), "");
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*), count(DISTINCT (source_id, seq)) FROM telemetry_events")) {
            rs.next();
            assertEquals(rs.getLong(1), rs.getLong(2), "duplicated rows in the table");
            return rs.getLong(1);
        }
    }

    private static void assertBalanced(Account a) {
        assertEquals(0, a.pending(), "every event resolved and counted: " + a);
    }

    @Test
    void aStalledFsyncHoldsUpNoAppendAndNoAcknowledgementIsGivenBeforeItCompletes() throws Exception {
        final StallingDisk disk = new StallingDisk();
        disk.forceGate = new CountDownLatch(1);
        final PipelineCore core = pipeline(disk, TimeUnit.MILLISECONDS.toNanos(20));
        pg.stop();
        final int events = 20_000;
        long first = -1;
        long last = -1;
        for (int i = 0; i < events; i++) {
            last = core.publishClaimed(1_700_000_000_000_000_000L + i, i % 8, (short) 1, i, i / 8);
            first = first < 0 ? last : first;
        }
        final CompletableFuture<Boolean> ack = core.whenResolved(first, last);
        // Every batch is appended while the syncer is stuck in an fsync: appends do not wait for it.
        Await.until(Duration.ofSeconds(60), () -> core.account().spooled() == events && disk.forcesWaiting.get() >= 1,
            "all events spooled while an fsync is stuck: " + core.account());
        assertEquals(1, disk.forcesWaiting.get(), "the fsync is still stuck");
        assertFalse(ack.isDone(), "nothing is acknowledged before the fsync that makes it durable");
        assertBalanced(core.account());

        disk.forceGate.countDown();
        assertTrue(ack.get(60, TimeUnit.SECONDS), "acknowledged once the fsync completed");

        pg.startServer();
        Await.until(Duration.ofSeconds(120), () -> core.account().spooled() == 0 && core.account().written() == events,
            "the spool drains into the database: " + core.account());
        final Account end = core.close(Duration.ofSeconds(30));
        assertBalanced(end);
        assertEquals(events, end.written(), end.toString());
        assertEquals(0, end.failed() + end.overwritten(), end.toString());
        assertEquals(events, rowsExactlyOnce());
    }

    @Test
    void aStuckAppendDoesNotStallIngestKeepsMemoryBoundedAndCountsWhatItCannotKeep() throws Exception {
        final StallingDisk disk = new StallingDisk();
        disk.writeGate = new CountDownLatch(1);
        final PipelineCore core = pipeline(disk, TimeUnit.MILLISECONDS.toNanos(20));
        pg.stop();
        // The BLOCK policy: without the stall bound, a producer would wait for this disk forever.
        final int events = 4 * RING;
        final CountDownLatch produced = new CountDownLatch(1);
        final Thread producer = new Thread(() -> {
            for (int i = 0; i < events; i++) {
                core.publish(1_700_000_000_000_000_000L + i, i % 8, (short) 1, i, i / 8);
            }
            produced.countDown();
        }, "producer");
        producer.start();
        assertTrue(produced.await(120, TimeUnit.SECONDS), "the producer got through: " + core.account());
        assertEquals(1, disk.writesWaiting.get(), "one append is still stuck on the disk");

        // Quiescent apart from the stuck append: everything else is resolved and counted.
        Await.until(Duration.ofSeconds(60), () -> core.account().pending() == BATCH,
            "only the batch on the disk is unresolved: " + core.account());
        final Account stuck = core.account();
        assertEquals(events, stuck.ingested(), stuck.toString());
        assertEquals(events - BATCH, stuck.failed(), "refused appends are counted failed: " + stuck);
        assertEquals(0, stuck.spooled() + stuck.written() + stuck.overwritten(), stuck.toString());
        assertTrue(stuck.ringOccupancy() <= RING && stuck.batchesInFlight() <= 2L * WORKERS + 1, stuck.toString());

        // The disk answers again: the stuck batch lands in the spool, later batches are spooled again.
        final CountDownLatch gate = disk.writeGate;
        disk.writeGate = null;
        gate.countDown();
        for (int i = 0; i < 1_000; i++) {
            core.publish(1_700_000_001_000_000_000L + i, 100, (short) 1, i, i);
        }
        pg.startServer();
        Await.until(Duration.ofSeconds(120), () -> core.account().pending() == 0 && core.account().spooled() == 0,
            "the spool drains: " + core.account());
        final Account end = core.close(Duration.ofSeconds(30));
        assertBalanced(end);
        assertEquals(events + 1_000, end.ingested(), end.toString());
        assertEquals(end.ingested(), end.written() + end.failed(), end.toString());
        assertTrue(end.written() >= BATCH + 1_000, "the stuck batch and the later events were written: " + end);
        assertEquals(end.written(), rowsExactlyOnce());
    }

    @Test
    void closeOnAStuckDiskReturnsAndReportsTheBatchLeftOnTheDisk() throws Exception {
        final StallingDisk disk = new StallingDisk();
        disk.writeGate = new CountDownLatch(1);
        final PipelineCore core = pipeline(disk, TimeUnit.MILLISECONDS.toNanos(20));
        pg.stop();
        for (int i = 0; i < BATCH; i++) {
            core.publish(1_700_000_000_000_000_000L + i, 1, (short) 1, i, i);
        }
        Await.until(Duration.ofSeconds(60), () -> disk.writesWaiting.get() == 1, "an append is stuck on the disk");
        final CompletableFuture<Account> closing = CompletableFuture.supplyAsync(() -> core.close(Duration.ofSeconds(1)));
        final Account closed = closing.get(60, TimeUnit.SECONDS);
        assertEquals(BATCH, closed.ingested(), closed.toString());
        assertEquals(BATCH, closed.pending(), "the final account shows the batch still on the disk: " + closed);

        disk.writeGate.countDown(); // the write returns, into a closed file: the batch is counted failed
        Await.until(Duration.ofSeconds(60), () -> core.account().pending() == 0, "resolved: " + core.account());
        assertEquals(BATCH, core.account().failed(), core.account().toString());
    }
}
