package dev.spillway.uptime;

import dev.spillway.runtime.config.ConfigException;
import dev.spillway.runtime.config.OptionValues;
import dev.spillway.uptime.monitor.AddressPolicy;
import dev.spillway.uptime.monitor.MonitorFile;
import dev.spillway.uptime.monitor.MonitorValidator;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The uptime module's command-line options (a picocli mixin of the collector's command). Values are kept as text
 * and converted by {@link #settings}, so that a value from the command line, the environment or a config file
 * fails with the same message naming the option.
 */
public final class UptimeOptions {

    @Option(names = "--monitors", paramLabel = "FILE",
        description = "Monitors to create or update at start (JSON or YAML list; see docs/monitors.md).")
    String monitors;

    @Option(names = "--probe-concurrency", paramLabel = "N", defaultValue = "500",
        description = "Most monitor checks in flight at once; more wait in a queue (default: ${DEFAULT-VALUE}).")
    String probeConcurrency;

    @Option(names = "--probe-keep-alive", paramLabel = "BOOL", defaultValue = "false",
        description = "Reuse connections between checks (then connect/TLS are measured only on new connections) "
            + "(default: ${DEFAULT-VALUE}).")
    String probeKeepAlive;

    @Option(names = "--probe-deny", paramLabel = "CIDR[,CIDR...]",
        description = "Address ranges monitors must not connect to, besides the built-in ones (unspecified, "
            + "link-local, cloud metadata); checked on the resolved address of every connection. E.g. 10.0.0.0/8.")
    String probeDeny;

    @Option(names = "--probe-allow", paramLabel = "CIDR[,CIDR...]",
        description = "Address ranges monitors may connect to although a wider range is denied (built in or "
            + "--probe-deny); the most specific range wins, allow on a tie. E.g. 169.254.169.254/32.")
    String probeAllow;

    @Option(names = "--monitor-reload-interval", paramLabel = "DURATION", defaultValue = "5m",
        description = "How often the monitors table is re-read for rows changed with SQL (default: ${DEFAULT-VALUE}).")
    String monitorReloadInterval;

    @Option(names = "--monitor-lease-ttl", paramLabel = "DURATION", defaultValue = "10s",
        description = "Collectors sharing a database split the monitors by leases renewed every quarter of this; a "
            + "dead collector's monitors are taken over after it (default: ${DEFAULT-VALUE}).")
    String monitorLeaseTtl;

    @Option(names = "--location", paramLabel = "NAME",
        description = "Where this collector checks from ([A-Za-z0-9_.-]{1,32}): it checks the monitors that list this "
            + "location, and monitors without locations like any collector (default: none, only those).")
    String location;

    /**
     * Validates the options and reads the {@code --monitors} file, every monitor in it checked like an API body.
     *
     * @throws ConfigException naming the first bad option as the user set it; for the monitors file
     *     {@code --monitors FILE: <what is wrong>}, naming the entry and the field
     */
    public UptimeSettings settings(OptionValues v) {
        final AddressPolicy policy = AddressPolicy.of(ranges(v, "--probe-allow", probeAllow),
            ranges(v, "--probe-deny", probeDeny));
        final Path file = OptionValues.blank(monitors) ? null : v.readableFile("--monitors", monitors);
        final MonitorFile.Contents declared = file == null ? new MonitorFile.Contents(List.of(), List.of(), List.of())
            : MonitorFile.readAll(file, v.fileLabel("--monitors", monitors), policy);
        final int probes = v.intIn("--probe-concurrency", probeConcurrency, 1, 10_000);
        final boolean keepAlive = v.bool("--probe-keep-alive", probeKeepAlive);
        final Duration reload = v.durationIn("--monitor-reload-interval", monitorReloadInterval, Duration.ofSeconds(1),
            Duration.ofDays(1));
        final Duration leaseTtl = v.durationIn("--monitor-lease-ttl", monitorLeaseTtl, Duration.ofSeconds(1),
            Duration.ofHours(1));
        final String at = OptionValues.trimmedOrNull(location);
        if (at != null && MonitorValidator.locationError(at) != null) {
            throw v.invalid("--location", MonitorValidator.locationError(at));
        }
        return new UptimeSettings(file, declared.monitors(), probes, keepAlive, reload, policy, leaseTtl, at,
            declared.maintenance(), declared.channels());
    }

    private static List<AddressPolicy.Cidr> ranges(OptionValues v, String option, String value) {
        return OptionValues.blank(value) ? List.of() : v.convert(option, value, AddressPolicy::parseList);
    }
}
