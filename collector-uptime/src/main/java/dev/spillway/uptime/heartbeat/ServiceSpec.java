package dev.spillway.uptime.heartbeat;

import dev.spillway.runtime.config.Units;
import dev.spillway.runtime.log.LogText;

import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;

/**
 * A registered heartbeat service: it must ping at least every {@code timeout} (plus {@code grace} of slack) and
 * reports a status index into {@code statuses}, whose entry 0 is the normal one.
 *
 * @param id unique, {@code [A-Za-z0-9_.-]{1,64}}
 * @param timeout expected longest gap between pings, 1 s .. 365 d
 * @param grace extra time before the service is announced unavailable, 0 .. 365 d
 * @param statuses human-readable statuses, 1 to 32 names of 1 to 64 characters; index 0 is normal
 */
public record ServiceSpec(String id, Duration timeout, Duration grace, List<String> statuses) {

    private static final Pattern ID = Pattern.compile("[A-Za-z0-9_.-]{1,64}");
    private static final Duration MAX = Duration.ofDays(365);
    /** Statuses when none are given. */
    public static final List<String> DEFAULT_STATUSES = List.of("ok");

    /**
     * Validates.
     *
     * @throws IllegalArgumentException naming the field and the rule, as {@code field: rule}
     */
    public ServiceSpec {
        if (id == null || !ID.matcher(id).matches()) {
            throw new IllegalArgumentException("id: must match [A-Za-z0-9_.-]{1,64}, was '" + LogText.escape(id) + "'");
        }
        if (timeout == null || timeout.compareTo(Duration.ofSeconds(1)) < 0 || timeout.compareTo(MAX) > 0) {
            throw new IllegalArgumentException("timeout: must be 1s..365d, was " + Units.formatDuration(timeout));
        }
        if (grace == null || grace.isNegative() || grace.compareTo(MAX) > 0) {
            throw new IllegalArgumentException("grace: must be 0s..365d, was " + Units.formatDuration(grace));
        }
        if (statuses == null || statuses.isEmpty() || statuses.size() > 32) {
            throw new IllegalArgumentException("statuses: must hold 1 to 32 names (index 0 is the normal status)");
        }
        for (String s : statuses) {
            if (s == null || s.isBlank() || s.length() > 64) {
                throw new IllegalArgumentException("statuses: every name must be 1 to 64 characters, was '"
                    + LogText.escape(s) + "'");
            }
        }
        statuses = List.copyOf(statuses);
    }

    /** {@code timeout + grace}: how long after a ping the service is announced unavailable. */
    public Duration deadline() {
        return timeout.plus(grace);
    }

    /** The name of a status index. */
    public String statusName(int index) {
        return index >= 0 && index < statuses.size() ? statuses.get(index) : "status " + index;
    }
}
