package dev.spillway.telemetry.internal;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.I_Result;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * The seqlock half of the protocol: sequence 0 is published, then a producer overwrites its slot with
 * sequence 1 while the pump copies sequence 0. The copy is either validated intact (read before the overwrite
 * began) or discarded as lost; a mix of old and new fields must never pass validation.
 * r1 = outcome for sequence 0 (1 lost, 2 intact, 3 torn/stale).
 */
@JCStressTest
@Description("The pump's copy-then-validate never accepts a half-overwritten slot")
@Outcome(id = "1", expect = ACCEPTABLE, desc = "overwrite began first: sequence 0 counted as lost")
@Outcome(id = "2", expect = ACCEPTABLE, desc = "copied intact before the overwrite")
@Outcome(expect = FORBIDDEN, desc = "torn, stale, or not ready")
@State
public class TornReadTest {

    private final RingProbe probe = new RingProbe();

    public TornReadTest() {
        probe.publish(7); // sequence 0, fully published before the actors start
    }

    @Actor
    public void producer() {
        probe.publish(9); // sequence 1: same slot
    }

    @Actor
    public void pump(I_Result r) {
        r.r1 = probe.read(0);
    }
}
