package dev.spillway.telemetry.internal;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE_INTERESTING;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * Two producers race for a one-slot ring. Once all are done, the newest sequence (1) must be readable and
 * intact, or lost only because its writer met an older writer mid-write and abandoned (counted, never waited
 * for); it is never "not ready" (which would stall the pump forever) and never torn; older sequences are lost.
 * r1 = outcome for sequence 1, r2 = outcome for sequence 0.
 */
@JCStressTest
@Description("After the race, the newest event is intact or accounted as lost; older ones are lost")
@Outcome(id = "2, 1", expect = ACCEPTABLE, desc = "newest intact, oldest lapped")
@Outcome(id = "1, 1", expect = ACCEPTABLE_INTERESTING, desc = "newest abandoned behind a writer mid-write")
@Outcome(id = "1, 2", expect = ACCEPTABLE_INTERESTING,
    desc = "the newer writer abandoned behind writer 0 mid-write: 0 is the slot's last intact event")
@Outcome(expect = FORBIDDEN, desc = "not ready (the pump would wait forever), torn, stale, or a lapped event read")
@State
public class LatestWriteWinsTest {

    private final RingProbe probe = new RingProbe();

    @Actor
    public void producer1() {
        probe.publish(1);
    }

    @Actor
    public void producer2() {
        probe.publish(2);
    }

    @Arbiter
    public void pump(II_Result r) {
        r.r1 = probe.read(1);
        r.r2 = probe.read(0);
    }
}
