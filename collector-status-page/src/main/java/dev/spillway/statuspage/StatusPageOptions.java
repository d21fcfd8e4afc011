package dev.spillway.statuspage;

import dev.spillway.runtime.config.ConfigException;
import dev.spillway.runtime.config.OptionValues;
import picocli.CommandLine.Option;

/**
 * The status page module's command-line options (a picocli mixin of the collector's command). Values are kept as
 * text and converted by {@link #settings}, so that a value from the command line, the environment or a config file
 * fails with the same message naming the option.
 */
public final class StatusPageOptions {

    @Option(names = "--public-status-page", paramLabel = "BOOLEAN", arity = "0..1", fallbackValue = "true",
        defaultValue = "false",
        description = "With --token: show the read-only status page (GET /) to everyone; write and admin APIs keep"
            + " requiring the token (default: ${DEFAULT-VALUE}).")
    String publicStatusPage;

    @Option(names = "--session-max-age", paramLabel = "DURATION", defaultValue = "7d",
        description = "How long a sign-in to the status page lasts (sessions are kept in memory: signing out or a"
            + " restart ends them) (default: ${DEFAULT-VALUE}).")
    String sessionMaxAge;

    /**
     * Validates the options.
     *
     * @throws ConfigException naming the first bad option as the user set it
     */
    public StatusPageSettings settings(OptionValues v) {
        return new StatusPageSettings(v.bool("--public-status-page", publicStatusPage),
            v.durationIn("--session-max-age", sessionMaxAge, java.time.Duration.ofMinutes(1),
                java.time.Duration.ofDays(400)));
    }
}
