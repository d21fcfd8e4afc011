package dev.spillway.runtime.config;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Turns option values, read as text from the command line, the environment or a config file, into settings. Every
 * failure is a {@link ConfigException} whose message starts with the option as the user set it: {@code --ring-size},
 * {@code SPILLWAY_RING_SIZE (--ring-size)} for a value from the environment, or
 * {@code ring-size in FILE (--ring-size)} for one from the config file. Each module's options use one of these to
 * build its settings record, so every module words its errors alike.
 */
public final class OptionValues {

    private final Map<String, String> origins;

    /**
     * @param origins where an option's value came from when not from the command line, by long option name, e.g.
     *     {@code --ring-size -> SPILLWAY_RING_SIZE}; read when a message is made, so it may still be filled later
     */
    public OptionValues(Map<String, String> origins) {
        this.origins = origins;
    }

    /** Values that all came from the command line (tests, tools). */
    public static OptionValues commandLine() {
        return new OptionValues(Map.of());
    }

    /** How the user set an option: {@code --x}, {@code SPILLWAY_X (--x)} or {@code x in FILE (--x)}. */
    public String name(String option) {
        final String origin = origins.get(option);
        return origin == null ? option : origin + " (" + option + ")";
    }

    /** {@code "<option as set> <message>"}, e.g. {@code --ring-size must be a power of two (e.g. 65536), was 3}. */
    public ConfigException invalid(String option, String message) {
        return new ConfigException(name(option) + " " + message);
    }

    /** Whether a value is absent or blank (an option that is off unless given). */
    public static boolean blank(String s) {
        return s == null || s.isBlank();
    }

    /** The trimmed value, or null when blank. */
    public static String trimmedOrNull(String s) {
        return blank(s) ? null : s.trim();
    }

    /**
     * Converts a value; a null value or a conversion that throws becomes
     * {@code "<option>: invalid value 'v': <why>"}.
     */
    public <T> T convert(String option, String value, Function<String, T> f) {
        if (value == null) {
            throw new ConfigException(name(option) + " needs a value");
        }
        try {
            return f.apply(value.trim());
        } catch (ConfigException e) {
            throw e;
        } catch (RuntimeException e) {
            final String why = e.getMessage() == null ? "" : ": " + e.getMessage();
            throw new ConfigException(name(option) + ": invalid value '" + value + "'" + why);
        }
    }

    /** A whole number in {@code min..max}. */
    public int intIn(String option, String value, int min, int max) {
        final long v = convert(option, value, Long::parseLong);
        if (v < min || v > max) {
            throw invalid(option, "must be " + min + ".." + max + ", was " + value);
        }
        return (int) v;
    }

    /** A byte size ({@code 32MiB}) in {@code min..max}, as an int. */
    public int sizeIn(String option, String value, long min, long max) {
        return Math.toIntExact(bytesIn(option, value, min, Math.min(max, Integer.MAX_VALUE)));
    }

    /** A byte size ({@code 32MiB}) in {@code min..max}. */
    public long bytesIn(String option, String value, long min, long max) {
        final long v = convert(option, value, Units::parseSize);
        if (v < min || v > max) {
            throw invalid(option, "must be " + Units.formatSize(min) + ".." + Units.formatSize(max) + ", was "
                + value);
        }
        return v;
    }

    /** A duration ({@code 100ms}, {@code 5m}, {@code PT5S}) in {@code min..max}. */
    public Duration durationIn(String option, String value, Duration min, Duration max) {
        final Duration d = convert(option, value, Units::parseDuration);
        if (d.compareTo(min) < 0 || d.compareTo(max) > 0) {
            throw invalid(option, "must be " + Units.formatDuration(min) + ".." + Units.formatDuration(max)
                + ", was " + value);
        }
        return d;
    }

    /** A fraction in {@code (0, 1]}. */
    public double fraction(String option, String value) {
        final double v = convert(option, value, Double::parseDouble);
        if (!(v > 0.0 && v <= 1.0)) {
            throw invalid(option, "must be a fraction in (0, 1], was " + value);
        }
        return v;
    }

    /** {@code true/yes/on/1} or {@code false/no/off/0}, any case. */
    public boolean bool(String option, String value) {
        if (value == null) {
            throw new ConfigException(name(option) + " needs a value");
        }
        return switch (value.trim().toLowerCase(Locale.ROOT)) {
            case "true", "yes", "on", "1" -> true;
            case "false", "no", "off", "0" -> false;
            default -> throw invalid(option, "must be true or false, was '" + value + "'");
        };
    }

    /**
     * One of an enum's constants, written in lower case with {@code -} for {@code _} ({@code drop-newest} for
     * {@code DROP_NEWEST}); a wrong value is answered with the list of right ones.
     */
    public <E extends Enum<E>> E choice(String option, String value, Class<E> type) {
        if (value == null) {
            throw new ConfigException(name(option) + " needs a value");
        }
        final String wanted = value.trim().toUpperCase(Locale.ROOT).replace('-', '_');
        for (E e : type.getEnumConstants()) {
            if (e.name().equals(wanted)) {
                return e;
            }
        }
        throw new ConfigException(name(option) + ": invalid value '" + value + "'; expected one of "
            + Arrays.stream(type.getEnumConstants()).map(OptionValues::spelling).collect(Collectors.joining(", ")));
    }

    /** How users write an enum constant: {@code DROP_NEWEST} is {@code drop-newest}. */
    public static String spelling(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** An http(s) URL with a host, trimmed. */
    public String httpUrl(String option, String value) {
        final URI u = convert(option, value, URI::create);
        if (!("http".equals(u.getScheme()) || "https".equals(u.getScheme())) || u.getHost() == null) {
            throw invalid(option, "must be an http(s) URL with a host");
        }
        return value.trim();
    }

    /**
     * A file that exists and can be read, as an absolute path; otherwise {@code "<option> FILE: no such file"} (or
     * {@code is a directory}, {@code cannot be read}).
     */
    public Path readableFile(String option, String value) {
        final Path p = convert(option, value, Path::of).toAbsolutePath().normalize();
        if (!Files.exists(p)) {
            throw fileProblem(option, value, "no such file");
        }
        if (Files.isDirectory(p)) {
            throw fileProblem(option, value, "is a directory, not a file");
        }
        if (!Files.isReadable(p)) {
            throw fileProblem(option, value, "cannot be read (permission denied)");
        }
        return p;
    }

    /** {@code "<option> FILE: <problem>"}: what is wrong with the file an option names. */
    public ConfigException fileProblem(String option, String file, String problem) {
        return new ConfigException(fileLabel(option, file) + ": " + problem);
    }

    /** {@code "<option> FILE"}, the start of a message about the file an option names. */
    public String fileLabel(String option, String file) {
        return name(option) + " " + file.trim();
    }
}
