package dev.spillway.ingest;

import dev.spillway.runtime.lifecycle.ServiceThreads;
import dev.spillway.telemetry.Pipeline;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Answers {@code /ready} without touching the database on the request path: a background thread checks a
 * connection once a second, and readiness means a check succeeded within the last few seconds and the pipeline
 * still accepts events. An edge collector adds an upstream check (JetStream reachable), run on the same thread:
 * while it reports a problem, {@code /health} and {@code /ready} answer 503 with it.
 */
public final class ReadinessProbe implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ReadinessProbe.class);
    private static final long FRESH_NANOS = TimeUnit.SECONDS.toNanos(3);
    private static final String NOT_CHECKED = "upstream not checked yet (starting)";

    private final DataSource dataSource;
    private final Pipeline pipeline;
    private final Supplier<String> databaseProblem;
    private final Supplier<String> upstreamCheck;
    private final ScheduledExecutorService timer;
    /** The upstream check's last answer (null: fine); written by the probe thread only. */
    private volatile String upstreamProblem;
    private volatile long lastOkNanos;
    private volatile boolean lastOk = true;
    // Whether a check has passed yet (the window before the first one is not an outage); probe thread only.
    private boolean checkedOk;

    /**
     * Starts the background check at once.
     *
     * @param databaseProblem what the database's owner knows is wrong (the embedded server's supervisor), or null
     */
    public ReadinessProbe(DataSource dataSource, Pipeline pipeline, Supplier<String> databaseProblem) {
        this(dataSource, pipeline, databaseProblem, null);
    }

    /**
     * Starts the background check at once.
     *
     * @param dataSource the database to check, or null for a collector without one (an edge with only NATS)
     * @param databaseProblem what the database's owner knows is wrong (the embedded server's supervisor), or null
     * @param upstreamCheck where the pipeline's batches go when that is not the database (an edge's JetStream):
     *     called on the probe thread once a second (it may do I/O, bounded by its own timeout); returns null when
     *     reachable, else a sentence for {@code /health}. Null for none.
     */
    public ReadinessProbe(DataSource dataSource, Pipeline pipeline, Supplier<String> databaseProblem,
                          Supplier<String> upstreamCheck) {
        this.dataSource = dataSource;
        this.pipeline = pipeline;
        this.databaseProblem = databaseProblem;
        this.upstreamCheck = upstreamCheck;
        // Not ready until the first check ran.
        this.upstreamProblem = upstreamCheck == null ? null : NOT_CHECKED;
        this.lastOkNanos = System.nanoTime() - FRESH_NANOS; // not ready until the first check passes
        this.timer = Executors.newSingleThreadScheduledExecutor(ServiceThreads.single("readiness-probe"));
        timer.scheduleWithFixedDelay(this::check, 0, 1, TimeUnit.SECONDS);
    }

    private void check() {
        final long previousOk = lastOkNanos;
        // No database to check (an edge without one): only the pipeline and the upstream count.
        final boolean ok = dataSource == null || databaseAnswers();
        final long now = System.nanoTime();
        // The log lines first, then the state /health and /ready read (volatile writes after them): whoever sees
        // the new state sees its line in the log too (a test that saw /health pass again counted the lines before
        // the recovery's was written).
        if (ok && lastOk && checkedOk && now - previousOk >= FRESH_NANOS) {
            // A check that hung (waiting for a connection) past the freshness window and then succeeded: /health
            // and /ready answered 503 meanwhile, so the log says so, though no check ever failed.
            LOG.warn("database unreachable for {} ms (/health and /ready answered 503 meanwhile); reachable again",
                TimeUnit.NANOSECONDS.toMillis(now - previousOk));
        } else if (ok != lastOk) {
            if (ok) {
                LOG.info("database reachable again");
            } else {
                LOG.warn("database unreachable: /ready answers 503");
            }
        }
        if (ok) {
            lastOkNanos = now;
            checkedOk = true;
        }
        lastOk = ok;
        if (upstreamCheck != null) {
            checkUpstream();
        }
    }

    private boolean databaseAnswers() {
        try (Connection c = dataSource.getConnection()) {
            return c.isValid(2);
        } catch (Exception e) {
            return false;
        }
    }

    private void checkUpstream() {
        String problem;
        try {
            problem = upstreamCheck.get();
        } catch (RuntimeException e) {
            problem = "upstream check failed: " + e;
        }
        final String was = upstreamProblem;
        upstreamProblem = problem;
        if (problem == null && was != null && !was.equals(NOT_CHECKED)) {
            LOG.info("upstream reachable again (was: {})", was);
        } else if (problem != null && (was == null || was.equals(NOT_CHECKED))) {
            LOG.warn("{}: /health and /ready answer 503", problem);
        }
    }

    /**
     * What is wrong, for {@code /health}: null when the database answered recently, the upstream (if any) is
     * reachable and the pipeline runs, else a sentence naming the failing part.
     */
    public String problem() {
        if (!pipeline.isRunning()) {
            return "pipeline is not running (shutting down)";
        }
        final String known = databaseProblem.get();
        if (known != null) {
            return known;
        }
        if (System.nanoTime() - lastOkNanos >= FRESH_NANOS) {
            return "database unreachable";
        }
        return upstreamProblem;
    }

    /** Whether the database answered recently, the upstream (if any) is reachable, and the pipeline runs. */
    public boolean ready() {
        return pipeline.isRunning() && System.nanoTime() - lastOkNanos < FRESH_NANOS && upstreamProblem == null;
    }

    /**
     * Why the database is known to be down now, or null: the last check failed (not merely "no check passed yet",
     * as at start), or the database's owner knows it is down. For failing fast instead of waiting for a connection.
     */
    public String databaseDown() {
        final String known = databaseProblem.get();
        if (known != null) {
            return known;
        }
        return lastOk ? null : "database unreachable (the last check failed)";
    }

    /** Whether the database answered a check within the last few seconds (the pipeline aside). */
    public boolean databaseReachable() {
        return System.nanoTime() - lastOkNanos < FRESH_NANOS;
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
