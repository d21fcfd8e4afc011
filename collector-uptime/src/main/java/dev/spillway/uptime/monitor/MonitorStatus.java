package dev.spillway.uptime.monitor;

/**
 * The monitor subsystem's counters ({@code GET /api/v1/status}); the same values are Micrometer meters
 * ({@code spillway_monitor_*}).
 *
 * @param monitors monitors defined
 * @param active monitors scheduled
 * @param paused monitors paused
 * @param inFlight checks running
 * @param queued due checks waiting for a probe slot
 * @param concurrency the probe slot count ({@code --probe-concurrency})
 * @param maxInFlight most checks that ran at once since start
 * @param executed checks completed
 * @param successes checks that passed
 * @param failures checks that failed
 * @param ticks due ticks (run or skipped)
 * @param skippedTicks ticks skipped because the monitor's previous check was still running
 * @param latenessP50Ms scheduling lateness, median (recent window)
 * @param latenessP99Ms scheduling lateness, 99th percentile (recent window)
 * @param latenessMaxMs scheduling lateness, maximum (recent window)
 * @param healthyLatenessP50Ms lateness of the healthy lane's checks, median (recent window)
 * @param healthyLatenessP99Ms lateness of the healthy lane's checks, 99th percentile (recent window)
 * @param healthyLatenessMaxMs lateness of the healthy lane's checks, maximum (recent window)
 * @param slowLatenessP50Ms lateness of the slow lane's checks (monitors whose last check timed out), median
 * @param slowLatenessP99Ms lateness of the slow lane's checks, 99th percentile (recent window)
 * @param slowLatenessMaxMs lateness of the slow lane's checks, maximum (recent window)
 * @param queueWaitP50Ms time waiting for a probe slot, median
 * @param queueWaitP99Ms time waiting for a probe slot, 99th percentile
 * @param transitions confirmed transitions recorded
 * @param stateWriteFailures state changes that could not be persisted (retried)
 * @param collectorId this collector's id among those sharing the monitors, or null when it checks none
 * @param leasesHeld monitor leases this collector holds
 * @param leaseShare its fair share of the leasable monitors
 * @param liveCollectors collectors sharing the monitors (live heartbeat rows), this one included
 * @param stateConflicts state writes refused because another collector had changed the row
 */
public record MonitorStatus(int monitors, int active, int paused, int inFlight, int queued, int concurrency,
                            int maxInFlight, long executed, long successes, long failures, long ticks,
                            long skippedTicks, double latenessP50Ms, double latenessP99Ms, double latenessMaxMs,
                            double healthyLatenessP50Ms, double healthyLatenessP99Ms, double healthyLatenessMaxMs,
                            double slowLatenessP50Ms, double slowLatenessP99Ms, double slowLatenessMaxMs,
                            double queueWaitP50Ms, double queueWaitP99Ms, long transitions,
                            long stateWriteFailures, String collectorId, int leasesHeld, int leaseShare,
                            int liveCollectors, long stateConflicts) {
}
