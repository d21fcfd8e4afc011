package dev.spillway.benchmarks;

import dev.spillway.ingest.lineprotocol.LineHandler;
import dev.spillway.ingest.lineprotocol.LineProtocolParser;
import dev.spillway.ingest.lineprotocol.ParsedPoint;
import dev.spillway.ingest.lineprotocol.Precision;
import dev.spillway.ingest.series.Series;
import dev.spillway.ingest.series.SeriesIndex;
import dev.spillway.ingest.series.SeriesKeyBuilder;
import java.nio.charset.StandardCharsets;
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
 * Issue #25: where the collector's per-line ns go on the IngestRace lines ({@link CollectorHotPathBenchmark}'s
 * {@code sensor} body), cumulatively, single thread. Score = ns per line.
 * <ul>
 *   <li>{@code parse}: the parser alone (names into the arena, tags sorted, float and timestamp parsed); the
 *       handler reads the timestamp and the value;</li>
 *   <li>{@code key}: + the series key of the field and its lookup in {@link SeriesIndex};</li>
 *   <li>{@code sequence}: + the series' next sequence number (what {@code CollectorHotPathBenchmark} measures).</li>
 * </ul>
 * Handing the event to the ring is {@code IngestThroughputBenchmark}'s; HTTP and the sink are not here.
 *
 * <pre>java -jar benchmarks.jar ParseStagesBenchmark -f 1 -wi 3 -i 5 -w 2s -r 2s -prof gc</pre>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@State(Scope.Thread)
public class ParseStagesBenchmark {

    static final int LINES = CollectorHotPathBenchmark.LINES;

    @Param({"parse", "key", "sequence"})
    public String stage;

    private byte[] bytes;
    private LineProtocolParser parser;
    private Handler handler;

    @Setup(Level.Trial)
    public void setUp(Blackhole bh) {
        bytes = CollectorHotPathBenchmark.sensorBody().getBytes(StandardCharsets.UTF_8);
        parser = new LineProtocolParser();
        handler = new Handler(bh, stage);
        handler.register = true;
        parser.parse(bytes, 0, bytes.length, Precision.NANOSECONDS, 0L, handler);
        handler.register = false;
        final int lines = parser.parse(bytes, 0, bytes.length, Precision.NANOSECONDS, 0L, handler);
        if (lines != LINES || handler.missing != 0) {
            throw new IllegalStateException("body does not resolve: " + lines + " lines, missing " + handler.missing);
        }
    }

    @Benchmark
    @OperationsPerInvocation(LINES)
    public int parse() {
        return parser.parse(bytes, 0, bytes.length, Precision.NANOSECONDS, 0L, handler);
    }

    static final class Handler implements LineHandler {
        final SeriesIndex index = new SeriesIndex();
        private final SeriesKeyBuilder key = new SeriesKeyBuilder();
        private final Blackhole bh;
        private final int stage;
        boolean register;
        int missing;
        private int nextId;

        Handler(Blackhole bh, String stage) {
            this.bh = bh;
            this.stage = switch (stage) {
                case "parse" -> 0;
                case "key" -> 1;
                default -> 2;
            };
        }

        @Override
        public void onPoint(ParsedPoint p) {
            bh.consume(p.timestampNanos());
            bh.consume(p.fieldValue(0));
            if (stage == 0 && !register) {
                return;
            }
            key.prefix(p);
            key.field(p, 0);
            Series s = index.get(key);
            if (s == null) {
                if (!register) {
                    missing++;
                    return;
                }
                s = index.putIfAbsent(key.toKey(), new Series(nextId++, 0));
            }
            bh.consume(s.id());
            if (stage == 2) {
                bh.consume(s.takeSequence());
            }
        }

        @Override
        public void onError(int lineNumber, String message) {
            throw new IllegalStateException(message);
        }
    }
}
