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
 * Two producers lap each other on a one-slot ring; the second then reads sequences 0 and 1 as the pump would,
 * while the first may still be writing. Whatever the interleaving (including a producer that claimed 0 and
 * writes after 1 was published: the stalled-producer hazard), the pump may see "not ready" or "lost", but never
 * a torn or stale copy. (Two actors, because jcstress runs no more actor threads than the machine has CPUs.)
 * r1 = outcome for sequence 0, r2 = outcome for sequence 1 (0 not ready, 1 lost, 2 intact, 3 torn/stale).
 */
@JCStressTest
@Description("Lapping writers never hand the pump a torn or stale event")
@Outcome(id = {"0, 0", "0, 2", "1, 0", "1, 2", "2, 0", "2, 2", "0, 1", "2, 1", "1, 1"}, expect = ACCEPTABLE,
    desc = "each sequence is either not yet published, lost to a lap or abandonment, or read intact")
@Outcome(expect = FORBIDDEN, desc = "a torn or stale event reached the pump")
@State
public class LappedReadTest {

    private final RingProbe probe = new RingProbe();

    @Actor
    public void producer1() {
        probe.publish(1);
    }

    @Actor
    public void producer2ThenPump(II_Result r) {
        probe.publish(2);
        r.r1 = probe.read(0);
        r.r2 = probe.read(1);
    }
}
