package dev.spillway.telemetry.internal;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * The store-buffering shape of the close handshake, on the sequencer's cursor (the gated policies): the producer
 * claims (a CAS on the cursor) and then loads {@code terminated}; the closer stores {@code terminated} and then
 * loads the cursor. Without the full fence in {@link EventRing#terminate()} the closer's cursor load (the
 * Disruptor's {@code Sequence.get()}: a plain load plus an acquire fence) may be satisfied before its store is
 * visible, and the producer may claim, see {@code terminated == false} and keep an event the final limit does not
 * cover. Sequence 0 is claimed up front, so the final limit is 0 or 1 and both sides of the race are non-trivial.
 * Two actors, so that it runs on a 2-CPU machine without oversubscription.
 *
 * <p>r1: 1 when the producer's event (sequence 1) was accepted, 0 when it refused it; r2: the final limit.
 */
@JCStressTest
@Description("Close store buffering on the sequencer cursor: accepted exactly when within the final limit")
@Outcome(id = {"1, 1", "0, 0"}, expect = ACCEPTABLE,
    desc = "accepted and within the final limit, or refused and beyond it")
@Outcome(id = "1, 0", expect = FORBIDDEN, desc = "accepted but outside the final limit: an event no one resolves")
@Outcome(id = "0, 1", expect = FORBIDDEN, desc = "refused yet inside the final limit: counted twice")
@State
public class CloseStoreBufferingTest {

    private final EventRing ring = new EventRing(4, RingMode.DROP_NEWEST, new PipelineCounters());

    public CloseStoreBufferingTest() {
        ring.claim(); // sequence 0, accepted before the race
    }

    @Actor
    public void producer(II_Result r) {
        r.r1 = ring.claim() >= 0 ? 1 : 0;
    }

    @Actor
    public void closer(II_Result r) {
        r.r2 = (int) ring.terminate();
    }
}
