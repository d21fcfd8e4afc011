package dev.spillway.uptime.monitor;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An {@code icmp://host} check: {@code icmp.count} echo requests, one after the other, sharing the timeout;
 * {@code rtt_ms} is the mean round trip of those answered, {@code loss_percent} the share unanswered. DOWN when
 * more than {@code icmp.max_loss_percent} are lost (by default only when all are).
 *
 * <p>What it needs from the OS: the JDK sends ICMP echo ({@link InetAddress#isReachable(int)}) only when it may
 * open a raw socket, that is with {@code CAP_NET_RAW} (root, or {@code setcap cap_net_raw+ep} on the java binary).
 * Without it the JDK would silently try a TCP connect to port 7 instead and call a refused connection "reachable",
 * which is not a ping; so without the capability every icmp check is DOWN with
 * {@code icmp unavailable: ...} saying so, rather than measuring something else. Whether the capability is there
 * is read once from {@code /proc/self/status} (Linux); elsewhere ICMP is assumed available.
 */
final class IcmpProbe {

    /** Why ICMP cannot be used here, or null when it can. */
    static final String UNAVAILABLE = unavailable();

    private final AddressPolicy policy;

    IcmpProbe(AddressPolicy policy) {
        this.policy = policy;
    }

    CheckResult check(MonitorSpec spec) {
        final Instant startedAt = Probes.now();
        final long start = System.nanoTime();
        final long deadline = start + spec.timeout().toNanos();
        if (UNAVAILABLE != null) {
            return new CheckResult(startedAt, false, -1, 0, Double.NaN, Double.NaN, Double.NaN, Double.NaN,
                Double.NaN, "icmp unavailable: " + UNAVAILABLE, false, Map.of());
        }
        final int count = spec.check().icmpCount();
        double dnsMs = Double.NaN;
        int answered = 0;
        double rttSum = 0;
        String error = null;
        try {
            final ProbeAddress.Resolved r = ProbeAddress.resolve(spec.url().getHost(), policy);
            dnsMs = r.dnsMs();
            for (int i = 0; i < count; i++) {
                // Each request gets an equal share of what is left, so a lost one cannot starve the rest.
                final int wait = Math.max(1, Probes.remainingMs(deadline) / (count - i));
                final long t0 = System.nanoTime();
                if (r.address().isReachable(wait)) {
                    answered++;
                    rttSum += (System.nanoTime() - t0) / 1e6;
                }
            }
        } catch (IOException e) {
            error = Probes.classify(e, spec);
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

    /** Reads CAP_NET_RAW (bit 13) from the effective capabilities. */
    private static String unavailable() {
        final Path status = Path.of("/proc/self/status");
        if (!Files.isReadable(status)) {
            return null;
        }
        try {
            for (String line : Files.readAllLines(status)) {
                if (line.startsWith("CapEff:")) {
                    final long caps = Long.parseUnsignedLong(line.substring(7).trim(), 16);
                    return (caps & (1L << 13)) != 0 ? null : "the collector lacks CAP_NET_RAW, which ICMP echo needs "
                        + "(run it as root or give java the capability: setcap cap_net_raw+ep $(readlink -f $(which "
                        + "java)))";
                }
            }
        } catch (IOException | NumberFormatException e) {
            return null;
        }
        return null;
    }
}
