package dev.spillway.collector.config;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/** What the build recorded in {@code spillway-collector.properties}: version, commit, embedded PostgreSQL. */
public final class BuildInfo {

    private static final Properties PROPS = load();

    private BuildInfo() {
    }

    private static Properties load() {
        final Properties p = new Properties();
        try (InputStream in = BuildInfo.class.getResourceAsStream("/spillway-collector.properties")) {
            if (in != null) {
                p.load(in);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return p;
    }

    private static String get(String key) {
        final String v = PROPS.getProperty(key);
        // Unfiltered (an IDE build) or empty (no git at build time).
        return v == null || v.isBlank() || v.startsWith("${") ? "unknown" : v.trim();
    }

    /** The collector's version, e.g. {@code 0.1.0}. */
    public static String version() {
        return get("version");
    }

    /** The commit the jar was built from (12 hex digits), or {@code unknown}. */
    public static String commit() {
        return get("commit");
    }

    /** The bundled PostgreSQL's version, e.g. {@code 17.6.0}. */
    public static String postgresVersion() {
        return get("postgres.version");
    }
}
