package dev.spillway.runtime.config;

import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Human-friendly sizes ({@code 32MiB}) and durations ({@code 100ms}, {@code 1h30m}): parsed from options, and
 * formatted the same way wherever they are shown to people.
 */
public final class Units {

    private static final Pattern SIZE = Pattern.compile("(\\d+)\\s*([kmg]i?b?|b)?", Pattern.CASE_INSENSITIVE);
    private static final Pattern DURATION = Pattern.compile("(\\d+)\\s*(ns|us|µs|ms|s|m|h|d)?",
        Pattern.CASE_INSENSITIVE);
    private static final Pattern PART = Pattern.compile("(\\d+)(ns|us|µs|ms|s|m|h|d)", Pattern.CASE_INSENSITIVE);
    private static final Pattern COMPOUND = Pattern.compile("(?:\\d+(?:ns|us|µs|ms|s|m|h|d)){2,}",
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
     * Parses a duration: a number with a unit {@code ns, us, ms, s, m, h, d} (a bare {@code 0} is allowed), several
     * of them in a row as {@link #formatDuration} prints them ({@code 1h30m}), or an ISO-8601 duration such as
     * {@code PT5S}.
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
            final Duration compound = compound(s);
            if (compound != null) {
                return compound;
            }
            throw new IllegalArgumentException("expected a duration such as 100ms, 5s, 2m or PT5S, was '" + spec + "'");
        }
        return of(Long.parseLong(m.group(1)), m.group(2) == null ? "s" : m.group(2));
    }

    /** {@code 1h30m}, {@code 1s500ms}: number-unit pairs in a row, or null when {@code s} is not that. */
    private static Duration compound(String s) {
        if (!COMPOUND.matcher(s).matches()) {
            return null;
        }
        Duration total = Duration.ZERO;
        final Matcher part = PART.matcher(s);
        while (part.find()) {
            total = total.plus(of(Long.parseLong(part.group(1)), part.group(2)));
        }
        return total;
    }

    private static Duration of(long n, String unitText) {
        return switch (unitText.toLowerCase(Locale.ROOT)) {
            case "ns" -> Duration.ofNanos(n);
            case "us", "µs" -> Duration.ofNanos(Math.multiplyExact(n, 1000L));
            case "ms" -> Duration.ofMillis(n);
            case "s" -> Duration.ofSeconds(n);
            case "m" -> Duration.ofMinutes(n);
            case "h" -> Duration.ofHours(n);
            default -> Duration.ofDays(n);
        };
    }

    /**
     * Formats a duration the way people write it and {@link #parseDuration} reads it back: {@code 100ms},
     * {@code 5s}, {@code 30m}, {@code 1h30m}, {@code 400d}, {@code 0s}; below a minute with a fraction of a
     * second in the smallest whole unit ({@code 1500ms}). Never ISO-8601 ({@code PT5S}, {@code PT9600H}).
     */
    public static String formatDuration(Duration d) {
        if (d == null) {
            return "null";
        }
        if (d.isZero()) {
            return "0s";
        }
        if (d.isNegative()) {
            // Duration.ofSeconds(Long.MIN_VALUE) cannot be negated; nothing shown to people is that long.
            return "-" + formatDuration(d.negated());
        }
        final long seconds = d.getSeconds();
        final int nanos = d.getNano();
        if (nanos != 0 && seconds < 60) {
            final long total = seconds * 1_000_000_000L + nanos;
            return subSecond(total);
        }
        final StringBuilder b = new StringBuilder();
        append(b, seconds / 86_400, "d");
        append(b, seconds % 86_400 / 3_600, "h");
        append(b, seconds % 3_600 / 60, "m");
        append(b, seconds % 60, "s");
        if (nanos != 0) {
            b.append(subSecond(nanos));
        }
        return b.toString();
    }

    private static String subSecond(long nanos) {
        if (nanos % 1_000_000 == 0) {
            return nanos / 1_000_000 + "ms";
        }
        return nanos % 1_000 == 0 ? nanos / 1_000 + "us" : nanos + "ns";
    }

    private static void append(StringBuilder b, long n, String unit) {
        if (n != 0) {
            b.append(n).append(unit);
        }
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
