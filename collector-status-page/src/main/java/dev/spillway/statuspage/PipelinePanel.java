package dev.spillway.statuspage;

import dev.spillway.telemetry.PipelineStats;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * The pipeline part of the page: the live account (with the identity {@code ingested = written + dropped +
 * failed + pending} spelled out), ring occupancy, batches in flight, database readiness, and the last hour as
 * per-second rates between the {@link PipelineHistory} snapshots (plus one from the newest snapshot to now, so a
 * fresh collector shows a point at once).
 */
final class PipelinePanel {

    /** The rate series, in plot order; "dropped" reasons are listed separately, as the metrics are. */
    static final String[] SERIES = {"ingested", "written", "overwritten", "rejectedFull", "rejectedClosed",
        "rejectedInvalid", "failed"};

    private final PipelineHistory history;
    private final Supplier<PipelineStats> live;
    private final int ringCapacity;
    private final BooleanSupplier databaseReady;
    private final LongSupplier clockMillis;

    PipelinePanel(PipelineHistory history, Supplier<PipelineStats> live, int ringCapacity,
                  BooleanSupplier databaseReady, LongSupplier clockMillis) {
        this.history = history;
        this.live = live;
        this.ringCapacity = ringCapacity;
        this.databaseReady = databaseReady;
        this.clockMillis = clockMillis;
    }

    /** A consistent view: one live snapshot and the history, taken together. */
    record View(long nowMillis, PipelineStats now, boolean databaseReady, int ringCapacity,
                List<PipelineHistory.Sample> samples) {

        long dropped() {
            return now.overwritten() + now.rejected();
        }
    }

    View view() {
        return new View(clockMillis.getAsLong(), live.get(), databaseReady.getAsBoolean(), ringCapacity,
            history.samples());
    }

    /** The panel's data: the account, the gauges and the rate columns. */
    static Map<String, Object> json(View v) {
        final PipelineStats s = v.now;
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("ingested", s.ingested());
        m.put("written", s.written());
        m.put("dropped", v.dropped());
        m.put("overwritten", s.overwritten());
        m.put("rejectedFull", s.rejectedFull());
        m.put("rejectedClosed", s.rejectedClosed());
        m.put("rejectedInvalid", s.rejectedInvalid());
        m.put("failed", s.failed());
        m.put("pending", s.pending());
        m.put("ringOccupancy", s.ringOccupancy());
        m.put("ringCapacity", v.ringCapacity);
        m.put("batchesInFlight", s.batchesInFlight());
        m.put("batchesFailed", s.batchesFailed());
        m.put("retries", s.retries());
        m.put("databaseReady", v.databaseReady);
        m.put("stepSeconds", PipelineHistory.STEP_MILLIS / 1000);
        m.put("rates", rates(v));
        return m;
    }

    /** Per-second rates as columns (uPlot's data layout): {@code t} in epoch seconds, then one array per series. */
    private static Map<String, double[]> rates(View v) {
        final List<PipelineHistory.Sample> samples = new ArrayList<>(v.samples);
        final PipelineHistory.Sample newest = samples.isEmpty() ? null : samples.get(samples.size() - 1);
        if (newest != null && v.nowMillis - newest.epochMillis() >= 1_000) {
            samples.add(new PipelineHistory.Sample(v.nowMillis, v.now));
        }
        final int n = Math.max(0, samples.size() - 1);
        final Map<String, double[]> columns = new LinkedHashMap<>();
        final double[] t = new double[n];
        for (int i = 0; i < n; i++) {
            t[i] = samples.get(i + 1).epochMillis() / 1000.0;
        }
        columns.put("t", t);
        for (String series : SERIES) {
            final double[] rate = new double[n];
            for (int i = 0; i < n; i++) {
                final PipelineHistory.Sample a = samples.get(i);
                final PipelineHistory.Sample b = samples.get(i + 1);
                final double seconds = (b.epochMillis() - a.epochMillis()) / 1000.0;
                rate[i] = seconds <= 0 ? 0 : Math.max(0, value(b.stats(), series) - value(a.stats(), series)) / seconds;
            }
            columns.put(series, rate);
        }
        return columns;
    }

    static long value(PipelineStats s, String series) {
        return switch (series) {
            case "ingested" -> s.ingested();
            case "written" -> s.written();
            case "overwritten" -> s.overwritten();
            case "rejectedFull" -> s.rejectedFull();
            case "rejectedClosed" -> s.rejectedClosed();
            case "rejectedInvalid" -> s.rejectedInvalid();
            case "failed" -> s.failed();
            default -> throw new IllegalArgumentException(series);
        };
    }

    /** The server-rendered section; status.js keeps the {@code data-k} cells current. */
    static void html(StringBuilder h, View v) {
        final PipelineStats s = v.now;
        h.append("<section id=\"pipeline\" aria-labelledby=\"h-pipeline\">\n<h2 id=\"h-pipeline\">Pipeline</h2>\n");
        h.append("<p class=\"identity\" id=\"identity\" data-balanced=\"").append(s.pending() == 0).append("\">")
            .append("ingested <b data-k=\"ingested\">").append(Html.count(s.ingested())).append("</b> = written <b data-k=\"written\">")
            .append(Html.count(s.written())).append("</b> + dropped <b data-k=\"dropped\">").append(Html.count(v.dropped()))
            .append("</b> + failed <b data-k=\"failed\">").append(Html.count(s.failed()))
            .append("</b> + pending <b data-k=\"pending\">").append(Html.count(s.pending())).append("</b></p>\n");
        h.append("<dl class=\"facts\">\n");
        fact(h, "Database", "databaseReady", v.databaseReady ? "ready" : "not ready",
            v.databaseReady ? "up" : "down");
        fact(h, "Ring occupancy", "ring", Html.count(s.ringOccupancy()) + " / " + Html.count(v.ringCapacity), null);
        fact(h, "Batches in flight", "batchesInFlight", Html.count(s.batchesInFlight()), null);
        fact(h, "Failed events", "failedFacts", Html.count(s.failed()), s.failed() > 0 ? "down" : null);
        fact(h, "Dropped: overwritten", "overwritten", Html.count(s.overwritten()), null);
        fact(h, "Dropped: ring full", "rejectedFull", Html.count(s.rejectedFull()), null);
        fact(h, "Dropped: closing", "rejectedClosed", Html.count(s.rejectedClosed()), null);
        fact(h, "Dropped: invalid", "rejectedInvalid", Html.count(s.rejectedInvalid()), null);
        h.append("</dl>\n");
        h.append("<figure class=\"plot-figure\"><div class=\"plot\" id=\"pipeline-plot\" role=\"img\" aria-label=\""
            + "Events per second over the last hour: ingested, written, dropped by reason, failed\"></div>"
            + "<figcaption>Events per second, last hour (10 s steps)</figcaption></figure>\n");
        h.append("</section>\n");
    }

    private static void fact(StringBuilder h, String label, String key, String value, String state) {
        h.append("<div><dt>").append(Html.esc(label)).append("</dt><dd data-k=\"").append(key).append('"');
        if (state != null) {
            h.append(" class=\"state-").append(state).append('"');
        }
        h.append('>').append(Html.esc(value)).append("</dd></div>\n");
    }
}
