package dev.spillway.telemetry.internal;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.ZI_Result;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * A worker enters a write while the closer aborts at the close deadline. The write must either be seen by the
 * closer (which then aborts it through the sink) or not start. r1 = whether the worker entered, r2 = writes the
 * closer counted inside.
 */
@JCStressTest
@Description("At the close deadline, a write that starts is counted by the closer's abort")
@Outcome(id = "true, 1", expect = ACCEPTABLE, desc = "entered first: the closer counts it and aborts it")
@Outcome(id = "false, 0", expect = ACCEPTABLE, desc = "the abort came first: the write does not start")
@Outcome(id = "false, 1", expect = ACCEPTABLE, desc = "counted while it backed out: an abort with nothing to end")
@Outcome(id = "true, 0", expect = FORBIDDEN, desc = "a write started unseen: it would run on past the deadline")
@State
public class WriteGateTest {

    private final WriteGate gate = new WriteGate();

    @Actor
    public void worker(ZI_Result r) {
        r.r1 = gate.enter();
    }

    @Actor
    public void closer(ZI_Result r) {
        r.r2 = gate.abort();
    }
}
