package dev.spillway.uptime.monitor;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The icmp check where the JVM may not send raw ICMP: it falls back to the system's ping (here real processes: stub
 * ping scripts that answer as iputils' ping does), and without one says exactly what is missing.
 */
class IcmpProbeTest {

    private static final String NO_RAW = "the collector lacks CAP_NET_RAW, which ICMP echo from Java needs";

    @TempDir
    Path dir;

    private static MonitorSpec spec(int count) throws Exception {
        return CheckTypesTest.spec("{\"name\":\"p\",\"url\":\"icmp://127.0.0.1\",\"interval\":\"5s\",\"timeout\":\"4s\","
            + "\"icmp\":{\"count\":" + count + "}}");
    }

    /** A ping stand-in: records its arguments, prints {@code output}, exits with {@code status}. */
    private Path stub(String output, int status) throws Exception {
        final Path p = dir.resolve("ping");
        Files.writeString(p, "#!/bin/sh\nprintf '%s\\n' \"$*\" >> " + dir.resolve("args") + "\nprintf '" + output + "'\nexit "
            + status + "\n");
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
        return p;
    }

    @Test
    void withoutRawIcmpOrPingTheCheckSaysWhatIsMissing() throws Exception {
        final IcmpProbe probe = new IcmpProbe(AddressPolicy.defaults(), NO_RAW, dir.resolve("no-such-ping"));
        assertNull(probe.method());
        final CheckResult r = probe.check(spec(2));
        assertFalse(r.up());
        assertEquals("icmp unavailable: " + NO_RAW + ", and no ping command was found (" + dir.resolve("no-such-ping")
            + " is not an executable); install ping (iputils-ping) or give the collector CAP_NET_RAW (run it as root "
            + "or setcap cap_net_raw+ep on the java binary)", r.error());
        assertTrue(r.extra().isEmpty(), "no round trip or loss is made up");
        final CheckResult none = new IcmpProbe(AddressPolicy.defaults(), NO_RAW, null).check(spec(1));
        assertTrue(none.error().contains("no ping command was found (looked for /usr/bin/ping, /bin/ping, "
            + "/usr/sbin/ping, /sbin/ping)"), none.error());
    }

    @Test
    void fallsBackToThePingCommand() throws Exception {
        final Path ping = stub("PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.\\n64 bytes from 127.0.0.1: "
            + "icmp_seq=1 ttl=64 time=0.042 ms\\n", 0);
        final IcmpProbe probe = new IcmpProbe(AddressPolicy.defaults(), NO_RAW, ping);
        assertEquals("ping " + ping, probe.method());
        final CheckResult r = probe.check(spec(3));
        assertTrue(r.up(), r.error());
        assertEquals(0.042, r.extra().get("rtt_ms"), 1e-9, "the round trip ping measured");
        assertEquals(0.0, r.extra().get("loss_percent"));
        final java.util.List<String> args = Files.readAllLines(dir.resolve("args"));
        assertEquals(3, args.size(), "one ping per request");
        assertTrue(args.get(0).matches("-n -c 1 -W \\d 127\\.0\\.0\\.1"), args.get(0));
    }

    @Test
    void aPingWithoutAnswerIsLossAndAPingThatCannotPingSaysWhy() throws Exception {
        final IcmpProbe silent = new IcmpProbe(AddressPolicy.defaults(), NO_RAW, stub("1 packets transmitted, "
            + "0 received, 100%% packet loss\\n", 1));
        final CheckResult lost = silent.check(spec(2));
        assertFalse(lost.up());
        assertEquals("icmp: 2 of 2 echo requests unanswered", lost.error());
        assertEquals(100.0, lost.extra().get("loss_percent"));

        final Path denied = stub("ping: socket: Operation not permitted\\n", 2);
        final CheckResult r = new IcmpProbe(AddressPolicy.defaults(), NO_RAW, denied).check(spec(2));
        assertFalse(r.up());
        assertEquals("icmp unavailable: " + denied + " exited with 2: ping: socket: Operation not permitted",
            r.error());
    }
}
