package dev.spillway.telemetry.internal;

import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Routing by source cuts one ring range (a round) into one batch per lane: the range is resolved only when every
 * part is, and a loss in any part answers "not confirmed" for the whole range.
 */
class CommitTrackerPartsTest {

    @Test
    void aRangeInPartsIsResolvedWhenItsLastPartIs() {
        final CommitTracker tracker = new CommitTracker(() -> Long.MAX_VALUE);
        final CompletableFuture<Boolean> first = tracker.whenResolved(0, 9);
        final CompletableFuture<Boolean> second = tracker.whenResolved(10, 19);
        tracker.resolved(10, 19, false, 0, 1);
        tracker.resolved(0, 9, false, 0, 3);
        tracker.resolved(0, 9, false, 0, 3);
        assertEquals(-1, tracker.watermark(), "one part of [0, 9] is still out");
        assertFalse(first.isDone());
        tracker.resolved(0, 9, false, 0, 3);
        assertEquals(19, tracker.watermark());
        assertTrue(first.join());
        assertTrue(second.join());
    }

    @Test
    void aLostPartMakesTheWholeRangeUnconfirmed() {
        final CommitTracker tracker = new CommitTracker(() -> Long.MAX_VALUE);
        final CompletableFuture<Boolean> range = tracker.whenResolved(3, 5);
        tracker.resolved(0, 9, true, 0, 2);
        tracker.resolved(0, 9, false, 0, 2);
        assertEquals(9, tracker.watermark());
        assertFalse(range.join());
    }

    @Test
    void aSpooledPartHoldsTheRangeUntilTheSpoolIsSynced() {
        final long[] synced = {0};
        final CommitTracker tracker = new CommitTracker(() -> synced[0]);
        tracker.resolved(0, 9, false, 0, 2);
        tracker.resolved(0, 9, false, 7, 2);
        assertEquals(-1, tracker.watermark(), "the spooled part's generation is not synced yet");
        synced[0] = 7;
        tracker.syncAdvanced();
        assertEquals(9, tracker.watermark());
    }
}
