package dev.spillway.telemetry.failure;

import dev.spillway.telemetry.PipelineStats;
import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.FailedBatchHandler;
import dev.spillway.telemetry.sink.Sink;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntFunction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Sinks and handlers that fail on purpose, each recording exactly what it saw, for the failure-injection tests. */
final class FailureKit {

    private FailureKit() {
    }

    /** Records the sequences of every event it writes (or is handed), and complains about duplicates. */
    static class Recorder {
        private final List<Long> seen = new ArrayList<>();
        private final AtomicInteger calls = new AtomicInteger();

        void record(EventBatch batch) {
            calls.incrementAndGet();
            synchronized (seen) {
                for (int i = 0; i < batch.size(); i++) {
                    seen.add(batch.sequence(i));
                }
            }
        }

        List<Long> sequences() {
            synchronized (seen) {
                return new ArrayList<>(seen);
            }
        }

        Set<Long> distinct() {
            return new TreeSet<>(sequences());
        }

        int calls() {
            return calls.get();
        }
    }

    /** A failed-batch handler that records what it is handed, then runs {@code after} (which may throw). */
    static final class Handed extends Recorder implements FailedBatchHandler {
        private final Runnable after;

        Handed() {
            this(() -> { });
        }

        Handed(Runnable after) {
            this.after = after;
        }

        @Override
        public void onFailedBatch(EventBatch batch, Throwable cause, int attempts) {
            record(batch);
            after.run();
        }
    }

    /**
     * A sink whose n-th write (from 0) throws {@code failure.apply(n)} when that is non-null, and otherwise
     * records the batch as written. Tracks whether close() came while a write was running.
     */
    static class ScriptedSink extends Recorder implements Sink {
        private final IntFunction<Throwable> failure;
        private final AtomicInteger writes = new AtomicInteger();
        private final AtomicInteger inside = new AtomicInteger();
        final AtomicInteger closes = new AtomicInteger();
        final AtomicInteger closedWhileWriting = new AtomicInteger();

        ScriptedSink(IntFunction<Throwable> failure) {
            this.failure = failure;
        }

        @Override
        public int write(EventBatch batch) throws Exception {
            inside.incrementAndGet();
            try {
                final Throwable t = failure.apply(writes.getAndIncrement());
                if (t instanceof Exception) {
                    throw (Exception) t;
                }
                if (t instanceof Error) {
                    throw (Error) t;
                }
                beforeRecord(batch);
                record(batch);
                return batch.size();
            } finally {
                inside.decrementAndGet();
            }
        }

        /** Hook for subclasses: runs inside write, before the batch counts as written. */
        void beforeRecord(EventBatch batch) throws Exception {
        }

        int writes() {
            return writes.get();
        }

        @Override
        public void close() {
            if (inside.get() > 0) {
                closedWhileWriting.incrementAndGet();
            }
            closes.incrementAndGet();
        }
    }

    /**
     * A sink whose writes hang until {@link #release()}, ignoring interrupts on purpose (like a socket read
     * without a timeout), then report the batch written.
     */
    static class HangingSink extends ScriptedSink {
        private final CountDownLatch release = new CountDownLatch(1);
        final CountDownLatch entered = new CountDownLatch(1);
        final AtomicLong interruptsIgnored = new AtomicLong();
        private final Exception afterRelease;

        HangingSink() {
            this(null);
        }

        /** @param afterRelease thrown by each write once released (null: the writes succeed) */
        HangingSink(Exception afterRelease) {
            super(n -> null);
            this.afterRelease = afterRelease;
        }

        @Override
        void beforeRecord(EventBatch batch) throws Exception {
            entered.countDown();
            while (true) {
                try {
                    release.await();
                    break;
                } catch (InterruptedException e) {
                    interruptsIgnored.incrementAndGet(); // the point of this sink: it does not care
                }
            }
            if (afterRelease != null) {
                throw afterRelease;
            }
        }

        void release() {
            release.countDown();
        }
    }

    /**
     * Asserts the account balances and that written and handed events are each exactly once, and disjoint. Events
     * written late (a write that returned after the close deadline gave it up) count as written; abandoned ones
     * (such a write still running) are neither written nor handed over yet.
     */
    static void assertExactAccount(PipelineStats stats, Recorder written, Handed handed) {
        assertTrue(stats.isBalanced(), stats::toString);
        assertEquals(stats.written() + stats.writtenLate(), written.sequences().size(),
            () -> "written events seen by the sink: " + stats);
        assertEquals(written.sequences().size(), written.distinct().size(), "no event written twice");
        assertEquals(stats.failed(), handed.sequences().size(), () -> "failed events handed over: " + stats);
        assertEquals(handed.sequences().size(), handed.distinct().size(), "no event handed over twice");
        final Set<Long> both = new TreeSet<>(written.distinct());
        both.retainAll(handed.distinct());
        assertTrue(both.isEmpty(), "events both written and handed over as failed: " + both);
    }
}
