package dev.spillway.uptime.monitor;

/** {@link HttpProbeTest}'s rules on OkHttp's blocking {@link HttpProbe}, what HTTP checks use with keep-alive. */
class HttpProbeBlockingTest extends HttpProbeTest {

    @Override
    CheckResult run(MonitorSpec spec) {
        return blocking.check(spec);
    }
}
