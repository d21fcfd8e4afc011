package dev.spillway.statuspage;

/**
 * The status page module's validated settings. Built by {@link StatusPageOptions#settings}.
 *
 * @param publicPage whether the read-only status page is open without the token (when a token is set)
 */
public record StatusPageSettings(boolean publicPage) {

    @Override
    public String toString() {
        return "publicStatusPage=" + publicPage;
    }
}
