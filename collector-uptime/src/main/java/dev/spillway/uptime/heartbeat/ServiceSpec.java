package dev.spillway.uptime.heartbeat;

import com.cronutils.model.CronType;
import com.cronutils.model.definition.CronDefinitionBuilder;
import com.cronutils.model.time.ExecutionTime;
import com.cronutils.parser.CronParser;

import java.time.DateTimeException;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

import dev.spillway.runtime.config.Units;
import dev.spillway.runtime.log.LogText;

import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;

/**
 * A registered heartbeat service: it must ping at least every {@code timeout} (plus {@code grace} of slack), or,
 * with a {@code schedule}, by the cron schedule's next time after each ping (plus {@code grace}), and reports a
 * status index into {@code statuses}, whose entry 0 is the normal one.
 *
 * <p>Schedules are read as Healthchecks reads them: five-field Unix cron in the service's time zone; after a ping
 * the service is expected at the schedule's first time strictly after the ping (to the minute), and is announced
 * unavailable once that time plus {@code grace} has passed. Across daylight-saving changes the schedule follows
 * the wall clock the way Debian's cron (and so Healthchecks' cronsim) does: every-N-minutes schedules keep firing
 * every N real minutes through both changes (the cron library is cron-utils, whose answers for that case agree).
 *
 * @param id unique, {@code [A-Za-z0-9_.-]{1,64}}
 * @param timeout expected longest gap between pings, 1 s .. 365 d; zero with a schedule (not used then)
 * @param grace extra time before the service is announced unavailable, 0 .. 365 d
 * @param statuses human-readable statuses, 1 to 32 names of 1 to 64 characters; index 0 is normal
 * @param schedule a cron expression such as {@code *}{@code /5 * * * *}, or null for the fixed period
 * @param timeZone the schedule's time zone (an IANA name such as {@code Europe/Berlin}); UTC when null
 * @param maxRun longest a run may take from {@code /start} to its end before the service is announced unavailable,
 *     1 s .. 365 d, or null (runs are not timed out)
 * @param parent the monitor (by name) or service (by id) this service depends on, or null: while the parent is
 *     down, this service's announcements are held
 */
public record ServiceSpec(String id, Duration timeout, Duration grace, List<String> statuses, String schedule,
                          String timeZone, Duration maxRun, String parent) {

    /** A service without a parent. */
    public ServiceSpec(String id, Duration timeout, Duration grace, List<String> statuses, String schedule,
                       String timeZone, Duration maxRun) {
        this(id, timeout, grace, statuses, schedule, timeZone, maxRun, null);
    }

    private static final CronParser CRON = new CronParser(CronDefinitionBuilder.instanceDefinitionFor(CronType.UNIX));
    private static final Map<String, ExecutionTime> PARSED = new ConcurrentHashMap<>();

    /** A service with the fixed period. */
    public ServiceSpec(String id, Duration timeout, Duration grace, List<String> statuses) {
        this(id, timeout, grace, statuses, null, null, null);
    }

    /** A service without a run limit. */
    public ServiceSpec(String id, Duration timeout, Duration grace, List<String> statuses, String schedule,
                       String timeZone) {
        this(id, timeout, grace, statuses, schedule, timeZone, null);
    }

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
        if (parent != null && !ID.matcher(parent).matches()) {
            throw new IllegalArgumentException("parent: must be a monitor's name or a service's id "
                + "([A-Za-z0-9_.-]{1,64}), was '" + LogText.escape(parent) + "'");
        }
        if (maxRun != null && (maxRun.compareTo(Duration.ofSeconds(1)) < 0 || maxRun.compareTo(MAX) > 0)) {
            throw new IllegalArgumentException("max_run: must be 1s..365d, was " + Units.formatDuration(maxRun));
        }
        if (schedule != null) {
            if (schedule.isBlank() || schedule.length() > 100) {
                throw new IllegalArgumentException("schedule: must be a cron expression such as '*/5 * * * *'");
            }
            executionTime(schedule);
            if (timeZone != null) {
                try {
                    ZoneId.of(timeZone);
                } catch (DateTimeException e) {
                    throw new IllegalArgumentException("tz: unknown time zone '" + LogText.escape(timeZone)
                        + "' (use an IANA name such as Europe/Berlin)");
                }
            }
            if (timeout == null) {
                timeout = Duration.ZERO;
            }
            if (!timeout.isZero()) {
                throw new IllegalArgumentException("timeout: not used with a schedule (the schedule says when the next "
                    + "ping is due); leave it out");
            }
        } else if (timeZone != null) {
            throw new IllegalArgumentException("tz: only applies with a schedule");
        } else if (timeout == null || timeout.compareTo(Duration.ofSeconds(1)) < 0 || timeout.compareTo(MAX) > 0) {
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

    /** {@code timeout + grace}: how long after a ping a fixed-period service is announced unavailable. */
    public Duration deadline() {
        return timeout.plus(grace);
    }

    /**
     * When a service last pinged at {@code lastPing} is announced unavailable: {@code lastPing + timeout + grace},
     * or with a schedule its first time after {@code lastPing} (in the time zone) plus {@code grace}.
     */
    public Instant alertAfter(Instant lastPing) {
        if (schedule == null) {
            return lastPing.plus(deadline());
        }
        final ZonedDateTime from = lastPing.atZone(timeZone == null ? ZoneOffset.UTC : ZoneId.of(timeZone));
        final Optional<ZonedDateTime> next = executionTime(schedule).nextExecution(from);
        // A schedule with no next time (none within cron-utils' search horizon) is never due.
        return next.map(t -> t.toInstant().plus(grace)).orElse(Instant.parse("9999-12-31T00:00:00Z"));
    }

    private static ExecutionTime executionTime(String schedule) {
        final ExecutionTime cached = PARSED.get(schedule);
        if (cached != null) {
            return cached;
        }
        final ExecutionTime parsed;
        try {
            parsed = ExecutionTime.forCron(CRON.parse(schedule));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("schedule: '" + LogText.escape(schedule) + "' is not a five-field cron "
                + "expression: " + e.getMessage());
        }
        if (PARSED.size() < 10_000) {
            PARSED.put(schedule, parsed);
        }
        return parsed;
    }

    /** The name of a status index. */
    public String statusName(int index) {
        return index >= 0 && index < statuses.size() ? statuses.get(index) : "status " + index;
    }
}
