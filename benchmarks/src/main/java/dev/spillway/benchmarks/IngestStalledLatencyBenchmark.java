package dev.spillway.benchmarks;

import dev.spillway.benchmarks.ingest.Channels;
import dev.spillway.benchmarks.ingest.IngestChannel;
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
 * Issue #2, "never blocks": the cost of one {@code offer} call, tail included (Mode.SampleTime: p50/p99/p99.9),
 * while the channel is FULL and its consumer is STALLED (its sink blocks on a latch until teardown).
 *
 * <ul>
 *   <li>spillway: the workers block in the sink, the pump runs out of free batches and stops reading, and every
 *       ingest laps the ring (overwrites the oldest);</li>
 *   <li>mutexRing: every offer takes the monitor and overwrites the oldest;</li>
 *   <li>arrayBlockingQueue: every offer allocates its event and is refused;</li>
 *   <li>disruptor: every tryPublish is refused (drop-newest).</li>
 * </ul>
 * The setup offers 4x the capacity before measuring, so the channel is full (and lapped) from the first sample.
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@State(Scope.Benchmark)
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
public class IngestStalledLatencyBenchmark {

    @Param({Channels.SPILLWAY, Channels.MUTEX_RING, Channels.ABQ, Channels.DISRUPTOR})
    public String impl;

    @Param({"65536"})
    public int capacity;

    private IngestChannel channel;

    @Setup(Level.Trial)
    public void openStalledAndFill() {
        channel = Channels.open(impl, capacity, true);
        for (long s = 0; s < 4L * capacity; s++) {
            channel.offer(s, -1, (short) 1, s * 0.5, s);
        }
    }

    @TearDown(Level.Trial)
    public void close() {
        channel.close(); // releases the stalled consumer first
    }

    /** One per producer thread. */
    @State(Scope.Thread)
    public static class Producer {
        long nextSequence;
        int sourceId;

        @Setup(Level.Trial)
        public void setup(ThreadParams threads) {
            sourceId = threads.getThreadIndex();
        }
    }

    @Benchmark
    @Threads(1)
    public boolean producers1(Producer p) {
        final long s = p.nextSequence++;
        return channel.offer(s, p.sourceId, (short) 1, s * 0.5, s);
    }

    @Benchmark
    @Threads(2)
    public boolean producers2(Producer p) {
        final long s = p.nextSequence++;
        return channel.offer(s, p.sourceId, (short) 1, s * 0.5, s);
    }
}
