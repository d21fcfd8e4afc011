package dev.spillway.benchmarks;

import dev.spillway.ingest.lineprotocol.LineHandler;
import dev.spillway.ingest.lineprotocol.LineProtocolParser;
import dev.spillway.ingest.lineprotocol.ParsedPoint;
import dev.spillway.ingest.lineprotocol.Precision;
import dev.spillway.ingest.series.Series;
import dev.spillway.ingest.series.SeriesIndex;
import dev.spillway.ingest.series.SeriesKeyBuilder;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Locale;

/**
 * {@link ParseStagesBenchmark}'s stages measured in the thread's CPU time rather than wall time, for a machine
 * shared with other work (a descheduled thread's wall time counts in JMH's score, not in its CPU time). Each stage
 * runs {@code rounds} times {@code bodies} parses of the 1,000-line {@code sensor} body after a warm-up; prints the
 * median and the best round in CPU ns per line.
 *
 * <pre>java -cp benchmarks.jar dev.spillway.benchmarks.ParseStagesCpu [rounds] [bodies]</pre>
 */
public final class ParseStagesCpu {

    private ParseStagesCpu() {
    }

    public static void main(String[] args) {
        final int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 15;
        final int bodies = args.length > 1 ? Integer.parseInt(args[1]) : 2_000;
        final byte[] bytes = CollectorHotPathBenchmark.sensorBody().getBytes(StandardCharsets.UTF_8);
        final ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        final String[] stages = {"parse", "key", "sequence"};
        final LineProtocolParser parser = new LineProtocolParser();
        final Handler[] handlers = new Handler[stages.length];
        for (int s = 0; s < stages.length; s++) {
            handlers[s] = new Handler(s);
            handlers[s].register = true;
            parser.parse(bytes, 0, bytes.length, Precision.NANOSECONDS, 0L, handlers[s]);
            handlers[s].register = false;
        }
        // Warm-up: every stage, interleaved, as long as a few rounds.
        for (int w = 0; w < 5; w++) {
            for (Handler h : handlers) {
                for (int b = 0; b < bodies; b++) {
                    parser.parse(bytes, 0, bytes.length, Precision.NANOSECONDS, 0L, h);
                }
            }
        }
        final double[][] ns = new double[stages.length][rounds];
        for (int r = 0; r < rounds; r++) {
            for (int s = 0; s < stages.length; s++) {
                final long t0 = mx.getCurrentThreadCpuTime();
                int lines = 0;
                for (int b = 0; b < bodies; b++) {
                    lines += parser.parse(bytes, 0, bytes.length, Precision.NANOSECONDS, 0L, handlers[s]);
                }
                ns[s][r] = (mx.getCurrentThreadCpuTime() - t0) / (double) lines;
            }
        }
        long sink = 0;
        for (int s = 0; s < stages.length; s++) {
            if (handlers[s].missing != 0) {
                throw new IllegalStateException("unknown series in stage " + stages[s]);
            }
            sink ^= handlers[s].sink;
            final double[] v = ns[s].clone();
            Arrays.sort(v);
            System.out.printf(Locale.ROOT, "%-9s CPU ns/line: median %6.1f, best %6.1f%n", stages[s], v[v.length / 2],
                v[0]);
        }
        System.out.println("(sink " + (sink & 1) + ")");
    }

    private static final class Handler implements LineHandler {
        final SeriesIndex index = new SeriesIndex();
        private final SeriesKeyBuilder key = new SeriesKeyBuilder();
        private final int stage;
        boolean register;
        int missing;
        long sink;
        private int nextId;

        Handler(int stage) {
            this.stage = stage;
        }

        @Override
        public void onPoint(ParsedPoint p) {
            sink += p.timestampNanos() ^ Double.doubleToRawLongBits(p.fieldValue(0));
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
            sink += s.id();
            if (stage == 2) {
                sink += s.takeSequence();
            }
        }

        @Override
        public void onError(int lineNumber, String message) {
            throw new IllegalStateException(message);
        }
    }
}
