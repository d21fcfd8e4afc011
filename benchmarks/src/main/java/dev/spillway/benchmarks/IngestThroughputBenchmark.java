package dev.spillway.benchmarks;

import dev.spillway.benchmarks.ingest.Channels;
import dev.spillway.benchmarks.ingest.IngestChannel;
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

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * Issue #2: producer-side ingest throughput with the consumer running and draining into a sink that does nothing,
 * Spillway against three baselines (see {@link Channels}), at 1 and 2 producer threads, all channels 65,536
 * entries.
 *
 * <p>The primary score is {@code offer} calls per second. Because a dropped call is cheap, the auxiliary counters
 * say what happened to those calls, per second of the same iterations: {@code offered} (calls),
 * {@code delivered} (events the consumer handed to its sink), {@code overwritten} (accepted, then lost to a newer
 * event) and {@code refused} (offer returned false). After every iteration the producers are stopped and the
 * channel is drained before the counts are read, so {@code offered == delivered + overwritten + refused} per
 * iteration. The report computes delivered/s as calls/s x delivered/offered.
 *
 * <p>The machine this runs on has 2 cores: at 2 producers plus the consumer (and Spillway's pump) the threads
 * are oversubscribed, which is reported as measured.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@State(Scope.Benchmark)
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
public class IngestThroughputBenchmark {

    @Param({Channels.SPILLWAY, Channels.MUTEX_RING, Channels.ABQ, Channels.DISRUPTOR})
    public String impl;

    @Param({"65536"})
    public int capacity;

    private IngestChannel channel;
    private final List<Producer> producers = new CopyOnWriteArrayList<>();
    private long deliveredBefore;
    private long overwrittenBefore;
    private long acceptedBefore;
    private long consumerCpuBefore;

    @Setup(Level.Trial)
    public void open() {
        channel = Channels.open(impl, capacity, false);
    }

    @TearDown(Level.Trial)
    public void close() {
        channel.close();
    }

    /** Runs once per iteration, before any producer thread starts it (JMH guarantees it for Scope.Benchmark). */
    @Setup(Level.Iteration)
    public void snapshot() {
        acceptedBefore = accepted();
        deliveredBefore = channel.delivered();
        overwrittenBefore = channel.overwritten();
        consumerCpuBefore = channel.consumerCpuNanos();
    }

    private long accepted() {
        long accepted = 0;
        for (Producer p : producers) {
            accepted += p.acceptedTotal;
        }
        return accepted;
    }

    /** Called by the reporting producer once every producer has stopped (JMH's pre-teardown barrier). */
    private void drain() {
        if (!channel.awaitDrained(accepted(), TimeUnit.SECONDS.toNanos(10))) {
            throw new IllegalStateException(impl + " did not drain within 10 s");
        }
    }

    /** One per producer thread: its event stream and its counts. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Producer {
        /** offer calls this iteration. */
        public long offered;
        /** offer calls that returned false this iteration. */
        public long refused;

        long acceptedTotal;
        long nextSequence;
        int sourceId;
        private IngestThroughputBenchmark bench;
        private boolean reporter;
        private boolean drained;
        private long cpuAtEnd = -1;

        @Setup(Level.Trial)
        public void register(IngestThroughputBenchmark bench, ThreadParams threads) {
            this.bench = bench;
            this.sourceId = threads.getThreadIndex();
            this.reporter = threads.getThreadIndex() == 0;
            bench.producers.add(this);
        }

        @Setup(Level.Iteration)
        public void reset() {
            offered = 0;
            refused = 0;
            drained = false;
            cpuAtEnd = -1;
        }

        /** Events delivered to the sink this iteration (all producers'; reported by producer 0 only). */
        public long delivered() {
            if (!reporter) {
                return 0;
            }
            drainOnce();
            return bench.channel.delivered() - bench.deliveredBefore;
        }

        /** Accepted events overwritten this iteration (all producers'; reported by producer 0 only). */
        public long overwritten() {
            if (!reporter) {
                return 0;
            }
            drainOnce();
            return bench.channel.overwritten() - bench.overwrittenBefore;
        }

        /**
         * Consumer-side CPU nanoseconds this iteration (reported by producer 0 only). As an OPERATIONS counter JMH
         * divides it by the iteration time: the score is the consumer's CPU share in nanoseconds per second
         * (1e9 = one full core). Read before the final drain, like the measurement window it belongs to.
         */
        public long consumerCpuNanos() {
            if (!reporter) {
                return 0;
            }
            if (cpuAtEnd < 0) {
                cpuAtEnd = bench.channel.consumerCpuNanos() - bench.consumerCpuBefore;
            }
            return cpuAtEnd;
        }

        private void drainOnce() {
            if (!drained) {
                bench.drain();
                drained = true;
            }
        }
    }

    private static boolean offer(IngestChannel channel, Producer p) {
        final long s = p.nextSequence++;
        final boolean accepted = channel.offer(s, p.sourceId, (short) 1, s * 0.5, s);
        p.offered++;
        if (accepted) {
            p.acceptedTotal++;
        } else {
            p.refused++;
        }
        return accepted;
    }

    @Benchmark
    @Threads(1)
    public boolean producers1(Producer p) {
        return offer(channel, p);
    }

    @Benchmark
    @Threads(2)
    public boolean producers2(Producer p) {
        return offer(channel, p);
    }
}
