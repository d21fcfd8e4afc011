package dev.spillway.uptime;

import dev.spillway.runtime.config.Units;
import dev.spillway.uptime.monitor.AddressPolicy;
import dev.spillway.uptime.monitor.MonitorFile;
import dev.spillway.uptime.monitor.MonitorSpec;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The uptime module's validated settings. Built by {@link UptimeOptions#settings}, which also reads and validates
 * the {@code --monitors} file, so a bad file is a configuration error before anything starts.
 *
 * @param monitorsFile monitors to upsert at start, or null
 * @param monitors the monitors read from {@code monitorsFile}, validated like API bodies; empty without a file
 * @param probeConcurrency most monitor checks in flight
 * @param probeKeepAlive reuse connections between checks
 * @param monitorReloadInterval how often the monitors table is re-read
 * @param probePolicy where checks may connect: the built-in deny list with {@code --probe-allow} and
 *     {@code --probe-deny}
 * @param monitorLeaseTtl how long a monitor lease (and a collector's heartbeat row) lasts without renewal: the
 *     main term of the failover bound when a collector dies
 * @param location where this collector checks from ({@code --location}), or null for none
 * @param maintenance the maintenance windows the {@code monitorsFile} declares (not validated here: the alerting
 *     module's rules apply); empty without a file
 * @param channels the notification channels the {@code monitorsFile} declares (validated by the alerting module);
 *     empty without a file
 */
public record UptimeSettings(
    Path monitorsFile,
    List<MonitorSpec> monitors,
    int probeConcurrency,
    boolean probeKeepAlive,
    Duration monitorReloadInterval,
    AddressPolicy probePolicy,
    Duration monitorLeaseTtl,
    String location,
    List<MonitorFile.DeclaredWindow> maintenance,
    List<MonitorFile.DeclaredChannel> channels) {

    /** Copies the lists. */
    public UptimeSettings {
        monitors = List.copyOf(monitors);
        maintenance = List.copyOf(maintenance);
        channels = List.copyOf(channels);
    }

    /** Without declared channels. */
    public UptimeSettings(Path monitorsFile, List<MonitorSpec> monitors, int probeConcurrency, boolean probeKeepAlive,
                          Duration monitorReloadInterval, AddressPolicy probePolicy, Duration monitorLeaseTtl,
                          String location, List<MonitorFile.DeclaredWindow> maintenance) {
        this(monitorsFile, monitors, probeConcurrency, probeKeepAlive, monitorReloadInterval, probePolicy,
            monitorLeaseTtl, location, maintenance, List.of());
    }

    /** Without declared maintenance windows. */
    public UptimeSettings(Path monitorsFile, List<MonitorSpec> monitors, int probeConcurrency, boolean probeKeepAlive,
                          Duration monitorReloadInterval, AddressPolicy probePolicy, Duration monitorLeaseTtl,
                          String location) {
        this(monitorsFile, monitors, probeConcurrency, probeKeepAlive, monitorReloadInterval, probePolicy,
            monitorLeaseTtl, location, List.of());
    }

    /** With the built-in address policy and the default lease (10 s, as {@code --monitor-lease-ttl}). */
    public UptimeSettings(Path monitorsFile, List<MonitorSpec> monitors, int probeConcurrency, boolean probeKeepAlive,
                          Duration monitorReloadInterval) {
        this(monitorsFile, monitors, probeConcurrency, probeKeepAlive, monitorReloadInterval,
            AddressPolicy.defaults(), Duration.ofSeconds(10), null);
    }

    /** Durations as people write them, for logs. */
    @Override
    public String toString() {
        return "monitors=" + (monitorsFile == null ? "none" : monitors.size() + " from " + monitorsFile)
            + " probeConcurrency=" + probeConcurrency + " probeKeepAlive=" + probeKeepAlive + " monitorReload="
            + Units.formatDuration(monitorReloadInterval) + " probeAllow=" + probePolicy.allow() + " probeDeny="
            + probePolicy.deny() + " monitorLeaseTtl=" + Units.formatDuration(monitorLeaseTtl)
            + " location=" + (location == null ? "none" : location);
    }
}
