package dev.spillway.benchmarks.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Turns the JMH JSON of {@code IngestThroughputBenchmark} and {@code IngestStalledLatencyBenchmark} into the
 * Markdown table of issue #2, with the goals marked met or missed.
 *
 * <pre>java -cp benchmarks/target/benchmarks.jar dev.spillway.benchmarks.report.IngestReport \
 *     results.json results.md ["command" ["load average at start"]]</pre>
 */
public final class IngestReport {

    static final String[] IMPLS = {"spillway", "mutexRing", "arrayBlockingQueue", "disruptor"};
    static final Map<String, String> LABEL = Map.of(
        "spillway", "(a) Spillway `Pipeline.ingest`, OVERWRITE_OLDEST",
        "mutexRing", "(b) mutex overwrite-oldest ring",
        "arrayBlockingQueue", "(c) `ArrayBlockingQueue.offer` + drainTo",
        "disruptor", "(d) Disruptor `tryPublishEvent` (drop-newest)");

    /** One JMH result row: benchmark, producers, impl. */
    record Row(String benchmark, int threads, String impl, JsonNode node) {
        double score() {
            return node.path("primaryMetric").path("score").asDouble();
        }

        double error() {
            return node.path("primaryMetric").path("scoreError").asDouble(Double.NaN);
        }

        double secondary(String name) {
            final JsonNode m = node.path("secondaryMetrics").path(name);
            return m.isMissingNode() ? Double.NaN : m.path("score").asDouble();
        }

        double percentile(String p) {
            return node.path("primaryMetric").path("scorePercentiles").path(p).asDouble(Double.NaN);
        }

        long samples() {
            long n = 0;
            for (JsonNode fork : node.path("primaryMetric").path("rawDataHistogram")) {
                for (JsonNode iteration : fork) {
                    for (JsonNode bucket : iteration) {
                        n += bucket.get(1).asLong();
                    }
                }
            }
            return n;
        }

        /** Delivered events per second: calls/s x delivered/offered (both counted over the same iterations). */
        double deliveredPerSecond() {
            final double offered = secondary("offered");
            return offered > 0 ? score() * secondary("delivered") / offered : Double.NaN;
        }

        /** Cores the consumer side kept busy on average (its CPU nanoseconds per second / 1e9). */
        double consumerCores() {
            final double offered = secondary("offered");
            final double cpu = secondary("consumerCpuNanos");
            return offered > 0 ? cpu * (score() / offered) / 1e9 : Double.NaN;
        }

        /** Delivered events per consumer CPU-second: the drain efficiency, independent of the CPU share. */
        double deliveredPerConsumerCoreSecond() {
            return deliveredPerSecond() / consumerCores();
        }

        double dropFraction() {
            final double offered = secondary("offered");
            return offered > 0 ? (secondary("overwritten") + secondary("refused")) / offered : Double.NaN;
        }
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 2) {
            System.err.println("usage: IngestReport <jmh-result.json> <out.md> [command [load-at-start]]");
            System.exit(2);
        }
        final JsonNode root = new ObjectMapper().readTree(Path.of(args[0]).toFile());
        final String md = render(root, args.length > 2 ? args[2] : null, args.length > 3 ? args[3] : null);
        Files.writeString(Path.of(args[1]), md);
        System.out.print(md);
    }

    static List<Row> rows(JsonNode root) {
        final List<Row> rows = new ArrayList<>();
        for (JsonNode n : root) {
            final String bench = n.path("benchmark").asText();
            final String shortName = bench.substring(bench.lastIndexOf('.', bench.lastIndexOf('.') - 1) + 1);
            rows.add(new Row(shortName.substring(0, shortName.indexOf('.')), n.path("threads").asInt(),
                n.path("params").path("impl").asText(), n));
        }
        return rows;
    }

    static Row find(List<Row> rows, String benchmark, int threads, String impl) {
        for (Row r : rows) {
            if (r.benchmark.equals(benchmark) && r.threads == threads && r.impl.equals(impl)) {
                return r;
            }
        }
        return null;
    }

    /** The whole Markdown document. */
    public static String render(JsonNode root, String command, String loadAtStart) {
        final List<Row> rows = rows(root);
        final StringBuilder sb = new StringBuilder();
        sb.append("# Ingest benchmark (issue #2)\n\n");
        sb.append(MachineInfo.markdown());
        final JsonNode first = root.size() > 0 ? root.get(0) : null;
        if (first != null) {
            sb.append("- JMH ").append(first.path("jmhVersion").asText()).append(", forks ")
                .append(first.path("forks").asInt()).append(", warmup ")
                .append(first.path("warmupIterations").asInt()).append(" x ").append(first.path("warmupTime").asText())
                .append(", measurement ").append(first.path("measurementIterations").asInt()).append(" x ")
                .append(first.path("measurementTime").asText()).append(", JVM args ")
                .append(first.path("jvmArgs")).append('\n');
        }
        if (command != null) {
            sb.append("- command: `").append(command).append("`\n");
        }
        if (loadAtStart != null) {
            sb.append("- load average when the run started: ").append(loadAtStart)
                .append(" (other sessions share this machine; a load above the core count means the numbers are noisy)\n");
        }
        sb.append("\nEvery channel holds 65,536 events; every consumer drains in batches of up to 4,096 into a sink that "
            + "does nothing. Producers call `offer` in a tight loop, so every channel is saturated: what counts is how "
            + "many events reach the sink per second, and how many calls were dropped on the way.\n");

        sb.append("\n## Throughput with the consumer draining (Mode.Throughput)\n\n");
        sb.append("| implementation | producers | calls/s | delivered/s | dropped | consumer cores | delivered per consumer core-second | alloc B/op |\n");
        sb.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        final Map<String, Row> thr = new LinkedHashMap<>();
        for (int threads : new int[] {1, 2}) {
            for (String impl : IMPLS) {
                final Row r = find(rows, "IngestThroughputBenchmark", threads, impl);
                if (r == null) {
                    continue;
                }
                thr.put(impl + threads, r);
                sb.append("| ").append(LABEL.get(impl)).append(" | ").append(threads).append(" | ")
                    .append(millions(r.score())).append(errorSuffix(r)).append(" | ")
                    .append(millions(r.deliveredPerSecond())).append(" | ")
                    .append(percent(r.dropFraction())).append(" | ")
                    .append(Double.isNaN(r.consumerCores()) ? "n/a" : String.format(Locale.ROOT, "%.2f", r.consumerCores()))
                    .append(" | ").append(millions(r.deliveredPerConsumerCoreSecond())).append(" | ")
                    .append(bytes(r.secondary("gc.alloc.rate.norm"))).append(" |\n");
            }
        }
        sb.append("\ncalls/s and delivered/s in millions per second (± the 99.9 % confidence half-width JMH reports for "
            + "calls/s); dropped = (overwritten + refused) / calls. consumer cores = CPU time of the consumer side "
            + "(Spillway: pump + workers; baselines: their consumer thread) per second of wall time; delivered per "
            + "consumer core-second (millions) = delivered/s / consumer cores: how much one core of consumer buys, "
            + "independent of how the OS shares the cores between producers and consumer.\n");

        sb.append("\n## One ingest call with the ring FULL and the sink STALLED (Mode.SampleTime)\n\n");
        sb.append("| implementation | producers | what a call does | p50 ns | p99 ns | p99.9 ns | p99.99 ns | max ns | samples | alloc B/op |\n");
        sb.append("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        final Map<String, String> what = Map.of("spillway", "overwrites the oldest", "mutexRing",
            "overwrites the oldest", "arrayBlockingQueue", "allocates, is refused", "disruptor", "is refused");
        final Map<String, Row> lat = new LinkedHashMap<>();
        for (int threads : new int[] {1, 2}) {
            for (String impl : IMPLS) {
                final Row r = find(rows, "IngestStalledLatencyBenchmark", threads, impl);
                if (r == null) {
                    continue;
                }
                lat.put(impl + threads, r);
                sb.append("| ").append(LABEL.get(impl)).append(" | ").append(threads).append(" | ")
                    .append(what.get(impl)).append(" | ")
                    .append(ns(r.percentile("50.0"))).append(" | ").append(ns(r.percentile("99.0"))).append(" | ")
                    .append(ns(r.percentile("99.9"))).append(" | ").append(ns(r.percentile("99.99"))).append(" | ")
                    .append(ns(r.percentile("100.0"))).append(" | ").append(String.format(Locale.ROOT, "%,d", r.samples()))
                    .append(" | ").append(bytes(r.secondary("gc.alloc.rate.norm"))).append(" |\n");
            }
        }
        sb.append("\nSample times include the `System.nanoTime()` pair around the call (about 20-30 ns here; the timer's "
            + "granularity shows as 10 ns steps).\n");

        sb.append("\n## Goals\n\n");
        sb.append("| goal | measured | met? |\n| --- | --- | --- |\n");
        final Row s2 = thr.get("spillway2");
        final Row m2 = thr.get("mutexRing2");
        final Row q2 = thr.get("arrayBlockingQueue2");
        if (s2 != null && m2 != null) {
            final double ratio = s2.deliveredPerSecond() / m2.deliveredPerSecond();
            goal(sb, "delivered/s at 2 producers >= 2x mutex ring", ratioText(ratio, s2, m2), ratio >= 2.0);
        }
        if (s2 != null && q2 != null) {
            final double ratio = s2.deliveredPerSecond() / q2.deliveredPerSecond();
            goal(sb, "delivered/s at 2 producers >= 3x ArrayBlockingQueue", ratioText(ratio, s2, q2), ratio >= 3.0);
        }
        if (s2 != null && m2 != null && q2 != null) {
            sb.append("| (context) delivered per consumer core-second at 2 producers, Spillway vs mutex ring / vs ABQ | ")
                .append(String.format(Locale.ROOT, "%.2fx / %.2fx", s2.deliveredPerConsumerCoreSecond()
                    / m2.deliveredPerConsumerCoreSecond(), s2.deliveredPerConsumerCoreSecond()
                    / q2.deliveredPerConsumerCoreSecond())).append(" | not a goal of the issue |\n");
        }
        for (int threads : new int[] {1, 2}) {
            final Row r = lat.get("spillway" + threads);
            if (r != null) {
                final double p999 = r.percentile("99.9");
                goal(sb, "ingest p99.9 < 1 us, sink stalled, " + threads + " producer(s)", ns(p999) + " ns", p999 < 1000);
            }
        }
        double worstAlloc = 0;
        for (String key : new String[] {"spillway1", "spillway2"}) {
            for (Map<String, Row> m : List.of(thr, lat)) {
                final Row r = m.get(key);
                if (r != null) {
                    worstAlloc = Math.max(worstAlloc, r.secondary("gc.alloc.rate.norm"));
                }
            }
        }
        goal(sb, "Spillway allocation ~0 B/op (every Spillway row)", "at most " + bytes(worstAlloc) + " B/op",
            worstAlloc < 1.0);
        return sb.toString();
    }

    private static String ratioText(double ratio, Row a, Row b) {
        return String.format(Locale.ROOT, "%.2fx (%s vs %s M/s)", ratio, millions(a.deliveredPerSecond()),
            millions(b.deliveredPerSecond()));
    }

    private static void goal(StringBuilder sb, String goal, String measured, boolean met) {
        sb.append("| ").append(goal).append(" | ").append(measured).append(" | ").append(met ? "met" : "**missed**")
            .append(" |\n");
    }

    private static String errorSuffix(Row r) {
        final double e = r.error();
        return Double.isNaN(e) ? "" : " ± " + millions(e);
    }

    static String millions(double v) {
        return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.1f", v / 1e6);
    }

    static String percent(double v) {
        return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.1f %%", v * 100);
    }

    static String bytes(double v) {
        return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.2f", v);
    }

    static String ns(double v) {
        if (Double.isNaN(v)) {
            return "n/a";
        }
        return v >= 10_000 ? String.format(Locale.ROOT, "%,.0f", v) : String.format(Locale.ROOT, "%.0f", v);
    }
}
