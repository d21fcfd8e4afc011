package dev.spillway.uptime.monitor;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An {@code icmp://host} check: {@code icmp.count} echo requests, one after the other, sharing the timeout;
 * {@code rtt_ms} is the mean round trip of those answered, {@code loss_percent} the share unanswered. DOWN when
 * more than {@code icmp.max_loss_percent} are lost (by default only when all are).
 *
 * <p>What it needs from the OS, in the order tried (chosen once, when the probe is made):
 * <ol>
 *   <li><b>Raw ICMP from the JVM</b>: the JDK sends ICMP echo ({@link InetAddress#isReachable(int)}) only when it
 *       may open a raw socket, that is with {@code CAP_NET_RAW} (root, or {@code setcap cap_net_raw+ep} on the java
 *       binary), read from {@code /proc/self/status}. Without it the JDK would silently try a TCP connect to port 7
 *       and call a refused connection "reachable", which is not a ping, so that path is never used without it.</li>
 *   <li><b>The system's {@code ping}</b> ({@code /usr/bin/ping}, {@code /bin/ping}, {@code /usr/sbin/ping},
 *       {@code /sbin/ping}), which gets its own permission (setuid, file capability, or unprivileged ICMP datagram
 *       sockets when the collector's group is in {@code net.ipv4.ping_group_range}): one {@code ping -n -c 1 -W s
 *       address} per request, its {@code time=} as the round trip. A ping that exits with an error of its own (not
 *       "no answer"), e.g. {@code socket: Operation not permitted}, makes the check DOWN with
 *       {@code icmp unavailable: ping exited with 2: ...}.</li>
 *   <li>Neither: every icmp check is DOWN with {@link #unavailable()}'s reason naming what is missing, logged once.
 *       The monitor is still accepted (another collector of the cluster may have the permission).</li>
 * </ol>
 * Off Linux (no {@code /proc/self/status}) raw ICMP is assumed available.
 */
final class IcmpProbe {

    private static final Logger LOG = LoggerFactory.getLogger(IcmpProbe.class);
    /** Where the system's ping is looked for. */
    static final List<Path> PING_PATHS = List.of(Path.of("/usr/bin/ping"), Path.of("/bin/ping"),
        Path.of("/usr/sbin/ping"), Path.of("/sbin/ping"));
    private static final Pattern TIME = Pattern.compile("time[=<]([0-9.]+) ?ms");
    /** Whether the unavailable reason was logged (once per process). */
    private static final AtomicBoolean LOGGED = new AtomicBoolean();

    private final AddressPolicy policy;
    /** Null when the JVM may send raw ICMP; otherwise why not. */
    private final String rawUnavailable;
    /** The ping command used when raw ICMP is not possible, or null. */
    private final Path ping;

    IcmpProbe(AddressPolicy policy) {
        this(policy, rawUnavailable(), PING_PATHS.stream().filter(Files::isExecutable).findFirst().orElse(null));
    }

    /**
     * @param rawUnavailable null when the JVM may send raw ICMP, else why not
     * @param ping the ping command to fall back to, or null for none (tests pass one that does not exist)
     */
    IcmpProbe(AddressPolicy policy, String rawUnavailable, Path ping) {
        this.policy = policy;
        this.rawUnavailable = rawUnavailable;
        this.ping = ping;
    }

    /** How this probe pings: {@code raw}, {@code ping /usr/bin/ping}, or null when it cannot. */
    String method() {
        return rawUnavailable == null ? "raw" : ping != null && Files.isExecutable(ping) ? "ping " + ping : null;
    }

    /** Why icmp checks cannot run here, or null when they can. */
    String unavailable() {
        if (method() != null) {
            return null;
        }
        return rawUnavailable + ", and no ping command was found (" + (ping != null ? ping + " is not an executable"
            : "looked for " + String.join(", ", PING_PATHS.stream().map(Path::toString).toList()))
            + "); install ping (iputils-ping) or give the collector CAP_NET_RAW (run it as root or setcap "
            + "cap_net_raw+ep on the java binary)";
    }

    CheckResult check(MonitorSpec spec) {
        final Instant startedAt = Probes.now();
        final long start = System.nanoTime();
        final long deadline = start + spec.timeout().toNanos();
        final int count = spec.check().icmpCount();
        double dnsMs = Double.NaN;
        int answered = 0;
        double rttSum = 0;
        String error = null;
        try {
            final ProbeAddress.Resolved r = ProbeAddress.resolve(spec.url().getHost(), policy);
            dnsMs = r.dnsMs();
            final String why = unavailable();
            if (why != null) {
                if (LOGGED.compareAndSet(false, true)) {
                    LOG.warn("icmp checks are DOWN on this collector: {}", why);
                }
                return new CheckResult(startedAt, false, -1, (System.nanoTime() - start) / 1e6, dnsMs, Double.NaN,
                    Double.NaN, Double.NaN, Double.NaN, "icmp unavailable: " + why, false, Map.of());
            }
            for (int i = 0; i < count; i++) {
                // Each request gets an equal share of what is left, so a lost one cannot starve the rest.
                final int wait = Math.max(1, Probes.remainingMs(deadline) / (count - i));
                final double rtt = rawUnavailable == null ? raw(r.address(), wait) : command(r.address(), wait);
                if (rtt >= 0) {
                    answered++;
                    rttSum += rtt;
                }
            }
        } catch (IOException e) {
            error = e instanceof PingFailed ? e.getMessage() : Probes.classify(e, spec);
        }
        final Map<String, Double> extra = new LinkedHashMap<>();
        if (error == null) {
            final double loss = 100.0 * (count - answered) / count;
            if (answered > 0) {
                extra.put("rtt_ms", rttSum / answered);
            }
            extra.put("loss_percent", loss);
            if (answered == 0 || loss > spec.check().icmpMaxLossPercent()) {
                error = "icmp: " + (count - answered) + " of " + count + " echo requests unanswered"
                    + (answered == 0 ? "" : " (icmp.max_loss_percent " + spec.check().icmpMaxLossPercent() + ")");
            }
        }
        return new CheckResult(startedAt, error == null, -1, (System.nanoTime() - start) / 1e6, dnsMs, Double.NaN,
            Double.NaN, Double.NaN, Double.NaN, error, false, extra);
    }

    /** One raw echo request: the round trip in ms, or -1 without an answer in {@code waitMs}. */
    private static double raw(InetAddress address, int waitMs) throws IOException {
        final long t0 = System.nanoTime();
        return address.isReachable(waitMs) ? (System.nanoTime() - t0) / 1e6 : -1;
    }

    /** A ping that could not ping (its own error, not a lost answer): the check's error as its message. */
    private static final class PingFailed extends IOException {
        PingFailed(String message) {
            super(message);
        }
    }

    /**
     * One echo request through the ping command: the round trip from its {@code time=} (the wall time when it
     * prints none), or -1 when it got no answer (exit status 1); any other exit is {@link PingFailed}.
     */
    private double command(InetAddress address, int waitMs) throws IOException {
        final long t0 = System.nanoTime();
        final Process p;
        try {
            p = new ProcessBuilder(ping.toString(), "-n", "-c", "1", "-W",
                Long.toString(Math.max(1, (waitMs + 999) / 1000)), address.getHostAddress())
                .redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new PingFailed("icmp unavailable: could not run " + ping + ": " + e.getMessage());
        }
        try (InputStream out = p.getInputStream()) {
            // ping rounds its wait up to whole seconds: give it that, plus a second to exit, then end it.
            if (!p.waitFor(Math.max(1, (waitMs + 999) / 1000) * 1000L + 1000, TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                return -1;
            }
            final String text = new String(out.readNBytes(4096), StandardCharsets.UTF_8);
            if (p.exitValue() == 0) {
                final Matcher m = TIME.matcher(text);
                return m.find() ? Double.parseDouble(m.group(1)) : (System.nanoTime() - t0) / 1e6;
            }
            if (p.exitValue() == 1) {
                return -1;
            }
            final String first = text.lines().filter(l -> !l.isBlank()).findFirst().orElse("").strip();
            throw new PingFailed("icmp unavailable: " + ping + " exited with " + p.exitValue() + ": "
                + (first.length() > 200 ? first.substring(0, 200) : first));
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new PingFailed("icmp: interrupted");
        }
    }

    /** Reads CAP_NET_RAW (bit 13) from the effective capabilities: null when present (or not Linux). */
    private static String rawUnavailable() {
        final Path status = Path.of("/proc/self/status");
        if (!Files.isReadable(status)) {
            return null;
        }
        try {
            for (String line : Files.readAllLines(status)) {
                if (line.startsWith("CapEff:")) {
                    final long caps = Long.parseUnsignedLong(line.substring(7).trim(), 16);
                    return (caps & (1L << 13)) != 0 ? null : "the collector lacks CAP_NET_RAW, which ICMP echo from "
                        + "Java needs";
                }
            }
        } catch (IOException | NumberFormatException e) {
            return null;
        }
        return null;
    }
}
