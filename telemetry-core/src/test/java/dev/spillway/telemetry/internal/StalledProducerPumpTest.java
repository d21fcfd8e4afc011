package dev.spillway.telemetry.internal;

import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.sink.RetryPolicy;
import org.agrona.concurrent.BusySpinIdleStrategy;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A producer that stalls between claim and write must not stall the pump once the ring fills up behind it:
 * under OVERWRITE_OLDEST the pump gives the stalled event up, counted once, and delivers the rest; the late
 * write lands nowhere the pump will read.
 */
class StalledProducerPumpTest {

    @Test
    void pumpSkipsAStalledClaimOnceThreeQuartersOfTheRingAreClaimedBehindIt() throws Exception {
        final PipelineCounters counters = new PipelineCounters();
        final EventRing ring = new EventRing(16, RingMode.OVERWRITE_OLDEST, counters);
        final BlockingQueue<MutableEventBatch> free = new ArrayBlockingQueue<>(1);
        final BlockingQueue<MutableEventBatch> work = new ArrayBlockingQueue<>(1);
        free.add(new MutableEventBatch(12)); // ships when exactly 1..12 are in
        final CommitTracker tracker = new CommitTracker(() -> Long.MAX_VALUE);
        final WorkerPool noWorkers = new WorkerPool("test", Thread::new, batch -> batch.size(),
            RetryPolicy.none(), null, counters, free, java.util.List.of(), null, null, tracker);
        final Pump pump = new Pump(ring, counters, free, java.util.List.of(work), noWorkers, 12, TimeUnit.HOURS.toNanos(1),
            new BusySpinIdleStrategy(), "test", tracker);
        final Thread pumpThread = new Thread(pump, "test-pump");
        pumpThread.setDaemon(true);
        pumpThread.start();

        final long stalled = ring.claim(); // sequence 0: claimed, then its producer is descheduled
        for (int i = 1; i <= 12; i++) {
            assertTrue(ring.publish(i, 1, (short) 0, i, i));
        }
        Await.until(Duration.ofSeconds(10), () -> counters.overwritten() == 1, "the stalled claim is given up");
        final MutableEventBatch batch = work.poll(10, TimeUnit.SECONDS);
        assertEquals(12, batch.size(), "sequences 1..12 delivered without waiting for 0");
        final List<Long> sequences = new ArrayList<>();
        for (int i = 0; i < batch.size(); i++) {
            sequences.add(batch.sequence(i));
        }
        assertEquals(1L, sequences.get(0));
        assertEquals(12L, sequences.get(11));

        ring.write(stalled, -1, -1, (short) -1, -1, -1); // the producer wakes up; the pump is past it
        free.add(batch);
        pump.requestStop(System.nanoTime() + TimeUnit.SECONDS.toNanos(5));
        assertTrue(pump.awaitFinished(10, TimeUnit.SECONDS));
        assertTrue(work.isEmpty(), "the late write is never delivered");
        assertEquals(1, counters.overwritten());
        assertEquals(12, ring.cursorAcquire());
    }
}
