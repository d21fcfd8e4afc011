package dev.spillway.benchmarks.diag;

import dev.spillway.telemetry.Pipeline;
import dev.spillway.telemetry.PipelineStats;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Reproduction for a finding of issue #2: one producer thread calling {@code Pipeline.ingest} in a tight loop
 * (OVERWRITE_OLDEST, no-op sink, default settings) runs in one of two regimes for seconds at a time: about 100 M
 * calls/s while the pump lags (ring occupancy in the tens of thousands, 1-3 % overwritten) or 6-20 M calls/s
 * while the pump is caught up (occupancy near 0). Prints one line per second.
 *
 * <pre>java -cp benchmarks/target/benchmarks.jar dev.spillway.benchmarks.diag.PumpRegimeProbe [seconds]</pre>
 */
public final class PumpRegimeProbe {

    private PumpRegimeProbe() {
    }

    public static void main(String[] args) throws Exception {
        final int seconds = args.length > 0 ? Integer.parseInt(args[0]) : 12;
        final Pipeline pipeline = Pipeline.builder().name("probe").sink(batch -> batch.size()).build();
        final AtomicBoolean stop = new AtomicBoolean();
        final Thread producer = new Thread(() -> {
            long s = 0;
            while (!stop.get()) {
                for (int k = 0; k < 1000; k++, s++) {
                    pipeline.ingest(s, 1, (short) 1, s * 0.5, s);
                }
            }
        }, "probe-producer");
        producer.start();
        PipelineStats last = pipeline.stats();
        for (int i = 1; i <= seconds; i++) {
            Thread.sleep(1000);
            final PipelineStats now = pipeline.stats();
            final long in = now.ingested() - last.ingested();
            System.out.printf("t=%2ds ingest %6.1f M/s  written %6.1f M/s  overwritten %5.1f %%  ring occupancy %,d%n", i,
                in / 1e6, (now.written() - last.written()) / 1e6,
                100.0 * (now.overwritten() - last.overwritten()) / Math.max(1, in), now.ringOccupancy());
            last = now;
        }
        stop.set(true);
        producer.join();
        System.out.println(pipeline.close(java.time.Duration.ofSeconds(30)));
        System.exit(0);
    }
}
