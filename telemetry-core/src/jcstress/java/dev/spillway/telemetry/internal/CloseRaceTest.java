package dev.spillway.telemetry.internal;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.JJ_Result;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * A producer publishes while the pump terminates the ring at close. Exactly one side must own the event:
 * either the pump's final limit covers it (producer accepted it), or the producer refuses it itself
 * (counted as rejected). Both or neither would double-count or silently lose it.
 * r1 = claimed sequence or -1 when refused, r2 = the pump's final limit.
 */
@JCStressTest
@Description("At close, each event is resolved by exactly one of producer and pump")
@Outcome(id = "0, 0", expect = ACCEPTABLE, desc = "claimed before the pump's final read: the pump resolves it")
@Outcome(id = "-1, -1", expect = ACCEPTABLE, desc = "claimed after: the producer refused and counted it")
@Outcome(id = "0, -1", expect = FORBIDDEN, desc = "accepted but outside the pump's limit: silently lost")
@Outcome(id = "-1, 0", expect = FORBIDDEN, desc = "refused yet inside the pump's limit: counted twice")
@State
public class CloseRaceTest {

    private final RingProbe probe = new RingProbe();

    @Actor
    public void producer(JJ_Result r) {
        r.r1 = probe.publish(1);
    }

    @Actor
    public void pump(JJ_Result r) {
        r.r2 = probe.ring.terminate();
    }
}
