package dev.spillway.uptime.monitor;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.spillway.runtime.api.ApiException;
import dev.spillway.runtime.api.ApiJson;
import dev.spillway.runtime.api.ApiRequest;
import dev.spillway.runtime.api.ApiResponse;
import dev.spillway.runtime.api.ApiRouter;

import java.sql.SQLException;
import java.time.Clock;
import java.time.DateTimeException;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code GET /api/v1/reports/uptime?from=&to=&tz=&monitor=|tag=key:value|service=id|*&format=json|csv}: the
 * {@link UptimeReport} of monitors (one, those with a tag, or all) or of heartbeat services (one, or all with
 * {@code service=*}); {@code from}/{@code to} are dates ({@code 2026-12-01}, midnight in {@code tz}), RFC 3339
 * times, epoch milliseconds or a duration ago; by default the last 7 days up to now.
 */
public final class UptimeReportApi {

    /** The heartbeat services as the report needs them (this package does not depend on the heartbeat one). */
    public interface Services {
        /** Every service id, sorted. */
        List<String> ids() throws SQLException;

        /** Whether the service is registered. */
        boolean exists(String id) throws SQLException;
    }

    private UptimeReportApi() {
    }

    /** Registers the route; "now" comes from {@code clock}, maintenance time from {@code maintenance}. */
    public static void register(ApiRouter router, MonitorService monitors, Services services,
                                UptimeReport.Maintenance maintenance, Clock clock) {
        router.route("GET", "/api/v1/reports/uptime", req -> report(req, monitors, services, maintenance, clock));
    }

    private static ApiResponse report(ApiRequest req, MonitorService monitors, Services services,
                                      UptimeReport.Maintenance maintenance, Clock clock) throws Exception {
        final ZoneId zone;
        try {
            zone = req.queryParam("tz") == null ? ZoneId.of("UTC") : ZoneId.of(req.queryParam("tz"));
        } catch (DateTimeException e) {
            throw ApiException.invalid("tz", "unknown time zone '" + req.queryParam("tz") + "' (an IANA name such as "
                + "Europe/Berlin)");
        }
        final Instant now = clock.instant();
        final Instant to = day(req.queryParam("to"), "to", zone, now);
        final Instant from = day(req.queryParam("from"), "from", zone,
            now.atZone(zone).toLocalDate().minusDays(6).atStartOfDay(zone).toInstant());
        if (!from.isBefore(to)) {
            throw ApiException.invalid("from", "must be before to (" + to + "), was " + from);
        }
        if (Duration.between(from, to).compareTo(UptimeReport.MAX_RANGE) > 0) {
            throw ApiException.invalid("from", "the range may span at most " + UptimeReport.MAX_RANGE.toDays() + " days");
        }
        final String monitor = req.queryParam("monitor");
        final String tag = req.queryParam("tag");
        final String service = req.queryParam("service");
        if (monitor != null && tag != null) {
            throw ApiException.invalid("tag", "give monitor or tag, not both");
        }
        if (service != null && (monitor != null || tag != null)) {
            throw ApiException.invalid("service", "give service alone, not with monitor or tag");
        }
        String tagKey = null;
        String tagValue = null;
        if (tag != null) {
            final int colon = tag.indexOf(':');
            if (colon <= 0) {
                throw ApiException.invalid("tag", "must be key:value, e.g. team:web, was '" + tag + "'");
            }
            tagKey = tag.substring(0, colon);
            tagValue = tag.substring(colon + 1);
        }
        final String format = req.queryParam("format") == null ? "json" : req.queryParam("format");
        if (!format.equals("json") && !format.equals("csv")) {
            throw ApiException.invalid("format", "must be json or csv, was '" + format + "'");
        }
        final UptimeReport.Report r;
        final String subject;
        if (service != null) {
            subject = "service";
            final List<String> ids;
            if (service.equals("*")) {
                ids = services.ids();
            } else if (services.exists(service)) {
                ids = List.of(service);
            } else {
                throw ApiException.notFound("no heartbeat service '" + service + "'");
            }
            r = UptimeReport.computeServices(monitors.dataSource(), ids, from, to, zone, maintenance);
        } else {
            subject = "monitor";
            final List<MonitorSpec> specs = new ArrayList<>();
            if (monitor != null) {
                specs.add(monitors.view(monitor).spec()); // 404 for unknown monitors
            } else {
                for (MonitorView v : monitors.list()) {
                    if (tagKey == null || tagValue.equals(v.spec().tags().get(tagKey))) {
                        specs.add(v.spec());
                    }
                }
            }
            r = UptimeReport.compute(monitors.dataSource(), specs, from, to, zone, maintenance);
        }
        if (format.equals("csv")) {
            final StringBuilder sb = new StringBuilder("day," + subject
                + ",up_s,down_s,maintenance_s,unknown_s,uptime_percent\n");
            for (UptimeReport.Row row : r.rows()) {
                csv(sb, row.day().toString(), row);
            }
            for (UptimeReport.Row row : r.totals()) {
                csv(sb, "total", row);
            }
            csv(sb, "total", r.total());
            return ApiResponse.text(200, "text/csv; charset=utf-8", sb.toString());
        }
        final ObjectNode o = ApiJson.object();
        o.put("from", r.from().toString());
        o.put("to", r.to().toString());
        o.put("tz", r.zone().getId());
        final ArrayNode rows = o.putArray("rows");
        r.rows().forEach(row -> rows.add(json(row, subject)));
        final ArrayNode totals = o.putArray("totals");
        r.totals().forEach(row -> totals.add(json(row, subject)));
        o.set("total", json(r.total(), subject));
        return ApiResponse.ok(o);
    }

    private static Instant day(String text, String field, ZoneId zone, Instant dflt) throws ApiException {
        if (text != null && text.matches("\\d{4}-\\d{2}-\\d{2}")) {
            try {
                return LocalDate.parse(text).atStartOfDay(zone).toInstant();
            } catch (DateTimeException e) {
                throw ApiException.invalid(field, "is not a date: " + text);
            }
        }
        return MonitorApi.time(text, field, dflt);
    }

    private static ObjectNode json(UptimeReport.Row row, String subject) {
        final ObjectNode o = ApiJson.object();
        if (row.day() != null) {
            o.put("day", row.day().toString());
        }
        if (row.monitor() != null) {
            o.put(subject, row.monitor());
        }
        o.put("up_s", row.upMs() / 1000.0);
        o.put("down_s", row.downMs() / 1000.0);
        o.put("maintenance_s", row.maintenanceMs() / 1000.0);
        o.put("unknown_s", row.unknownMs() / 1000.0);
        if (Double.isNaN(row.uptimePercent())) {
            o.putNull("uptime_percent");
        } else {
            o.put("uptime_percent", Math.round(row.uptimePercent() * 1000) / 1000.0);
        }
        return o;
    }

    private static void csv(StringBuilder sb, String day, UptimeReport.Row row) {
        // Monitor names and service ids are [A-Za-z0-9_.-]: nothing to quote.
        sb.append(day).append(',').append(row.monitor() == null ? "" : row.monitor()).append(',')
            .append(row.upMs() / 1000.0).append(',').append(row.downMs() / 1000.0).append(',')
            .append(row.maintenanceMs() / 1000.0).append(',').append(row.unknownMs() / 1000.0).append(',')
            .append(Double.isNaN(row.uptimePercent()) ? "" : String.valueOf(Math.round(row.uptimePercent() * 1000)
                / 1000.0)).append('\n');
    }
}
