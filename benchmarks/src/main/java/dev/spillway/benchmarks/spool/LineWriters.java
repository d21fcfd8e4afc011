package dev.spillway.benchmarks.spool;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Paced HTTP writers for the spool harnesses: each writer sends bodies of unique lines
 * ({@code <measurement>,w=<writer> v=<n>i}, n counting up per writer, never reused) at a fixed rate, waits for
 * the answer, and remembers which values were answered 204, so the table can be checked for missing and duplicated
 * acknowledged lines afterwards.
 */
final class LineWriters {

    private final String measurement;
    private final int writers;
    private final int linesPerBody;
    private final long paceNanos;
    private final BitSet[] acked;
    private final AtomicBoolean stop = new AtomicBoolean();
    private final List<Thread> threads = new ArrayList<>();
    final AtomicLong ackedLines = new AtomicLong();
    final AtomicLong refusedBodies = new AtomicLong();
    final AtomicLong otherAnswers = new AtomicLong();
    final AtomicLong ioErrors = new AtomicLong();

    /**
     * @param bodiesPerSecond per writer; with {@code writers} and {@code linesPerBody} this gives the load
     */
    LineWriters(String measurement, int writers, int linesPerBody, double bodiesPerSecond) {
        this.measurement = measurement;
        this.writers = writers;
        this.linesPerBody = linesPerBody;
        this.paceNanos = (long) (1e9 / bodiesPerSecond);
        this.acked = new BitSet[writers];
        for (int i = 0; i < writers; i++) {
            acked[i] = new BitSet();
        }
    }

    void start(URI uri) {
        for (int w = 0; w < writers; w++) {
            final int writer = w;
            final Thread t = new Thread(() -> run(uri, writer), measurement + "-writer-" + w);
            t.setDaemon(true);
            t.start();
            threads.add(t);
        }
    }

    private void run(URI uri, int writer) {
        final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
        int next = 0;
        long due = System.nanoTime();
        while (!stop.get()) {
            final StringBuilder body = new StringBuilder(linesPerBody * 32);
            for (int i = 0; i < linesPerBody; i++) {
                body.append(measurement).append(",w=").append(writer).append(" v=").append(next + i).append("i\n");
            }
            try {
                final HttpResponse<String> r = client.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(120))
                    .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(),
                    HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 204) {
                    synchronized (acked[writer]) {
                        acked[writer].set(next, next + linesPerBody);
                    }
                    ackedLines.addAndGet(linesPerBody);
                } else if (r.statusCode() == 503 || r.statusCode() == 429) {
                    refusedBodies.incrementAndGet();
                } else {
                    otherAnswers.incrementAndGet();
                }
            } catch (java.io.IOException e) {
                ioErrors.incrementAndGet();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            next += linesPerBody; // values are never reused, so a duplicate row is unambiguous
            due += paceNanos;
            final long wait = due - System.nanoTime();
            if (wait > 0) {
                LockSupport.parkNanos(wait);
            } else if (-wait > TimeUnit.SECONDS.toNanos(1)) {
                due = System.nanoTime(); // fell behind (e.g. blocked by back-pressure): do not burst to catch up
            }
        }
    }

    void stop() throws InterruptedException {
        stop.set(true);
        for (Thread t : threads) {
            t.join(TimeUnit.MINUTES.toMillis(3));
        }
    }

    /** The values of {@code writer} answered 204 (a copy). */
    BitSet acked(int writer) {
        synchronized (acked[writer]) {
            return (BitSet) acked[writer].clone();
        }
    }

    int writers() {
        return writers;
    }
}
