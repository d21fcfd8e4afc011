package dev.spillway.uptime.monitor;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.time.Instant;

/**
 * A monitor as the API shows it: its definition plus a {@code status} object.
 *
 * @param spec the definition
 * @param state the state
 * @param lastCheckAt start of the last check, or null
 * @param lastError the last check's failure reason, or null
 * @param last the last result seen by this collector, or null
 */
public record MonitorView(MonitorSpec spec, MonitorState state, Instant lastCheckAt, String lastError,
                          CheckResult last) {

    /** The JSON shape: the spec's fields and {@code status}. */
    public ObjectNode toJson() {
        final ObjectNode o = MonitorValidator.toJson(spec);
        final ObjectNode s = o.putObject("status");
        s.put("state", state.state().name());
        s.put("confirmed_state", state.confirmed() == null ? null : state.confirmed().name());
        s.put("since", state.since().toString());
        s.put("consecutive_failures", state.failures());
        s.put("consecutive_successes", state.successes());
        s.put("first_failure_at", state.firstFailureAt() == null ? null : state.firstFailureAt().toString());
        s.put("last_check_at", lastCheckAt == null ? null : lastCheckAt.toString());
        s.put("last_error", lastError);
        if (last != null) {
            s.put("last_status_code", last.statusCode() < 0 ? null : last.statusCode());
            s.put("last_duration_ms", Math.round(last.durationMs() * 1000) / 1000.0);
        }
        return o;
    }
}
