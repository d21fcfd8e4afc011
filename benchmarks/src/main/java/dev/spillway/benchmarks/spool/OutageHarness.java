package dev.spillway.benchmarks.spool;

import dev.spillway.benchmarks.report.MachineInfo;
import dev.spillway.collector.Collector;
import dev.spillway.collector.FinalAccount;
import dev.spillway.collector.config.CollectorOptions;
import dev.spillway.telemetry.PipelineStats;

import java.io.OutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

/**
 * Issue #13's long database outage, for real (a harness, not a test: the tests scale the outage down to seconds).
 * A collector (in this JVM, spool on, every other option at its default) takes paced HTTP writes of unique lines;
 * PostgreSQL (embedded, its own data directory and port) is stopped for {@code --outage} seconds and started again.
 * Reported: lines acknowledged (before, during, after the outage), peak spool size (bytes of segment files on disk,
 * sampled every 100 ms, and events), replay time (database back until the spool is empty), and from the table:
 * acknowledged lines missing (must be 0) and duplicated rows (must be 0), plus the collector's final account.
 *
 * <pre>java -cp benchmarks/target/benchmarks.jar dev.spillway.benchmarks.spool.OutageHarness
 *     [--outage SECONDS (60)] [--rate LINES_PER_S (10000)] [--spool-dir DIR (e.g. on a slow device)] [--out DIR]</pre>
 */
public final class OutageHarness {

    private static final int WRITERS = 4;
    private static final int LINES = 500;

    private OutageHarness() {
    }

    public static void main(String[] args) throws Exception {
        long outageSeconds = 60;
        Path spoolOverride = null;
        double rate = 10_000;
        Path out = Path.of(System.getenv().getOrDefault("SPILLWAY_RESULTS_DIR", "benchmarks/results"));
        for (int i = 0; i < args.length - 1; i++) {
            switch (args[i]) {
                case "--outage" -> outageSeconds = Long.parseLong(args[i + 1]);
                case "--rate" -> rate = Double.parseDouble(args[i + 1]);
                case "--out" -> out = Path.of(args[i + 1]);
                case "--spool-dir" -> spoolOverride = Path.of(args[i + 1]);
                default -> { }
            }
        }
        final Path work = Files.createTempDirectory("spillway-outage");
        final Path spoolDir = spoolOverride != null ? spoolOverride : work.resolve("spool");
        final String loadAtStart = MachineInfo.loadAverage();
        final StringBuilder md = new StringBuilder("# Database outage with the spool (issue #13)\n\n");
        md.append("- command: `java -cp benchmarks/target/benchmarks.jar dev.spillway.benchmarks.spool.OutageHarness")
            .append(" --outage ").append(outageSeconds).append(" --rate ").append((long) rate).append("`\n");
        md.append(MachineInfo.markdown()).append("- load average at the start: ").append(loadAtStart).append('\n');
        try (RestartablePostgres pg = new RestartablePostgres(work.resolve("pg"))) {
            final String[] cli = {"--jdbc-url", pg.jdbcUrl(), "--db-user", "postgres", "--http", "127.0.0.1:0",
                "--spool-dir", spoolDir.toString()};
            final var parsed = CollectorOptions.parse(cli, Map.of(), new PrintStream(OutputStream.nullOutputStream()));
            final var config = ((CollectorOptions.Run) parsed).config();
            final Collector collector = Collector.start(config);
            md.append("- collector: defaults (ack accept, flush 100 ms, batch " + String.format(Locale.ROOT, "%,d",
                config.pipeline().batchSize()) + ", " + config.pipeline().workers() + " workers, retry 8 attempts / ")
                .append("60 s, spool fsync 500 ms, BLOCK) plus `").append(String.join(" ", cli)).append("`\n");
            md.append(String.format(Locale.ROOT, "- load: %d writers, %d-line bodies, %,.0f lines/s in total, paced; "
                + "each waits for its answer%n", WRITERS, LINES, rate));
            final LineWriters writers = new LineWriters("outage", WRITERS, LINES, rate / LINES / WRITERS);
            final long[] peak = new long[2]; // bytes, events
            final Thread sampler = new Thread(() -> {
                while (!Thread.currentThread().isInterrupted()) {
                    peak[0] = Math.max(peak[0], segmentBytes(spoolDir));
                    peak[1] = Math.max(peak[1], collector.stats().spooled());
                    LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(100));
                }
            }, "spool-sampler");
            sampler.setDaemon(true);
            writers.start(URI.create("http://127.0.0.1:" + collector.httpAddress().getPort() + "/api/v2/write"));
            sleep(15);
            final long ackedBefore = writers.ackedLines.get();
            sampler.start();

            final long outageStart = System.nanoTime();
            pg.stop();
            log("PostgreSQL stopped; outage of %d s", outageSeconds);
            sleepUntil(outageStart + TimeUnit.SECONDS.toNanos(outageSeconds));
            final long ackedDuring = writers.ackedLines.get() - ackedBefore;
            final PipelineStats atRestart = collector.stats();
            log("restarting PostgreSQL: %s", atRestart);
            pg.start();
            final long restarted = System.nanoTime();
            final double startSeconds = (restarted - outageStart) / 1e9 - outageSeconds;
            await(() -> collector.stats().batchesReplayed() > 0, 600);
            final double firstReplay = (System.nanoTime() - restarted) / 1e9;
            await(() -> collector.stats().spooled() == 0, 1800);
            final double drained = (System.nanoTime() - restarted) / 1e9;
            log("spool drained %.1f s after the restart", drained);
            sleep(10);
            writers.stop();
            sampler.interrupt();
            final FinalAccount account = collector.shutdown();
            final PipelineStats s = account.stats();

            long missing = 0;
            long duplicates = 0;
            long rows = 0;
            long unacknowledgedRows = 0;
            try (Connection c = DriverManager.getConnection(pg.jdbcUrl(), "postgres", "")) {
                for (int w = 0; w < WRITERS; w++) {
                    final BitSet acked = writers.acked(w);
                    final BitSet seen = new BitSet();
                    try (Statement st = c.createStatement()) {
                        st.setFetchSize(50_000);
                        c.setAutoCommit(false);
                        try (ResultSet rs = st.executeQuery("SELECT value::bigint FROM telemetry WHERE measurement = "
                            + "'outage' AND tags->>'w' = '" + w + "'")) {
                            while (rs.next()) {
                                final int v = (int) rs.getLong(1);
                                rows++;
                                if (seen.get(v)) {
                                    duplicates++;
                                }
                                seen.set(v);
                                if (!acked.get(v)) {
                                    unacknowledgedRows++;
                                }
                            }
                        }
                        c.commit();
                    }
                    final BitSet lost = (BitSet) acked.clone();
                    lost.andNot(seen);
                    missing += lost.cardinality();
                }
            }
            md.append("\n| measurement | result |\n| --- | ---: |\n");
            row(md, "outage (PostgreSQL stopped)", String.format(Locale.ROOT, "%d s (+ %.1f s to start it again)",
                outageSeconds, startSeconds));
            row(md, "lines acknowledged (204) in total", fmt(writers.ackedLines.get()));
            row(md, "of them while the database was down", fmt(ackedDuring));
            row(md, "bodies refused (503/429, retryable; not acknowledged)", fmt(writers.refusedBodies.get()));
            row(md, "other answers / connection errors", writers.otherAnswers.get() + " / " + writers.ioErrors.get());
            row(md, "peak spool size (segment files on disk)", String.format(Locale.ROOT, "%,d bytes (%.1f MB)",
                peak[0], peak[0] / 1e6));
            row(md, "peak events in the spool", fmt(peak[1]));
            row(md, "batches spooled / replayed", fmt(s.batchesSpooled()) + " / " + fmt(s.batchesReplayed()));
            row(md, "database back -> first replayed batch", String.format(Locale.ROOT, "%.1f s", firstReplay));
            row(md, "database back -> spool empty (replay time, live traffic going on)",
                String.format(Locale.ROOT, "%.1f s", drained));
            row(md, "rows in the table", fmt(rows));
            row(md, "**acknowledged lines missing**", "**" + fmt(missing) + "**");
            row(md, "**duplicated rows**", "**" + fmt(duplicates) + "**");
            row(md, "rows of bodies not answered 204 (written anyway)", fmt(unacknowledgedRows));
            row(md, "final account balanced", s.isBalanced() + " (" + s + ")");
            md.append("\n- load average at the end: ").append(MachineInfo.loadAverage()).append('\n');
        } finally {
            delete(work);
        }
        Files.createDirectories(out);
        Files.writeString(out.resolve("spool-outage.md"), md.toString());
        System.out.println(md);
    }

    private static void row(StringBuilder md, String what, String value) {
        md.append("| ").append(what).append(" | ").append(value).append(" |\n");
    }

    private static String fmt(long n) {
        return String.format(Locale.ROOT, "%,d", n);
    }

    private static void log(String format, Object... args) {
        System.out.printf(Locale.ROOT, "[outage] " + format + "%n", args);
    }

    private static long segmentBytes(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(f -> f.getFileName().toString().endsWith(".seg")).mapToLong(f -> f.toFile().length()).sum();
        } catch (java.io.IOException | java.io.UncheckedIOException e) {
            return 0; // a segment deleted while listing: the next sample counts again
        }
    }

    private static void sleep(long seconds) {
        sleepUntil(System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds));
    }

    private static void sleepUntil(long nanoTime) {
        long left;
        while ((left = nanoTime - System.nanoTime()) > 0) {
            LockSupport.parkNanos(left);
        }
    }

    private static void await(BooleanSupplier condition, long seconds) {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("harness step did not finish in " + seconds + " s");
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
        }
    }

    static void delete(Path dir) throws java.io.IOException {
        if (dir == null || !Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            final List<Path> all = new ArrayList<>();
            s.forEach(all::add);
            all.sort(Comparator.reverseOrder());
            for (Path f : all) {
                Files.deleteIfExists(f);
            }
        }
    }
}
