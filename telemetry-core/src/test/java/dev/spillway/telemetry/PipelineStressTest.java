package dev.spillway.telemetry;

import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.Sink;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Several producers far faster than a deliberately slow sink, into a small ring, so that the ring laps all the
 * time. Every event is self-checking (its value, time and kind derive from its source and sequence), so a torn,
 * stale or duplicated event cannot hide. At quiescence the accounting must balance exactly.
 */
class PipelineStressTest {

    private static final int PRODUCERS = 4;
    private static final int EVENTS_PER_PRODUCER = 400_000;
    private static final int SOURCES_PER_PRODUCER = 16;

    static Stream<Arguments> policiesAndSinkLatencies() {
        return Stream.of(OverflowPolicy.values())
            .flatMap(p -> Stream.of(Arguments.of(p, 50_000L, false), Arguments.of(p, 0L, false),
                Arguments.of(p, 50_000L, true), Arguments.of(p, 0L, true)));
    }

    /**
     * A slow sink makes the ring lap constantly; a fast one makes the pump read slots while producers are
     * overwriting them, which is where a torn copy would slip through if validation were wrong. Routed by source
     * (4 workers, 64 sources), each source must also be written by one worker only, in sequence order.
     */
    @ParameterizedTest(name = "{0}, sink latency {1} ns, routed by source {2}")
    @MethodSource("policiesAndSinkLatencies")
    void lappingProducersNeverDeliverTornStaleOrDuplicateEvents(OverflowPolicy policy, long sinkLatencyNanos,
                                                                boolean routeBySource) throws Exception {
        final BatchRecorder sink = new BatchRecorder(sinkLatencyNanos);
        final Pipeline pipeline = Pipeline.builder()
            .name("stress-" + policy.name().toLowerCase().replace('_', '-'))
            .sink(sink)
            .ringSize(256)
            .batchSize(64)
            .workers(routeBySource ? 4 : 2)
            .routeBySource(routeBySource)
            .overflowPolicy(policy)
            .closeTimeout(Duration.ofSeconds(60))
            .build();

        final CountDownLatch start = new CountDownLatch(1);
        final AtomicLong accepted = new AtomicLong();
        final AtomicLong refused = new AtomicLong();
        final List<Thread> producers = new ArrayList<>();
        for (int p = 0; p < PRODUCERS; p++) {
            final int producer = p;
            final Thread t = new Thread(() -> {
                final SourceHandle[] sources = new SourceHandle[SOURCES_PER_PRODUCER];
                for (int s = 0; s < SOURCES_PER_PRODUCER; s++) {
                    sources[s] = pipeline.source(producer * 100 + s);
                }
                awaitQuietly(start);
                long ok = 0;
                long no = 0;
                for (int i = 0; i < EVENTS_PER_PRODUCER; i++) {
                    final SourceHandle h = sources[i % SOURCES_PER_PRODUCER];
                    final long seq = h.nextSequence();
                    if (h.record(timeOf(h.sourceId(), seq), kindOf(h.sourceId(), seq), valueOf(h.sourceId(), seq))) {
                        ok++;
                    } else {
                        no++;
                    }
                }
                accepted.addAndGet(ok);
                refused.addAndGet(no);
            }, "producer-" + p);
            producers.add(t);
            t.start();
        }
        start.countDown();
        for (Thread t : producers) {
            t.join();
        }
        final PipelineStats stats = pipeline.close(Duration.ofSeconds(60));

        final long published = (long) PRODUCERS * EVENTS_PER_PRODUCER;
        final Map<Integer, Long> lastSeqBySource = new HashMap<>();
        long delivered = 0;
        for (long[][] batch : sink.batches.values()) { // in pump order (batch ids are assigned in order)
            for (long[] e : batch) {
                delivered++;
                final int source = (int) e[1];
                final long seq = e[4];
                if (e[0] != timeOf(source, seq) || e[2] != kindOf(source, seq)
                    || Double.doubleToRawLongBits(valueOf(source, seq)) != e[3]) {
                    fail("torn or stale event: source=" + source + " seq=" + seq + " " + java.util.Arrays.toString(e));
                }
                final Long last = lastSeqBySource.put(source, seq);
                if (last != null && seq <= last) {
                    fail("source " + source + ": sequence " + seq + " delivered after " + last + " (duplicate or reorder)");
                }
            }
        }
        if (routeBySource) {
            // In the order the sink was called: one writer per source, and its sequences only ever increase.
            final Map<Integer, String> writerBySource = new HashMap<>();
            final Map<Integer, Long> lastWritten = new HashMap<>();
            for (Written w : sink.inWriteOrder.values()) {
                for (long[] e : w.events) {
                    final int source = (int) e[1];
                    final String before = writerBySource.putIfAbsent(source, w.thread);
                    if (before != null && !before.equals(w.thread)) {
                        fail("source " + source + " written by " + before + " and " + w.thread);
                    }
                    final Long last = lastWritten.put(source, e[4]);
                    if (last != null && e[4] <= last) {
                        fail("source " + source + ": sequence " + e[4] + " written after " + last);
                    }
                }
            }
            // (Under DROP_NEWEST a producer may find the ring full for its whole run, so not every source is written.)
            assertTrue(new java.util.HashSet<>(writerBySource.values()).size() > 1,
                "the sources were spread over several workers: " + writerBySource);
        }
        assertEquals(published, stats.ingested(), stats::toString);
        assertEquals(published, accepted.get() + refused.get());
        assertEquals(delivered, stats.written(), "every delivered event is counted as written");
        assertEquals(refused.get(), stats.rejected(), "every refusal is counted");
        assertEquals(published, delivered + stats.overwritten() + stats.rejected() + stats.failed(),
            "published == delivered + overwritten + rejected + failed; " + stats);
        assertTrue(stats.isBalanced(), stats::toString);
        assertEquals(0, stats.failed(), stats::toString);
        switch (policy) {
            case OVERWRITE_OLDEST:
                assertEquals(0, stats.rejected());
                if (sinkLatencyNanos > 0) {
                    assertTrue(stats.overwritten() > 0, "the slow sink must have made the ring lap: " + stats);
                }
                break;
            case DROP_NEWEST:
                assertEquals(0, stats.overwritten());
                if (sinkLatencyNanos > 0) {
                    assertTrue(stats.rejectedFull() > 0, "the slow sink must have filled the ring: " + stats);
                }
                break;
            case BLOCK:
                assertEquals(0, stats.overwritten() + stats.rejected(), "back-pressure loses nothing");
                assertEquals(published, delivered);
                break;
            default:
                fail("untested policy " + policy);
        }
    }

    static long timeOf(int source, long seq) {
        return 1_700_000_000_000_000_000L + seq * 1_000 + source;
    }

    static short kindOf(int source, long seq) {
        return (short) ((source * 31 + seq) & 0x7fff);
    }

    static double valueOf(int source, long seq) {
        return source * 1_000_003.0 + seq * 0.25;
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A batch as the sink saw it, and the worker thread that wrote it. */
    private record Written(String thread, long[][] events) {
    }

    /** Records each batch under its id, and in the order the sink was called; slow on purpose. */
    private static final class BatchRecorder implements Sink {
        final ConcurrentSkipListMap<Long, long[][]> batches = new ConcurrentSkipListMap<>();
        final ConcurrentSkipListMap<Long, Written> inWriteOrder = new ConcurrentSkipListMap<>();
        private final AtomicLong calls = new AtomicLong();
        private final long latencyNanos;

        BatchRecorder(long latencyNanos) {
            this.latencyNanos = latencyNanos;
        }

        @Override
        public int write(EventBatch batch) {
            final long call = calls.getAndIncrement(); // one worker's calls are in its own order; that is what counts
            final long[][] copy = new long[batch.size()][];
            for (int i = 0; i < batch.size(); i++) {
                copy[i] = new long[] {batch.timestampNanos(i), batch.sourceId(i), batch.kind(i),
                    Double.doubleToRawLongBits(batch.value(i)), batch.sequence(i)};
            }
            if (batches.put(batch.batchId(), copy) != null) {
                throw new AssertionError("batch id " + batch.batchId() + " delivered twice");
            }
            inWriteOrder.put(call, new Written(Thread.currentThread().getName(), copy));
            if (latencyNanos > 0) {
                LockSupport.parkNanos(latencyNanos); // simulated storage latency, not synchronisation
            }
            return batch.size();
        }
    }
}
