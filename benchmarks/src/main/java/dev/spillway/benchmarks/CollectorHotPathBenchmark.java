package dev.spillway.benchmarks;

import dev.spillway.benchmarks.baseline.FieldType;
import dev.spillway.ingest.lineprotocol.LineHandler;
import dev.spillway.ingest.lineprotocol.LineProtocolParser;
import dev.spillway.ingest.lineprotocol.ParsedPoint;
import dev.spillway.ingest.lineprotocol.Precision;
import dev.spillway.ingest.series.Series;
import dev.spillway.ingest.series.SeriesIndex;
import dev.spillway.ingest.series.SeriesKeyBuilder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The collector's per-line work for known series, single thread: parse a line, find the series of each numeric
 * field, take its sequence and hand {@code (time, source_id, kind, value, seq)} on (here to a {@link Blackhole};
 * the pipeline's own {@code ingest} is measured by {@code IngestThroughputBenchmark}). Score = lines/s per core.
 *
 * <p>{@code impl=current}: the collector's code (names unescaped into the point's byte arena, series looked up by
 * key bytes in {@link SeriesIndex}, 17-digit floats by Eisel-Lemire). {@code impl=before}: the same work with the
 * frozen pre-#14 parser and {@code String} series keys in a {@code ConcurrentHashMap} (package {@code baseline}),
 * as {@code LineIngestor} did it, so both are measured in one run. {@code -prof gc} gives B/op = bytes per line.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@State(Scope.Thread)
public class CollectorHotPathBenchmark {

    static final int LINES = LineProtocolParserBenchmark.LINES;

    @Param({"current", "before"})
    public String impl;

    /**
     * {@code telegraf}: issue #14's body (cpu/mem/disk, 3-5 tags, 17-digit floats). {@code sensor}: issue #25's
     * IngestRace workload ({@code sensor,host=h0042,site=s42 value=<v> <ns>}, one line per series of 1,000, half
     * 2-decimal and half 17-digit floats), built as {@code LineLoad} builds it.
     */
    @Param({"telegraf", "sensor"})
    public String body;

    private byte[] bytes;
    private LineProtocolParser parser;
    private CurrentHandler current;
    private dev.spillway.benchmarks.baseline.LineProtocolParser beforeParser;
    private BeforeHandler before;

    @Setup(Level.Trial)
    public void setUp(Blackhole bh) {
        bytes = ("sensor".equals(body) ? sensorBody() : LineProtocolParserBenchmark.telegrafBody())
            .getBytes(StandardCharsets.UTF_8);
        parser = new LineProtocolParser();
        current = new CurrentHandler(bh);
        beforeParser = new dev.spillway.benchmarks.baseline.LineProtocolParser();
        before = new BeforeHandler(bh);
        // Every series known, as in steady state; both catalogues get the same ids.
        current.register = true;
        before.register = true;
        parse();
        current.register = false;
        before.register = false;
        final int lines = parse();
        if (lines != LINES || current.missing + before.missing != 0) {
            throw new IllegalStateException("body does not resolve: " + lines + " lines, missing " + current.missing
                + "/" + before.missing);
        }
        System.out.printf("%n[%s %s] %d lines, %.1f bytes/line, %d series%n", impl, body, LINES, bytes.length / (double) LINES,
            "current".equals(impl) ? current.index.size() : before.byKey.size());
    }

    @Benchmark
    @OperationsPerInvocation(LINES)
    public int parse() {
        if ("current".equals(impl)) {
            return parser.parse(bytes, 0, bytes.length, Precision.NANOSECONDS, 0L, current);
        }
        return beforeParser.parse(bytes, 0, bytes.length, dev.spillway.benchmarks.baseline.Precision.NANOSECONDS, 0L,
            before);
    }

    /**
     * Issue #25's lines as {@code LineLoad} style {@code sensor} writes them: {@code LINES} consecutive lines, so one
     * per series, even series with 2-decimal values and odd ones with 17-digit floats, ns timestamps 1 us apart.
     */
    static String sensorBody() {
        final java.util.SplittableRandom random = new java.util.SplittableRandom(14);
        final StringBuilder sb = new StringBuilder(LINES * 64);
        for (int s = 0; s < LINES; s++) {
            sb.append("sensor,host=h").append(String.format(java.util.Locale.ROOT, "%04d", s)).append(",site=s")
                .append(String.format(java.util.Locale.ROOT, "%02d", s % 50)).append(" value=");
            if (s % 2 == 0) {
                sb.append(String.format(java.util.Locale.ROOT, "%.2f", random.nextInt(100_000) / 100.0));
            } else {
                sb.append(random.nextDouble() * 100);
            }
            sb.append(' ').append(1_700_000_000_000_000_000L + s * 1_000L).append('\n');
        }
        return sb.toString();
    }

    /** What {@code LineIngestor} does per known line now. */
    static final class CurrentHandler implements LineHandler {
        final SeriesIndex index = new SeriesIndex();
        private final SeriesKeyBuilder key = new SeriesKeyBuilder();
        private final Blackhole bh;
        boolean register;
        int missing;
        private int nextId;

        CurrentHandler(Blackhole bh) {
            this.bh = bh;
        }

        @Override
        public void onPoint(ParsedPoint p) {
            key.prefix(p);
            for (int i = 0; i < p.fieldCount(); i++) {
                if (p.fieldType(i) == dev.spillway.ingest.lineprotocol.FieldType.STRING) {
                    continue;
                }
                key.field(p, i);
                Series s = index.get(key);
                if (s == null) {
                    if (!register) {
                        missing++;
                        continue;
                    }
                    s = index.putIfAbsent(key.toKey(), new Series(nextId++, 0));
                }
                emit(bh, p.timestampNanos(), s.id(), (short) p.fieldType(i).ordinal(), p.fieldValue(i),
                    s.takeSequence());
            }
        }

        @Override
        public void onError(int lineNumber, String message) {
            throw new IllegalStateException(message);
        }
    }

    /** What {@code LineIngestor} did per known line before #14 (String keys, list of tags per line). */
    static final class BeforeHandler implements dev.spillway.benchmarks.baseline.LineHandler {
        final Map<String, Series> byKey = new ConcurrentHashMap<>();
        private final List<String> tags = new ArrayList<>();
        private final Blackhole bh;
        boolean register;
        int missing;
        private int nextId;

        BeforeHandler(Blackhole bh) {
            this.bh = bh;
        }

        @Override
        public void onPoint(dev.spillway.benchmarks.baseline.ParsedPoint p) {
            String prefix = null;
            for (int i = 0; i < p.fieldCount(); i++) {
                if (p.fieldType(i) == FieldType.STRING) {
                    continue;
                }
                if (prefix == null) {
                    tags.clear();
                    for (int t = 0; t < p.tagCount(); t++) {
                        tags.add(p.tagKey(t));
                        tags.add(p.tagValue(t));
                    }
                    prefix = dev.spillway.benchmarks.baseline.SeriesKey.prefix(p.measurement(), tags);
                }
                final String k = dev.spillway.benchmarks.baseline.SeriesKey.of(prefix, p.fieldKey(i));
                Series s = byKey.get(k);
                if (s == null) {
                    if (!register) {
                        missing++;
                        continue;
                    }
                    s = byKey.computeIfAbsent(k, x -> new Series(nextId++, 0));
                }
                emit(bh, p.timestampNanos(), s.id(), (short) p.fieldType(i).ordinal(), p.fieldValue(i),
                    s.takeSequence());
            }
        }

        @Override
        public void onError(int lineNumber, String message) {
            throw new IllegalStateException(message);
        }
    }

    private static void emit(Blackhole bh, long time, int sourceId, short kind, double value, long seq) {
        bh.consume(time);
        bh.consume(sourceId);
        bh.consume(kind);
        bh.consume(value);
        bh.consume(seq);
    }
}
