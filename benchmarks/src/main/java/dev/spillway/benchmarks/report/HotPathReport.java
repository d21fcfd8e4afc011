package dev.spillway.benchmarks.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The Markdown table of {@code CollectorHotPathBenchmark} (issue #14): lines/s per core and bytes allocated per
 * line, the collector's current path beside the frozen pre-#14 one from the same JMH run.
 *
 * <pre>java -cp benchmarks.jar dev.spillway.benchmarks.report.HotPathReport hotpath.json hotpath.md "command"</pre>
 */
public final class HotPathReport {

    private HotPathReport() {
    }

    public static void main(String[] args) throws Exception {
        final JsonNode runs = new ObjectMapper().readTree(Path.of(args[0]).toFile());
        final StringBuilder sb = new StringBuilder("# Collector hot path: parse + series lookup per line (issue #14)\n\n");
        sb.append("- command: `").append(args[2]).append("`\n");
        sb.append("- one thread, 1,000 Telegraf-like lines per call (cpu/mem/disk, 3-5 tags, float and integer fields, "
            + "17-digit floats; body `sensor`: issue #25 IngestRace lines), every series known; score = lines/s per core; B/line = JMH `-prof gc` "
            + "`gc.alloc.rate.norm`\n\n");
        sb.append("| path | body | lines/s per core | ± (99.9 %) | B/line allocated |\n"
            + "| --- | --- | ---: | ---: | ---: |\n");
        double current = Double.NaN;
        double before = Double.NaN;
        for (JsonNode run : runs) {
            final String impl = run.path("params").path("impl").asText();
            final String body = run.path("params").path("body").asText("telegraf");
            final double score = run.path("primaryMetric").path("score").asDouble();
            final double error = run.path("primaryMetric").path("scoreError").asDouble(Double.NaN);
            final double bytes = run.path("secondaryMetrics").path("gc.alloc.rate.norm").path("score")
                .asDouble(Double.NaN);
            sb.append(String.format(Locale.ROOT, "| %s | %s | %,.0f | %,.0f | %.2f |%n",
                impl.equals("before") ? "before #14 (String keys, Double.parseDouble fallback)" : "current", body,
                score, error, bytes));
            if (!body.equals("telegraf")) {
                continue;
            }
            if (impl.equals("current")) {
                current = score;
            } else {
                before = score;
            }
        }
        sb.append(String.format(Locale.ROOT, "%ncurrent / before (telegraf body): %.2fx%n", current / before));
        Files.writeString(Path.of(args[1]), sb);
        System.out.print(sb);
    }
}
