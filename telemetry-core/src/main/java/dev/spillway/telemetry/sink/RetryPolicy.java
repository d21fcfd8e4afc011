package dev.spillway.telemetry.sink;

import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Predicate;

/**
 * How a worker retries a failed {@link Sink#write(EventBatch)}: bounded attempts, exponential backoff with
 * jitter, a cap on the total time spent on one batch, and a classifier that says whether a failure is worth
 * retrying at all.
 *
 * <p>Defaults: 8 attempts, 50 ms initial backoff doubling to at most 5 s, 20 % jitter, 60 s in total, and the
 * sink's own {@link Sink#isRetryable(Throwable)} as classifier. Immutable and thread-safe.
 */
public final class RetryPolicy {

    private final int maxAttempts;
    private final long initialBackoffNanos;
    private final long maxBackoffNanos;
    private final double multiplier;
    private final double jitter;
    private final long maxElapsedNanos;
    private final Predicate<Throwable> classifier;

    private RetryPolicy(Builder b) {
        this.maxAttempts = b.maxAttempts;
        this.initialBackoffNanos = b.initialBackoff.toNanos();
        this.maxBackoffNanos = b.maxBackoff.toNanos();
        this.multiplier = b.multiplier;
        this.jitter = b.jitter;
        this.maxElapsedNanos = b.maxElapsed.toNanos();
        this.classifier = b.classifier;
    }

    /** The default policy. */
    public static RetryPolicy defaults() {
        return builder().build();
    }

    /** A policy that never retries: every failure fails the batch at once. */
    public static RetryPolicy none() {
        return builder().maxAttempts(1).build();
    }

    /** A builder starting from the defaults. */
    public static Builder builder() {
        return new Builder();
    }

    /** Total attempts per batch, including the first; at least 1. */
    public int maxAttempts() {
        return maxAttempts;
    }

    /** Cap on the time from a batch's first attempt to the start of its last one. */
    public Duration maxElapsed() {
        return Duration.ofNanos(maxElapsedNanos);
    }

    /**
     * Whether another attempt should be made.
     *
     * @param attemptsMade attempts made so far (1 after the first failure)
     * @param elapsedNanos time since the first attempt started
     * @param failure the last failure
     * @param sink the sink whose classifier applies when this policy has none
     */
    public boolean shouldRetry(int attemptsMade, long elapsedNanos, Throwable failure, Sink sink) {
        if (attemptsMade >= maxAttempts) {
            return false;
        }
        if (elapsedNanos + backoffCeilingNanos(attemptsMade) > maxElapsedNanos) {
            return false;
        }
        return isRetryable(failure, sink);
    }

    /** Whether the failure is of a kind worth retrying, regardless of the attempt budget. */
    public boolean isRetryable(Throwable failure, Sink sink) {
        return classifier != null ? classifier.test(failure) : sink.isRetryable(failure);
    }

    /**
     * The pause before the next attempt: {@code initial * multiplier^(attemptsMade-1)}, capped, then spread by
     * the jitter fraction so that workers failing together do not retry in lock step.
     */
    public long backoffNanos(int attemptsMade) {
        final long ceiling = backoffCeilingNanos(attemptsMade);
        if (jitter == 0.0) {
            return ceiling;
        }
        final double spread = 1.0 - jitter + 2.0 * jitter * ThreadLocalRandom.current().nextDouble();
        return Math.min(maxBackoffNanos, (long) (ceiling * spread));
    }

    private long backoffCeilingNanos(int attemptsMade) {
        final double raw = initialBackoffNanos * Math.pow(multiplier, Math.max(0, attemptsMade - 1));
        return raw >= maxBackoffNanos ? maxBackoffNanos : (long) raw;
    }

    @Override
    public String toString() {
        return "RetryPolicy{maxAttempts=" + maxAttempts + ", initialBackoff=" + Duration.ofNanos(initialBackoffNanos)
            + ", maxBackoff=" + Duration.ofNanos(maxBackoffNanos) + ", multiplier=" + multiplier + ", jitter=" + jitter
            + ", maxElapsed=" + Duration.ofNanos(maxElapsedNanos) + '}';
    }

    /** Builds a {@link RetryPolicy}; every setting is validated by {@link #build()}. */
    public static final class Builder {
        private int maxAttempts = 8;
        private Duration initialBackoff = Duration.ofMillis(50);
        private Duration maxBackoff = Duration.ofSeconds(5);
        private double multiplier = 2.0;
        private double jitter = 0.2;
        private Duration maxElapsed = Duration.ofSeconds(60);
        private Predicate<Throwable> classifier;

        private Builder() {
        }

        /** Total attempts per batch including the first, 1 to 1000. */
        public Builder maxAttempts(int maxAttempts) {
            this.maxAttempts = maxAttempts;
            return this;
        }

        /** Pause after the first failure, 0 to 1 hour. */
        public Builder initialBackoff(Duration initialBackoff) {
            this.initialBackoff = Objects.requireNonNull(initialBackoff, "initialBackoff");
            return this;
        }

        /** Largest pause between attempts, at least the initial backoff and at most 1 hour. */
        public Builder maxBackoff(Duration maxBackoff) {
            this.maxBackoff = Objects.requireNonNull(maxBackoff, "maxBackoff");
            return this;
        }

        /** Growth factor of the backoff, 1.0 to 10.0. */
        public Builder multiplier(double multiplier) {
            this.multiplier = multiplier;
            return this;
        }

        /** Random spread of each pause as a fraction, 0.0 to 1.0 (0.2 means +/-20 %). */
        public Builder jitter(double jitter) {
            this.jitter = jitter;
            return this;
        }

        /** Cap on total time spent on one batch, 0 to 24 hours. */
        public Builder maxElapsed(Duration maxElapsed) {
            this.maxElapsed = Objects.requireNonNull(maxElapsed, "maxElapsed");
            return this;
        }

        /** Says whether a failure is worth retrying; by default the sink's {@link Sink#isRetryable(Throwable)}. */
        public Builder retryIf(Predicate<Throwable> classifier) {
            this.classifier = Objects.requireNonNull(classifier, "classifier");
            return this;
        }

        /** Validates every setting and builds the policy. */
        public RetryPolicy build() {
            check(maxAttempts >= 1 && maxAttempts <= 1000, "maxAttempts must be 1..1000, was " + maxAttempts);
            check(!initialBackoff.isNegative() && initialBackoff.compareTo(Duration.ofHours(1)) <= 0,
                "initialBackoff must be 0..1h, was " + initialBackoff);
            check(maxBackoff.compareTo(initialBackoff) >= 0 && maxBackoff.compareTo(Duration.ofHours(1)) <= 0,
                "maxBackoff must be initialBackoff (" + initialBackoff + ")..1h, was " + maxBackoff);
            check(multiplier >= 1.0 && multiplier <= 10.0, "multiplier must be 1.0..10.0, was " + multiplier);
            check(jitter >= 0.0 && jitter <= 1.0, "jitter must be 0.0..1.0, was " + jitter);
            check(!maxElapsed.isNegative() && maxElapsed.compareTo(Duration.ofHours(24)) <= 0,
                "maxElapsed must be 0..24h, was " + maxElapsed);
            return new RetryPolicy(this);
        }

        private static void check(boolean ok, String message) {
            if (!ok) {
                throw new IllegalArgumentException("RetryPolicy." + message);
            }
        }
    }
}
