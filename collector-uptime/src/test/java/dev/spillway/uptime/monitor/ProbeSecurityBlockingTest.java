package dev.spillway.uptime.monitor;

/** {@link ProbeSecurityTest}'s rules on OkHttp's blocking {@link HttpProbe}, what HTTP checks use with keep-alive. */
class ProbeSecurityBlockingTest extends ProbeSecurityTest {

    @Override
    Http probe(AddressPolicy policy) {
        final HttpProbe p = new HttpProbe(false, 4, policy, dns);
        open(p::close);
        return new Http() {
            @Override
            public CheckResult check(MonitorSpec spec) {
                return p.check(spec);
            }

            @Override
            public long deniedChecks() {
                return p.deniedChecks();
            }

            @Override
            public long cappedChecks() {
                return p.cappedChecks();
            }

            @Override
            public long receivedBytes() {
                return p.receivedBytes();
            }
        };
    }
}
