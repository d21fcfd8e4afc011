package dev.spillway.runtime.config;

/** A configuration value is invalid; the message names the option and what it accepts. Exit code 2. */
public final class ConfigException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** @param message names the option, the bad value and the valid range */
    public ConfigException(String message) {
        super(message);
    }
}
