package dev.spillway.benchmarks.report;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;

/** The facts a results table needs to be read later: when, on what, with which JDK. */
public final class MachineInfo {

    private MachineInfo() {
    }

    /** Cores, memory, JDK, OS and the current load average, one Markdown bullet each. */
    public static String markdown() {
        final StringBuilder sb = new StringBuilder();
        sb.append("- date: ").append(ZonedDateTime.now(ZoneOffset.UTC).format(DateTimeFormatter.ISO_OFFSET_DATE_TIME))
            .append('\n');
        sb.append("- machine: ").append(Runtime.getRuntime().availableProcessors()).append(" cores, ")
            .append(memTotal()).append(" RAM, ").append(cpuModel()).append('\n');
        sb.append("- JDK: ").append(System.getProperty("java.vm.name")).append(' ')
            .append(System.getProperty("java.runtime.version")).append("; OS ")
            .append(System.getProperty("os.name")).append(' ').append(System.getProperty("os.version")).append('\n');
        sb.append("- load average when the report was written: ").append(loadAverage()).append('\n');
        return sb.toString();
    }

    public static String memTotal() {
        final String line = grep(Path.of("/proc/meminfo"), "MemTotal:");
        if (line == null) {
            return "? GiB";
        }
        final long kb = Long.parseLong(line.replaceAll("[^0-9]", ""));
        return String.format("%.1f GiB", kb / 1024.0 / 1024.0);
    }

    public static String cpuModel() {
        final String line = grep(Path.of("/proc/cpuinfo"), "model name");
        return line == null ? "unknown CPU" : line.substring(line.indexOf(':') + 1).trim();
    }

    public static String loadAverage() {
        try {
            final String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " / " + f[1] + " / " + f[2] + " (1/5/15 min)";
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }

    private static String grep(Path file, String prefix) {
        try {
            for (String line : Files.readAllLines(file)) {
                if (line.startsWith(prefix)) {
                    return line;
                }
            }
        } catch (IOException e) {
            return null;
        }
        return null;
    }
}
