package dev.spillway.benchmarks;

import dev.spillway.benchmarks.ingest.SpillwayChannel;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.infra.ThreadParams;

import java.util.concurrent.TimeUnit;

/**
 * Diagnostic for issue #2 (not part of {@code run-ingest-bench.sh}): how Spillway's delivered rate under saturation
 * depends on the pump-to-worker hand-off, by varying batch size and worker count at 2 producers. If delivered/s
 * scales with the batch size, the hand-off (a pooled batch has to travel to a worker thread and back before the
 * pump can read on) is the bottleneck, not the ring.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@State(Scope.Benchmark)
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
public class SpillwayHandoffBenchmark {

    @Param({"1024", "4096", "16384"})
    public int batch;

    @Param({"1", "2"})
    public int workers;

    private SpillwayChannel channel;
    private long deliveredBefore;

    @Setup(Level.Trial)
    public void open() {
        channel = new SpillwayChannel(65_536, false, batch, workers);
    }

    @TearDown(Level.Trial)
    public void close() {
        channel.close();
    }

    @Setup(Level.Iteration)
    public void snapshot() {
        deliveredBefore = channel.delivered();
    }

    /** Per producer thread. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Producer {
        public long offered;
        long next;
        int source;
        private boolean reporter;
        private SpillwayHandoffBenchmark bench;

        @Setup(Level.Trial)
        public void setup(SpillwayHandoffBenchmark bench, ThreadParams threads) {
            this.bench = bench;
            this.source = threads.getThreadIndex();
            this.reporter = threads.getThreadIndex() == 0;
        }

        @Setup(Level.Iteration)
        public void reset() {
            offered = 0;
        }

        /** Delivered during the iteration (not waiting for the in-flight tail: diagnostic only). */
        public long delivered() {
            return reporter ? bench.channel.delivered() - bench.deliveredBefore : 0;
        }
    }

    @Benchmark
    @Threads(2)
    public boolean producers2(Producer p) {
        final long s = p.next++;
        p.offered++;
        return channel.offer(s, p.source, (short) 1, s * 0.5, s);
    }
}
