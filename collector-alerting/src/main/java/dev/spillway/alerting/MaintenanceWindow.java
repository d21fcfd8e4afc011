package dev.spillway.alerting;

import com.cronutils.model.CronType;
import com.cronutils.model.definition.CronDefinitionBuilder;
import com.cronutils.model.time.ExecutionTime;
import com.cronutils.parser.CronParser;

import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.time.temporal.ChronoUnit;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * A time during which transitions of what it covers are recorded but not announced: one-off
 * ({@code startsAt}..{@code endsAt}) or recurring (a five-field Unix cron expression for the starts, in a named time
 * zone, each lasting {@code duration}; optionally only between {@code startsAt} and {@code endsAt}).
 *
 * @param id unique name, {@code [A-Za-z0-9_.-]{1,64}}
 * @param scope what it covers: {@code all}, {@code monitor}, {@code service} or {@code tag}
 * @param target the monitor or service name, or {@code key=value} for a monitor tag; null for {@code all}
 * @param startsAt a one-off window's start, or when a recurring one begins to apply (null: always)
 * @param endsAt a one-off window's end, or when a recurring one stops applying (null: never)
 * @param cron the recurring starts (e.g. {@code 0 2 * * *}), or null for a one-off window
 * @param duration how long each recurring window lasts; null for a one-off window
 * @param zone the zone the cron expression is read in (daylight saving time included)
 * @param reason for people, e.g. "nightly backup"; may be null
 */
public record MaintenanceWindow(String id, String scope, String target, Instant startsAt, Instant endsAt,
                                String cron, Duration duration, ZoneId zone, String reason) {

    private static final Pattern ID = Pattern.compile("[A-Za-z0-9_.-]{1,64}");
    private static final CronParser CRON = new CronParser(CronDefinitionBuilder.instanceDefinitionFor(CronType.UNIX));
    /** A recurring window is at most a week long: longer is a one-off window. */
    static final Duration MAX_DURATION = Duration.ofDays(7);

    /**
     * Validates.
     *
     * @throws IllegalArgumentException whose message starts with the field's name
     */
    public MaintenanceWindow {
        if (id == null || !ID.matcher(id).matches()) {
            throw new IllegalArgumentException("id must match [A-Za-z0-9_.-]{1,64}, was '" + id + "'");
        }
        if (scope == null || !java.util.Set.of("all", "monitor", "service", "tag").contains(scope)) {
            throw new IllegalArgumentException("scope must be all, monitor, service or tag, was '" + scope + "'");
        }
        if ("all".equals(scope) ? target != null : target == null || target.isBlank()) {
            throw new IllegalArgumentException("target " + ("all".equals(scope) ? "must be absent for scope all"
                : "is required for scope " + scope));
        }
        if ("tag".equals(scope) && target.indexOf('=') < 1) {
            throw new IllegalArgumentException("target of a tag window is key=value, was '" + target + "'");
        }
        if (cron == null) {
            if (startsAt == null || endsAt == null) {
                throw new IllegalArgumentException("ends_at and starts_at are required for a one-off window "
                    + "(or give cron, duration and zone)");
            }
            if (duration != null) {
                throw new IllegalArgumentException("duration belongs to a recurring window (with cron)");
            }
        } else {
            try {
                CRON.parse(cron).validate();
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("cron is not a five-field cron expression: " + e.getMessage());
            }
            if (duration == null || duration.isZero() || duration.isNegative()
                || duration.compareTo(MAX_DURATION) > 0) {
                throw new IllegalArgumentException("duration of a recurring window must be 1s..7d, was " + duration);
            }
            if (zone == null) {
                throw new IllegalArgumentException("zone is required with cron, e.g. Europe/Berlin or UTC");
            }
        }
        if (startsAt != null && endsAt != null && !endsAt.isAfter(startsAt)) {
            throw new IllegalArgumentException("ends_at must be after starts_at");
        }
    }

    /** Whether the window is open at {@code t}. */
    public boolean activeAt(Instant t) {
        if (startsAt != null && t.isBefore(startsAt)) {
            return false;
        }
        if (endsAt != null && !t.isBefore(endsAt)) {
            return false;
        }
        return cron == null || lastStart(t).map(s -> t.isBefore(s.plus(duration))).orElse(false);
    }

    /** The latest recurring start at or before {@code t} (cron starts are whole minutes). */
    Optional<Instant> lastStart(Instant t) {
        final ZonedDateTime after = t.atZone(zone).truncatedTo(ChronoUnit.SECONDS).plusSeconds(1);
        return ExecutionTime.forCron(CRON.parse(cron)).lastExecution(after).map(ZonedDateTime::toInstant);
    }

    /**
     * Most recurring starts one window lists for a report: a minutely cron over the longest report range
     * ({@code UptimeReport.MAX_RANGE}, 400 days) plus the longest opening before it (7 days) has 586,080 starts.
     */
    static final int MAX_OPENINGS = 600_000;

    /**
     * The openings overlapping {@code [from, to)} as {@code [start, end)} pairs in time order, clipped to
     * {@code startsAt}/{@code endsAt} (as {@link #activeAt} is); recurring openings that overlap or touch are merged.
     */
    java.util.List<Instant[]> openings(Instant from, Instant to) {
        final java.util.List<Instant[]> out = new java.util.ArrayList<>();
        final Instant lo = startsAt != null && startsAt.isAfter(from) ? startsAt : from;
        final Instant hi = endsAt != null && endsAt.isBefore(to) ? endsAt : to;
        if (!lo.isBefore(hi)) {
            return out;
        }
        if (cron == null) {
            out.add(new Instant[] {lo, hi});
            return out;
        }
        final ExecutionTime starts = ExecutionTime.forCron(CRON.parse(cron));
        // Openings that began up to one duration before the range still reach into it.
        ZonedDateTime cursor = lo.minus(duration).atZone(zone);
        for (int n = 0; ; n++) {
            if (n == MAX_OPENINGS) {
                throw new IllegalStateException("maintenance window " + id + " has more than " + MAX_OPENINGS
                    + " openings in " + from + ".." + to);
            }
            final Optional<ZonedDateTime> next = starts.nextExecution(cursor);
            if (next.isEmpty() || !next.get().toInstant().isBefore(hi)) {
                return out;
            }
            cursor = next.get();
            final Instant s = cursor.toInstant();
            final Instant e = s.plus(duration);
            final Instant a = s.isBefore(lo) ? lo : s;
            final Instant b = e.isAfter(hi) ? hi : e;
            if (!a.isBefore(b)) {
                continue;
            }
            // Starts increase and every opening lasts as long, so an overlap is always with the last one.
            final Instant[] last = out.isEmpty() ? null : out.get(out.size() - 1);
            if (last != null && !a.isAfter(last[1])) {
                last[1] = b;
            } else {
                out.add(new Instant[] {a, b});
            }
        }
    }

    /** When the window open at {@code t} closes (for the status page); null if it is not open. */
    public Instant endOfOpening(Instant t) {
        if (!activeAt(t)) {
            return null;
        }
        if (cron == null) {
            return endsAt;
        }
        final Instant end = lastStart(t).orElseThrow().plus(duration);
        return endsAt != null && endsAt.isBefore(end) ? endsAt : end;
    }

    /** Whether it covers a subject (a monitor's tags are looked up by the caller only for tag windows). */
    boolean covers(String subjectKind, String subject, java.util.Map<String, String> tags) {
        return switch (scope) {
            case "all" -> true;
            case "monitor", "service" -> scope.equals(subjectKind) && target.equals(subject);
            case "tag" -> {
                final int eq = target.indexOf('=');
                yield target.substring(eq + 1).equals(tags.get(target.substring(0, eq)));
            }
            default -> false;
        };
    }
}
