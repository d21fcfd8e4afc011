package dev.spillway.statuspage;

/**
 * The status page module's validated settings. Built by {@link StatusPageOptions#settings}.
 *
 * @param publicPage whether the read-only status page is open without the token (when a token is set)
 * @param sessionMaxAge how long a sign-in to the page lasts
 */
public record StatusPageSettings(boolean publicPage, java.time.Duration sessionMaxAge) {

    @Override
    public String toString() {
        return "publicStatusPage=" + publicPage + " sessionMaxAge="
            + dev.spillway.runtime.config.Units.formatDuration(sessionMaxAge);
    }
}
