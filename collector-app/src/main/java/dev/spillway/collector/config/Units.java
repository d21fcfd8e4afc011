package dev.spillway.collector.config;

import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Parsing of human-friendly sizes ({@code 32MiB}) and durations ({@code 100ms}) used by options. */
public final class Units {

    private static final Pattern SIZE = Pattern.compile("(\\d+)\\s*([kmg]i?b?|b)?", Pattern.CASE_INSENSITIVE);
    private static final Pattern DURATION = Pattern.compile("(\\d+)\\s*(ns|us|µs|ms|s|m|h|d)?",
        Pattern.CASE_INSENSITIVE);

    private Units() {
    }

    /**
     * Parses a byte size: a number with an optional unit {@code B, K, KB, KiB, M, MB, MiB, G, GB, GiB}. Every
     * unit is binary (1 KB = 1024 bytes), because limits are about memory, which is counted in powers of two.
     */
    public static long parseSize(String spec) {
        final Matcher m = SIZE.matcher(spec == null ? "" : spec.trim());
        if (!m.matches()) {
            throw new IllegalArgumentException("expected a size such as 32MiB, 512KiB or 1048576, was '" + spec + "'");
        }
        final long n = Long.parseLong(m.group(1));
        final String unit = m.group(2) == null ? "b" : m.group(2).toLowerCase(Locale.ROOT);
        final long factor = switch (unit.charAt(0)) {
            case 'k' -> 1L << 10;
            case 'm' -> 1L << 20;
            case 'g' -> 1L << 30;
            default -> 1L;
        };
        return Math.multiplyExact(n, factor);
    }

    /**
     * Parses a duration: a number with a unit {@code ns, us, ms, s, m, h, d} (a bare {@code 0} is allowed), or
     * an ISO-8601 duration such as {@code PT5S}.
     */
    public static Duration parseDuration(String spec) {
        final String s = spec == null ? "" : spec.trim();
        if (s.startsWith("P") || s.startsWith("p")) {
            try {
                return Duration.parse(s);
            } catch (DateTimeParseException e) {
                throw new IllegalArgumentException("expected a duration such as 100ms, 5s or PT5S, was '" + spec + "'");
            }
        }
        final Matcher m = DURATION.matcher(s);
        if (!m.matches() || (m.group(2) == null && !m.group(1).equals("0"))) {
            throw new IllegalArgumentException("expected a duration such as 100ms, 5s, 2m or PT5S, was '" + spec + "'");
        }
        final long n = Long.parseLong(m.group(1));
        final String unit = m.group(2) == null ? "s" : m.group(2).toLowerCase(Locale.ROOT);
        return switch (unit) {
            case "ns" -> Duration.ofNanos(n);
            case "us", "µs" -> Duration.ofNanos(Math.multiplyExact(n, 1000L));
            case "ms" -> Duration.ofMillis(n);
            case "s" -> Duration.ofSeconds(n);
            case "m" -> Duration.ofMinutes(n);
            case "h" -> Duration.ofHours(n);
            default -> Duration.ofDays(n);
        };
    }

    /** Formats a byte count the way users type it back, e.g. {@code 32MiB}. */
    public static String formatSize(long bytes) {
        if (bytes > 0 && bytes % (1L << 30) == 0) {
            return (bytes >> 30) + "GiB";
        }
        if (bytes > 0 && bytes % (1L << 20) == 0) {
            return (bytes >> 20) + "MiB";
        }
        if (bytes > 0 && bytes % (1L << 10) == 0) {
            return (bytes >> 10) + "KiB";
        }
        return bytes + "B";
    }
}
