package dev.spillway.telemetry.nats;

import dev.spillway.telemetry.OverflowPolicy;
import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.sink.RetryPolicy;
import dev.spillway.telemetry.sink.Sink;
import dev.spillway.telemetry.testsupport.NatsServer;
import dev.spillway.telemetry.timescale.TimescaleSink;
import io.nats.client.Connection;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.UnaryOperator;

/** Edges (pipelines publishing to JetStream) and writers (consumers writing to PostgreSQL) for the tests. */
final class JetStreamCluster {

    private JetStreamCluster() {
    }

    static final RetryPolicy PATIENT = RetryPolicy.builder().maxAttempts(1000).initialBackoff(Duration.ofMillis(20))
        .maxBackoff(Duration.ofMillis(250)).maxElapsed(Duration.ofSeconds(90)).build();

    /** An edge: a pipeline whose sink publishes to JetStream, and a producer thread with unique (source, seq). */
    static final class Edge implements AutoCloseable {
        final Connection nc;
        final NatsSink sink;
        final Pipeline pipeline;
        private final AtomicBoolean producing = new AtomicBoolean();
        private Thread producer;
        private dev.spillway.telemetry.SourceHandle[] sources;
        private long next;

        Edge(NatsServer nats, JetStreamTopology topology, String name) throws Exception {
            nc = nats.connect(name);
            topology.ensureStream(nc);
            sink = NatsSink.builder().connection(nc).topology(topology).publishTimeout(Duration.ofSeconds(2)).build();
            pipeline = Pipeline.builder().name(name).sink(sink).workers(4).ringSize(16_384).batchSize(1000)
                .flushInterval(Duration.ofMillis(5)).overflowPolicy(OverflowPolicy.BLOCK).retryPolicy(PATIENT)
                .closeTimeout(Duration.ofSeconds(90)).build();
        }

        /**
         * Produces {@code count} more events for sources {@code firstSource..firstSource+3} (sequences 0, 1, 2, ...
         * per source, continuing where the last call stopped) on a thread of its own; {@link #awaitProduced()}
         * waits for it.
         */
        void produce(int firstSource, long count) {
            if (sources == null) {
                sources = new dev.spillway.telemetry.SourceHandle[4];
                for (int s = 0; s < sources.length; s++) {
                    sources[s] = pipeline.source(firstSource + s);
                }
            }
            producing.set(true);
            final long end = next + count;
            producer = new Thread(() -> {
                long i = next;
                for (; i < end && producing.get(); i++) {
                    sources[(int) (i % sources.length)].record((short) 1, i);
                }
                next = i;
            }, pipeline.name() + "-producer");
            producer.start();
        }

        /** Waits until the producer has produced the count given to {@link #produce(int, long)}. */
        void awaitProduced() throws InterruptedException {
            producer.join(60_000);
        }

        void stopProducing() throws InterruptedException {
            producing.set(false);
            if (producer != null) {
                producer.join(30_000);
            }
        }

        @Override
        public void close() throws Exception {
            stopProducing();
            pipeline.close();
            nc.close();
        }
    }

    /** A writer: its own NATS connection, its own TimescaleSink, a consumer on the shared durable. */
    static final class Writer implements AutoCloseable {
        /** Writers not closed yet: a test that fails before its own {@code close()} leaves them to {@link #closeAll}. */
        private static final java.util.Set<Writer> OPEN = java.util.concurrent.ConcurrentHashMap.newKeySet();

        final Connection nc;
        final TimescaleSink timescale;
        final NatsBatchConsumer consumer;

        Writer(NatsServer nats, JetStreamTopology topology, String jdbcUrl, String user, String password, String name,
               UnaryOperator<Sink> wrap) throws Exception {
            this(nats, topology, jdbcUrl, user, password, name, wrap, Duration.ofMillis(50), Duration.ofMillis(500));
        }

        Writer(NatsServer nats, JetStreamTopology topology, String jdbcUrl, String user, String password, String name,
               UnaryOperator<Sink> wrap, Duration nakDelay, Duration maxNakDelay) throws Exception {
            this(nats, topology, jdbcUrl, user, password, name, wrap, nakDelay, maxNakDelay,
                NatsBatchConsumer.DEFAULT_SWEEP_INTERVAL);
        }

        Writer(NatsServer nats, JetStreamTopology topology, String jdbcUrl, String user, String password, String name,
               UnaryOperator<Sink> wrap, Duration nakDelay, Duration maxNakDelay, Duration sweepInterval)
            throws Exception {
            nc = nats.connect(name);
            timescale = TimescaleSink.builder().jdbcUrl(jdbcUrl).username(user).password(password).poolSize(2)
                .connectionTimeout(Duration.ofMillis(500)).poolName(name)
                .ledgerRetention(topology.maxAge().plusMinutes(1)).build();
            consumer = NatsBatchConsumer.builder().connection(nc).topology(topology).sink(wrap.apply(timescale))
                .name(name).threads(2).nakDelay(nakDelay).maxNakDelay(maxNakDelay).sweepInterval(sweepInterval).build();
            OPEN.add(this);
        }

        /**
         * Closes every writer a test left open (one whose assertion failed before its {@code close()}): otherwise its
         * consumer and its sink's background work outlive the test and its database, and their log lines land in
         * later tests' log captures.
         */
        static void closeAll() throws Exception {
            for (Writer w : List.copyOf(OPEN)) {
                w.close();
            }
        }

        Writer start() throws Exception {
            consumer.start();
            return this;
        }

        @Override
        public void close() throws Exception {
            if (!OPEN.remove(this)) {
                return; // closed already
            }
            consumer.close(Duration.ofSeconds(30));
            timescale.close();
            nc.close();
        }
    }
}
