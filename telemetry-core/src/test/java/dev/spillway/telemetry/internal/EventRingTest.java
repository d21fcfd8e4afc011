package dev.spillway.telemetry.internal;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Deterministic walks through the lapping protocol, including the stalled-producer cases that a stock
 * Disruptor consumer gets wrong. Concurrent interleavings are covered by the jcstress module.
 */
class EventRingTest {

    private final PipelineCounters counters = new PipelineCounters();
    private final EventRing ring = new EventRing(4, RingMode.OVERWRITE_OLDEST, counters);
    private final Collected out = new Collected();

    @Test
    void readsPublishedEventsAndWaitsForUnpublishedOnes() {
        final long seq = ring.claim();
        assertEquals(0, seq);
        assertEquals(EventRing.NOT_READY, ring.read(0, out), "claimed but not written yet");
        ring.write(seq, 100, 7, (short) 2, 1.5, 42);
        assertEquals(EventRing.DELIVERED, ring.read(0, out));
        assertEquals(List.of("100/7/2/1.5/42"), out.events);
    }

    @Test
    void lappedSequencesAreLostNotReadStale() {
        for (int i = 0; i < 10; i++) {
            assertTrue(ring.publish(i, 1, (short) 0, i, i));
        }
        assertEquals(9, ring.cursorAcquire());
        assertEquals(EventRing.LOST, ring.read(0, out), "slot 0 now holds sequence 8");
        assertEquals(EventRing.LOST, ring.read(5, out), "slot 1 now holds sequence 9");
        assertEquals(EventRing.DELIVERED, ring.read(8, out));
        assertEquals(List.of("8/1/0/8.0/8"), out.events);
    }

    @Test
    void producerStalledBeforeWritingCannotTearTheNewerRecord() {
        final long stale = ring.claim(); // producer claims 0, then is descheduled
        for (int i = 1; i <= 4; i++) {
            assertTrue(ring.publish(i, 1, (short) 0, i, i)); // sequence 4 takes slot 0
        }
        ring.write(stale, -1, -1, (short) -1, -1.0, -1); // the late stores must not land
        assertEquals(EventRing.LOST, ring.read(0, out));
        assertEquals(EventRing.DELIVERED, ring.read(4, out));
        assertEquals(List.of("4/1/0/4.0/4"), out.events, "sequence 4 intact");
    }

    @Test
    void producerStalledMidWriteIsSkippedAndItsSuccessorAbandonsInsteadOfWaiting() {
        final long stale = ring.claim();
        final EventSlot slot0 = ring.slot(stale);
        // The stale producer took the stamp and stopped half way through its stores.
        assertTrue(slot0.casStamp(EventSlot.EMPTY_STAMP, EventSlot.writingStamp(stale)));
        for (int i = 1; i <= 4; i++) {
            assertTrue(ring.publish(i, 1, (short) 0, i, i), "never blocks");
        }
        assertEquals(EventRing.LOST, ring.read(0, out), "0 is lapped by 4");
        for (long s = 1; s <= 3; s++) {
            assertEquals(EventRing.DELIVERED, ring.read(s, out));
        }
        assertEquals(EventRing.LOST, ring.read(4, out), "4 gave up rather than wait for the stalled writer");
        // The stalled producer finishes; the pump is past 0, and slot 0 works again for the next lap.
        slot0.releaseStamp(EventSlot.publishedStamp(stale));
        assertTrue(ring.publish(8, 1, (short) 0, 8, 8)); // claims 5
        assertTrue(ring.publish(9, 1, (short) 0, 9, 9)); // 6
        assertTrue(ring.publish(10, 1, (short) 0, 10, 10)); // 7
        assertTrue(ring.publish(11, 1, (short) 0, 11, 11)); // 8 -> slot 0
        assertEquals(EventRing.DELIVERED, ring.read(8, out));
        assertEquals("11/1/0/11.0/11", out.events.get(out.events.size() - 1));
    }

    @Test
    void claimsAfterTerminationAreRefusedAndCountedByTheProducer() {
        assertTrue(ring.publish(1, 1, (short) 0, 1, 1));
        ring.stopAccepting();
        assertFalse(ring.publish(2, 1, (short) 0, 2, 2));
        assertEquals(1, counters.rejectedClosedBeforeClaim(), "refused before claiming: adds to ingested");
        assertEquals(0, ring.terminate(), "the pump resolves up to sequence 0");
    }

    @Test
    void dropNewestRefusesWhenFullAndCounts() {
        final EventRing dropping = new EventRing(4, RingMode.DROP_NEWEST, counters);
        for (int i = 0; i < 4; i++) {
            assertTrue(dropping.publish(i, 1, (short) 0, i, i));
        }
        assertFalse(dropping.publish(4, 1, (short) 0, 4, 4));
        assertEquals(1, counters.rejectedFull());
        assertEquals(EventRing.DELIVERED, dropping.read(0, out));
        dropping.pumpReached(0);
        assertTrue(dropping.publish(5, 1, (short) 0, 5, 5), "a slot was freed");
    }

    private static final class Collected implements EventRing.EventSink {
        final List<String> events = new ArrayList<>();

        @Override
        public void append(long timestampNanos, int sourceId, short kind, double value, long sequence) {
            events.add(timestampNanos + "/" + sourceId + "/" + kind + "/" + value + "/" + sequence);
        }
    }
}
