package dev.spillway.statuspage;

import java.util.Locale;

/**
 * Where an overview read spent its time, phase by phase ({@code states 4 ms, uptime 24h 12 ms, ...}), for the log
 * line that explains a slow or a first (cold) read. Not thread-safe: one read, one instance.
 */
final class ReadTimes {

    private final long start = System.nanoTime();
    private final StringBuilder phases = new StringBuilder();
    private long last = start;

    /** Ends the current phase under {@code name}. */
    void mark(String name) {
        final long now = System.nanoTime();
        phases.append(phases.length() == 0 ? "" : ", ").append(name).append(' ')
            .append(String.format(Locale.ROOT, "%.1f", (now - last) / 1e6)).append(" ms");
        last = now;
    }

    /** Milliseconds since this read began. */
    long totalMillis() {
        return (System.nanoTime() - start) / 1_000_000;
    }

    @Override
    public String toString() {
        return phases.toString();
    }
}
