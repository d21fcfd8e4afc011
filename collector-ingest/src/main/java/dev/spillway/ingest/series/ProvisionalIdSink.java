package dev.spillway.ingest.series;

import dev.spillway.telemetry.sink.EventBatch;
import dev.spillway.telemetry.sink.PartialWriteException;
import dev.spillway.telemetry.sink.Sink;

import java.util.function.IntFunction;

/**
 * The pipeline's sink as seen through the series catalogue: events of provisional series (negative ids, made up
 * during a database outage, see {@link SeriesRegistry}) are handed on with their catalogue row's id and their
 * numbers shifted by its offset. Everything else (ledger keys, retries, partial writes, aborts) is the wrapped
 * sink's: a remapped batch keeps its batch id and run id, and its indexes, so a {@link PartialWriteException}
 * names the same events.
 */
final class ProvisionalIdSink implements Sink {

    private final Sink delegate;
    private final IntFunction<SeriesRegistry.Mapping> mappings;

    ProvisionalIdSink(Sink delegate, IntFunction<SeriesRegistry.Mapping> mappings) {
        this.delegate = delegate;
        this.mappings = mappings;
    }

    @Override
    public int write(EventBatch batch) throws Exception {
        final int n = batch.size();
        int first = -1;
        for (int i = 0; i < n; i++) {
            if (batch.sourceId(i) < 0) {
                first = i;
                break;
            }
        }
        if (first < 0) {
            return delegate.write(batch);
        }
        final int[] ids = new int[n];
        final long[] seqs = new long[n];
        int lastProvisional = 0;
        SeriesRegistry.Mapping last = null;
        for (int i = 0; i < n; i++) {
            final int id = batch.sourceId(i);
            if (i < first || id >= 0) {
                ids[i] = id;
                seqs[i] = batch.sequence(i);
                continue;
            }
            if (last == null || id != lastProvisional) {
                last = mappings.apply(id);
                lastProvisional = id;
                if (last == null) {
                    throw new ProvisionalSeriesPendingException(id);
                }
            }
            ids[i] = last.id();
            seqs[i] = batch.sequence(i) + last.offset();
        }
        return delegate.write(new Remapped(batch, ids, seqs));
    }

    @Override
    public boolean isRetryable(Throwable failure) {
        return failure instanceof ProvisionalSeriesPendingException || delegate.isRetryable(failure);
    }

    @Override
    public void attach(String pipelineName) {
        delegate.attach(pipelineName);
    }

    @Override
    public void abortWrites() {
        delegate.abortWrites();
    }

    @Override
    public String runId() {
        return delegate.runId();
    }

    @Override
    public void close() throws Exception {
        delegate.close();
    }

    @Override
    public String toString() {
        return "ProvisionalIdSink{" + delegate + '}';
    }

    /** A provisional id whose catalogue row is not made yet (the database was just back). Retryable. */
    static final class ProvisionalSeriesPendingException extends Exception {
        private static final long serialVersionUID = 1L;

        ProvisionalSeriesPendingException(int id) {
            super("series with provisional id " + id + " has no catalogue row yet (made by the next sequence "
                + "reservation round once the database answers)", null, false, false);
        }
    }

    /** The batch with mapped source ids and numbers; valid only during the write, like the batch itself. */
    private static final class Remapped implements EventBatch {
        private final EventBatch batch;
        private final int[] ids;
        private final long[] seqs;

        Remapped(EventBatch batch, int[] ids, long[] seqs) {
            this.batch = batch;
            this.ids = ids;
            this.seqs = seqs;
        }

        @Override
        public long batchId() {
            return batch.batchId();
        }

        @Override
        public int size() {
            return batch.size();
        }

        @Override
        public long timestampNanos(int index) {
            return batch.timestampNanos(index);
        }

        @Override
        public int sourceId(int index) {
            return ids[index];
        }

        @Override
        public short kind(int index) {
            return batch.kind(index);
        }

        @Override
        public double value(int index) {
            return batch.value(index);
        }

        @Override
        public long sequence(int index) {
            return seqs[index];
        }

        @Override
        public long minTimestampNanos() {
            return batch.minTimestampNanos();
        }

        @Override
        public long maxTimestampNanos() {
            return batch.maxTimestampNanos();
        }

        @Override
        public String runId() {
            return batch.runId();
        }
    }
}
