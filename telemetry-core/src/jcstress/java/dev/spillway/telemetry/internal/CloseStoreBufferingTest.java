package dev.spillway.telemetry.internal;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * The store-buffering shape of the close handshake, on the sequencer's cursor (the gated policies): each producer
 * claims (a read-modify-write of the cursor) and then loads {@code terminated}; the closer stores
 * {@code terminated} and then loads the cursor. Without the full fence in {@link EventRing#terminate()} the
 * closer's cursor load (the Disruptor's plain load plus acquire fence) may be satisfied before its store is
 * visible, and a producer may claim, see {@code terminated == false} and keep an event the final limit does not
 * cover. Two producers, so that the limit can fall between them.
 *
 * <p>r1, r2: 1 when that producer's event was accepted, 0 when it refused it; r3: the final limit. Exactly the
 * accepted events must lie within the limit: {@code r1 + r2 == r3 + 1}.
 */
@JCStressTest
@Description("Close store buffering: accepted events == events within the pump's final limit")
@Outcome(id = {"0, 0, -1", "1, 0, 0", "0, 1, 0", "1, 1, 1"}, expect = ACCEPTABLE,
    desc = "every accepted event is within the final limit, every refused one beyond it")
@Outcome(expect = FORBIDDEN, desc = "an accepted event outside the limit (lost) or a refused one inside (counted twice)")
@State
public class CloseStoreBufferingTest {

    private final EventRing ring = new EventRing(4, RingMode.DROP_NEWEST, new PipelineCounters());

    @Actor
    public void producer1(III_Result r) {
        r.r1 = ring.claim() >= 0 ? 1 : 0;
    }

    @Actor
    public void producer2(III_Result r) {
        r.r2 = ring.claim() >= 0 ? 1 : 0;
    }

    @Actor
    public void closer(III_Result r) {
        r.r3 = (int) ring.terminate();
    }
}
