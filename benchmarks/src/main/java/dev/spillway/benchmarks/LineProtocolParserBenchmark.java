package dev.spillway.benchmarks;

import dev.spillway.ingest.lineprotocol.LineHandler;
import dev.spillway.ingest.lineprotocol.LineProtocolParser;
import dev.spillway.ingest.lineprotocol.ParsedPoint;
import dev.spillway.ingest.lineprotocol.Precision;
import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;
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
 * Single-thread throughput of {@link LineProtocolParser} on a 1000-line batch (the official clients' batch
 * size). Score is lines/s per core thanks to {@link OperationsPerInvocation}; MB/s = score x
 * average bytes per line, printed at setup. Run with {@code -prof gc} to see B/op (bytes allocated per line).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 3)
@Fork(1)
@State(Scope.Thread)
public class LineProtocolParserBenchmark {

    static final int LINES = 1000;

    /**
     * {@code telegraf}: cpu/mem/disk-style lines, 3-4 tags, float and integer fields, ns timestamps.
     * {@code mixed}: adds strings (some escaped), booleans, unsigned, escaped tag values and long floats
     * that miss the fast path.
     */
    @Param({"telegraf", "mixed"})
    public String body;

    private byte[] bytes;
    private LineProtocolParser parser;
    private ConsumingHandler handler;

    @Setup(Level.Trial)
    public void setUp(Blackhole blackhole) {
        bytes = ("telegraf".equals(body) ? telegrafBody() : mixedBody()).getBytes(StandardCharsets.UTF_8);
        parser = new LineProtocolParser();
        handler = new ConsumingHandler(blackhole);
        int accepted = parser.parse(bytes, 0, bytes.length, Precision.NANOSECONDS, 0L, handler);
        if (accepted != LINES || handler.errors != 0) {
            throw new IllegalStateException("benchmark body does not parse cleanly: " + accepted + " accepted");
        }
        System.out.printf("%n[%s] body: %d lines, %d bytes, %.1f bytes/line -> MB/s = lines/s * %.3e%n",
                body, LINES, bytes.length, bytes.length / (double) LINES, bytes.length / (double) LINES / 1e6);
    }

    @Benchmark
    @OperationsPerInvocation(LINES)
    public int parse() {
        return parser.parse(bytes, 0, bytes.length, Precision.NANOSECONDS, 0L, handler);
    }

    /** Touches every decoded value, as a real sink would, so nothing is dead-code eliminated. */
    static final class ConsumingHandler implements LineHandler {
        private final Blackhole blackhole;
        int errors;

        ConsumingHandler(Blackhole blackhole) {
            this.blackhole = blackhole;
        }

        @Override
        public void onPoint(ParsedPoint p) {
            blackhole.consume(p.measurement());
            for (int i = 0; i < p.tagCount(); i++) {
                blackhole.consume(p.tagKey(i));
                blackhole.consume(p.tagValue(i));
            }
            for (int i = 0; i < p.fieldCount(); i++) {
                blackhole.consume(p.fieldKey(i));
                switch (p.fieldType(i)) {
                    case STRING:
                        blackhole.consume(p.fieldString(i));
                        break;
                    case FLOAT:
                        blackhole.consume(p.fieldValue(i));
                        break;
                    default:
                        blackhole.consume(p.fieldLong(i));
                }
            }
            blackhole.consume(p.timestampNanos());
        }

        @Override
        public void onError(int lineNumber, String message) {
            errors++;
        }
    }

    static String telegrafBody() {
        SplittableRandom r = new SplittableRandom(7);
        StringBuilder sb = new StringBuilder(LINES * 160);
        long ts = 1_700_000_000_000_000_000L;
        for (int i = 0; i < LINES; i++) {
            String host = "server" + String.format("%02d", r.nextInt(20));
            String region = r.nextBoolean() ? "us-west" : "eu-central";
            switch (i % 3) {
                case 0:
                    sb.append("cpu,host=").append(host).append(",region=").append(region).append(",cpu=cpu").append(r.nextInt(8))
                            .append(" usage_user=").append(decimal(r, 100)).append(",usage_system=").append(decimal(r, 20))
                            .append(",usage_idle=").append(decimal(r, 100)).append(",usage_iowait=").append(decimal(r, 5));
                    break;
                case 1:
                    sb.append("mem,host=").append(host).append(",region=").append(region)
                            .append(" used=").append(r.nextLong(1L << 34)).append("i,free=").append(r.nextLong(1L << 34))
                            .append("i,used_percent=").append(r.nextDouble() * 100);
                    break;
                default:
                    sb.append("disk,host=").append(host).append(",region=").append(region).append(",path=/var/lib,fstype=ext4")
                            .append(" used=").append(r.nextLong(1L << 40)).append("i,inodes_free=").append(r.nextInt(1 << 24))
                            .append("i,used_percent=").append(decimal(r, 100));
            }
            sb.append(' ').append(ts + i * 10_000_000L).append('\n');
        }
        return sb.toString();
    }

    static String mixedBody() {
        SplittableRandom r = new SplittableRandom(11);
        StringBuilder sb = new StringBuilder(LINES * 200);
        long ts = 1_700_000_000_000_000_000L;
        for (int i = 0; i < LINES; i++) {
            sb.append("app\\ events,service=api\\,v2,host=node").append(r.nextInt(50)).append(",env=prod")
                    .append(" message=\"request ").append(r.nextInt(100_000)).append(i % 4 == 0 ? " \\\"slow\\\" path\"" : " ok\"")
                    .append(",ok=").append(r.nextBoolean() ? "true" : "f")
                    .append(",bytes=").append(r.nextLong(Long.MAX_VALUE)).append('u')
                    .append(",latency=").append(r.nextDouble()) // full 17-digit doubles: exercises the slow path
                    .append(",retries=").append(r.nextInt(5)).append('i')
                    .append(' ').append(ts + i).append('\n');
        }
        return sb.toString();
    }

    private static String decimal(SplittableRandom r, int max) {
        return r.nextInt(max) + "." + r.nextInt(100);
    }
}
