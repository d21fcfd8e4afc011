package dev.spillway.benchmarks;

import dev.spillway.ingest.resend.RequestIdentity;
import dev.spillway.ingest.resend.ResendWindow;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import javax.sql.DataSource;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * What recognising resends adds per line of a first copy, single thread, on {@link CollectorHotPathBenchmark}'s
 * 1,000-line Telegraf body (one event per line here): the request's identity (a fast 128-bit digest of the body
 * seeded by a SHA-256 of credentials and URI for {@code identity=digest}, see {@code BodyIdentityBenchmark}; a SHA-256
 * of the key, plus a fast checksum of the body, for {@code identity=key}), the
 * window's record, the journal append (one {@code write} to the page cache, {@code journal=on}) and the
 * bookkeeping of taken events, then the resolution. Score = lines/s; compare with the hot path's lines/s per core
 * to get the share. Each invocation is a new request (a unique first line), as in steady state.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@State(Scope.Thread)
public class ResendWindowBenchmark {

    @Param({"on", "off"})
    public String journal;

    /** {@code digest}: recognised by a digest of its body; {@code key}: by an Idempotency-Key. */
    @Param({"digest", "key"})
    public String identity;

    private byte[] body;
    private Path dir;
    private ResendWindow window;
    private long n;
    private static final CompletableFuture<Boolean> DURABLE = CompletableFuture.completedFuture(Boolean.TRUE);

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        body = ("#00000000000000000000\n" + LineProtocolParserBenchmark.telegrafBody()).getBytes(StandardCharsets.UTF_8);
        dir = "on".equals(journal) ? Files.createTempDirectory("resend-bench") : null;
        final DataSource none = (DataSource) java.lang.reflect.Proxy.newProxyInstance(
            DataSource.class.getClassLoader(), new Class<?>[] {DataSource.class}, (p, m, a) -> {
                throw new java.sql.SQLException("no database", "08001");
            });
        window = ResendWindow.open(dir, Duration.ofMinutes(10), 100_000, ResendWindow.DEFAULT_MAX_ROWS,
            (from, to) -> DURABLE, () -> true,
            () -> false, none, "telemetry_events", new SimpleMeterRegistry());
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        window.close();
    }

    @Benchmark
    @OperationsPerInvocation(CollectorHotPathBenchmark.LINES)
    public Object firstCopy() {
        // A new request each time: a different comment line in front of the same lines.
        long v = ++n;
        for (int i = 20; i >= 1; i--) {
            body[i] = (byte) ('0' + (v % 10));
            v /= 10;
        }
        final RequestIdentity id = RequestIdentity.of("key".equals(identity) ? "client-7-" + n : null, "Token t",
            "/api/v2/write", body, 0, body.length);
        final ResendWindow.Attempt a = window.begin(id, false).attempt();
        for (int e = 0; e < CollectorHotPathBenchmark.LINES; e++) {
            if (!a.skip(e, true)) {
                a.taken(e);
            }
        }
        a.finish(0, CollectorHotPathBenchmark.LINES - 1);
        return a;
    }
}
