package dev.spillway.benchmarks;

import dev.spillway.ingest.resend.RequestIdentity;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The identity of a body sent without {@code Idempotency-Key} (issue #25's profile: 13 % of the collector's CPU):
 * {@code fastDigest} is {@link RequestIdentity#of} as shipped (a fast 128-bit digest of the body, seeded by a SHA-256
 * of credentials and URI); {@code sha256} is what it replaced, a SHA-256 of credentials, URI and the whole body.
 * The body is the ingest race's: 5,000 {@code sensor} lines (1,000 series, half 2-decimal and half 17-digit floats,
 * ns timestamps), about 290 KB. Score = microseconds per body; divide by 5,000 for the cost per line.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@State(Scope.Thread)
public class BodyIdentityBenchmark {

    private static final String CREDENTIALS = "Token 0123456789abcdef";
    private static final String URI = "/write?precision=ns";

    private byte[] body;
    private MessageDigest sha;

    /** The ingest race's body shape. */
    static byte[] sensorBody(int lines, long seed) {
        final SplittableRandom r = new SplittableRandom(seed);
        final StringBuilder sb = new StringBuilder(lines * 60);
        for (int i = 0; i < lines; i++) {
            final int s = r.nextInt(1000);
            sb.append("sensor,host=h").append(String.format("%04d", s)).append(",site=s").append(s % 100)
                .append(" value=");
            if (i % 2 == 0) {
                sb.append(r.nextInt(100_000) / 100.0);
            } else {
                sb.append(r.nextDouble() * 1000);
            }
            sb.append(' ').append(1_700_000_000_000_000_000L + i * 1_000_000L).append('\n');
        }
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        body = sensorBody(5_000, 25);
        sha = MessageDigest.getInstance("SHA-256");
    }

    @Benchmark
    public long fastDigest() {
        return RequestIdentity.of(null, CREDENTIALS, URI, body, 0, body.length).lo();
    }

    @Benchmark
    public byte sha256() {
        sha.reset();
        sha.update((byte) 'D');
        sha.update(CREDENTIALS.getBytes(StandardCharsets.UTF_8));
        sha.update(URI.getBytes(StandardCharsets.UTF_8));
        sha.update(body, 0, body.length);
        return sha.digest()[0];
    }

    /** The body's size, for the per-byte figure. */
    public static void main(String[] args) {
        System.out.println(sensorBody(5_000, 25).length + " bytes");
    }
}
