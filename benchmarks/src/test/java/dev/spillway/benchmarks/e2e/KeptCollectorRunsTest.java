package dev.spillway.benchmarks.e2e;

import dev.spillway.telemetry.timescale.IndexMode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code IngestRace --keep-collector}: runs after the first go to the same, still running collector, each on empty
 * tables and with its own timestamps, and each counts every line once (the collector's resend window would take a
 * run that sent the previous run's bodies again for resends and write nothing: the harness would time out).
 */
class KeptCollectorRunsTest {

    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS) // a hang guard: a collector and three load processes start here
    void everyRunOnTheKeptCollectorStoresEveryLineOnce(@TempDir Path out) throws Exception {
        final EndToEndBench.Config config = EndToEndBench.Config.smoke(out);
        try (BenchDatabase db = BenchDatabase.open()) {
            final LineProtocolE2e e2e = new LineProtocolE2e(config, db, "sensor");
            e2e.keepCollector(true);
            try {
                for (int run = 0; run < 3; run++) {
                    final LineProtocolE2e.LineRun r = e2e.collector(IndexMode.DEFAULT, null);
                    assertEquals(config.rows, r.committed(), "run " + run + ": " + r);
                    assertEquals(config.rows, r.lines(), "run " + run + ": " + r);
                }
                assertEquals(1, e2e.collectorsStarted(), "the runs after the first used the kept collector");
            } finally {
                e2e.stopKeptCollector();
            }
        }
    }
}
